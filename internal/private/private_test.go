package private

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"ftpfs/internal/testutil"
)

// otherUser makes p belong to someone else: nobody (65534) when this is
// root, who can chown; otherwise p is replaced by a symlink-free path to
// a directory root owns, which an unprivileged user cannot chown to.
func otherUser(t *testing.T, p string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		return "/"
	}
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckDir(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T, dir string) string // returns the dir to check
		want string                                // "" for accepted
	}{
		{"private", func(t *testing.T, d string) string { return mkdir(t, d, "c", 0o700) }, ""},
		{"read for others", func(t *testing.T, d string) string { return mkdir(t, d, "c", 0o755) }, ""},
		{"symlink", func(t *testing.T, d string) string {
			target := mkdir(t, d, "target", 0o700)
			link := filepath.Join(d, "c")
			os.Symlink(target, link)
			return link
		}, "is a symlink"},
		{"file", func(t *testing.T, d string) string {
			f := filepath.Join(d, "c")
			os.WriteFile(f, nil, 0o600)
			return f
		}, "is not a directory"},
		{"other owner", func(t *testing.T, d string) string { return otherUser(t, mkdir(t, d, "c", 0o700)) }, "is owned by uid"},
		{"mode 0777", func(t *testing.T, d string) string { return mkdir(t, d, "c", 0o777) }, "is writable by group or others (mode 0777)"},
		{"group write", func(t *testing.T, d string) string { return mkdir(t, d, "c", 0o770) }, "is writable by group or others"},
		{"parent 0777", func(t *testing.T, d string) string {
			return mkdir(t, mkdir(t, d, "p", 0o777), "c", 0o700)
		}, "is writable by group or others and not sticky"},
		{"parent of another user", func(t *testing.T, d string) string {
			p := mkdir(t, d, "p", 0o755)
			c := mkdir(t, p, "c", 0o700)
			testutil.NeedRoot(t, "to chown")
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return c
		}, "is owned by uid 65534, neither root nor this user"},
		{"parent sticky", func(t *testing.T, d string) string {
			return mkdir(t, mkdir(t, d, "p", 0o777|fs.ModeSticky), "c", 0o700)
		}, ""},
		{"resolved parent 0777", func(t *testing.T, d string) string {
			// Only the resolved path meets the shared directory.
			sub := mkdir(t, mkdir(t, d, "shared", 0o777), "sub", 0o700)
			mkdir(t, sub, "c", 0o700)
			link := filepath.Join(mkdir(t, d, "home", 0o700), "cache")
			os.Symlink(sub, link)
			return filepath.Join(link, "c")
		}, "/shared, above"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.make(t, t.TempDir())
			err := CheckDir(dir)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			case err != nil && (!strings.Contains(err.Error(), dir) || strings.Contains(err.Error(), "\n")):
				t.Errorf("err %q does not name %s in one line", err, dir)
			}
		})
	}
}

func TestCheckDirMissing(t *testing.T) {
	if err := CheckDir(filepath.Join(t.TempDir(), "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want ErrNotExist", err)
	}
}

// TestMkdirAll creates missing directories 0700 and does not create
// through a symlink.
func TestMkdirAll(t *testing.T) {
	d := t.TempDir()
	dir := filepath.Join(d, "a", "b")
	if err := MkdirAll(dir); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Dir(dir), dir} {
		if st, err := os.Lstat(p); err != nil || st.Mode() != fs.ModeDir|0o700 {
			t.Errorf("%s: %v %v", p, st.Mode(), err)
		}
	}
	if err := MkdirAll(dir); err != nil {
		t.Errorf("again: %v", err)
	}

	target := mkdir(t, d, "target", 0o700)
	link := filepath.Join(d, "link")
	os.Symlink(target, link)
	if err := MkdirAll(link); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("symlink: err = %v", err)
	}
	dangling := filepath.Join(d, "dangling")
	os.Symlink(filepath.Join(d, "nowhere"), dangling)
	if err := MkdirAll(dangling); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("dangling symlink: err = %v", err)
	}
	if _, err := os.Lstat(filepath.Join(d, "nowhere")); err == nil {
		t.Error("created the dangling symlink's target")
	}
}

func TestOpenAppend(t *testing.T) {
	d := t.TempDir()
	name := filepath.Join(d, "mount.log")
	for i := 0; i < 2; i++ {
		f, err := OpenAppend(name)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("line\n")
		f.Close()
	}
	if b, _ := os.ReadFile(name); string(b) != "line\nline\n" {
		t.Errorf("content %q", b)
	}
	if st, _ := os.Stat(name); st.Mode() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}

	victim := filepath.Join(d, "bashrc")
	os.WriteFile(victim, []byte("rc\n"), 0o644)
	for _, tc := range []struct {
		name string
		make func(p string)
		want string
	}{
		{"symlink", func(p string) { os.Symlink(victim, p) }, "is a symlink"},
		{"hard link", func(p string) { os.Link(victim, p) }, "has other hard links"},
		{"fifo", func(p string) { syscall.Mkfifo(p, 0o600) }, ""}, // ENXIO: no reader
		{"directory", func(p string) { os.Mkdir(p, 0o700) }, ""},  // EISDIR
		{"other owner", func(p string) {
			os.WriteFile(p, nil, 0o600)
			if os.Geteuid() == 0 {
				os.Chown(p, 65534, 65534)
			}
		}, map[bool]string{true: "is owned by uid 65534", false: ""}[os.Geteuid() == 0]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "mount.log")
			tc.make(p)
			if tc.name == "other owner" && os.Geteuid() != 0 {
				os.Chmod(p, 0o400) // unprivileged: a file it cannot write stands in
			}
			start := time.Now()
			f, err := OpenAppend(p)
			if err == nil {
				f.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) || time.Since(start) > time.Second {
				t.Errorf("err = %v after %v, want one containing %q", err, time.Since(start), tc.want)
			}
			if b, _ := os.ReadFile(victim); string(b) != "rc\n" {
				t.Errorf("the target now holds %q", b)
			}
		})
	}
}

// TestWriteFile replaces a symlink at the name instead of writing through
// it, and leaves no temporary file.
func TestWriteFile(t *testing.T) {
	d := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep"), 0o644)
	name := filepath.Join(d, "x.json")
	os.Symlink(victim, name)
	if err := WriteFile(name, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("the symlink's target now holds %q", b)
	}
	st, err := os.Lstat(name)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v", name, st.Mode(), err)
	}
	if b, _ := os.ReadFile(name); string(b) != "{}" {
		t.Errorf("content %q", b)
	}
	if ents, _ := os.ReadDir(d); len(ents) != 1 {
		t.Errorf("left in the directory: %v", ents)
	}
}

// mkdir makes dir/name with exactly mode (umask aside) and returns it.
func mkdir(t *testing.T, dir, name string, mode fs.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}
