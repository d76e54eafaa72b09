package testutil

import (
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// TestOnlyTestsImport: no package of the module imports the test support
// from a file that ships; _test.go files are not in .Imports.
func TestOnlyTestsImport(t *testing.T) {
	self := reflect.TypeFor[Buffer]().PkgPath()
	module, _, _ := strings.Cut(self, "/")
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := 0
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		seen++
		if f[0] == self || strings.HasPrefix(f[0], self+"/") {
			continue // the support's own packages build on each other
		}
		for _, imp := range f[1:] {
			if imp == self || strings.HasPrefix(imp, self+"/") {
				t.Errorf("%s imports %s outside its tests", f[0], imp)
			}
		}
	}
	if seen < 5 {
		t.Fatalf("go list saw %d packages:\n%s", seen, out)
	}
}

// TestBinary: one build serves every call, in the directory of the go
// command that runs the tests, and it is the ftpfs command.
func TestBinary(t *testing.T) {
	bin := Binary(t)
	t.Setenv("HOME", t.TempDir()) // what tests do; the binary stays put
	if again := Binary(t); again != bin {
		t.Errorf("second call: %s, first %s", again, bin)
	}
	if isGoCommand(os.Getppid()) {
		key, err := processKey(os.Getppid())
		if err != nil || filepath.Base(filepath.Dir(bin)) != key {
			t.Errorf("built in %s, not the go command's %s (%v)", bin, key, err)
		}
	}
	out, err := exec.Command(bin, "help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "mount [flags] SERVER MOUNTPOINT") {
		t.Errorf("%s help: %v\n%s", bin, err, out)
	}
}

// TestRemoveEnded keeps the directories of live runs and what it did not
// name, and removes those of ended runs.
func TestRemoveEnded(t *testing.T) {
	base := t.TempDir()
	live, err := processKey(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	pid, _, _ := strings.Cut(live, "-")
	for _, d := range []string{live, pid + "-1", "999999999-5", "notes"} {
		WriteFile(t, filepath.Join(base, d, "ftpfs"), []byte("x"))
	}
	removeEnded(base)
	var left []string
	ents, _ := os.ReadDir(base)
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if want := []string{live, "notes"}; !reflect.DeepEqual(left, want) && !reflect.DeepEqual(left, []string{"notes", live}) {
		t.Errorf("left %q, want %q", left, want)
	}
}

func TestPrivateDir(t *testing.T) {
	d := filepath.Join(t.TempDir(), "a", "b")
	if err := privateDir(d); err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o777)
	if err := privateDir(d); err == nil {
		t.Error("a directory others can write was accepted")
	}
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(t.TempDir(), link)
	if err := privateDir(link); err == nil {
		t.Error("a symlink was accepted")
	}
}

// recorder is a testing.TB that notes how a test would end.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Fatalf(format string, a ...any) { r.fatal = fmt.Sprintf(format, a...) }
func (r *recorder) Skip(a ...any)                  { r.skip = fmt.Sprint(a...) }

// TestUnavailable: in CI what a test lacks fails it; elsewhere it skips.
func TestUnavailable(t *testing.T) {
	for _, ci := range []string{"true", "", "1"} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		Unavailable(r, "no %s here", "vim")
		if ci == "true" && (r.fatal != "no vim here (required in CI)" || r.skip != "") ||
			ci != "true" && (r.skip != "no vim here" || r.fatal != "") {
			t.Errorf("CI=%q: failed with %q, skipped with %q", ci, r.fatal, r.skip)
		}
	}
}

// TestCert: a client that trusts the certificate alone completes a
// handshake with a server presenting it, for the names it was made for.
func TestCert(t *testing.T) {
	for _, tc := range []struct {
		o          CertOptions
		name       string
		ok         bool
		keyMode    os.FileMode
		keyPEMType string
	}{
		{CertOptions{}, "127.0.0.1", true, 0o600, "EC PRIVATE KEY"},
		{CertOptions{}, "localhost", true, 0o600, "EC PRIVATE KEY"},
		{CertOptions{Hosts: []string{"127.0.0.2"}}, "127.0.0.1", false, 0o600, "EC PRIVATE KEY"},
		{CertOptions{RSA: true, Shared: true}, "::1", true, 0o644, "RSA PRIVATE KEY"},
	} {
		c := NewCert(t, tc.o)
		l, err := tls.Listen("tcp", "127.0.0.1:0", c.ServerTLS())
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			if s, err := l.Accept(); err == nil {
				s.(*tls.Conn).Handshake()
				s.Close()
			}
		}()
		cfg := c.ClientTLS()
		cfg.ServerName = tc.name
		conn, err := tls.Dial("tcp", l.Addr().String(), cfg)
		if err == nil {
			conn.Close()
		}
		l.Close()
		if (err == nil) != tc.ok {
			t.Errorf("%+v for %s: handshake %v, want ok=%v", tc.o, tc.name, err, tc.ok)
		}
		if st, err := os.Stat(c.KeyFile); err != nil || st.Mode().Perm() != tc.keyMode {
			t.Errorf("%+v: key file %v %v", tc.o, st.Mode(), err)
		}
		if pem, _ := os.ReadFile(c.KeyFile); !strings.Contains(string(pem), "BEGIN "+tc.keyPEMType) {
			t.Errorf("%+v: key file:\n%s", tc.o, pem)
		}
		if pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile); err != nil || !reflect.DeepEqual(pair.Certificate[0], c.DER) {
			t.Errorf("%+v: PEM files: %v", tc.o, err)
		}
	}
}

func TestTrees(t *testing.T) {
	tree := Tree{
		"a.txt":           []byte("a"),
		"empty":           nil,
		"d/deep/x.bin":    RandBytes(1, 5000),
		"d/empty dir/":    nil,
		"ünï 日本/f":        []byte("utf-8"),
		"d/deep/y.bin":    RandBytes(2, 7),
		"top empty dir/":  nil,
		"d/deep/z.random": RandBytes(1, 5000),
	}
	want, got := t.TempDir(), t.TempDir()
	WriteTree(t, want, tree)
	WriteTree(t, got, tree)
	if err := SameTree(want, got); err != nil {
		t.Fatal(err)
	}
	if err := SameFiles(want, got); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(got, "d", "empty dir")); err != nil || !st.IsDir() {
		t.Errorf("empty dir: %v %v", st, err)
	}
	// More in got: a tree no longer the same, its files still there.
	WriteFile(t, filepath.Join(got, "extra"), nil)
	if err := SameTree(want, got); err == nil || !strings.Contains(err.Error(), `"extra": unexpected`) {
		t.Errorf("an extra file: %v", err)
	}
	if err := SameFiles(want, got); err != nil {
		t.Errorf("an extra file: %v", err)
	}
	WriteFile(t, filepath.Join(got, "d/deep/x.bin"), RandBytes(1, 4999))
	os.Remove(filepath.Join(got, "a.txt"))
	err := SameFiles(want, got)
	if err == nil || !strings.Contains(err.Error(), "d/deep/x.bin: content differs: got 4999 bytes, want 5000, first difference at offset 4999") || !strings.Contains(err.Error(), "a.txt") {
		t.Errorf("two files differ: %v", err)
	}
	if err := SameTree(want, got); err == nil || !strings.Contains(err.Error(), `"a.txt": missing`) {
		t.Errorf("a missing file: %v", err)
	}
	os.Symlink("a.txt", filepath.Join(got, "link"))
	if err := SameTree(want, got); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a symlink: %v", err)
	}
}

func TestTail(t *testing.T) {
	var in []string
	for i := range 10 {
		in = append(in, fmt.Sprint("line ", i))
	}
	in = append(in, "bell\a", strings.Repeat("x", 400))
	got := strings.Split(Tail(strings.Join(in, "\n")+"\n", 3), "\n")
	want := []string{"... (9 lines omitted)", "line 9", `"bell\a"`, strings.Repeat("x", 300) + "..."}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestBuffer(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("ab"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if s := b.String(); s != strings.Repeat("ab", 800) {
		t.Errorf("%d bytes", len(s))
	}
}
