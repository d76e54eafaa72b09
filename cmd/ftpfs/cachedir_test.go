package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"ftpfs/conn"
	"ftpfs/fs"
	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
	"ftpfs/internal/testutil/ftpdtest"
)

// TestMountRefusesCacheDir: a cache dir another local user made, can write
// or can swap refuses the mount with one line naming it; nothing mounts.
func TestMountRefusesCacheDir(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv(passwordEnv, "pw")
	for _, tc := range []struct {
		name string
		make func(t *testing.T, cache string)
		want string
	}{
		{"symlink", func(t *testing.T, cache string) { os.Symlink(t.TempDir(), cache) }, "is a symlink"},
		{"dangling symlink", func(t *testing.T, cache string) { os.Symlink(cache+".nowhere", cache) }, "is a symlink"},
		{"owned by nobody", func(t *testing.T, cache string) {
			testutil.NeedRoot(t, "to chown") // CI runs as root: there the case always runs
			os.Mkdir(cache, 0o700)
			os.Chown(cache, 65534, 65534)
		}, "is owned by uid 65534"},
		{"mode 0777", func(t *testing.T, cache string) {
			os.Mkdir(cache, 0o700)
			os.Chmod(cache, 0o777)
		}, "is writable by group or others (mode 0777)"},
		{"parent 0777", func(t *testing.T, cache string) { os.Chmod(filepath.Dir(cache), 0o777) }, "is writable by group or others and not sticky"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := filepath.Join(t.TempDir(), "cache")
			tc.make(t, cache)
			old := mountFS
			mountFS = func(context.Context, string, fs.Options) (mountHandle, error) {
				t.Error("mounted")
				m := newFakeMount(nil)
				m.outside() // and gone at once
				return m, nil
			}
			defer func() { mountFS = old }()
			var stderr bytes.Buffer
			code := runMount(context.Background(), []string{"-f", "--cache-dir", cache, "ftp://alice@127.0.0.1:2121/", t.TempDir()}, &stderr)
			const prefix = "ftpfs mount: cache dir: "
			if got := stderr.String(); code != 1 || !strings.HasPrefix(got, prefix) || !strings.Contains(got, cache) || !strings.Contains(got, tc.want) || strings.Count(got, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want 1 and one line %q, naming %s, with %q", code, got, prefix, cache, tc.want)
			}
		})
	}
}

// TestDaemonLogSymlink: mount.log planted as a symlink (to, say, root's
// .bashrc) refuses the background mount, and its target stays as it was.
func TestDaemonLogSymlink(t *testing.T) {
	t.Setenv(passwordEnv, "pw")
	args := []string{"--cache-dir", t.TempDir(), "ftp://alice@127.0.0.1:2121/", t.TempDir()}
	c, dir := startFakeDaemon(t, "ok", args, "")
	victim := filepath.Join(t.TempDir(), ".bashrc")
	os.WriteFile(victim, []byte("rc\n"), 0o644)
	os.Symlink(victim, filepath.Join(c.opts.CacheDir, daemonLog))
	var stderr bytes.Buffer
	code := runMount(context.Background(), args, &stderr)
	if b, err := os.ReadFile(filepath.Join(dir, "pid")); err == nil {
		// It mounted in spite of it: stop it, and let it log as it goes.
		pid, _ := strconv.Atoi(string(b))
		syscall.Kill(pid, syscall.SIGTERM)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err != nil || bytes.Contains(st, []byte(") Z ")) {
				break
			}
		}
	}
	want := "ftpfs mount: log: " + filepath.Join(c.opts.CacheDir, daemonLog) + " is a symlink\n"
	if got := stderr.String(); code != 1 || got != want {
		t.Errorf("exit %d, stderr %q; want 1, %q", code, got, want)
	}
	if b, _ := os.ReadFile(victim); string(b) != "rc\n" {
		t.Errorf("the symlink's target now holds %q", b)
	}
}

// TestDaemonFailureEscaped: a failure reason carrying the server's text
// reaches the terminal, and the log, with its controls as text.
func TestDaemonFailureEscaped(t *testing.T) {
	t.Setenv(passwordEnv, "pw")
	args := []string{"--cache-dir", t.TempDir(), "ftp://alice@127.0.0.1:2121/", t.TempDir()}
	c, _ := startFakeDaemon(t, "hostile", args, "")
	var stderr bytes.Buffer
	if code := runMount(context.Background(), args, &stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	const want = `ftpfs mount: 530 \x1b]0;owned\a Login\x7f` + "\n"
	if got := stderr.String(); got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
	log, _ := os.ReadFile(filepath.Join(c.opts.CacheDir, daemonLog))
	if !bytes.Contains(log, []byte(want)) {
		t.Errorf("log %q lacks %q", log, want)
	}
}

// hostileListing is what a hostile server sends for a listing: a line
// that a shell would run, a terminal would obey, and that parses as
// nothing, so that the mount logs a sample of it.
const hostileListing = "-rw-r--r-- 1 u g 5 Jan 1 2024 ok.txt\r\n" +
	"junk\r\x1b[1A$(touch /tmp/x)\x1b[2J\x7f\u202e\xff\r\n" +
	"\n$(touch /tmp/x)\x1b[2J\r\n"

// TestLogEscaping logs the unparsed samples of a hostile listing, as the
// mount does, through the logger the mount builds: one line per record,
// every control written as an escape.
func TestLogEscaping(t *testing.T) {
	l := conn.NewListing(time.Now(), nil)
	for line := range strings.Lines(hostileListing) {
		l.Add(strings.TrimRight(line, "\r\n"), false)
	}
	if l.Unparsed != 2 {
		t.Fatalf("parse: %d unparsed", l.Unparsed)
	}
	var buf bytes.Buffer
	logger := newMountLogger(&buf, &mountConfig{mountpoint: "/mnt"})
	logger.Warn("listing lines not understood", "path", "/", "count", l.Unparsed, "samples", l.UnparsedSamples)
	logger.Warn("bad name\x1b[2J", "name\x7f", "a\x7fb", "err", errors.New("550 /d\x1b[2J: no"))
	out := buf.String()
	if strings.Count(out, "\n") != 2 {
		t.Fatalf("want 2 lines:\n%s", out)
	}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !strings.HasPrefix(line, "time=") || !printable(line) {
			t.Errorf("not one record of printable text: %q", line)
		}
	}
	for _, want := range []string{
		`samples="[junk\r\x1b[1A$(touch /tmp/x)\x1b[2J\x7f\u202e\xff $(touch /tmp/x)\x1b[2J]"`,
		`msg="bad name\x1b[2J"`,
		`name\x7f="a\x7fb"`,
		`err="550 /d\x1b[2J: no"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	// Plain values are written as TextHandler writes them.
	var plain bytes.Buffer
	slog.New(slog.NewTextHandler(&plain, nil)).Info("mounted", "server", "ftp://h/", "n", 3)
	buf.Reset()
	slog.New(newSafeTextHandler(&buf, slog.LevelInfo)).Info("mounted", "server", "ftp://h/", "n", 3)
	if _, a, _ := strings.Cut(plain.String(), " "); !strings.HasSuffix(buf.String(), a) {
		t.Errorf("plain record changed: %q, want ...%q", buf.String(), a)
	}
}

// TestLogEscapingEndToEnd mounts, in the background with the FTP trace
// on, a server whose file name carries a terminal's escapes and a DEL, and
// reads it: mount.log keeps one record per line, the controls as text.
func TestLogEscapingEndToEnd(t *testing.T) {
	testutil.NeedFUSE(t)
	bin := testutil.Binary(t)
	const evil = "evil\x1b[2J\x7f.txt"
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, evil), []byte("hello"), 0o644)
	srv := ftpdtest.Start(t, ftpd.Config{Root: root, Listen: "127.0.0.1:0", Anonymous: true})
	mnt, cache := t.TempDir(), t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "mount", "--debug-ftp", "--cache-dir", cache, "ftp://"+srv.Addr().String()+"/", mnt)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mount: %v\n%s", err, out)
	}
	defer exec.Command(bin, "unmount", "--lazy", mnt).Run()
	if b, err := os.ReadFile(filepath.Join(mnt, evil)); err != nil || string(b) != "hello" {
		t.Fatalf("read %q: %q %v", evil, b, err)
	}
	if out, err := exec.CommandContext(ctx, bin, "unmount", mnt).CombinedOutput(); err != nil {
		t.Fatalf("unmount: %v\n%s", err, out)
	}
	var log []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		// The mount process writes its last lines as it exits.
		if log, _ = os.ReadFile(filepath.Join(cache, daemonLog)); bytes.Contains(log, []byte("QUIT")) {
			break
		}
	}
	if !bytes.Contains(log, []byte(`RETR /evil\x1b[2J\x7f.txt`)) {
		t.Errorf("the trace lacks the escaped RETR:\n%s", log)
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(log), "\n"), "\n") {
		if !printable(line) || !(strings.HasPrefix(line, "time=") || strings.HasPrefix(line, "conn")) {
			t.Errorf("not one record of printable text: %q", line)
		}
	}
}

// TestStatusRefusesStaging: ftpfs status reads no staging dir that is not
// private, and escapes the server's names it prints.
func TestStatusRefusesStaging(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(elsewhere, "f"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(elsewhere, "f.json"), []byte(`{"server":"ftp://h/","path":"planted","size":1}`), 0o600)
	os.Symlink(elsewhere, filepath.Join(dir, "staging"))
	var out, errb bytes.Buffer
	code := status([]string{"--cache-dir", dir}, &out, &errb, inputs("/home/u", nil))
	if want := "ftpfs status: " + filepath.Join(dir, "staging") + " is a symlink, not a directory of its own\n"; code != 1 || errb.String() != want || strings.Contains(out.String(), "planted") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, %q", code, out.String(), errb.String(), want)
	}

	dir = t.TempDir()
	staging := filepath.Join(dir, "staging")
	os.Mkdir(staging, 0o700)
	os.WriteFile(filepath.Join(staging, "f"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(staging, "f.json"), []byte(`{"server":"ftp://h/","path":"a\u001b[2Jb","size":1}`), 0o600)
	out.Reset()
	errb.Reset()
	if code := status([]string{"--cache-dir", dir}, &out, &errb, inputs("/home/u", nil)); code != 0 || !strings.Contains(out.String(), `ftp://h//a\x1b[2Jb`) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}
