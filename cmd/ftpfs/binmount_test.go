package main

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
	"time"

	"ftpfs/ftpd"
)

// mountedBinary is the built binary mounting a server in the foreground,
// in a process of its own, as users run it: a test process that also
// served the mount could stall itself (go-fuse's fs/api.go, "Deadlocks").
type mountedBinary struct {
	bin, mnt string
	cmd      *exec.Cmd
	done     chan error
}

// mountBinary mounts url with bin on a new temp dir, the password in the
// environment, and returns once the mount answers. Cleanup unmounts
// lazily and shows the mount's log if the test failed.
func mountBinary(t *testing.T, bin, url, password string, args ...string) *mountedBinary {
	t.Helper()
	m := &mountedBinary{bin: bin, mnt: t.TempDir(), done: make(chan error, 1)}
	args = append(append([]string{"mount", "-f", "--cache-dir", t.TempDir()}, args...), url, m.mnt)
	m.cmd = exec.Command(bin, args...)
	m.cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "FTPFS_PASSWORD="+password, "GOTRACEBACK=all")
	var logs bytes.Buffer
	m.cmd.Stderr = &logs
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
			t.Logf("mount log:\n%s", logs.String())
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ok, _ := inMountinfo(m.mnt); ok {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("not mounted after 20 s:\n%s", logs.String())
		}
	}
}

// unmount unmounts and waits for the mount process to exit.
func (m *mountedBinary) unmount(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(m.bin, "unmount", m.mnt).CombinedOutput(); err != nil {
		t.Fatalf("unmount: %v %s", err, out)
	}
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the mount process did not exit after the unmount")
	}
}

// runFtpd starts ftpd with cfg and stops it at cleanup.
func runFtpd(t *testing.T, cfg ftpd.Config) *ftpd.Server {
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
