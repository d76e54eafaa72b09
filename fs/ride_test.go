package fs

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/link"
	"ftpfs/internal/testutil"
)

// cp -r of one directory after another on a LIST-only server: the next
// directory's listing and exact times, asked ahead while a directory's
// files are read, wait for the round trips the reads leave free (a
// connection connecting its next data connection lends its control
// connection for one exchange, conn.Riding) instead of taking a
// connection from the reads as the directory's copy starts.
func TestCopyDirsRideOnReads(t *testing.T) {
	const dirs, files, conns = 11, 8, 2
	// 50 ms: a cp that starts later than a round trip after the last
	// one ended (a loaded machine) costs a round trip; 50 ms keeps that
	// out of the count.
	e := newLinkEnv(t, link.Options{RTT: 50 * time.Millisecond}, func(root string) {
		for i := range dirs {
			smallFiles(t, files, 3000, fmt.Sprintf("top/d%02d", i))(root)
		}
	}, withProfile(ftpd.ProfileVsftpd), func(o *Options) { o.Conn.MaxConns = conns })
	out := t.TempDir()
	cp := func(i int) {
		t.Helper()
		if b, err := exec.Command("cp", "-r", filepath.Join(e.mnt, fmt.Sprintf("top/d%02d", i)), out).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, b)
		}
	}
	// d00 and d01 cold: d01 shows the walk, and d02 is listed ahead.
	// Names of two digits: the next directory is the next by name.
	cp(0)
	cp(1)
	e.l.Reset()
	for i := 2; i < dirs-1; i++ {
		cp(i)
	}
	s := e.l.Stats()
	t.Logf("cp -r of d02 to d%02d, one after another: %v", dirs-2, s)
	for i := range dirs - 1 {
		for j := range files {
			name := fmt.Sprintf("d%02d/f%03d", i, j)
			if got, err := os.ReadFile(filepath.Join(out, name)); err != nil || !bytes.Equal(got, testutil.RandBytes(uint64(j), 3000)) {
				t.Fatalf("%s: copy differs (%v)", name, err)
			}
		}
	}
	// Each directory: 8 files over 2 connections, the first on the
	// data connection opened ahead (1) and the others 2 each (6), then
	// the next directory's first reads (1): 8, its listing and times
	// asked ahead for nothing; 2 spare. Taking a connection for them
	// as each copy started: 68 to 70 for the 8 directories.
	n := dirs - 3
	if want := 8*n + 2; s.RoundTrips > want || s.Commands["RETR"] != files*n || s.Commands["STAT"] != n || s.Commands["MDTM"] != files*n || s.Control != 0 {
		t.Fatalf("%d directories of %d files: %v; want %d RETR, %d STAT and %d MDTM in at most %d round trips, no login",
			n, files, s, files*n, n, files*n, want)
	}
}
