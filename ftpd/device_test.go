//go:build linux

package ftpd

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"ftpfs/internal/testutil"
)

// TestTransferSpecialNotOpened puts a FIFO with a reader and a device node
// (/dev/null's numbers) in the tree: RETR, STOR and APPE of them get 550
// without the server ever opening them, since the open of a device can
// act on it (and STOR's O_TRUNC with it). inotify sees every open.
func TestTransferSpecialNotOpened(t *testing.T) {
	h := startHarness(t)
	fifo := filepath.Join(h.Root, "fifo")
	if err := syscall.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	// With a reader, open(O_WRONLY|O_NONBLOCK) of the FIFO succeeds.
	reader, err := syscall.Open(fifo, syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(reader)
	nodes := []string{"fifo"}
	null := filepath.Join(h.Root, "null")
	switch err := syscall.Mknod(null, syscall.S_IFCHR|0o666, 1<<8|3); {
	case err == nil:
		nodes = append(nodes, "null")
	case testutil.InCI():
		t.Errorf("mknod c 1 3 (CI runs this test as root): %v", err)
	default:
		t.Logf("no device node case: mknod c 1 3: %v (not root?)", err)
	}
	c := mustDial(t, h.Addr().String())
	c.mustLogin(t)
	for _, name := range nodes {
		path := filepath.Join(h.Root, name)
		var before syscall.Stat_t
		if err := syscall.Lstat(path, &before); err != nil {
			t.Fatal(err)
		}
		in, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(in)
		if _, err := syscall.InotifyAddWatch(in, path, syscall.IN_OPEN|syscall.IN_MODIFY|syscall.IN_ATTRIB); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range []string{"RETR ", "STOR ", "APPE "} {
			refusedTransfer(t, c, cmd+name)
			buf := make([]byte, 4096)
			if n, err := syscall.Read(in, buf); !errors.Is(err, syscall.EAGAIN) {
				t.Errorf("%s%s: the server opened or changed it (%d bytes of inotify events, %v)", cmd, name, n, err)
			}
		}
		var after syscall.Stat_t
		if err := syscall.Lstat(path, &after); err != nil {
			t.Fatal(err)
		}
		if after.Mode != before.Mode || after.Rdev != before.Rdev || after.Ino != before.Ino {
			t.Errorf("%s changed: mode %o rdev %x ino %d, was %o %x %d", name, after.Mode, after.Rdev, after.Ino, before.Mode, before.Rdev, before.Ino)
		}
	}
}
