package fs

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"ftpfs/ftpd"
	"ftpfs/internal/link"
	"ftpfs/internal/testutil"
)

// copyIn runs cp (coreutils 9 tries copy_file_range first) from src to
// dst, both inside the mount, with args before them.
func copyIn(t *testing.T, mnt, src, dst string, args ...string) {
	t.Helper()
	out, err := exec.Command("cp", append(args, filepath.Join(mnt, src), filepath.Join(mnt, dst))...).CombinedOutput()
	if err != nil {
		t.Fatalf("cp %s %s: %v\n%s", src, dst, err, out)
	}
}

// checkCopied checks that dst shows the content of src (on the server's
// disk, under root) and its size through the mount, with a time of now
// or, with keptTime, src's.
func checkCopied(t *testing.T, root, mnt, src, dst string, keptTime bool) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join(root, src))
	if err != nil {
		t.Fatal(err)
	}
	checkOnServer(t, filepath.Join(root, dst), want)
	fi, err := os.Stat(filepath.Join(mnt, dst))
	if err != nil || fi.Size() != int64(len(want)) {
		t.Fatalf("%s through the mount: %v %v, want %d bytes", dst, fi, err, len(want))
	}
	sfi, _ := os.Stat(filepath.Join(root, src))
	if keptTime && !fi.ModTime().Equal(sfi.ModTime().Truncate(time.Second)) {
		t.Errorf("cp -p: %s has time %v, want %v", dst, fi.ModTime(), sfi.ModTime())
	}
	if d := time.Since(fi.ModTime()); !keptTime && (d < -5*time.Second || d > 5*time.Second) {
		t.Errorf("%s has time %v, %v from now", dst, fi.ModTime(), d)
	}
	noUploadsUnder(t, root)
}

// bigFile puts a file of n random bytes, a year old, at root/name.
func bigFile(t *testing.T, root, name string, seed uint64, n int) {
	t.Helper()
	testutil.WriteFile(t, filepath.Join(root, name), testutil.RandBytes(seed, n))
	old := time.Now().Add(-365 * 24 * time.Hour).Truncate(time.Second)
	os.Chtimes(filepath.Join(root, name), old, old)
}

// TestCopyOnServer: cp within the mount copies on the server (SITE CPFR
// and CPTO), and no byte of the file crosses the link; the copy goes to
// a temporary name, is checked by its SIZE and renamed into place.
func TestCopyOnServer(t *testing.T) {
	const size = 24 << 20
	e := newLinkEnv(t, link.Options{}, func(root string) { bigFile(t, root, "src.bin", 81, size) }, nil)
	s := counted(t, e.l, func() { copyIn(t, e.mnt, "src.bin", "dst.bin") })
	if s.Commands["RETR"] != 0 || s.Commands["STOR"] != 0 || s.Commands["SITE"] != 2 || s.Commands["SIZE"] != 1 || s.Commands["RNTO"] != 1 {
		t.Fatalf("cp within the mount: %s; want SITE CPFR and CPTO, SIZE, the rename, no RETR or STOR", commands(s))
	}
	// Data connections may be opened ahead (a spare's, a listing's next),
	// but no byte of the file crosses the link.
	if s.Up+s.Down > size/100 {
		t.Errorf("cp within the mount moved %d bytes up and %d down over the link", s.Up, s.Down)
	}
	checkCopied(t, e.root, e.mnt, "src.bin", "dst.bin", false)

	// Over an existing file, and cp -p, which sets the time after.
	s = counted(t, e.l, func() { copyIn(t, e.mnt, "src.bin", "dst.bin", "-p") })
	if s.Commands["RETR"] != 0 || s.Commands["STOR"] != 0 {
		t.Fatalf("cp -p over an existing file: %s", commands(s))
	}
	checkCopied(t, e.root, e.mnt, "src.bin", "dst.bin", true)
}

// TestCopyThenUse: a program that copies with copy_file_range (Go's
// io.Copy between files does), then reads and writes the same handle,
// sees the copy, and its close uploads the copy with its change.
func TestCopyThenUse(t *testing.T) {
	const size = 3 << 20
	e := newLinkEnv(t, link.Options{}, func(root string) { bigFile(t, root, "src.bin", 82, size) }, nil)
	want, _ := os.ReadFile(filepath.Join(e.root, "src.bin"))
	src, err := os.Open(filepath.Join(e.mnt, "src.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(filepath.Join(e.mnt, "dst.bin"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	// Closed before the unmount should the test fail: a close at exit
	// would wait for a mount that no longer answers.
	defer dst.Close()
	s := counted(t, e.l, func() {
		if n, err := io.Copy(dst, src); err != nil || n != size {
			t.Fatalf("io.Copy: %d, %v", n, err)
		}
	})
	if s.Commands["RETR"] != 0 || s.Commands["STOR"] != 0 || s.Commands["SITE"] != 2 {
		t.Fatalf("io.Copy within the mount: %s", commands(s))
	}
	checkOnServer(t, filepath.Join(e.root, "dst.bin"), want)
	got := make([]byte, 4096)
	if _, err := dst.ReadAt(got, size-4096); err != nil || !bytes.Equal(got, want[size-4096:]) {
		t.Fatalf("reading the copy back through its handle: %v", err)
	}
	if _, err := dst.WriteAt([]byte("changed"), 1000); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	copy(want[1000:], "changed")
	checkOnServer(t, filepath.Join(e.root, "dst.bin"), want)
	noUploadsUnder(t, e.root)
}

// TestCopyFallback: what cannot be copied on the server is copied by the
// kernel through the mount's reads and writes, correctly: a copy_file_range
// from another offset, a server without SITE CPFR (asked once, then no
// more), a server that refuses the CPTO.
func TestCopyFallback(t *testing.T) {
	const size = 5 << 20
	fill := func(root string) { bigFile(t, root, "src.bin", 83, size) }
	t.Run("offset", func(t *testing.T) {
		e := newLinkEnv(t, link.Options{}, fill, nil)
		src, err := os.Open(filepath.Join(e.mnt, "src.bin"))
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		dst, err := os.Create(filepath.Join(e.mnt, "part.bin"))
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close() // before the unmount, should the test fail
		off := int64(4096)
		s := counted(t, e.l, func() {
			for done := 0; done < size-4096; {
				n, err := unix.CopyFileRange(int(src.Fd()), &off, int(dst.Fd()), nil, size, 0)
				if err != nil || n == 0 {
					t.Fatalf("copy_file_range from 4096: %d, %v", n, err)
				}
				done += n
			}
			if err := dst.Close(); err != nil {
				t.Fatal(err)
			}
		})
		if s.Commands["SITE"] != 0 || s.Commands["RETR"] == 0 || s.Commands["STOR"] != 1 {
			t.Fatalf("a partial copy: %s; want a read and an upload", commands(s))
		}
		want, _ := os.ReadFile(filepath.Join(e.root, "src.bin"))
		checkOnServer(t, filepath.Join(e.root, "part.bin"), want[4096:])
	})
	t.Run("source changed", func(t *testing.T) {
		// The server's copy holds more than the source the program
		// opened: SIZE of the copy says so, and the copy is removed.
		e := newLinkEnv(t, link.Options{}, fill, nil)
		want, _ := os.ReadFile(filepath.Join(e.root, "src.bin"))
		src, err := os.Open(filepath.Join(e.mnt, "src.bin"))
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		testutil.WriteFile(t, filepath.Join(e.root, "src.bin"), append(want, "more"...))
		dst, err := os.Create(filepath.Join(e.mnt, "dst.bin"))
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close() // before the unmount, should the test fail
		s := counted(t, e.l, func() {
			if _, err := io.Copy(dst, src); err != nil {
				t.Fatal(err)
			}
			if err := dst.Close(); err != nil {
				t.Fatal(err)
			}
		})
		if s.Commands["SITE"] != 2 || s.Commands["DELE"] != 1 || s.Commands["RNTO"] != 1 || s.Commands["STOR"] != 1 {
			t.Fatalf("a copy of the wrong size: %s; want the copy, its DELE, then an upload", commands(s))
		}
		checkOnServer(t, filepath.Join(e.root, "dst.bin"), want)
		noUploadsUnder(t, e.root)
	})
	t.Run("vsftpd profile", func(t *testing.T) {
		e := newLinkEnv(t, link.Options{}, fill, withProfile(ftpd.ProfileVsftpd))
		for i, name := range []string{"a.bin", "b.bin"} {
			s := counted(t, e.l, func() { copyIn(t, e.mnt, "src.bin", name) })
			if s.Commands["SITE"] != 1-i || s.Commands["STOR"] != 1 {
				t.Fatalf("copy %d on a server without SITE CPFR: %s; want SITE CPFR asked the first time only", i, commands(s))
			}
			checkCopied(t, e.root, e.mnt, "src.bin", name, false)
		}
	})
	t.Run("CPTO refused", func(t *testing.T) {
		e := newLinkEnv(t, link.Options{}, fill, []func(*ftpd.Config){func(c *ftpd.Config) {
			c.Faults.RefuseVerb, c.Faults.RefuseCode = "SITE CPTO", 550
		}})
		s := counted(t, e.l, func() { copyIn(t, e.mnt, "src.bin", "dst.bin") })
		if s.Commands["SITE"] != 2 || s.Commands["STOR"] != 1 {
			t.Fatalf("a refused copy: %s; want SITE CPFR, CPTO, then an upload", commands(s))
		}
		checkCopied(t, e.root, e.mnt, "src.bin", "dst.bin", false)
	})
}

// TestRealServersCopy: proftpd with mod_copy copies on the server (and
// with mod_digest compares the copy's HASH with the source's);
// vsftpd and pure-ftpd, which have no SITE CPFR, copy through the mount.
func TestRealServersCopy(t *testing.T) {
	eachRealServer(t, func(t *testing.T, rs realServer) {
		root := t.TempDir()
		s := rs.start(t, root, nil)
		disk := filepath.Join(root, s.up)
		bigFile(t, disk, "src.bin", 84, 16<<20)
		// The server's user must read it: it gets the owner of up/.
		var dst syscall.Stat_t
		if err := syscall.Stat(disk, &dst); err != nil {
			t.Fatal(err)
		}
		os.Chown(filepath.Join(disk, "src.bin"), int(dst.Uid), int(dst.Gid))
		l := linkTo(t, s.addr, link.Options{})
		_, mnt, logs := mountAt(t, l.Addr(), s.user, s.pass, append([]func(*Options){func(o *Options) {
			o.Root = "/" + s.up
		}}, s.mods...)...)
		st := counted(t, l, func() { copyIn(t, mnt, "src.bin", "dst.bin") })
		onServer := st.Commands["RETR"] == 0 && st.Commands["STOR"] == 0
		if onServer != (rs.name == "proftpd") {
			t.Fatalf("cp within the mount on %s: %s\n%s", rs.name, commands(st), testutil.Tail(logs.String(), 20))
		}
		checkCopied(t, disk, mnt, "src.bin", "dst.bin", false)
		// The server's own time for the copy: now, not the source's.
		if fi, err := os.Stat(filepath.Join(disk, "dst.bin")); err != nil || time.Since(fi.ModTime()) > time.Minute {
			t.Errorf("%s's copy on its disk: %v, %v", rs.name, fi.ModTime(), err)
		}
		t.Logf("%s: %s", rs.name, commands(st))
		if rs.name == "proftpd" && proftpdDigest() != nil && st.Commands["HASH"] != 2 {
			t.Errorf("proftpd with mod_digest: the copy not checked by its digest: %s", commands(st))
		}
		if !strings.Contains(commands(st), "SITE") {
			t.Errorf("SITE CPFR never asked on %s: %s", rs.name, commands(st))
		}
	})
}
