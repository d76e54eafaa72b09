package main

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"ftpfs/internal/testutil"
)

// mountedBinary is the built binary mounting a server in the foreground,
// in a process of its own, as users run it: a test process that also
// served the mount could stall itself (go-fuse's fs/api.go, "Deadlocks").
type mountedBinary struct {
	mnt  string
	cmd  *exec.Cmd
	done chan error
}

// mountBinary mounts url with the ftpfs binary on a new temp dir, the
// password in the environment, and returns once the mount answers.
// Cleanup unmounts lazily and shows the mount's log if the test failed.
func mountBinary(t *testing.T, url, password string, args ...string) *mountedBinary {
	t.Helper()
	bin := testutil.Binary(t)
	m := &mountedBinary{mnt: t.TempDir(), done: make(chan error, 1)}
	args = append(append([]string{"mount", "-f", "--cache-dir", t.TempDir()}, args...), url, m.mnt)
	m.cmd = exec.Command(bin, args...)
	m.cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "FTPFS_PASSWORD="+password, "GOTRACEBACK=all")
	logs := &testutil.Buffer{}
	m.cmd.Stderr = logs
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.done <- m.cmd.Wait() }()
	t.Cleanup(func() {
		exec.Command(bin, "unmount", "--lazy", m.mnt).Run()
		select {
		case <-m.done:
		case <-time.After(10 * time.Second):
			m.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("mount log:\n%s", logs)
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ok, _ := inMountinfo(m.mnt); ok {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("not mounted after 20 s:\n%s", logs)
		}
	}
}

// unmount unmounts and waits for the mount process to exit.
func (m *mountedBinary) unmount(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(testutil.Binary(t), "unmount", m.mnt).CombinedOutput(); err != nil {
		t.Fatalf("unmount: %v %s", err, out)
	}
	select {
	case err := <-m.done:
		m.done <- err // for the cleanup, which waits too
	case <-time.After(10 * time.Second):
		t.Fatal("the mount process did not exit after the unmount")
	}
}

// servedBinary is `ftpfs serve` in a process of its own.
type servedBinary struct {
	addr      string
	port, pid int
}

// serveBinary runs ftpfs serve on root for user u with password p, on a
// free loopback port, and returns once it serves. Cleanup stops it by
// its PID.
func serveBinary(t *testing.T, root string, args ...string) *servedBinary {
	t.Helper()
	args = append(append([]string{"serve", "--user", "u", "--listen", "127.0.0.1:0"}, args...), root)
	cmd := exec.Command(testutil.Binary(t), args...)
	cmd.Env = append(os.Environ(), passwordEnv+"=p", "GOTRACEBACK=all")
	stderr := &stderrCapture{addr: make(chan string, 1)}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("server log:\n%s", stderr)
		}
	})
	select {
	case addr := <-stderr.addr:
		_, port, _ := net.SplitHostPort(addr)
		s := &servedBinary{addr: addr, pid: cmd.Process.Pid}
		s.port, _ = strconv.Atoi(port)
		return s
	case <-done:
		t.Fatalf("ftpfs serve exited before serving:\n%s", stderr)
	case <-time.After(20 * time.Second):
		t.Fatalf("ftpfs serve does not serve after 20 s:\n%s", stderr)
	}
	return nil
}
