package fs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// TestSafeLink: the target a server symlink shows through the mount. A
// target that would leave the mounted tree, absolutely or by climbing,
// becomes a dangling link under the reserved name, which stays in the
// mount; the rest resolve as they do on the server.
func TestSafeLink(t *testing.T) {
	long := strings.Repeat("d/", 3000) + "f"
	for _, tc := range []struct {
		name, root, rel, target string
		want                    string
		outside                 bool
	}{
		{"empty: unknown", "/pub", "l", "", "", false},
		{"relative down", "/pub", "l", "docs/a.txt", "docs/a.txt", false},
		{"relative sibling", "/pub", "sub/l", "../a.txt", "../a.txt", false},
		{"relative dot", "/pub", "l", ".", ".", false},
		{"relative trailing slash", "/pub", "l", "dir/", "dir", false},
		{"dotdot inside", "/pub", "sub/l", "x/../../a.txt", "../a.txt", false},
		// a/up/.. is "a" lexically: should up be a link to "..", the
		// kernel would go above the link's directory.
		{"dotdot after a name", "/pub", "l", "a/up/..", "a", false},
		{"relative climbing", "/pub", "l", "../secret", outsideName + "/secret", true},
		{"relative climbing from below", "/pub", "sub/deep/l", "../../../../home/victim/.bashrc", outsideName + "/home/victim/.bashrc", true},
		// The server's "/.." is "/": with / mounted, this is its /etc/passwd.
		{"relative climbing past the server root", "/", "l", "../../etc/passwd", "etc/passwd", false},
		{"relative climbing to the server root", "/pub", "l", "..", outsideName + "/", true},
		{"climbing and back in", "/pub", "sub/l", "../../pub/a.txt", "../a.txt", false},
		{"absolute outside", "/pub", "l", "/etc/passwd", outsideName + "/etc/passwd", true},
		{"absolute outside, a prefix of the root", "/pub", "l", "/public/x", outsideName + "/public/x", true},
		{"absolute server root", "/pub", "l", "/", outsideName + "/", true},
		{"absolute unclean", "/pub", "l", "//etc/./ssh/../passwd", outsideName + "/etc/passwd", true},
		{"absolute inside", "/pub", "l", "/pub/docs/a.txt", "docs/a.txt", false},
		{"absolute inside from below", "/pub", "sub/deep/l", "/pub/docs/a.txt", "../../docs/a.txt", false},
		{"absolute the root", "/pub", "sub/l", "/pub", "..", false},
		{"absolute the root, at the root", "/pub", "l", "/pub/", ".", false},
		{"absolute inside, mounted /", "/", "sub/l", "/etc/passwd", "../etc/passwd", false},
		{"absolute inside, climbing out", "/pub", "l", "/pub/../etc/passwd", outsideName + "/etc/passwd", true},
		{"long inside", "/pub", "l", long, long, false},
		{"long outside", "/pub", "l", "/" + long, outsideName + "/...", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, outside := safeLink(tc.root, tc.rel, tc.target)
			if got != tc.want || outside != tc.outside {
				t.Fatalf("safeLink(%q, %q, %.60q) = %.60q, %v; want %.60q, %v", tc.root, tc.rel, tc.target, got, outside, tc.want, tc.outside)
			}
		})
	}
}

// sentinel is a local file that a link of the server would reach if the
// kernel followed its raw target: "secret" in dir. For relative targets
// climbing out of the mount, dir is the mount point's parent.
func sentinel(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "secret")
	if err := os.WriteFile(p, []byte("LOCAL SENTINEL"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(p) })
	return p
}

// TestSymlinksOutside serves, with ftpd, a tree whose subdirectory pub is
// mounted; pub's links climb out of it into the served tree, where the
// kernel would resolve them against the mount point's parent. Through
// the mount they read as dangling links that stay inside it, and
// reading through them never reaches the local file there; links inside
// work as before. With -o symlinks=raw the targets are the server's.
func TestSymlinksOutside(t *testing.T) {
	fill := func(root string) {
		testutil.WriteFile(t, filepath.Join(root, "secret"), []byte("SERVER SECRET"))
		testutil.WriteFile(t, filepath.Join(root, "pub", "file.txt"), []byte("inside"))
		os.Mkdir(filepath.Join(root, "pub", "sub"), 0o755)
		os.Symlink("../secret", filepath.Join(root, "pub", "up"))
		os.Symlink("../../secret", filepath.Join(root, "pub", "sub", "deep"))
		os.Symlink("..", filepath.Join(root, "pub", "parent"))
		os.Symlink("sub/../file.txt", filepath.Join(root, "pub", "in"))
		os.Symlink("../file.txt", filepath.Join(root, "pub", "sub", "ok"))
	}
	links := map[string]string{ // in the mount → the target it shows
		"up":       outsideName + "/secret",
		"sub/deep": outsideName + "/secret",
		"parent":   outsideName + "/",
		"in":       "file.txt",
		"sub/ok":   "../file.txt",
	}
	raw := map[string]string{"up": "../secret", "sub/deep": "../../secret", "parent": "..", "in": "sub/../file.txt", "sub/ok": "../file.txt"}
	for _, profile := range []ftpd.Profile{ftpd.ProfileFull, ftpd.ProfileVsftpd} {
		t.Run(string(profile), func(t *testing.T) {
			e := newEnv(t, fill, []func(*ftpd.Config){func(c *ftpd.Config) { c.Profile = profile }},
				func(o *Options) { o.Root = "/pub" })
			local := sentinel(t, filepath.Dir(e.mnt))
			for link, want := range links {
				p := filepath.Join(e.mnt, link)
				if got, err := os.Readlink(p); err != nil || got != want {
					t.Errorf("readlink %s: %q, %v; want %q", link, got, err, want)
				}
				b, err := os.ReadFile(p)
				switch {
				case strings.Contains(string(b), "SENTINEL"):
					t.Errorf("reading %s read the local file %s", link, local)
				case want == links["in"] || want == links["sub/ok"]:
					if err != nil || string(b) != "inside" {
						t.Errorf("read through %s: %q, %v", link, b, err)
					}
				case !errors.Is(err, fs.ErrNotExist):
					t.Errorf("read through %s: %q, %v; want ENOENT", link, b, err)
				}
			}
			// Writing through a link out of the tree creates nothing,
			// here or there.
			if err := os.WriteFile(filepath.Join(e.mnt, "up"), []byte("x"), 0o644); err == nil {
				t.Errorf("write through up succeeded")
			}
			if b, _ := os.ReadFile(local); string(b) != "LOCAL SENTINEL" {
				t.Errorf("the local file now holds %q", b)
			}
			// The reserved name cannot be made to exist.
			if err := os.Mkdir(filepath.Join(e.mnt, outsideName), 0o755); !errors.Is(err, syscall.EPERM) {
				t.Errorf("mkdir %s: %v, want EPERM", outsideName, err)
			}
			if s := e.logBuf.String(); strings.Count(s, "symlink target outside the mount") != 3 {
				t.Errorf("want one log line for each of the 3 links out:\n%s", testutil.Tail(s, 20))
			}

			// -o symlinks=raw: the server's targets, as sshfs shows them.
			_, mnt, _ := mountAt(t, e.srvCfg.Listen, testUser, testPass, func(o *Options) { o.Root, o.RawSymlinks = "/pub", true })
			sentinel(t, filepath.Dir(mnt))
			for link, want := range raw {
				if got, err := os.Readlink(filepath.Join(mnt, link)); err != nil || got != want {
					t.Errorf("raw: readlink %s: %q, %v; want %q", link, got, err, want)
				}
			}
			if b, err := os.ReadFile(filepath.Join(mnt, "up")); err != nil || string(b) != "LOCAL SENTINEL" {
				t.Errorf("raw: up reads %q, %v; want the local file, as the kernel resolves the raw target", b, err)
			}
		})
	}
}

// TestSymlinksAbsolute: a hostile server's absolute targets outside the
// mounted directory (ftpd shows none: it hides links out of its tree).
// They never name a local path; an absolute target inside the mounted
// directory is made relative, as before.
func TestSymlinksAbsolute(t *testing.T) {
	testutil.NeedFUSE(t)
	for _, mlsd := range []bool{true, false} {
		t.Run(map[bool]string{true: "MLSD", false: "LIST"}[mlsd], func(t *testing.T) {
			symlinksAbsolute(t, mlsd)
		})
	}
}

func symlinksAbsolute(t *testing.T, mlsd bool) {
	dir, local := t.TempDir(), sentinel(t, t.TempDir())
	file, link := "type=file;size=6;modify=20240101000000; file.txt\r\n", func(name, target string) string {
		return "type=OS.unix=slink:" + target + ";modify=20240101000000; " + name + "\r\n"
	}
	if !mlsd {
		file, link = "-rw-r--r--   1 u g 6 Jan  1  2024 file.txt\r\n", func(name, target string) string {
			return "lrwxrwxrwx   1 u g 1 Jan  1  2024 " + name + " -> " + target + "\r\n"
		}
	}
	e := &evilServer{mlsd: mlsd, pasvHost: "127.0.0.1",
		files: map[string]string{"/pub/file.txt": "inside"},
		listings: map[string]string{"/pub": file +
			link("passwd", "/etc/passwd") + link("abs", local) + link("upload", dir) + link("inroot", "/pub/file.txt")},
	}
	addr := startEvil(t, e)
	_, mnt, logs := mountAt(t, addr, "u", "p", func(o *Options) { o.Root = "/pub" })
	for name, want := range map[string]string{
		"passwd": outsideName + "/etc/passwd",
		"abs":    outsideName + local,
		"upload": outsideName + dir,
		"inroot": "file.txt",
	} {
		if got, err := os.Readlink(filepath.Join(mnt, name)); err != nil || got != want {
			t.Errorf("readlink %s: %q, %v; want %q", name, got, err, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "abs")); err == nil || strings.Contains(string(b), "SENTINEL") {
		t.Errorf("abs reads %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "inroot")); err != nil || string(b) != "inside" {
		t.Errorf("inroot reads %q, %v", b, err)
	}
	// cp x mnt/upload/: nothing lands in the local directory.
	if err := os.WriteFile(filepath.Join(mnt, "upload", "x"), []byte("x"), 0o644); err == nil {
		t.Errorf("write into upload/ succeeded")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("the local directory got %v", ents)
	}
	// Each link is logged once, however often it is read.
	for range 3 {
		os.Readlink(filepath.Join(mnt, "passwd"))
		os.Lstat(filepath.Join(mnt, "passwd"))
	}
	if n := strings.Count(logs.String(), "symlink target outside the mount"); n != 3 {
		t.Errorf("%d log lines for 3 links out:\n%s", n, testutil.Tail(logs.String(), 20))
	}
	// -o symlinks=raw: the server's absolute targets as they are, which the
	// kernel resolves against this machine's files, as sshfs's do.
	_, raw, _ := mountAt(t, addr, "u", "p", func(o *Options) { o.Root, o.RawSymlinks = "/pub", true })
	for name, want := range map[string]string{"passwd": "/etc/passwd", "abs": local, "upload": dir, "inroot": "/pub/file.txt"} {
		if got, err := os.Readlink(filepath.Join(raw, name)); err != nil || got != want {
			t.Errorf("raw: readlink %s: %q, %v; want %q", name, got, err, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(raw, "abs")); err != nil || !strings.Contains(string(b), "SENTINEL") {
		t.Errorf("raw: abs reads %q, %v; want the local file, as the kernel resolves the raw target", b, err)
	}
}
