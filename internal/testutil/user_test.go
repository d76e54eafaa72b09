package testutil

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNewUser: the account exists for the test only, its commands run
// without root's identity or groups, and what it leaves is found.
func TestNewUser(t *testing.T) {
	var name string
	var uid int
	t.Run("user", func(t *testing.T) {
		u := NewUser(t)
		name, uid = u.Name, u.UID
		if u.UID == 0 || u.GID == 0 {
			t.Fatalf("uid %d gid %d", u.UID, u.GID)
		}
		out, err := u.Command("id").CombinedOutput()
		want := "uid=" + strconv.Itoa(u.UID) + "(" + u.Name + ") gid=" + strconv.Itoa(u.GID) + "(" + u.Name + ") groups=" + strconv.Itoa(u.GID) + "(" + u.Name + ")\n"
		if err != nil || string(out) != want {
			t.Errorf("id as the user: %v %q, want %q", err, out, want)
		}
		if out, err := u.Command("sh", "-c", "echo $HOME; pwd; touch x").CombinedOutput(); err != nil || string(out) != u.Home+"\n"+u.Home+"\n" {
			t.Errorf("home: %v %q", err, out)
		}
		mnt := u.Mkdir(t, "mnt", 0o755)
		bin := u.Install(t, NeedTool(t, "true"), 0o755)
		if err := u.Command(bin).Run(); err != nil {
			t.Errorf("the user runs what Install copied: %v", err)
		}
		if out, err := u.Command("touch", filepath.Join(u.Dir, "no")).CombinedOutput(); err == nil {
			t.Errorf("the user wrote in Dir: %s", out)
		}
		if out, err := u.Command("touch", filepath.Join(mnt, "yes")).CombinedOutput(); err != nil {
			t.Errorf("the user cannot write in what Mkdir made: %v %s", err, out)
		}
		if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
			t.Fatal(err)
		}
		defer syscall.Unmount(mnt, syscall.MNT_DETACH)
		if got := mountsUnder(u.Dir); len(got) != 1 || got[0] != mnt {
			t.Errorf("mountsUnder: %q, want [%s]", got, mnt)
		}
		// Exited, not yet reaped: not counted.
		exited := u.Command("true")
		if err := exited.Start(); err != nil {
			t.Fatal(err)
		}
		WaitUntil(t, 10*time.Second, "true exits", func() (bool, string) { return zombie(exited.Process.Pid), "" })
		if pids := u.Processes(); len(pids) != 0 {
			t.Errorf("Processes with a zombie: %v, want none", pids)
		}
		exited.Wait()
		sleep := u.Command("sleep", "60")
		if err := sleep.Start(); err != nil {
			t.Fatal(err)
		}
		defer sleep.Wait()
		defer sleep.Process.Kill()
		if pids := u.Processes(); len(pids) != 1 || pids[0] != sleep.Process.Pid {
			t.Errorf("Processes: %v, want [%d]", pids, sleep.Process.Pid)
		}
	})
	if name == "" {
		return
	}
	passwd, _ := os.ReadFile("/etc/passwd")
	if strings.Contains(string(passwd), name+":") {
		t.Errorf("%s is still in /etc/passwd", name)
	}
	u := &User{UID: uid}
	if pids := u.Processes(); len(pids) > 0 {
		t.Errorf("processes of uid %d left: %v", uid, pids)
	}
}
