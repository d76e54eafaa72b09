package fs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"ftpfs/conn"
	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// TestErrnoTable: the errno of every class of error, for the operations
// whose answer differs and for the rest ("read" stands for them).
func TestErrnoTable(t *testing.T) {
	common := map[conn.Class]syscall.Errno{
		conn.ClassOther:       syscall.EIO,
		conn.ClassNotFound:    syscall.ENOENT,
		conn.ClassPermission:  syscall.EACCES,
		conn.ClassNoSpace:     syscall.ENOSPC,
		conn.ClassQuota:       syscall.EDQUOT,
		conn.ClassExists:      syscall.EEXIST,
		conn.ClassInvalid:     syscall.EINVAL,
		conn.ClassTimeout:     syscall.ETIMEDOUT,
		conn.ClassUnavailable: syscall.EIO,
		conn.ClassInterrupted: syscall.EINTR,
		conn.ClassUnsupported: syscall.ENOTSUP,
		conn.ClassNotEmpty:    syscall.ENOTEMPTY,
		conn.ClassTooLarge:    syscall.EIO,
		conn.ClassIllegalName: syscall.EILSEQ,
	}
	// but returns common with the given classes changed.
	but := func(changes map[conn.Class]syscall.Errno) map[conn.Class]syscall.Errno {
		m := map[conn.Class]syscall.Errno{}
		for c, e := range common {
			m[c] = e
		}
		for c, e := range changes {
			m[c] = e
		}
		return m
	}
	all := func(e syscall.Errno) map[conn.Class]syscall.Errno {
		m := map[conn.Class]syscall.Errno{}
		for c := range common {
			m[c] = e
		}
		return m
	}
	dir := all(0)
	dir[conn.ClassTimeout], dir[conn.ClassUnavailable] = syscall.ETIMEDOUT, syscall.EIO
	want := map[string]map[conn.Class]syscall.Errno{
		"read":          common,
		"upload":        common,
		"chmod":         but(map[conn.Class]syscall.Errno{conn.ClassUnsupported: syscall.EPERM}),
		"chmod ignored": all(0),
		"utimens":       but(map[conn.Class]syscall.Errno{conn.ClassUnsupported: 0}),
		"utimens dir":   dir,
	}
	log := slog.New(slog.DiscardHandler)
	for op, classes := range want {
		for c, errno := range classes {
			err := fmt.Errorf("wrapped: %w", &conn.Error{Op: "x", Path: "/p", Err: c})
			if got := toErrno(log, op, "p", err); got != errno {
				t.Errorf("%s, %v: %v, want %v", op, c, got, errno)
			}
		}
		if got := toErrno(log, op, "p", syscall.ENOENT); got != syscall.ENOENT {
			t.Errorf("%s: an errno became %v", op, got)
		}
		if got := toErrno(log, op, "p", nil); got != 0 {
			t.Errorf("%s: no error became %v", op, got)
		}
	}
	for _, tc := range []struct {
		err   error
		errno syscall.Errno
	}{
		{&os.PathError{Op: "write", Path: "stage", Err: syscall.ENOSPC}, syscall.ENOSPC},
		{errStagingFull, syscall.ENOSPC},
		{&os.PathError{Op: "write", Path: "stage", Err: syscall.EBADF}, syscall.EIO},
		{errors.New("short write"), syscall.EIO},
	} {
		if got := stageErrno(tc.err); got != tc.errno {
			t.Errorf("stageErrno(%v) = %v, want %v", tc.err, got, tc.errno)
		}
	}
}

// TestChmodAndTimesRefused: a server without SITE CHMOD makes chmod
// EPERM, or a success with -o chmod=ignore; one that cannot set times
// leaves the time to the mount.
func TestChmodAndTimesRefused(t *testing.T) {
	fill := func(root string) { testutil.WriteFile(t, filepath.Join(root, "f"), []byte("x")) }
	e := newEnv(t, fill, []func(*ftpd.Config){func(c *ftpd.Config) {
		c.Faults = ftpd.Faults{RefuseVerb: "SITE", RefuseCode: 502}
	}})
	p := filepath.Join(e.mnt, "f")
	if err := os.Chmod(p, 0o600); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("chmod without SITE CHMOD: %v, want EPERM", err)
	}
	_, ignoring, _ := mountAt(t, e.srvCfg.Listen, testUser, testPass, func(o *Options) { o.ChmodIgnore = true })
	if err := os.Chmod(filepath.Join(ignoring, "f"), 0o600); err != nil {
		t.Fatalf("chmod=ignore: %v", err)
	}

	e.srv.SetFaults(ftpd.Faults{RefuseVerb: "MFMT", RefuseCode: 502})
	mt := time.Date(2019, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatalf("utimens without MFMT: %v", err)
	}
	if fi, err := os.Stat(p); err != nil || !fi.ModTime().Equal(mt) {
		t.Fatalf("the time the mount keeps: %v, %v", fi.ModTime(), err)
	}
	if fi, _ := os.Stat(filepath.Join(e.root, "f")); fi.ModTime().Equal(mt) {
		t.Fatal("the server set the time it refused to set")
	}
}
