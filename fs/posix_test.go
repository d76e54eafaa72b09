package fs

import (
	"errors"
	"ftpfs/internal/testutil"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
	"golang.org/x/sys/unix"
)

// posixNotForFTP are go-fuse's posixtest cases that FTP cannot pass, and
// why. README.md lists them with the errno the mount returns, and
// TestPosixRefusals checks those errnos.
var posixNotForFTP = map[string]string{
	"Link":                "hard links: EPERM",
	"LinkUnlinkRename":    "hard links: EPERM",
	"SymlinkReadlink":     "creating symlinks: EPERM (existing ones are read)",
	"SetattrSymlink":      "creating symlinks: EPERM",
	"OpenSymlinkRace":     "creating symlinks: EPERM",
	"Fallocate":           "fallocate: EOPNOTSUPP",
	"FallocateKeepSize":   "fallocate: EOPNOTSUPP",
	"Tmpfile":             "O_TMPFILE: EOPNOTSUPP",
	"XAttr":               "extended attributes: EOPNOTSUPP",
	"XAttrLarge":          "extended attributes: EOPNOTSUPP",
	"FcntlFlockLocksFile": "locks are the kernel's, local to the mount, with POSIX per-process owners; the case expects a file system that keeps locks per descriptor",
}

// TestPosix runs every case of go-fuse's posixtest that applies to FTP,
// each on a fresh mount of ftpd. A case in neither list runs, and fails
// if it fails: a new go-fuse cannot add cases that nobody looked at.
func TestPosix(t *testing.T) {
	var names []string
	for name := range posixtest.All {
		names = append(names, name)
	}
	sort.Strings(names)
	for name := range posixNotForFTP {
		if posixtest.All[name] == nil {
			t.Errorf("posixNotForFTP names %q, which posixtest no longer has", name)
		}
	}
	for _, name := range names {
		if _, ok := posixNotForFTP[name]; ok {
			continue // TestPosixRefusals checks its errno instead
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(string) {}, nil)
			posixtest.All[name](t, e.mnt)
		})
	}
}

// TestPosixRefusals checks the errno of each operation FTP cannot do:
// clear and immediate, never a pretended success.
func TestPosixRefusals(t *testing.T) {
	e := newEnv(t, func(root string) { testutil.WriteFile(t, filepath.Join(root, "f"), []byte("x")) }, nil)
	f := filepath.Join(e.mnt, "f")
	check := func(what string, err error, want syscall.Errno) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
	check("link", os.Link(f, filepath.Join(e.mnt, "hard")), syscall.EPERM)
	check("symlink", os.Symlink("f", filepath.Join(e.mnt, "soft")), syscall.EPERM)
	check("mknod fifo", syscall.Mkfifo(filepath.Join(e.mnt, "fifo"), 0o644), syscall.EPERM)
	check("setxattr", unix.Setxattr(f, "user.k", []byte("v"), 0), syscall.EOPNOTSUPP)
	_, err := unix.Open(e.mnt, unix.O_TMPFILE|unix.O_RDWR, 0o600)
	check("O_TMPFILE", err, syscall.EOPNOTSUPP)
	fd, err := os.OpenFile(f, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	check("fallocate", unix.Fallocate(int(fd.Fd()), 0, 0, 4096), syscall.EOPNOTSUPP)
	if _, err := os.Lstat(filepath.Join(e.mnt, "hard")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused link left a name: %v", err)
	}
}
