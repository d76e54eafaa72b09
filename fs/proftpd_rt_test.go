package fs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpfs/internal/link"
	"ftpfs/internal/testutil"
)

// TestProftpdUploadRoundTrips pins uploads one after another on the real
// proftpd through a link of 20 ms. proftpd answers the first command that
// comes during a transfer at once (often an upload's SIZE, sent with the
// end of its data), the others after its final reply: once the mount has
// seen that, SIZE goes twice, one is answered after the 226, and an
// upload costs two round trips, as on a server that answers in order.
// (Before, an upload whose single SIZE proftpd answered during the
// transfer cost a third, the SIZE asked again after the 226, and the
// first such one a NOOP: 23 round trips here, 3 per upload in the
// bench's cp -r.)
func TestProftpdUploadRoundTrips(t *testing.T) {
	testutil.NeedFUSE(t)
	testutil.NeedRoot(t, "for proftpd, which changes user")
	root := t.TempDir()
	srv := startProftpd(t, root, nil)
	l := linkTo(t, srv.addr, link.Options{RTT: 20 * time.Millisecond})
	_, mnt, logs := mountAt(t, l.Addr(), srv.user, srv.pass, srv.mods...)
	if err := os.Mkdir(filepath.Join(mnt, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The bytes go as they are written (STOR at the first write), SIZE
	// at close: a close that comes a moment after the last write finds
	// proftpd waiting for more data, and it answers SIZE first, as in
	// most uploads of cp through FUSE.
	write := func(name string, b []byte) {
		f, err := os.Create(filepath.Join(mnt, "d", name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	const learned = "SIZE goes twice"
	for i := 0; !strings.Contains(logs.String(), learned); i++ {
		if i == 10 {
			t.Fatalf("10 uploads, and proftpd never answered SIZE during a transfer")
		}
		write(fmt.Sprintf("warm%d", i), []byte("warm"))
	}
	const n = 10
	data := make([][]byte, n)
	for i := range data {
		data[i] = testutil.RandBytes(uint64(60+i), 3000+i*1000)
	}
	s := counted(t, l, func() {
		for i, b := range data {
			write(fmt.Sprintf("f%d", i), b)
		}
	})
	for i, b := range data {
		checkOnServer(t, filepath.Join(root, "d", fmt.Sprintf("f%d", i)), b)
	}
	// Create's check may list the names once (STAT, one round trip).
	if s.RoundTrips > 2*n+2 || s.Control != 0 || s.Commands["STOR"] != n || s.Commands["SIZE"] != 2*n || s.Commands["EPSV"] != n {
		t.Fatalf("%d files one after another: %v\nwant at most %d round trips, no new control connection, one STOR, two SIZEs and one EPSV ahead each", n, s, 2*n+2)
	}
	// With mod_digest, HASH goes behind the two SIZEs, answered after
	// the 226 too: each upload is checked in the same two round trips
	// (proftpd hashes the file meanwhile).
	if proftpdDigest() != nil {
		checked := strings.Count(logs.String(), "upload's digest checked")
		if s.Commands["HASH"] != n || checked < n {
			t.Fatalf("%d files: %v, %d digests checked; want one HASH each, checked", n, s, checked)
		}
	}
}
