package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// logFiles lists the files of dir with their contents.
func logFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	return files
}

// TestRotatingLog: past its size the log starts anew and keeps exactly one
// old file, the lines just before; a write larger than the size goes whole
// into a file of its own; the descriptors it is given follow the current
// file.
func TestRotatingLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, daemonLog)
	// A descriptor standing for stderr, which must follow the rotation.
	stdio, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer stdio.Close()
	l, err := openRotatingLog(path, 100, int(stdio.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	line := func(i int) string { return fmt.Sprintf("%-39d\n", i) } // 40 bytes
	for i := range 30 {
		if n, err := l.Write([]byte(line(i))); n != 40 || err != nil {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	want := map[string]string{daemonLog: line(28) + line(29), daemonLog + ".1": line(26) + line(27)}
	if got := logFiles(t, dir); !maps.Equal(got, want) {
		t.Errorf("after 30 lines of 40 bytes at a 100-byte limit: %q, want %q", got, want)
	}
	var cur, fd syscall.Stat_t
	if err := syscall.Stat(path, &cur); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Fstat(int(stdio.Fd()), &fd); err != nil || fd.Ino != cur.Ino {
		t.Errorf("the stdio descriptor is inode %d, the log %d (%v)", fd.Ino, cur.Ino, err)
	}

	big := strings.Repeat("x", 250) + "\n"
	l.Write([]byte(big))
	l.Write([]byte("after\n"))
	want = map[string]string{daemonLog: "after\n", daemonLog + ".1": big}
	if got := logFiles(t, dir); !maps.Equal(got, want) {
		t.Errorf("after a write over the limit: %q, want %q", got, want)
	}

	// An existing log is counted: reopened, the next line rotates it.
	l.Close()
	l, err = openRotatingLog(path, 10)
	if err != nil {
		t.Fatal(err)
	}
	l.Write([]byte("0123456789"))
	if got := logFiles(t, dir); got[daemonLog+".1"] != "after\n" || got[daemonLog] != "0123456789" {
		t.Errorf("reopened: %q", got)
	}
}

// TestRotatingLogUnsafe: rotation never writes through a symlink put in
// the log's place (it moves the link, and starts a file of its own), and
// a rotation that fails keeps logging in the current file, saying why.
func TestRotatingLogUnsafe(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, daemonLog)
	l, err := openRotatingLog(path, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Write([]byte("first\n"))
	victim := filepath.Join(t.TempDir(), ".bashrc")
	os.WriteFile(victim, []byte("rc\n"), 0o644)
	os.Remove(path)
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}
	l.Write([]byte("second line\n"))
	if b, _ := os.ReadFile(victim); string(b) != "rc\n" {
		t.Errorf("the symlink's target now holds %q", b)
	}
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Errorf("the new log: %v, %v; want a regular file of mode 0600", fi.Mode(), err)
	}

	// A directory in the old log's place: rename fails.
	os.Remove(path + ".1")
	os.Mkdir(path+".1", 0o700)
	l.Write([]byte("third line\n"))
	got, _ := os.ReadFile(path)
	if !bytes.HasPrefix(got, []byte("second line\nftpfs mount: log rotation failed")) || !bytes.HasSuffix(got, []byte("third line\n")) {
		t.Errorf("log after a failed rotation: %q", got)
	}
}

// TestLogFlags: --log-level filters the mount's records, the debug flags
// still ask for debug records, and --log-size takes a byte count.
func TestLogFlags(t *testing.T) {
	in := inputs("/home/u", nil)
	for _, tc := range []struct {
		args []string
		want []string // the levels logged
	}{
		{nil, []string{"INFO", "WARN", "ERROR"}},
		{[]string{"--log-level", "debug"}, []string{"DEBUG", "INFO", "WARN", "ERROR"}},
		{[]string{"--log-level=warn"}, []string{"WARN", "ERROR"}},
		{[]string{"--log-level", "ERROR"}, []string{"ERROR"}},
		{[]string{"--log-level", "error", "--debug-ftp"}, []string{"DEBUG", "INFO", "WARN", "ERROR"}},
	} {
		c, err := parseMountFlags(append(tc.args, "host", "/mnt"), in)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		var buf bytes.Buffer
		logger := newMountLogger(&buf, c)
		logger.Debug("m")
		logger.Info("m")
		logger.Warn("m")
		logger.Error("m")
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if _, after, ok := strings.Cut(l, "level="); ok {
				got = append(got, strings.Fields(after)[0])
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: logged %q, want %q", tc.args, got, tc.want)
		}
	}
	c, err := parseMountFlags([]string{"--log-size", "64K", "host", "/mnt"}, in)
	if err != nil || c.logSize != 64<<10 {
		t.Errorf("--log-size 64K: %v, %v", c, err)
	}
	if c, _ := parseMountFlags([]string{"host", "/mnt"}, in); c.logSize != defaultLogSize {
		t.Errorf("default log size %d", c.logSize)
	}
	for _, args := range [][]string{{"--log-level", "verbose"}, {"--log-level", "info+2"}, {"--log-size", "0"}} {
		if _, err := parseMountFlags(append(args, "host", "/mnt"), in); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

// TestDaemonLogRotates: the background mount logs at --log-level into a
// log that rotates at --log-size.
func TestDaemonLogRotates(t *testing.T) {
	t.Setenv(passwordEnv, "pw")
	for _, tc := range []struct {
		name string
		args []string
		want map[string][]string // file: what it holds
	}{
		// The "mounted" line alone passes 100 bytes: the next one starts a new file.
		{"rotates", []string{"--log-size", "100"}, map[string][]string{daemonLog + ".1": {"msg=mounted"}, daemonLog: {`msg="signal: unmounting"`}}},
		{"warn", []string{"--log-level", "warn"}, map[string][]string{daemonLog: nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(tc.args, "--cache-dir", t.TempDir(), "ftp://alice@127.0.0.1:2121/", t.TempDir())
			c, _ := startFakeDaemon(t, "ok", args, "")
			p, err := startDaemon(context.Background(), args, c)
			if err != nil {
				t.Fatal(err)
			}
			p.Signal(syscall.SIGTERM)
			if st, err := p.Wait(); err != nil || !st.Success() {
				t.Fatalf("child exit: %v, %v", st, err)
			}
			files := logFiles(t, c.opts.CacheDir)
			for name := range files {
				if _, ok := tc.want[name]; strings.HasPrefix(name, daemonLog) && !ok {
					t.Errorf("unexpected %s: %q", name, files[name])
				}
			}
			for name, lines := range tc.want {
				got, ok := files[name]
				if !ok {
					t.Errorf("no %s", name)
				}
				if strings.Count(got, "\n") != len(lines) {
					t.Errorf("%s holds %q, want %d lines: %q", name, got, len(lines), lines)
				}
				for _, l := range lines {
					if !strings.Contains(got, l) {
						t.Errorf("%s holds %q, want %s", name, got, l)
					}
				}
			}
		})
	}
}
