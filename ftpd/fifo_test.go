package ftpd

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTransferFIFO puts a FIFO in the tree: RETR, STOR and APPE of it get
// 550 at once instead of blocking in open(2) for the other end, the
// session goes on, and the server closes promptly.
func TestTransferFIFO(t *testing.T) {
	h := startHarness(t)
	fifo := filepath.Join(h.Root, "fifo")
	if err := syscall.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	c := mustDial(t, h.Addr().String())
	c.timeout = 3 * time.Second
	c.mustLogin(t)
	transfer := func(cmd string) { t.Helper(); refusedTransfer(t, c, cmd) }
	transfer("RETR fifo")
	// Without a reader, open(O_WRONLY) of a FIFO blocks; with one, it
	// succeeds, and the file is still no regular file.
	transfer("STOR fifo")
	reader, err := syscall.Open(fifo, syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(reader)
	transfer("STOR fifo")
	transfer("APPE fifo")
	transfer("RETR fifo")

	done := make(chan error, 1)
	go func() { done <- h.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Server.Close did not return within 3s")
	}
}

// refusedTransfer sends a transfer command on a fresh passive data
// connection and expects a prompt 550, the session going on.
func refusedTransfer(t *testing.T, c *rawClient, cmd string) {
	t.Helper()
	data, err := c.passive(false)
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	t0 := time.Now()
	c.expect(t, cmd, 550)
	if d := time.Since(t0); d > time.Second {
		t.Errorf("%s took %v", cmd, d)
	}
	c.expect(t, "NOOP", 200)
}

// TestListFIFORace swaps a directory for a FIFO between the server's stat
// and its open of the directory: the open must fail, not wait for a
// writer.
func TestListFIFORace(t *testing.T) {
	h := startHarness(t)
	if err := os.Mkdir(filepath.Join(h.Root, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(h.Root, "fifo"), 0o666); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(h.Root, "x")
	if err := os.Symlink("dir", link); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	swapped := make(chan struct{})
	go func() {
		defer close(swapped)
		tmp := filepath.Join(h.Root, "x.tmp")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			target := "dir"
			if i%2 == 1 {
				target = "fifo"
			}
			os.Remove(tmp)
			if os.Symlink(target, tmp) == nil {
				os.Rename(tmp, link)
			}
		}
	}()
	defer func() { close(stop); <-swapped }()
	c := mustDial(t, h.Addr().String())
	c.timeout = 2 * time.Second
	c.mustLogin(t)
	// A 550 "Not a directory" is the window hit: the stat saw the
	// directory, the open the FIFO. Go on until it was hit a few times.
	const wantHits = 3
	hits, n := 0, 0
	for deadline := time.Now().Add(20 * time.Second); hits < wantHits && time.Now().Before(deadline); n++ {
		r, err := c.cmd("STAT x")
		if err != nil {
			t.Fatal(err)
		}
		if r.Code == 550 && strings.Contains(r.Text, "Not a directory") {
			hits++
		} else if r.Code != 213 {
			t.Fatalf("STAT x: %q", r.Text)
		}
	}
	t.Logf("%d of %d STATs hit the swap window", hits, n)
	if hits < wantHits {
		t.Errorf("the swap window was hit %d times in %d STATs, want %d: the race was not exercised", hits, n, wantHits)
	}
}
