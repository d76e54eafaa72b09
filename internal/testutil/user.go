package testutil

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// User is a throwaway account without privileges, for tests that run
// programs as an ordinary user does (CI runs as root, which mounts FUSE
// without fusermount and may do what a user may not).
type User struct {
	Name     string
	UID, GID int
	Home     string // the user's, mode 0700
	// Dir is a directory the user can reach but not change (root's, mode
	// 0755), for the programs it runs; Home and what Mkdir makes are in it.
	Dir string
}

// NewUser creates an account with useradd and removes it, with its files
// and processes, when the test ends. Only root can: elsewhere the test is
// skipped, in CI it fails.
func NewUser(t testing.TB) *User {
	t.Helper()
	NeedRoot(t, "to create a user")
	useradd := NeedTool(t, "useradd")
	userdel := NeedTool(t, "userdel")
	dir, err := os.MkdirTemp("", "ftpfs-anyuser-")
	if err != nil {
		t.Fatal(err)
	}
	// MkdirTemp's 0700 would keep the user out.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	rand.Read(b[:])
	u := &User{Name: "ftpfs-t" + hex.EncodeToString(b[:]), Dir: dir, Home: filepath.Join(dir, "home")}
	out, err := exec.Command(useradd, "--no-create-home", "--home-dir", u.Home,
		"--shell", "/usr/sbin/nologin", "--user-group", u.Name).CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("useradd %s: %v %s", u.Name, err, out)
	}
	t.Cleanup(func() {
		if pids := u.Processes(); len(pids) > 0 {
			t.Errorf("user %s still runs %v at the end of the test; killed", u.Name, pids)
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			WaitUntil(t, 10*time.Second, "user's processes gone", func() (bool, string) {
				p := u.Processes()
				return len(p) == 0, fmt.Sprint(p)
			})
		}
		// userdel refuses while a zombie of the user's waits to be reaped.
		for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
			out, err := exec.Command(userdel, u.Name).CombinedOutput()
			if err == nil {
				break
			}
			if time.Since(start) > 10*time.Second {
				t.Errorf("userdel %s: %v %s", u.Name, err, out)
				break
			}
		}
		// Not through a mount the test left behind: that would remove
		// the files it serves.
		if left := mountsUnder(dir); len(left) > 0 {
			t.Errorf("still mounted at the end of the test: %v; detached", left)
			for _, mp := range left {
				syscall.Unmount(mp, syscall.MNT_DETACH)
			}
		}
		os.RemoveAll(dir)
	})
	pw, err := user.Lookup(u.Name)
	if err != nil {
		t.Fatal(err)
	}
	u.UID, _ = strconv.Atoi(pw.Uid)
	u.GID, _ = strconv.Atoi(pw.Gid)
	u.Home = u.Mkdir(t, "home", 0o700)
	return u
}

// Mkdir makes a directory of the user's in Dir.
func (u *User) Mkdir(t testing.TB, name string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(u.Dir, name)
	if err := os.Mkdir(p, perm); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
	if err := os.Chown(p, u.UID, u.GID); err != nil {
		t.Fatal(err)
	}
	return p
}

// Install copies the program at src into Dir, where the user can run it
// (the test binaries' build directory is root's alone), with mode perm,
// owned by root.
func (u *User) Install(t testing.TB, src string, perm os.FileMode) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(u.Dir, filepath.Base(src))
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	// Chmod after the copy: the set-user-ID bit survives no write.
	if err == nil {
		err = os.Chmod(dst, perm)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// Env is the environment of a login of the user's, plus extra
// ("NAME=value").
func (u *User) Env(extra ...string) []string {
	return append([]string{
		"HOME=" + u.Home, "USER=" + u.Name, "LOGNAME=" + u.Name,
		"PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
	}, extra...)
}

// Command runs name as the user, without supplementary groups, in Home,
// with Env(). name is looked up in the test's PATH.
func (u *User) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = u.Home, u.Env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
		Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: []uint32{},
	}}
	return cmd
}

// Processes lists the PIDs of the user's processes that have not exited.
// Zombies are left out: an orphan's (a background mount's) waits for
// whatever reaps orphans here, which may take a while.
func (u *User) Processes() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.Stat("/proc/" + e.Name())
		if sys, ok := statT(st, err); ok && int(sys.Uid) == u.UID && !zombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// zombie reports whether process pid has exited and waits to be reaped
// (state Z in /proc/PID/stat, after the parenthesised command name).
func zombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	i := bytes.LastIndexByte(stat, ')')
	return err == nil && i >= 0 && len(stat) > i+2 && stat[i+2] == 'Z'
}

func statT(st os.FileInfo, err error) (*syscall.Stat_t, bool) {
	if err != nil {
		return nil, false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return sys, ok
}

// mountsUnder lists the directories in dir (Mkdir's) that something is
// mounted on: on another device than dir, or not to be looked at by root
// (a live FUSE mount without allow_other, or a dead one).
func mountsUnder(dir string) []string {
	var parent syscall.Stat_t
	if err := syscall.Stat(dir, &parent); err != nil {
		return nil
	}
	ents, _ := os.ReadDir(dir)
	var mps []string
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil || st.Dev != parent.Dev {
			mps = append(mps, p)
		}
	}
	return mps
}

// NeedUserFUSE ends the test unless an ordinary user can mount here:
// fusermount3 installed set-user-ID root, and /dev/fuse open to all
// (fusermount3 opens it as the user; udev's rule makes it 0666, a
// container may not: .ci/run sees to it).
func NeedUserFUSE(t testing.TB) {
	t.Helper()
	tool := NeedTool(t, "fusermount3")
	st, err := os.Stat(tool)
	if sys, ok := statT(st, err); !ok || sys.Uid != 0 || st.Mode()&os.ModeSetuid == 0 {
		Unavailable(t, "%s is not set-user-ID root (%s)", tool, modeOf(st, err))
	}
	st, err = os.Stat("/dev/fuse")
	if err != nil || st.Mode().Perm()&0o006 != 0o006 {
		Unavailable(t, "/dev/fuse is not open to users (%s): chmod 0666 /dev/fuse, as udev does", modeOf(st, err))
	}
}

func modeOf(st os.FileInfo, err error) string {
	if err != nil {
		return err.Error()
	}
	return st.Mode().String()
}
