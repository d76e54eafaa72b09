package conn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"ftpfs/internal/link"
)

// A passive pool with ActiveBatches whose server never reaches us (a NAT,
// a firewall): the first batch gives up after the probe's second, not
// the timeout, its files go back to be read alone, and batches stop.
func TestBatchProbeUnreachable(t *testing.T) {
	fs := startActiveFake(t)
	p := NewPool(Config{Addr: fs.ln.Addr().String(), User: "u", Password: "p", Timeout: 20 * time.Second, ActiveBatches: true, MaxConns: 1})
	t.Cleanup(p.Close)
	if !p.Batching() {
		t.Fatal("a pool with ActiveBatches does not batch")
	}
	t0 := time.Now()
	for _, r := range readFiles(t, p, []string{"/a", "/b"}, []int64{5, 5}) {
		if !errors.Is(r.err, ErrNotBatched) {
			t.Fatalf("no data connection: %v, want not batched", r.err)
		}
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("the probe gave up after %v; want about a second, the timeout is 20s", d)
	}
	if p.Batching() {
		t.Fatal("batches still on after the server never connected")
	}
	if st := p.Stats(); st.Open != 0 {
		t.Fatalf("%+v: the connection whose server is still connecting must be closed", st)
	}
}

// In a passive pool with ActiveBatches, a batch's first file rides the
// data connection opened ahead, every other one costs a round trip (the
// server's connect, its EPRT and RETR waiting in its buffer), and an
// EPSV behind the last RETR opens the next data connection: 8 files in 8
// round trips, and its connect and the last leg of its handshake 2 more,
// where passive reads cost 2 each after the first (15, and the same 2).
func TestBatchProbeRoundTrips(t *testing.T) {
	s := startServer(t)
	files := smallFilesAt(t, s, 9, 90)
	p, l := linkPool(t, s, link.Options{RTT: 10 * time.Millisecond}, func(c *Config) { c.ActiveBatches = true; c.MaxConns = 1 })
	// A file read alone proves EPSV, and leaves the next data
	// connection open.
	b := make([]byte, len(files[0]))
	if _, err := p.ReadAt(context.Background(), "/f0", b, 0, int64(len(b))); err != nil {
		t.Fatal(err)
	}
	resetAtRest(t, p, l)
	var paths []string
	var sizes []int64
	for i, f := range files[1:] {
		paths, sizes = append(paths, fmt.Sprintf("/f%d", i+1)), append(sizes, int64(len(f)))
	}
	for i, r := range readFiles(t, p, paths, sizes) {
		if r.err != nil || !bytes.Equal(r.data, files[i+1]) {
			t.Fatalf("f%d: %d bytes, %v", i+1, len(r.data), r.err)
		}
	}
	settled(t, p)
	st := l.Stats()
	t.Logf("a batch of 8: %v", st)
	if st.RoundTrips > 10 || st.Commands["EPRT"] != 7 || st.Commands["RETR"] != 8 || st.Commands["EPSV"] != 1 || st.Control != 0 {
		t.Fatalf("a batch of 8 small files: %v; want at most 10 round trips, the first file on the data connection opened ahead, an EPSV behind the last", st)
	}
	if st.Data != 8 {
		t.Fatalf("%v: want 8 data connections, the 7 the server opened and the next one opened after the batch", st)
	}
}

// The probe counts only a file the server brought to us: a batch's first
// file, riding the passive data connection opened ahead, proves nothing,
// and the next one, which the server cannot bring, still ends the probe
// after its second and turns batches off (not the 6 s timeout, for this
// batch and every later one).
func TestBatchProbePassiveFileProvesNothing(t *testing.T) {
	fs := startActiveFake(t)
	p := NewPool(Config{Addr: fs.ln.Addr().String(), User: "u", Password: "p", Timeout: 6 * time.Second, ActiveBatches: true, MaxConns: 1})
	t.Cleanup(p.Close)
	b := make([]byte, 5)
	if _, err := p.ReadAt(context.Background(), "/a", b, 0, 5); err != nil || string(b) != "hello" {
		t.Fatalf("a passive read: %q, %v", b, err)
	}
	settled(t, p) // its next data connection opened
	t0 := time.Now()
	rs := readFiles(t, p, []string{"/a", "/b"}, []int64{5, 5})
	if rs[0].err != nil || string(rs[0].data) != "hello" || !errors.Is(rs[1].err, ErrNotBatched) {
		t.Fatalf("first %q %v, second %v; want the first over the connection opened ahead, the second not batched", rs[0].data, rs[0].err, rs[1].err)
	}
	if d := time.Since(t0); d > 4*time.Second {
		t.Fatalf("the batch took %v: the passive file ended the probe", d)
	}
	if p.Batching() {
		t.Fatal("batches still on: the passive file proved the server reaches us")
	}
}

// A server that answers an active RETR with 425 (it could not connect:
// a firewall that refuses) ends the probe at once: batches off.
func TestBatchProbe425(t *testing.T) {
	fs := startActiveFake(t)
	fs.refuse.Store(true)
	p := NewPool(Config{Addr: fs.ln.Addr().String(), User: "u", Password: "p", Timeout: 6 * time.Second, ActiveBatches: true, MaxConns: 1})
	t.Cleanup(p.Close)
	for _, r := range readFiles(t, p, []string{"/a", "/b"}, []int64{5, 5}) {
		if !errors.Is(r.err, ErrNotBatched) {
			t.Fatalf("425: %v, want not batched", r.err)
		}
	}
	if p.Batching() {
		t.Fatal("batches still on after the server could not connect (425)")
	}
}

// The probe bounds the server's coming, not its bytes: a file that comes
// at once but takes longer than the probe's second to arrive proves
// that the server reaches us, and batches stay on.
func TestBatchProbeSlowFile(t *testing.T) {
	fs := startActiveFake(t)
	fs.connect.Store(true)
	fs.slow.Store(true)
	p := NewPool(Config{Addr: fs.ln.Addr().String(), User: "u", Password: "p", Timeout: 6 * time.Second, ActiveBatches: true, MaxConns: 1})
	t.Cleanup(p.Close)
	rs := readFiles(t, p, []string{"/a"}, []int64{5})
	if rs[0].err != nil || string(rs[0].data) != "hello" {
		t.Fatalf("a slow file: %q, %v", rs[0].data, rs[0].err)
	}
	if !p.Batching() || !p.batchOK.Load() {
		t.Fatal("a slow file turned batches off, or did not prove the server reaches us")
	}
}
