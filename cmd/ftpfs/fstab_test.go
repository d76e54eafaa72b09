package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"ftpfs/internal/mountinfo"
	"ftpfs/internal/testutil"
)

// helperDir is where the test puts ftpfs for mount(8): mount(8) clears
// $PATH, and mount.fuse3 runs "ftpfs SRC DIR -o OPTS" with /bin/sh -c,
// which then searches its default path, /usr/local/sbin first (dash and
// bash alike).
const helperDir = "/usr/local/sbin"

// threadMountinfo is the mount table of the calling thread's namespace
// (/proc/self is the main thread's).
const threadMountinfo = "/proc/thread-self/mountinfo"

// The main goroutine keeps the main thread for good: a subtest that
// moves its thread into a namespace of its own (enterMountNamespace) must
// not be on it. The runtime keeps a main thread whose goroutine ended
// locked instead of ending it, and /proc/self, which other tests read for
// their mounts, is the main thread's.
func init() { runtime.LockOSThread() }

// enterMountNamespace moves the test's goroutine, locked to its thread for
// good (the thread ends with it), into a mount namespace of its own where
// the ftpfs binary bin is in helperDir. Nothing changes outside: processes
// the test starts inherit the namespace, the ftpfs mount among them.
func enterMountNamespace(t *testing.T, bin string) {
	t.Helper()
	runtime.LockOSThread()
	if err := syscall.Unshare(syscall.CLONE_NEWNS); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	// Private, so that the bind mount below and the ftpfs mount stay here.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		t.Fatalf("make / private: %v", err)
	}
	// The namespace holds a copy of every mount of the moment, other
	// tests' FUSE mounts too; a copy would keep such a mount alive after
	// its test unmounted it, and its server waiting. Drop them here.
	ms, err := mountinfo.ReadFile(threadMountinfo)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if strings.HasPrefix(m.FSType, "fuse") && m.FSType != "fusectl" {
			syscall.Unmount(m.Point, syscall.MNT_DETACH)
		}
	}
	// A copy, not a link: the build is in root's home, which another
	// user cannot enter.
	dir := t.TempDir()
	exe, err := os.ReadFile(bin)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "ftpfs"), exe, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(dir, helperDir, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s: %v", helperDir, err)
	}
}

// threadMount finds the mount on mnt in the thread's namespace.
func threadMount(t *testing.T, mnt string) (mountinfo.Mount, bool) {
	t.Helper()
	ms, err := mountinfo.ReadFile(threadMountinfo)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m mountinfo.Mount) bool { return m.Point == mnt })
	if i < 0 {
		return mountinfo.Mount{}, false
	}
	return ms[i], true
}

// cleanUpMount detaches mnt at the end of the test if it is still
// mounted, and shows the mount's log (in cache) if the test failed.
func cleanUpMount(t *testing.T, mnt, cache string) {
	t.Cleanup(func() {
		if _, ok := threadMount(t, mnt); ok {
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(cache, daemonLog))
			t.Logf("mount.log:\n%s", log)
		}
	})
}

// umountAndWait unmounts mnt by running umount, and waits for the
// background mount, whose log is in cache, to see it and end.
func umountAndWait(t *testing.T, mnt, cache string, umount func() ([]byte, error)) {
	t.Helper()
	unmounts := func() int {
		log, _ := os.ReadFile(filepath.Join(cache, daemonLog))
		return strings.Count(string(log), `msg="unmounted from outside"`)
	}
	before := unmounts()
	if out, err := umount(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	if _, ok := threadMount(t, mnt); ok {
		t.Error("still mounted after umount")
	}
	testutil.WaitUntil(t, 10*time.Second, "the mount process ends after umount", func() (bool, string) {
		return unmounts() > before, "no new unmount in mount.log"
	})
}

// TestMountCommand mounts with mount(8), as an fstab line (mount -T FILE
// MOUNTPOINT, what systemd runs for a .mount unit) and as mount -t
// fuse.ftpfs, both with the options of an fstab line that systemd
// automounts: mount(8) finds mount.fuse, which runs "ftpfs SRC DIR -o
// OPTS". The mount returns once mounted, serves in the background, honours
// ro/rw and noexec, is always nosuid and nodev, takes the password from
// password_file=, and ends with umount.
func TestMountCommand(t *testing.T) {
	testutil.NeedFUSE(t)
	testutil.NeedRoot(t, "for mount(8) and a mount namespace")
	testutil.NeedTool(t, "mount")
	testutil.NeedTool(t, "umount")
	if _, err := os.Stat("/sbin/mount.fuse"); err != nil {
		testutil.Unavailable(t, "mount(8) needs /sbin/mount.fuse (package fuse3): %v", err)
	}
	if st, err := os.Stat(helperDir); err != nil || !st.IsDir() {
		testutil.Unavailable(t, "no %s to put ftpfs in: %v", helperDir, err)
	}
	bin := testutil.Binary(t)
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "hello.txt"), []byte("hello from ftpd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := serveBinary(t, root)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("ftp://u@127.0.0.1:%d/", srv.port)

	t.Run("user", func(t *testing.T) { testUserFstabMount(t, bin, src, root) })

	for _, tc := range []struct {
		name string
		ro   bool
	}{
		{"fstab", true}, // mount -T FILE MOUNTPOINT
		{"type", false}, // mount -t fuse.ftpfs SRC DIR -o OPTS
	} {
		t.Run(tc.name, func(t *testing.T) {
			enterMountNamespace(t, bin)
			mnt, cache := t.TempDir(), t.TempDir()
			cleanUpMount(t, mnt, cache)
			opts := "_netdev,nofail,noauto,x-systemd.automount,comment=test,defaults,noexec,password_file=" + pwFile +
				",cache_dir=" + cache + ",connections=2,timeout=10s,dir_cache_ttl=1s"
			var args []string
			if tc.ro {
				opts += ",ro"
				fstab := filepath.Join(t.TempDir(), "fstab")
				line := fmt.Sprintf("# ftpfs test\n%s %s fuse.ftpfs %s 0 0\n", src, mnt, opts)
				if err := os.WriteFile(fstab, []byte(line), 0o644); err != nil {
					t.Fatal(err)
				}
				args = []string{"-T", fstab, mnt}
			} else {
				args = []string{"-t", "fuse.ftpfs", src, mnt, "-o", opts + ",rw"}
			}
			// mount(8) returns once mounted: the mount serves in the
			// background.
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, "mount", args...).CombinedOutput()
			if err != nil {
				t.Fatalf("mount %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			m, ok := threadMount(t, mnt)
			if !ok {
				t.Fatalf("mount %s exited 0 but nothing is mounted on %s", strings.Join(args, " "), mnt)
			}
			opt := strings.Split(m.Options+","+m.SuperOpts, ",")
			for _, want := range []string{"nosuid", "nodev", "noexec", map[bool]string{true: "ro", false: "rw"}[tc.ro]} {
				if !slices.Contains(opt, want) {
					t.Errorf("mount options %s,%s lack %s", m.Options, m.SuperOpts, want)
				}
			}
			if m.FSType != "fuse.ftpfs" || !strings.HasPrefix(m.Source, "ftp://127.0.0.1:") {
				t.Errorf("mounted %s %s, want fuse.ftpfs ftp://127.0.0.1:...", m.FSType, m.Source)
			}

			got, err := os.ReadFile(filepath.Join(mnt, "hello.txt"))
			if err != nil || string(got) != "hello from ftpd\n" {
				t.Errorf("read through the mount: %q, %v", got, err)
			}
			err = os.WriteFile(filepath.Join(mnt, "new.txt"), []byte("new\n"), 0o644)
			switch {
			case tc.ro && !errors.Is(err, syscall.EROFS):
				t.Errorf("write to the ro mount: %v, want EROFS", err)
			case !tc.ro && err != nil:
				t.Errorf("write to the rw mount: %v", err)
			case !tc.ro:
				if b, err := os.ReadFile(filepath.Join(root, "new.txt")); err != nil || string(b) != "new\n" {
					t.Errorf("on the server after the write: %q, %v", b, err)
				}
			}

			umountAndWait(t, mnt, cache, exec.Command("umount", mnt).CombinedOutput)
		})
	}

	// A mount that fails makes mount(8) fail with ftpfs's reason, and
	// leaves nothing mounted. Last: ftpd slows down logins after a
	// failed one.
	t.Run("refused", func(t *testing.T) {
		enterMountNamespace(t, bin)
		dir := t.TempDir()
		open := writeSecret(t, dir, "open", "0644:p")
		wrong := writeSecret(t, dir, "wrong", "0600:not-p")
		for _, tc := range []struct{ opts, want string }{
			{"password_file=" + pwFile + ",nofail,bogus_opt=1", "-o bogus_opt: unknown option"},
			{"password_file=" + open, "is readable by group or others (mode 0644)"},
			{"password_file=" + wrong, "530"},
		} {
			mnt := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			out, err := exec.CommandContext(ctx, "mount", "-t", "fuse.ftpfs", src, mnt, "-o", tc.opts+",cache_dir="+t.TempDir()).CombinedOutput()
			cancel()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Errorf("-o %s: %v, output %q; want a failure saying %q", tc.opts, err, out, tc.want)
			}
			if strings.Contains(string(out), "not-p") {
				t.Errorf("-o %s: the output shows the password: %q", tc.opts, out)
			}
			if _, ok := threadMount(t, mnt); ok {
				syscall.Unmount(mnt, syscall.MNT_DETACH)
				t.Errorf("-o %s: mounted after all", tc.opts)
			}
		}
	})
}

// testUserFstabMount: a user mounts and unmounts an fstab line marked
// "user" with mount(8) and umount(8), as themselves (nobody), through
// mount.fuse3 and fusermount3; and root mounts for nobody with
// setuid=nobody, which mount.fuse3 acts on. mount(8) reads only /etc/fstab for a user:
// the test binds its own over it, in its namespace, and a /dev/fuse that
// anyone may open (the one of a container may be root's alone).
func testUserFstabMount(t *testing.T, bin, src, root string) {
	nobody, err := user.Lookup("nobody")
	if err != nil {
		testutil.Unavailable(t, "no user nobody: %v", err)
	}
	testutil.NeedTool(t, "fusermount3")
	enterMountNamespace(t, bin)
	var uid, gid uint32
	fmt.Sscan(nobody.Uid, &uid)
	fmt.Sscan(nobody.Gid, &gid)

	// t.TempDir's parent is root's alone: nobody needs a way in.
	dir, err := os.MkdirTemp("", "ftpfs-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	mnt, cache, dev := filepath.Join(dir, "mnt"), filepath.Join(dir, "cache"), filepath.Join(dir, "dev")
	for _, d := range []string{mnt, cache, dev} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	pw := writeSecret(t, dir, "pw", "p\n")
	for _, p := range []string{mnt, cache, pw} {
		if err := os.Chown(p, int(uid), int(gid)); err != nil {
			t.Fatal(err)
		}
	}
	fstab := writeFile(t, "fstab", fmt.Sprintf("%s %s fuse.ftpfs user,noauto,_netdev,password_file=%s,cache_dir=%s 0 0\n", src, mnt, pw, cache))
	os.Chmod(fstab, 0o644)
	for _, step := range []struct{ src, dst, fstype string }{
		{fstab, "/etc/fstab", ""},
		{"tmpfs", dev, "tmpfs"},
	} {
		flags := uintptr(syscall.MS_BIND)
		if step.fstype != "" {
			flags = 0
		}
		if err := syscall.Mount(step.src, step.dst, step.fstype, flags, ""); err != nil {
			t.Fatalf("mount %s on %s: %v", step.src, step.dst, err)
		}
	}
	fuseDev := filepath.Join(dev, "fuse")
	if err := syscall.Mknod(fuseDev, syscall.S_IFCHR|0o666, 10<<8|229); err != nil {
		t.Fatal(err)
	}
	os.Chmod(fuseDev, 0o666)
	if err := syscall.Mount(fuseDev, "/dev/fuse", "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind /dev/fuse: %v", err)
	}
	cleanUpMount(t, mnt, cache)
	asNobody := func(name string, args ...string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
		cmd.Dir = "/"
		return cmd.CombinedOutput()
	}

	// nobody mounts the fstab line and unmounts it; then root mounts
	// with setuid=nobody (mount.fuse3 runs ftpfs as nobody) and unmounts.
	for _, how := range []struct {
		mount, umount func() ([]byte, error)
	}{
		{func() ([]byte, error) { return asNobody("mount", mnt) }, func() ([]byte, error) { return asNobody("umount", mnt) }},
		{
			exec.Command("mount", "-t", "fuse.ftpfs", src, mnt, "-o", "setuid=nobody,password_file="+pw+",cache_dir="+cache).CombinedOutput,
			exec.Command("umount", mnt).CombinedOutput,
		},
	} {
		if out, err := how.mount(); err != nil {
			t.Fatalf("mount: %v\n%s", err, out)
		}
		m, ok := threadMount(t, mnt)
		if !ok || m.FSType != "fuse.ftpfs" || !strings.Contains(m.SuperOpts, "user_id="+nobody.Uid) {
			t.Fatalf("after the mount: %+v, mounted %v; want a mount of nobody's", m, ok)
		}
		// Root may not look into another user's FUSE mount: nobody reads.
		if out, err := asNobody("cat", filepath.Join(mnt, "hello.txt")); err != nil || string(out) != "hello from ftpd\n" {
			t.Errorf("read as nobody: %q, %v", out, err)
		}
		umountAndWait(t, mnt, cache, how.umount)
	}
}
