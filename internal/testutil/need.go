package testutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI, where nothing may be missing.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable ends a test that cannot run on this machine: it fails in CI
// and is skipped elsewhere.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("%s (required in CI)", msg)
	} else {
		t.Skip(msg)
	}
}

// NeedFUSE ends the test unless it can mount: /dev/fuse exists, and the
// test runs as root or fusermount can mount for it.
func NeedFUSE(t testing.TB) {
	t.Helper()
	if err := fuseUsable(); err != nil {
		Unavailable(t, "FUSE unavailable: %v", err)
	}
}

func fuseUsable() error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		return nil
	}
	for _, tool := range []string{"fusermount3", "fusermount"} {
		if _, err := exec.LookPath(tool); err == nil {
			return nil
		}
	}
	return errors.New("not root and no fusermount")
}

// NeedRoot ends the test unless it runs as root; why says what for.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root %s", why)
	}
}

// NeedTool returns the path of an external program, or ends the test.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(t, "%s not found in PATH: %v", name, err)
	}
	return p
}
