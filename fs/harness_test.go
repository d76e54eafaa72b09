package fs

// The test harness: an FTP server on loopback (ftpd in-process, or a
// vsftpd from the system started with its own config) and a mount of it on
// a temp dir, unmounted at cleanup.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ftpfs/conn"
	"ftpfs/ftpd"
)

const (
	testUser = "carol"
	testPass = "pw-not-in-logs"
)

// syncBuf is a log sink for a server's concurrent sessions.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fuseOK fails (in CI) or skips the test when FUSE cannot be used here.
func fuseOK(t testing.TB) {
	t.Helper()
	_, err := os.Stat("/dev/fuse")
	if err == nil && os.Geteuid() != 0 {
		if _, lerr := exec.LookPath("fusermount3"); lerr != nil {
			if _, lerr = exec.LookPath("fusermount"); lerr != nil {
				err = errors.New("not root and no fusermount")
			}
		}
	}
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("FUSE unavailable in CI: %v", err)
	}
	t.Skipf("FUSE unavailable: %v", err)
}

// env is a server and a mount of it.
type env struct {
	t      testing.TB
	srv    *ftpd.Server // nil for an external server
	srvCfg ftpd.Config
	root   string // the served directory, on local disk
	mnt    string
	m      *Mounted
	logBuf *syncBuf
}

// startFtpd serves root with ftpd on loopback.
func startFtpd(t testing.TB, root string, mods ...func(*ftpd.Config)) (*ftpd.Server, ftpd.Config) {
	t.Helper()
	cfg := ftpd.Config{
		Root:           root,
		Listen:         "127.0.0.1:0",
		Users:          map[string]string{testUser: testPass},
		LoginFailDelay: time.Millisecond,
		MaxPerIP:       -1,
		MaxSessions:    -1,
	}
	for _, m := range mods {
		m(&cfg)
	}
	srv := runFtpd(t, cfg)
	cfg.Listen = srv.Addr().String()
	return srv, cfg
}

// restartFtpd starts a new server on the address of the env's stopped
// one, with the same config less its faults.
func (e *env) restartFtpd(t testing.TB) *ftpd.Server {
	t.Helper()
	cfg := e.srvCfg
	cfg.Faults = ftpd.Faults{}
	return runFtpd(t, cfg)
}

// runFtpd starts ftpd with cfg and stops it at cleanup.
func runFtpd(t testing.TB, cfg ftpd.Config) *ftpd.Server {
	t.Helper()
	srv, err := ftpd.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// mountAt mounts addr on a new temp dir.
func mountAt(t testing.TB, addr, user, pass string, mods ...func(*Options)) (*Mounted, string, *syncBuf) {
	t.Helper()
	fuseOK(t)
	mnt := t.TempDir()
	logs := &syncBuf{}
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
		if t.Failed() {
			t.Logf("mount log:\n%s", tail(logs.String(), 40))
		}
	})
	return m, mnt, logs
}

// newEnv serves a fresh temp root with ftpd and mounts it. fill writes
// the tree before the mount lists it.
func newEnv(t testing.TB, fill func(root string), srvMods []func(*ftpd.Config), mntMods ...func(*Options)) *env {
	t.Helper()
	fuseOK(t)
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

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines omitted)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

func randBytes(seed uint64, n int) []byte {
	r := mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	b := make([]byte, n)
	r.Read(b)
	return b
}

func writeFile(t testing.TB, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
