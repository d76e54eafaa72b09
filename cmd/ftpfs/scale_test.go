package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"ftpfs/ftpd"
)

// TestLargeDirectory lists a directory of 100,000 entries through the real
// binary: every name, in under 10 s, with the mount's peak RSS under
// 200 MiB.
func TestLargeDirectory(t *testing.T) {
	needFUSE(t)
	if testing.Short() {
		t.Skip("-short")
	}
	const n = 100_000
	bin := buildBinary(t)
	root := t.TempDir()
	big := filepath.Join(root, "big")
	os.Mkdir(big, 0o755)
	for i := range n {
		f, err := os.Create(filepath.Join(big, fmt.Sprintf("entry-%06d.dat", i)))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	srv, err := ftpd.New(ftpd.Config{Root: root, Listen: "127.0.0.1:0", Anonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	mnt, cache := t.TempDir(), t.TempDir()
	cmd := exec.Command(bin, "mount", "-f", "--cache-dir", cache, "ftp://"+srv.Addr().String()+"/", mnt)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		exec.Command(bin, "unmount", "--lazy", mnt).Run()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ok, _ := inMountinfo(mnt); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not mounted after 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t0 := time.Now()
	ents, err := os.ReadDir(filepath.Join(mnt, "big"))
	d := time.Since(t0)
	if err != nil || len(ents) != n {
		t.Fatalf("readdir: %d entries, %v", len(ents), err)
	}
	if d > 10*time.Second {
		t.Fatalf("listing %d entries took %v", n, d)
	}
	// And a stat of each, answered from the same listing.
	for _, e := range ents[:1000] {
		if _, err := os.Lstat(filepath.Join(mnt, "big", e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	hwm := peakRSS(t, cmd.Process.Pid)
	t.Logf("%d entries in %v; the mount's peak RSS %d MiB", n, d.Round(time.Millisecond), hwm>>20)
	if hwm > 200<<20 {
		t.Fatalf("peak RSS %d MiB", hwm>>20)
	}
}

// peakRSS is a process's VmHWM, in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}
