package fs

import (
	"bytes"
	"ftpfs/internal/testutil"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServerOutage stops the server for 20 s and starts it again on the
// same port: meanwhile cached names and attributes answer, everything
// else fails within twice the timeout, a write keeps its bytes staged;
// afterwards the same mount works, and the staged write goes up on the
// next try.
func TestServerOutage(t *testing.T) {
	outage := 20 * time.Second
	if testing.Short() {
		outage = 3 * time.Second
	}
	data := testutil.RandBytes(51, 3<<20)
	e := newEnv(t, func(root string) {
		testutil.WriteFile(t, filepath.Join(root, "cached"), []byte("seen before"))
		testutil.WriteFile(t, filepath.Join(root, "big"), data)
		testutil.WriteFile(t, filepath.Join(root, "dir", "x"), []byte("x"))
	}, nil, func(o *Options) { o.Conn.Timeout = time.Second; o.DirCacheTTL = time.Hour })
	if got, err := os.ReadFile(filepath.Join(e.mnt, "cached")); err != nil || string(got) != "seen before" {
		t.Fatal(got, err)
	}
	e.srv.Close()
	down := time.Now()
	bounded := func(what string, f func() error) error {
		t.Helper()
		t0 := time.Now()
		err := f()
		if d := time.Since(t0); d > 2*time.Second+300*time.Millisecond {
			t.Errorf("%s took %v with the server down", what, d)
		}
		return err
	}
	for time.Since(down) < outage {
		if err := bounded("stat of a cached name", func() error { _, err := os.Stat(filepath.Join(e.mnt, "big")); return err }); err != nil {
			t.Fatalf("stat of a cached name with the server down: %v", err)
		}
		if err := bounded("readdir of the root", func() error { _, err := os.ReadDir(e.mnt); return err }); err != nil {
			t.Fatalf("readdir of a cached listing: %v", err)
		}
		if err := bounded("read of uncached data", func() error { _, err := os.ReadFile(filepath.Join(e.mnt, "big")); return err }); err == nil {
			t.Fatal("read of uncached data succeeded with the server down")
		}
		if err := bounded("listing of an uncached directory", func() error { _, err := os.ReadDir(filepath.Join(e.mnt, "dir")); return err }); err == nil {
			t.Fatal("an uncached listing succeeded with the server down")
		}
		time.Sleep(time.Second)
	}
	// A write while down (over a known file: a create needs a fresh
	// listing): fsync reports the failure, the bytes stay staged.
	f, err := os.OpenFile(filepath.Join(e.mnt, "cached"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("written while down"))
	if err := bounded("fsync", f.Sync); err == nil {
		t.Fatal("fsync succeeded with the server down")
	}

	e.restartFtpd(t)
	// The same mount, no remount: the staged write goes up on the next
	// fsync, and reads work.
	if err := f.Sync(); err != nil {
		t.Fatalf("fsync after the server came back: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(e.root, "cached")); string(got) != "written while down" {
		t.Fatalf("the staged write on the server: %q", got)
	}
	if got, err := os.ReadFile(filepath.Join(e.mnt, "big")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after the outage: %d bytes, %v", len(got), err)
	}
}

// TestUnmountServerDead: unmount does not wait on a dead server.
func TestUnmountServerDead(t *testing.T) {
	e := newEnv(t, func(root string) { testutil.WriteFile(t, filepath.Join(root, "f"), []byte("x")) }, nil,
		func(o *Options) { o.Conn.Timeout = 5 * time.Second })
	if _, err := os.ReadFile(filepath.Join(e.mnt, "f")); err != nil {
		t.Fatal(err)
	}
	e.srv.Close()
	t0 := time.Now()
	if err := e.m.Unmount(); err != nil {
		t.Fatalf("unmount with the server dead: %v", err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("unmount with the server dead took %v", d)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(e.mnt, &st); err != nil || st.Type == 0x65735546 { // FUSE_SUPER_MAGIC
		t.Fatalf("still mounted: %v", err)
	}
}

// TestUnmountWithNamespaceCopy: a mount namespace made while the mount
// was there keeps a private copy of it, and the kernel keeps the FUSE
// connection for that copy. Unmount still ends, and the copy then fails
// with ENOTCONN rather than being served by a process that is leaving.
func TestUnmountWithNamespaceCopy(t *testing.T) {
	testutil.NeedTool(t, "unshare")
	e := newEnv(t, func(root string) { testutil.WriteFile(t, filepath.Join(root, "f"), []byte("x")) }, nil)
	// The copy's holder waits for a line on stdin, then stats the
	// copy, so it can say what it sees after the unmount.
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		`echo in; read go; stat -c %s "$1/f" 2>&1; true`, "sh", e.mnt)
	stdin, _ := holder.StdinPipe()
	out := &testutil.Buffer{}
	holder.Stdout, holder.Stderr = out, out
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	for deadline := time.Now().Add(10 * time.Second); !strings.HasPrefix(out.String(), "in"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("unshare did not start: %q", out.String())
		}
	}
	done := make(chan error, 1)
	go func() { done <- e.m.Unmount() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("unmount with a copy in another namespace: %v", err)
		}
	case <-time.After(3 * unmountGrace):
		// Let the copy go, which ends the unmount, then fail.
		stdin.Write([]byte("go\n"))
		holder.Wait()
		<-done
		t.Fatal("unmount hung while another mount namespace held a copy")
	}
	stdin.Write([]byte("go\n"))
	holder.Wait()
	if got := out.String(); !strings.Contains(got, "not connected") {
		t.Fatalf("the copy after the unmount: %q, want ENOTCONN", got)
	}
}
