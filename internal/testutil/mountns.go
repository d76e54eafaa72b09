package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// MountNS is a private mount namespace, held open by a process of its
// own, in which a test changes the files programs see (hides a helper,
// binds another over a device) without touching the machine's. Mounts
// made there are seen there only; they go when the namespace does.
type MountNS struct {
	pid                     int
	nsenter, mount, setpriv string
}

// NewMountNS starts the namespace; it ends with the test. Root only.
func NewMountNS(t testing.TB) *MountNS {
	t.Helper()
	NeedRoot(t, "to make a mount namespace")
	n := &MountNS{
		nsenter: NeedTool(t, "nsenter"), mount: NeedTool(t, "mount"),
		setpriv: NeedTool(t, "setpriv"),
	}
	// cat holds the namespace until the test closes its stdin, or the
	// test process dies and the pipe with it.
	holder := exec.Command(NeedTool(t, "unshare"), "--mount", "--propagation", "private", "cat")
	in, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	n.pid = holder.Process.Pid
	t.Cleanup(func() {
		in.Close()
		holder.Wait()
	})
	self, _ := os.Readlink("/proc/self/ns/mnt")
	WaitUntil(t, 10*time.Second, "unshare enters a new mount namespace", func() (bool, string) {
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", n.pid))
		return err == nil && ns != self, ns
	})
	// The namespace starts with a copy of every mount, other tests' FUSE
	// mounts too; the copy would keep such a mount alive after its test
	// unmounted it, and its server waiting for the end. Drop them.
	if fuse := n.fuseMounts(); len(fuse) > 0 {
		exec.Command(n.nsenter, append([]string{"--mount=" + n.ns(), "--", NeedTool(t, "umount"), "--lazy"}, fuse...)...).Run()
	}
	return n
}

// fuseMounts lists the namespace's FUSE mount points.
func (n *MountNS) fuseMounts() []string {
	info, _ := os.ReadFile(n.Mountinfo())
	var mps []string
	for _, l := range strings.Split(string(info), "\n") {
		// ID PARENT DEV ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
		left, right, ok := strings.Cut(l, " - ")
		f, fstype := strings.Fields(left), strings.Fields(right)
		if ok && len(f) > 4 && len(fstype) > 0 && strings.HasPrefix(fstype[0], "fuse") && fstype[0] != "fusectl" {
			mps = append(mps, unescapeOctal(f[4]))
		}
	}
	return mps
}

// unescapeOctal undoes the kernel's escapes in mountinfo paths (\040 for
// a space).
func unescapeOctal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Mountinfo is the path of the namespace's mount table.
func (n *MountNS) Mountinfo() string { return fmt.Sprintf("/proc/%d/mountinfo", n.pid) }

// Path is p as seen in the namespace, for this process to read or write.
func (n *MountNS) Path(p string) string { return fmt.Sprintf("/proc/%d/root%s", n.pid, p) }

// Mount runs mount(8) with args in the namespace, as root.
func (n *MountNS) Mount(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command(n.nsenter, append([]string{"--mount=" + n.ns(), "--", n.mount}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mount %q in the namespace: %v %s", args, err, out)
	}
}

// Hide makes each path, where it exists in the namespace, an empty file
// that nobody may run.
func (n *MountNS) Hide(t testing.TB, paths ...string) {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "hidden")
	WriteFile(t, empty, nil)
	os.Chmod(empty, 0o644)
	for _, p := range paths {
		if _, err := os.Stat(n.Path(p)); err == nil {
			n.Mount(t, "--bind", empty, p)
		}
	}
}

// Wrap makes cmd, built by User.Command, run in the namespace, as the
// user it was to run as.
func (n *MountNS) Wrap(cmd *exec.Cmd) *exec.Cmd {
	args := []string{"--mount=" + n.ns()}
	if cmd.Dir != "" {
		args = append(args, "--wd="+cmd.Dir)
	}
	args = append(args, "--")
	if a := cmd.SysProcAttr; a != nil && a.Credential != nil {
		args = append(args, n.setpriv,
			"--reuid="+strconv.Itoa(int(a.Credential.Uid)),
			"--regid="+strconv.Itoa(int(a.Credential.Gid)), "--clear-groups", "--")
	}
	w := exec.Command(n.nsenter, append(append(args, cmd.Path), cmd.Args[1:]...)...)
	w.Env, w.Stdin, w.Stdout, w.Stderr = cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr
	return w
}

func (n *MountNS) ns() string { return fmt.Sprintf("/proc/%d/ns/mnt", n.pid) }
