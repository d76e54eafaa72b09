package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
	"ftpfs/internal/testutil/ftpdtest"
)

// TestLargeDirectory lists a directory of 100,000 entries through the real
// binary: every name, in under 10 s, with the mount's peak RSS under
// 200 MiB.
func TestLargeDirectory(t *testing.T) {
	testutil.NeedFUSE(t)
	if testing.Short() {
		t.Skip("-short")
	}
	const n = 100_000
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
	srv := ftpdtest.Start(t, ftpd.Config{Root: root, Listen: "127.0.0.1:0", Anonymous: true})
	m := mountBinary(t, "ftp://"+srv.Addr().String()+"/", "")
	mnt := m.mnt
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
	hwm := peakRSS(t, m.cmd.Process.Pid)
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
