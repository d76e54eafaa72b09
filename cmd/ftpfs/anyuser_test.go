package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ftpfs/internal/mountinfo"
	"ftpfs/internal/testutil"
	"ftpfs/internal/testutil/ftpdtest"
)

// asUser is the ftpfs binary run by a throwaway user, as someone mounts
// without root: through fusermount, into their own cache dir, on a
// mountpoint of theirs, from a server on loopback.
type asUser struct {
	u        *testutil.User
	bin, url string
	mnt      string
	root     string // what the server serves
	// wrap, when set, rewrites each command (to run it in another mount
	// namespace).
	wrap func(*exec.Cmd) *exec.Cmd
	// info reads the mount table the user's mounts land in.
	info string
}

func newAsUser(t *testing.T) *asUser {
	t.Helper()
	srv := ftpdtest.Serve(t, "")
	testutil.WriteFile(t, filepath.Join(srv.Root, "a.txt"), []byte("served to a user\n"))
	u := testutil.NewUser(t)
	return &asUser{
		u:    u,
		bin:  u.Install(t, testutil.Binary(t), 0o755),
		url:  fmt.Sprintf("ftp://%s@%s/", ftpdtest.User, srv.Addr()),
		mnt:  u.Mkdir(t, "mnt", 0o755),
		root: srv.Root,
		wrap: func(c *exec.Cmd) *exec.Cmd { return c },
		info: mountinfo.Self,
	}
}

// run runs name as the user, the password in the environment, and
// returns its output.
func (a *asUser) run(name string, args ...string) (string, error) {
	cmd := a.u.Command(name, args...)
	cmd.Env = append(cmd.Env, passwordEnv+"="+ftpdtest.Password)
	out, err := a.wrap(cmd).CombinedOutput()
	return string(out), err
}

// ftpfs runs the binary as the user.
func (a *asUser) ftpfs(args ...string) (string, error) { return a.run(a.bin, args...) }

// mounted returns the mount table's entry for the mountpoint.
func (a *asUser) mounted(t *testing.T) (mountinfo.Mount, bool) {
	t.Helper()
	ms, err := mountinfo.ReadFile(a.info)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m mountinfo.Mount) bool { return m.Point == a.mnt })
	if i < 0 {
		return mountinfo.Mount{}, false
	}
	return ms[i], true
}

// mount mounts in the background as the user and checks that the kernel
// holds it as the user's mount.
func (a *asUser) mount(t *testing.T, args ...string) {
	t.Helper()
	out, err := a.ftpfs(append(append([]string{"mount"}, args...), a.url, a.mnt)...)
	if err != nil {
		t.Fatalf("ftpfs mount as %s: %v\n%s%s", a.u.Name, err, out, a.log())
	}
	m, ok := a.mounted(t)
	if !ok {
		t.Fatalf("ftpfs mount succeeded, but %s is not in the mount table\n%s", a.mnt, a.log())
	}
	if m.FSType != "fuse.ftpfs" || !strings.Contains(","+m.SuperOpts+",", fmt.Sprintf(",user_id=%d,", a.u.UID)) {
		t.Errorf("mount table: %s %s, want fuse.ftpfs with user_id=%d", m.FSType, m.SuperOpts, a.u.UID)
	}
}

// log is the background mount's log in the user's default cache dir.
func (a *asUser) log() string {
	b, _ := os.ReadFile(filepath.Join(a.u.Home, ".cache", "ftpfs", daemonLog))
	return "mount.log:\n" + testutil.Tail(string(b), 20)
}

// gone checks that nothing is mounted and that the mount process exited:
// an unmount from outside ends it.
func (a *asUser) gone(t *testing.T, after string) {
	t.Helper()
	if _, ok := a.mounted(t); ok {
		t.Errorf("after %s: still mounted", after)
	}
	testutil.WaitUntil(t, 10*time.Second, "the user's mount process exits after "+after, func() (bool, string) {
		p := a.u.Processes()
		return len(p) == 0, fmt.Sprintf("PIDs %v", p)
	})
}

// TestMountAsUser runs the core of the mount as an ordinary user, through
// fusermount3: mount, read, write, rename, and each way of unmounting a
// user may take.
func TestMountAsUser(t *testing.T) {
	testutil.NeedUserFUSE(t)
	a := newAsUser(t)
	a.mount(t)

	out, err := a.run("cat", filepath.Join(a.mnt, "a.txt"))
	if err != nil || out != "served to a user\n" {
		t.Errorf("cat as the user: %v %q", err, out)
	}
	// The kernel keeps others out, root included, without allow_other.
	if _, err := os.Stat(filepath.Join(a.mnt, "a.txt")); !os.IsPermission(err) {
		t.Errorf("root's stat of the user's mount: %v, want permission denied", err)
	}
	// close() returns once the server has the file (SEMANTICS.md).
	if out, err := a.run("sh", "-c", "printf written > "+filepath.Join(a.mnt, "b.txt")); err != nil {
		t.Errorf("write as the user: %v %s", err, out)
	}
	if got, err := os.ReadFile(filepath.Join(a.root, "b.txt")); err != nil || string(got) != "written" {
		t.Errorf("the server has b.txt = %q, %v; want \"written\"", got, err)
	}
	if out, err := a.run("mv", filepath.Join(a.mnt, "b.txt"), filepath.Join(a.mnt, "c.txt")); err != nil {
		t.Errorf("rename as the user: %v %s", err, out)
	}
	if got, err := os.ReadFile(filepath.Join(a.root, "c.txt")); err != nil || string(got) != "written" {
		t.Errorf("after the rename the server has c.txt = %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(a.root, "b.txt")); !os.IsNotExist(err) {
		t.Errorf("after the rename b.txt is still on the server: %v", err)
	}
	if out, err := a.ftpfs("unmount", a.mnt); err != nil {
		t.Fatalf("ftpfs unmount as the user: %v %s", err, out)
	}
	a.gone(t, "ftpfs unmount")

	// umount(8) lets a user unmount a FUSE mount whose user_id is theirs;
	// fusermount3 -u is FUSE's own way.
	for _, how := range [][]string{{"umount"}, {"fusermount3", "-u"}} {
		a.mount(t)
		if out, err := a.run(testutil.NeedTool(t, how[0]), append(how[1:], a.mnt)...); err != nil {
			t.Fatalf("%s as the user: %v %s", strings.Join(how, " "), err, out)
		}
		a.gone(t, strings.Join(how, " "))
	}
}

// TestMountAsUserAllowOther: -o allow_other needs user_allow_other in
// /etc/fuse.conf for a user. Without it the mount is refused before
// fusermount3 is tried, with a message that says what to change; with it
// (a machine configured so) others, root here, can look in.
func TestMountAsUserAllowOther(t *testing.T) {
	testutil.NeedUserFUSE(t)
	a := newAsUser(t)
	conf, _ := os.ReadFile("/etc/fuse.conf")
	if fuseConfAllowsOther(string(conf)) {
		a.mount(t, "-o", "allow_other")
		if got, err := os.ReadFile(filepath.Join(a.mnt, "a.txt")); err != nil || string(got) != "served to a user\n" {
			t.Errorf("root reading the user's allow_other mount: %q, %v", got, err)
		}
		if out, err := a.ftpfs("unmount", a.mnt); err != nil {
			t.Fatalf("ftpfs unmount: %v %s", err, out)
		}
		a.gone(t, "ftpfs unmount")
		return
	}
	out, err := a.ftpfs("mount", "-o", "allow_other", a.url, a.mnt)
	const want = "ftpfs mount: -o allow_other needs a line user_allow_other in /etc/fuse.conf (or root)\n"
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || out != want {
		t.Errorf("mount -o allow_other as a user: %v %q, want exit 1 and %q", err, out, want)
	}
	a.gone(t, "the refused mount")
}
