package fs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/link"
)

// quiet waits until nothing crosses the link for 300 ms: the pool's
// connections dialled ahead are logged in (proftpd may take its time
// over a login) and their data connections open.
func quiet(t *testing.T, l *link.Link) {
	t.Helper()
	last, still := -1, 0
	for deadline := time.Now().Add(10 * time.Second); still < 3; {
		time.Sleep(100 * time.Millisecond)
		st := l.Stats()
		if st.Flights == last {
			still++
		} else {
			still = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("the link never went quiet: %v", st)
		}
		last = st.Flights
	}
}

// A listing with at least as many small files as the pool has
// connections dials the others at once, before any file is read: each
// logs in and opens its first data connection ahead (REST 0 and EPSV
// together, then the connect). A listing of fewer dials nothing.
func TestListingWarmsThePool(t *testing.T) {
	for _, tc := range []struct{ files, conns int }{{3, 1}, {4, 4}, {40, 4}} {
		e := newLinkEnv(t, link.Options{RTT: 2 * time.Millisecond}, smallFiles(t, tc.files, 3000, "d"), withProfile(ftpd.ProfileVsftpd))
		quiet(t, e.l)
		e.l.Reset()
		if _, err := os.ReadDir(filepath.Join(e.mnt, "d")); err != nil {
			t.Fatal(err)
		}
		quiet(t, e.l)
		st := e.l.Stats()
		spares := tc.conns - 1
		if st.Control != spares || st.Commands["USER"] != spares || st.Commands["EPSV"] != spares || st.Data != spares || st.Commands["RETR"] != 0 {
			t.Errorf("listing of %d files: %v; want %d connections dialled, each with a data connection open ahead, nothing read", tc.files, st, spares)
		}
	}
}
