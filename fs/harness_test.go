package fs

// The test harness: an FTP server on loopback (ftpd in-process, or a
// vsftpd from the system started with its own config) and a mount of it on
// a temp dir, unmounted at cleanup.

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"ftpfs/conn"
	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
	"ftpfs/internal/testutil/ftpdtest"
)

// fs's tests log in as ftpdtest's user, also on the real servers.
const (
	testUser = ftpdtest.User
	testPass = ftpdtest.Password
)

// env is a server and a mount of it.
type env struct {
	t      testing.TB
	srv    *ftpd.Server // nil for an external server
	srvCfg ftpd.Config
	root   string // the served directory, on local disk
	mnt    string
	m      *Mounted
	logBuf *testutil.Buffer
}

// startFtpd serves root with ftpd on loopback, without the per-IP and
// session limits: a mount opens as many connections as it is allowed.
// The config it returns holds the actual address.
func startFtpd(t testing.TB, root string, mods ...func(*ftpd.Config)) (*ftpd.Server, ftpd.Config) {
	t.Helper()
	unlimited := func(c *ftpd.Config) { c.MaxPerIP, c.MaxSessions = -1, -1 }
	s := ftpdtest.Serve(t, root, append([]func(*ftpd.Config){unlimited}, mods...)...)
	return s.Server, s.Config
}

// restartFtpd starts a new server on the address of the env's stopped
// one, with the same config less its faults.
func (e *env) restartFtpd(t testing.TB) *ftpd.Server {
	t.Helper()
	cfg := e.srvCfg
	cfg.Faults = ftpd.Faults{}
	return ftpdtest.Start(t, cfg)
}

// settle waits until the server's command counts stop changing: the
// spare connections a listing dials log in on their own time, and a test
// that counts what an operation sends starts after them.
func (e *env) settle(t testing.TB) {
	t.Helper()
	last, still := e.srv.Counts(), 0
	for deadline := time.Now().Add(10 * time.Second); still < 3; {
		time.Sleep(50 * time.Millisecond)
		c := e.srv.Counts()
		if maps.Equal(c, last) {
			still++
		} else {
			still = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server never went quiet: %v", c)
		}
		last = c
	}
}

// mountAt mounts addr on a new temp dir.
func mountAt(t testing.TB, addr, user, pass string, mods ...func(*Options)) (*Mounted, string, *testutil.Buffer) {
	t.Helper()
	testutil.NeedFUSE(t)
	mnt := t.TempDir()
	logs := &testutil.Buffer{}
	o := Options{
		Conn:        conn.Config{Addr: addr, User: user, Password: pass, Timeout: 5 * time.Second},
		Logger:      slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		DirCacheTTL: 10 * time.Second,
		CacheDir:    t.TempDir(), // staged copies of failed uploads go here
	}
	for _, m := range mods {
		m(&o)
	}
	m, err := Mount(context.Background(), mnt, o)
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	// Shown after the unmount below, which may add to it.
	testutil.LogOnFailure(t, "mount log", logs, 40)
	t.Cleanup(func() {
		done := make(chan error, 1)
		go func() { done <- m.Unmount() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("unmount: %v", err)
				syscall.Unmount(mnt, syscall.MNT_DETACH)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("unmount hung; where:\n%s", hangReport())
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	return m, mnt, logs
}

// newEnv serves a fresh temp root with ftpd and mounts it. fill writes
// the tree before the mount lists it.
func newEnv(t testing.TB, fill func(root string), srvMods []func(*ftpd.Config), mntMods ...func(*Options)) *env {
	t.Helper()
	testutil.NeedFUSE(t)
	root := t.TempDir()
	if fill != nil {
		fill(root)
	}
	srv, cfg := startFtpd(t, root, srvMods...)
	m, mnt, logs := mountAt(t, cfg.Listen, testUser, testPass, mntMods...)
	return &env{t: t, srv: srv, srvCfg: cfg, root: root, mnt: mnt, m: m, logBuf: logs}
}

// hangReport is what a hung test needs: the goroutines of the mount and
// of the server, and the kernel stacks of this process's threads that
// wait on something other than the scheduler.
func hangReport() string {
	var b strings.Builder
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "ftpfs/") && !strings.Contains(g, "testing.tRunner") {
			b.WriteString(g)
			b.WriteString("\n\n")
		}
	}
	tasks, _ := filepath.Glob("/proc/self/task/*")
	for _, task := range tasks {
		wchan, _ := os.ReadFile(task + "/wchan")
		switch w := string(wchan); w {
		case "futex_wait_queue", "futex_wait_queue_me", "do_epoll_wait", "hrtimer_nanosleep", "0":
			continue
		}
		stack, _ := os.ReadFile(task + "/stack")
		fmt.Fprintf(&b, "thread %s (%s):\n%s\n", filepath.Base(task), wchan, stack)
	}
	return b.String()
}
