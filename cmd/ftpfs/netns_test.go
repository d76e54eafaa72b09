package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpfs/internal/testutil"
)

// TestLinkDown puts ftpd in a network namespace of the test's own, mounts
// it over a veth pair, and takes the link down for 30 s: no RST, no FIN,
// just silence. Cached names keep answering, everything else fails
// within twice the timeout, and once the link is back the same mount
// reads and writes again.
func TestLinkDown(t *testing.T) {
	testutil.NeedFUSE(t)
	testutil.NeedRoot(t, "to make a network namespace")
	testutil.NeedTool(t, "ip")
	down := 30 * time.Second
	if testing.Short() {
		down = 5 * time.Second
	}
	bin := testutil.Binary(t)
	tag := fmt.Sprint(os.Getpid() % 10000)
	ns, host, peer := "ftpfs-ns"+tag, "ftpfsh"+tag, "ftpfsn"+tag
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ip("link", "add", host, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })
	ip("link", "set", peer, "netns", ns)
	ip("addr", "add", "10.213.0.1/30", "dev", host)
	ip("link", "set", host, "up")
	// Into the namespace with nsenter --net, not ip netns exec: that one
	// also makes a mount namespace, with a copy of every mount of the
	// moment, other tests' FUSE mounts included, and an unmount here
	// does not reach a private copy: their servers never see the end.
	inNS := func(args ...string) *exec.Cmd {
		return exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns}, args...)...)
	}
	for _, args := range [][]string{{"ip", "addr", "add", "10.213.0.2/30", "dev", peer}, {"ip", "link", "set", peer, "up"}} {
		if out, err := inNS(args...).CombinedOutput(); err != nil {
			t.Fatalf("in the namespace, %s: %v %s", strings.Join(args, " "), err, out)
		}
	}

	root := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB
	os.WriteFile(filepath.Join(root, "cached"), []byte("seen before"), 0o644)
	os.WriteFile(filepath.Join(root, "big"), big, 0o644)
	os.Mkdir(filepath.Join(root, "dir"), 0o755)
	srv := inNS(bin, "serve", "--user", "u", "--listen", "10.213.0.2:2121", root)
	srv.Env = append(os.Environ(), "FTPFS_PASSWORD=p")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })

	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", "10.213.0.2:2121", time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server in the namespace does not listen: %v", err)
		}
	}
	mine, _ := os.Readlink("/proc/self/ns/mnt")
	if its, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", srv.Process.Pid)); err != nil || its != mine {
		t.Fatalf("the server runs in mount namespace %s (%v), not the test's %s", its, err, mine)
	}
	mnt := mountBinary(t, "ftp://u@10.213.0.2:2121/", "p", "--timeout", "2s", "--dir-cache-ttl", "1h").mnt
	if got, err := os.ReadFile(filepath.Join(mnt, "cached")); err != nil || string(got) != "seen before" {
		t.Fatalf("before: %q %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "big")); err != nil {
		t.Fatal(err)
	}

	ip("link", "set", host, "down")
	bounded := func(what string, f func() error) error {
		t.Helper()
		t0 := time.Now()
		err := f()
		if d := time.Since(t0); d > 4*time.Second+500*time.Millisecond {
			t.Errorf("%s took %v with the link down (timeout 2 s)", what, d)
		}
		return err
	}
	for t0 := time.Now(); time.Since(t0) < down; time.Sleep(time.Second) {
		if err := bounded("stat of a cached name", func() error { _, err := os.Stat(filepath.Join(mnt, "big")); return err }); err != nil {
			t.Fatalf("stat of a cached name with the link down: %v", err)
		}
		if err := bounded("read of uncached data", func() error {
			f, err := os.Open(filepath.Join(mnt, "big"))
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.ReadAt(make([]byte, 4096), 1<<20)
			return err
		}); err == nil {
			t.Fatal("a read of uncached data succeeded with the link down")
		}
		if err := bounded("listing of an uncached directory", func() error { _, err := os.ReadDir(filepath.Join(mnt, "dir")); return err }); err == nil {
			t.Fatal("an uncached listing succeeded with the link down")
		}
	}
	ip("link", "set", host, "up")

	// The same mount, no remount: reads and writes work again.
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		var got []byte
		if got, err = os.ReadFile(filepath.Join(mnt, "big")); err == nil {
			if !bytes.Equal(got, big) {
				t.Fatal("read after the link came back: wrong bytes")
			}
			break
		}
	}
	if err != nil {
		t.Fatalf("no read 30 s after the link came back: %v", err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "after"), []byte("link is back"), 0o644); err != nil {
		t.Fatalf("write after the link came back: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "after")); string(got) != "link is back" {
		t.Fatalf("on the server: %q", got)
	}
}
