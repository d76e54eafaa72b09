package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpfs/internal/testutil"
	"ftpfs/internal/testutil/ftpdtest"
)

// refused runs ftpfs mount as the user and checks that it failed with
// exit 1 and a message holding want, and left nothing behind.
func (a *asUser) refused(t *testing.T, want string, mnt string) {
	t.Helper()
	out, err := a.ftpfs("mount", a.url, mnt)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(out, want) || strings.Count(out, "\n") != 1 {
		t.Errorf("ftpfs mount on %s: %v %q, want exit 1 and one line holding %q", mnt, err, out, want)
	}
	a.gone(t, "the refused mount")
}

// TestMountAsUserHelperSaysWhy: when fusermount3 refuses a background
// mount, the user is told why, not just "fusermount exited with code 256"
// (its words went to mount.log only).
func TestMountAsUserHelperSaysWhy(t *testing.T) {
	testutil.NeedUserFUSE(t)
	a := newAsUser(t)
	// Root's: the user may not mount on it, which only fusermount3 checks.
	rootsDir := filepath.Join(a.u.Dir, "roots")
	if err := os.Mkdir(rootsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	a.refused(t, "fusermount exited with code 256: fusermount3: user has no write access to mountpoint "+rootsDir, rootsDir)
}

// TestMountAsUserFUSE2 mounts as a user where FUSE 2's fusermount, from
// Debian's fuse package (unpacked by scripts/test-servers.sh), is the only
// helper: in a mount namespace where fusermount3 is hidden and /dev/fuse
// can be swapped, so that the machine's stay as they are.
//
// The background mount reported as failing with it ("fusermount exited
// with code 256" while -f worked) works: what fails with FUSE 2 and not
// with FUSE 3 is a mountpoint that is not empty, which is refused before
// the helper runs; and a /dev/fuse closed to users fails with either
// helper, now with a message that says so.
func TestMountAsUserFUSE2(t *testing.T) {
	testutil.NeedUserFUSE(t)
	fuse2 := filepath.Join(testutil.UnpackedDir(), "bin", "fusermount")
	if _, err := os.Stat(fuse2); err != nil {
		testutil.Unavailable(t, "FUSE 2's fusermount: %v (scripts/test-servers.sh unpacks it)", err)
	}
	a := newAsUser(t)
	ns := testutil.NewMountNS(t)
	a.wrap, a.info = ns.Wrap, ns.Mountinfo()

	// The helper is set-user-ID root on a tmpfs of the namespace's own,
	// which no nosuid on /tmp can spoil.
	helpers := filepath.Join(a.u.Dir, "fuse2")
	if err := os.Mkdir(helpers, 0o755); err != nil {
		t.Fatal(err)
	}
	ns.Mount(t, "-t", "tmpfs", "-o", "mode=0755,size=1m", "ftpfs-test", helpers)
	dst := ns.Path(filepath.Join(helpers, "fusermount"))
	testutil.WriteFile(t, dst, mustRead(t, fuse2))
	if err := os.Chmod(dst, os.ModeSetuid|0o755); err != nil {
		t.Fatal(err)
	}
	// go-fuse looks for fusermount3 in PATH, then in /bin.
	path := "PATH=" + helpers + ":/usr/local/bin:/usr/bin:/bin"
	var hide []string
	for _, dir := range append(filepath.SplitList(strings.TrimPrefix(path, "PATH=")), "/bin") {
		hide = append(hide, filepath.Join(dir, "fusermount3"))
	}
	ns.Hide(t, hide...)
	base := a.wrap
	a.wrap = func(c *exec.Cmd) *exec.Cmd {
		c.Env = append(c.Env, path)
		return base(c)
	}
	out, err := a.run("sh", "-c", "test -x /bin/fusermount3 && echo /bin/fusermount3; command -v fusermount3; command -v fusermount; fusermount -V")
	if want := filepath.Join(helpers, "fusermount") + "\nfusermount version: 2."; err != nil || !strings.HasPrefix(out, want) {
		t.Fatalf("helpers the user sees: %v %q, want only FUSE 2's: %q...", err, out, want)
	}

	a.mount(t)
	if out, err := a.run("cat", filepath.Join(a.mnt, "a.txt")); err != nil || out != "served to a user\n" {
		t.Errorf("cat as the user: %v %q", err, out)
	}
	// ftpfs unmount finds no fusermount3 and uses FUSE 2's.
	if out, err := a.ftpfs("unmount", a.mnt); err != nil {
		t.Fatalf("ftpfs unmount with FUSE 2's fusermount: %v %s", err, out)
	}
	a.gone(t, "ftpfs unmount")

	// And in the foreground, as before.
	fg := a.u.Command(a.bin, "mount", "-f", a.url, a.mnt)
	fg.Env = append(fg.Env, passwordEnv+"="+ftpdtest.Password)
	fg = a.wrap(fg)
	var fgLog testutil.Buffer
	fg.Stderr = &fgLog
	if err := fg.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- fg.Wait() }()
	testutil.WaitUntil(t, 20*time.Second, "mount -f mounts", func() (bool, string) {
		_, ok := a.mounted(t)
		return ok, fgLog.String()
	})
	if out, err := a.run("cat", filepath.Join(a.mnt, "a.txt")); err != nil || out != "served to a user\n" {
		t.Errorf("cat as the user, mount -f: %v %q", err, out)
	}
	if out, err := a.ftpfs("unmount", a.mnt); err != nil {
		t.Fatalf("ftpfs unmount of mount -f: %v %s", err, out)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("mount -f: %v\n%s", err, fgLog.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("mount -f still runs 10 s after the unmount:\n%s", fgLog.String())
	}
	a.gone(t, "ftpfs unmount of mount -f")

	if out, err := a.run("touch", filepath.Join(a.mnt, "here-before")); err != nil {
		t.Fatalf("touch: %v %s", err, out)
	}
	a.refused(t, a.mnt+" is not empty, and FUSE 2's "+filepath.Join(helpers, "fusermount")+" (no fusermount3 is installed) mounts only on an empty directory: empty it, or install fuse3", a.mnt)

	// Closed to users, as a container may leave it.
	closed := filepath.Join(t.TempDir(), "fuse")
	testutil.WriteFile(t, closed, nil)
	ns.Mount(t, "--bind", closed, "/dev/fuse")
	empty := a.u.Mkdir(t, "mnt2", 0o755)
	a.refused(t, "ftpfs mount: /dev/fuse: permission denied: fusermount opens it as the user who mounts, so it must be mode 0666", empty)
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
