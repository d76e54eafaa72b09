package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startFakeDaemon sets up the environment of a background child whose
// fake mount behaves as mode, and parses args as the parent does.
func startFakeDaemon(t *testing.T, mode string, args []string, stdin string) (*mountConfig, string) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(fakeModeEnv, mode)
	t.Setenv(fakeDirEnv, dir)
	t.Setenv("HOME", t.TempDir())
	in := hostInputs()
	in.stdin = strings.NewReader(stdin)
	c, err := parseMountArgs(args, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(c.opts.CacheDir, 0o700); err != nil {
		t.Fatal(err)
	}
	return c, dir
}

// TestDaemon re-executes the test binary as the background mount: the
// parent gets "ok", and the child's argv and environment hold no password.
func TestDaemon(t *testing.T) {
	const secret = "daemon-s3cret"
	for _, via := range []string{"env", "stdin"} {
		t.Run(via, func(t *testing.T) {
			args := []string{"--cache-dir", t.TempDir(), "ftp://alice@127.0.0.1:2121/", t.TempDir()}
			stdin := ""
			if via == "env" {
				t.Setenv(passwordEnv, secret)
			} else {
				t.Setenv(passwordEnv, "")
				args = append([]string{"--password-stdin"}, args...)
				stdin = secret + "\n"
			}
			c, dir := startFakeDaemon(t, "ok", args, stdin)
			// A descriptor inherited without close-on-exec, as from a shell.
			var leak [2]int
			if err := syscall.Pipe(leak[:]); err != nil {
				t.Fatal(err)
			}
			defer syscall.Close(leak[0])
			defer syscall.Close(leak[1])
			leakTarget, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", leak[1]))
			p, err := startDaemon(context.Background(), args, c)
			if err != nil {
				t.Fatal(err)
			}
			pid := p.Pid
			stopped := false
			defer func() {
				if !stopped {
					p.Kill()
					p.Wait()
				}
			}()

			if b, _ := os.ReadFile(filepath.Join(dir, "pid")); string(b) != strconv.Itoa(pid) {
				t.Errorf("fake mount ran in pid %q, want %d", b, pid)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "creds")); string(b) != "alice\n"+secret {
				t.Errorf("child got credentials %q", b)
			}
			for _, f := range []string{"cmdline", "environ"} {
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f))
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("/proc/%d/%s holds the password", pid, f)
				}
				if f == "cmdline" && !bytes.Contains(b, []byte("mount\x00")) {
					t.Errorf("cmdline %q", b)
				}
			}
			fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
			for _, fd := range fds {
				if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); target == leakTarget {
					t.Errorf("child inherited descriptor %s (%s)", fd.Name(), target)
				}
			}
			if cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); cwd != "/" {
				t.Errorf("child's cwd %q, want /", cwd)
			}
			// Field 6 of /proc/PID/stat is the session; after the command
			// name in parentheses, it is the fourth.
			stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if _, after, ok := bytes.Cut(stat, []byte(") ")); !ok || strings.Fields(string(after))[3] != strconv.Itoa(pid) {
				t.Errorf("child is not a session leader: %s", stat)
			}

			// The background mount answers ftpfs stats.
			if r, err := fetchStats(context.Background(), c.opts.CacheDir, c.mountpoint); err != nil || r.Server != "ftp://fake/" {
				t.Errorf("stats of the background mount: %+v, %v", r, err)
			}

			// SIGTERM is what a shutdown sends: the child unmounts, exits 0.
			p.Signal(syscall.SIGTERM)
			st, err := p.Wait()
			stopped = true
			if err != nil || !st.Success() {
				t.Errorf("child exit: %v, %v", st, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "unmounted")); err != nil {
				t.Error("child exited without unmounting")
			}
			if _, err := os.Lstat(statsSocket(c.opts.CacheDir, c.mountpoint)); !os.IsNotExist(err) {
				t.Errorf("stats socket left by the background mount: %v", err)
			}
			log, _ := os.ReadFile(filepath.Join(c.opts.CacheDir, daemonLog))
			if !bytes.Contains(log, []byte("msg=mounted")) || bytes.Contains(log, []byte(secret)) {
				t.Errorf("daemon log lacks the mounted line or shows the password:\n%s", log)
			}
		})
	}
}

// TestDaemonFailure checks what the user sees when the background mount
// fails: one line, exit 1, no process left.
func TestDaemonFailure(t *testing.T) {
	t.Setenv(passwordEnv, "pw")
	for _, tc := range []struct {
		mode, want string
	}{
		{"fail", "ftpfs mount: 530 Login incorrect\n"},
		{"crash", "ftpfs mount: the mount process ended (exit status 3) before mounting (log: "},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			args := []string{"--cache-dir", t.TempDir(), "ftp://alice@127.0.0.1:2121/", t.TempDir()}
			_, dir := startFakeDaemon(t, tc.mode, args, "")
			var stderr bytes.Buffer
			if code := runMount(context.Background(), args, &stderr); code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if got := stderr.String(); !strings.HasPrefix(got, tc.want) || strings.Count(got, "\n") != 1 {
				t.Errorf("stderr %q, want one line starting %q", got, tc.want)
			}
			b, err := os.ReadFile(filepath.Join(dir, "pid"))
			if err != nil {
				t.Fatal("the fake mount did not run")
			}
			if pid, _ := strconv.Atoi(string(b)); syscall.Kill(pid, 0) == nil {
				t.Errorf("child %d still exists", pid)
			}
		})
	}
}

// TestDaemonInterrupted cancels the parent while the child is mounting: the
// child is stopped and the parent says so.
func TestDaemonInterrupted(t *testing.T) {
	t.Setenv(passwordEnv, "pw")
	args := []string{"--cache-dir", t.TempDir(), "ftp://alice@127.0.0.1:2121/", t.TempDir()}
	c, dir := startFakeDaemon(t, "hang", args, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for i := 0; i < 500; i++ {
			if _, err := os.Stat(filepath.Join(dir, "pid")); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	_, err := startDaemon(ctx, args, c)
	if err == nil || err.Error() != "interrupted" {
		t.Errorf("err = %v, want interrupted", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v; the child should stop at SIGTERM", d)
	}
}

func TestDaemonEnviron(t *testing.T) {
	got := daemonEnviron([]string{"HOME=/h", passwordEnv + "=pw", daemonEnv + "=7", "FTPFS_PASSWORD_X=y"})
	want := []string{"HOME=/h", "FTPFS_PASSWORD_X=y", daemonEnv + "=3"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
