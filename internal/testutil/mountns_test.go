package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMountNS: what a test changes in the namespace is seen by the
// commands it wraps there, and not outside.
func TestMountNS(t *testing.T) {
	n := NewMountNS(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	WriteFile(t, secret, []byte("outside\n"))
	n.Hide(t, secret, filepath.Join(dir, "missing"))
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	n.Mount(t, "-t", "tmpfs", "ftpfs-test", sub)
	WriteFile(t, n.Path(filepath.Join(sub, "in-ns")), []byte("inside\n"))

	out, err := n.Wrap(exec.Command("sh", "-c", "cat "+secret+"; cat "+sub+"/in-ns; test -x "+secret+" || echo not runnable")).CombinedOutput()
	if err != nil || string(out) != "inside\nnot runnable\n" {
		t.Errorf("in the namespace: %v %q", err, out)
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "outside\n" {
		t.Errorf("outside, the hidden file: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(sub, "in-ns")); !os.IsNotExist(err) {
		t.Errorf("outside, the namespace's tmpfs shows: %v", err)
	}
	info, _ := os.ReadFile(n.Mountinfo())
	if !strings.Contains(string(info), " "+sub+" ") {
		t.Errorf("the namespace's mount table lacks %s", sub)
	}
}

func TestUnescapeOctal(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/t\011`: "/t\t", `/x\134`: `/x\`, `/y\9`: `/y\9`, `/z\0`: `/z\0`} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}
