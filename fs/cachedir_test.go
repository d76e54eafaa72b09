package fs

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpfs/conn"
	"ftpfs/internal/testutil"
)

// TestStagingDirRefused: a staging dir, or a cache dir, another local user
// could have made or could write is refused, and nothing is staged through
// it. No FUSE: newStage is what every open for writing calls.
func TestStagingDirRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T, cache, elsewhere string)
		want string
	}{
		{"staging symlink", func(t *testing.T, cache, elsewhere string) {
			os.Symlink(elsewhere, filepath.Join(cache, "staging"))
		}, "is a symlink"},
		{"cache dir 0777", func(t *testing.T, cache, _ string) { os.Chmod(cache, 0o777) }, "writable by group or others"},
		{"staging 0777", func(t *testing.T, cache, _ string) {
			os.Mkdir(filepath.Join(cache, "staging"), 0o700)
			os.Chmod(filepath.Join(cache, "staging"), 0o777)
		}, "writable by group or others"},
		{"staging owned by nobody", func(t *testing.T, cache, _ string) {
			testutil.NeedRoot(t, "to chown")
			os.Mkdir(filepath.Join(cache, "staging"), 0o700)
			os.Chown(filepath.Join(cache, "staging"), 65534, 65534)
		}, "owned by uid 65534"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache, elsewhere := t.TempDir(), t.TempDir()
			tc.make(t, cache, elsewhere)
			m := &mount{o: Options{CacheDir: cache}}
			st, err := m.newStage("dir/file.txt")
			if err == nil {
				st.discard()
				t.Fatal("staged")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), cache) {
				t.Errorf("err = %v, want one naming %s and containing %q", err, cache, tc.want)
			}
			if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
				t.Errorf("staged through the symlink: %v", ents)
			}
		})
	}
}

// TestMountRefusesCacheDir: Mount refuses a cache dir that is not private,
// or none at all (no shared fallback in /tmp), before it connects.
func TestMountRefusesCacheDir(t *testing.T) {
	// A port nothing listens on: connecting would fail otherwise.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	link := filepath.Join(t.TempDir(), "cache")
	os.Symlink(t.TempDir(), link)
	for _, tc := range []struct{ cacheDir, want string }{
		{"", "cache dir: no cache directory given"},
		{link, "cache dir: " + link + " is a symlink"},
	} {
		o := Options{Conn: conn.Config{Addr: addr, User: "u", Password: "p", Timeout: 2 * time.Second}, CacheDir: tc.cacheDir}
		m, err := Mount(context.Background(), t.TempDir(), o)
		if err == nil {
			m.Unmount()
			t.Fatal("mounted")
		}
		if !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("cache dir %q: err = %v, want %q...", tc.cacheDir, err, tc.want)
		}
	}
}

// TestSidecarSymlink: a symlink planted where a staged copy's description
// goes is replaced, its target left alone, and the copy is still listed.
func TestSidecarSymlink(t *testing.T) {
	cache := t.TempDir()
	logs := &testutil.Buffer{}
	m := &mount{o: Options{CacheDir: cache}, log: slog.New(slog.NewTextHandler(logs, nil)), fsName: "ftp://h/"}
	st, err := m.newStage("docs/report.txt")
	if err != nil {
		t.Fatal(err)
	}
	st.WriteAt([]byte("bytes"), 0)
	st.f.Close()
	f := st.f
	victim := filepath.Join(t.TempDir(), "bashrc")
	os.WriteFile(victim, []byte("rc\n"), 0o644)
	if err := os.Symlink(victim, sidecar(f.Name())); err != nil {
		t.Fatal(err)
	}
	m.keepStaged(f.Name(), "docs/report.txt", 5)
	if b, _ := os.ReadFile(victim); string(b) != "rc\n" {
		t.Errorf("the symlink's target now holds %q", b)
	}
	if st, err := os.Lstat(sidecar(f.Name())); err != nil || !st.Mode().IsRegular() {
		t.Errorf("sidecar: %v %v", st, err)
	}
	copies, err := StagedCopies(cache)
	if err != nil || len(copies) != 1 || copies[0].Path != "docs/report.txt" || copies[0].File != f.Name() {
		t.Errorf("StagedCopies = %+v, %v; log:\n%s", copies, err, logs.String())
	}
}
