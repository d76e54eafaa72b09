package conn

import (
	"context"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
	"ftpfs/internal/testutil/ftpdtest"
)

// commandsSince is the commands counted after before, by verb.
func commandsSince(before, after Snapshot) map[string]int64 {
	d := map[string]int64{}
	for v, n := range after.Commands {
		if n -= before.Commands[v]; n != 0 {
			d[v] = n
		}
	}
	return d
}

// TestSnapshotCountsCommandsTransfersAndErrors checks the figures of a
// known sequence: a listing, a read, a stream under way, a missing file.
func TestSnapshotCountsCommandsTransfersAndErrors(t *testing.T) {
	s := startServer(t)
	data := testutil.RandBytes(3, 1<<20)
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), data)
	// One connection, one command at a time: no spare dialled beside a
	// read, so every figure is exact.
	p := newPool(t, s, func(c *Config) { c.NoPipelining, c.MaxConns = true, 1 })
	ctx := context.Background()
	if _, err := p.Times(ctx); err != nil { // the login, counted before
		t.Fatal(err)
	}
	before := p.Snapshot()
	if before.Commands["USER"] != 1 || before.Commands["PASS"] != 1 || before.Connects != 1 {
		t.Errorf("after one login: %+v", before)
	}

	if _, err := p.ReadDir(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4096)
	if _, err := p.ReadAt(ctx, "/f", b, 0, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	// The read's abort ends on its own goroutine, which then gives the
	// connection back.
	after := waitSnapshot(t, p, func(s Snapshot) bool { return len(s.Transfers) == 0 && s.Connections.Busy == 0 })
	d := commandsSince(before, after)
	// EPSV and MLSD; EPSV and RETR; the abort's NOOP, and an EPSV with it
	// that opens the next transfer's data connection ahead.
	want := map[string]int64{"EPSV": 3, "MLSD": 1, "RETR": 1, "NOOP": 1}
	if !maps.Equal(d, want) {
		t.Errorf("commands after a listing and a read: %v, want %v", d, want)
	}
	// Flights: EPSV; MLSD; EPSV and RETR together (EPSV worked on this
	// connection: --no-pipelining is about commands on their own); NOOP
	// and EPSV. Three data connections were opened.
	if f := after.Flights - before.Flights; f != 4 {
		t.Errorf("%d flights, want 4", f)
	}
	if c := after.Connects - before.Connects; c != 3 {
		t.Errorf("%d connects, want 3", c)
	}
	if after.RoundTrips != after.Flights+after.Connects {
		t.Errorf("round trips %d, want flights %d + connects %d", after.RoundTrips, after.Flights, after.Connects)
	}
	if after.BytesDown < 4096 {
		t.Errorf("after the read: %d bytes down", after.BytesDown)
	}

	st, err := p.OpenStream(ctx, "/f", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Read(ctx, b); err != nil {
		t.Fatal(err)
	}
	snap := p.Snapshot()
	if len(snap.Transfers) != 1 {
		t.Fatalf("transfers under way: %+v", snap.Transfers)
	}
	x := snap.Transfers[0]
	if x.Path != "/f" || x.Op != "retr" || x.Up || x.Offset != 1000 || x.Bytes == 0 || x.Size != int64(len(data)) {
		t.Errorf("stream's transfer: %+v", x)
	}
	if snap.Connections.Busy != 1 || snap.Connections.Open < 1 {
		t.Errorf("connections with a stream open: %+v", snap.Connections)
	}
	st.Close()
	waitSnapshot(t, p, func(s Snapshot) bool { return len(s.Transfers) == 0 })

	if _, err := p.Stat(ctx, "/missing"); !errorsIs(err, ClassNotFound) {
		t.Fatalf("stat of a missing file: %v", err)
	}
	if n := p.Snapshot().Errors["not_found"]; n != 1 {
		t.Errorf("not_found errors: %d, want 1", n)
	}
}

// waitSnapshot returns the pool's figures once ok accepts them.
func waitSnapshot(t *testing.T, p *Pool, ok func(Snapshot) bool) Snapshot {
	t.Helper()
	var s Snapshot
	testutil.WaitUntil(t, 5*time.Second, "snapshot", func() (bool, string) {
		s = p.Snapshot()
		return ok(s), fmt.Sprintf("%+v", s)
	})
	return s
}

func errorsIs(err error, c Class) bool { return err != nil && Classify(err) == c }

// TestSnapshotSaysWhyCeilingLowered: a 421 at login lowers the ceiling,
// and the snapshot gives the server's words.
func TestSnapshotSaysWhyCeilingLowered(t *testing.T) {
	s := startServer(t)
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), testutil.RandBytes(4, 1<<20))
	s.SetFaults(ftpd.Faults{MaxSessions: 1})
	p := newPool(t, s, func(c *Config) { c.MaxConns = 3 })
	ctx := context.Background()
	st, err := p.OpenStream(ctx, "/f", 0) // holds the one session
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A listing needs a second connection, which the server refuses; it
	// then waits for the stream's, in vain.
	lctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	p.ReadDir(lctx, "/")
	c := p.Snapshot().Connections
	if c.Ceiling != 1 || c.Max != 3 || c.Lowered == nil || !strings.HasPrefix(c.LoweredBy, "greeting: 421 ") {
		t.Errorf("connections after a 421: %+v", c)
	}
	if n := p.Snapshot().Errors["unavailable"]; n != 1 {
		t.Errorf("unavailable errors after a 421 greeting: %d, want 1", n)
	}
}

// TestTransferRate: the rate is the average since the start until a
// second has passed, then that of the last second or more.
func TestTransferRate(t *testing.T) {
	t0 := time.Now()
	x := &liveTransfer{started: t0, markAt: t0}
	if r := x.rateAt(t0.Add(500*time.Millisecond), 4<<20); r != 8<<20 {
		t.Errorf("a burst of 4 MiB in 0.5 s: %v, want 8 MiB/s", r)
	}
	if r := x.rateAt(t0.Add(800*time.Millisecond), 4<<20+100); r != 8<<20 {
		t.Errorf("within the first second: %v, want the first rate", r)
	}
	if r := x.rateAt(t0.Add(2*time.Second), 6<<20); r != 3<<20 {
		t.Errorf("6 MiB in 2 s: %v, want 3 MiB/s", r)
	}
	if r := x.rateAt(t0.Add(4*time.Second), 7<<20); r != 512<<10 {
		t.Errorf("1 MiB in the last 2 s: %v, want 512 KiB/s", r)
	}
}

// BenchmarkStreamCounted reads a file with and without the pool's
// counters: counting must not slow a transfer down.
func BenchmarkStreamCounted(b *testing.B) {
	s := ftpdtest.Serve(b, "")
	const size = 64 << 20
	testutil.WriteFile(b, filepath.Join(s.Root, "f"), make([]byte, size))
	for _, counted := range []bool{false, true} {
		b.Run(fmt.Sprintf("counted=%v", counted), func(b *testing.B) {
			p := NewPool(Config{Addr: s.Addr().String(), User: testUser, Password: testPass})
			defer p.Close()
			if !counted {
				p.cfg.stats = nil
			}
			ctx := context.Background()
			buf := make([]byte, 128<<10)
			b.SetBytes(size)
			for b.Loop() {
				st, err := p.OpenStream(ctx, "/f", 0)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := st.Read(ctx, buf); err != nil {
						break
					}
				}
				st.Close()
			}
		})
	}
}

// TestUploadSize: an upload's source that tells its size (the staged
// file's SectionReader) gives the transfer a size; another leaves none.
func TestUploadSize(t *testing.T) {
	x := &liveTransfer{}
	x.sizeOf(io.LimitReader(strings.NewReader("abc"), 3))
	if n := x.size.Load(); n != 0 {
		t.Errorf("size from a reader that does not tell: %d", n)
	}
	x.sizeOf(io.NewSectionReader(strings.NewReader("abcdef"), 0, 4))
	if n := x.size.Load(); n != 4 {
		t.Errorf("size from a SectionReader of 4 bytes: %d", n)
	}
	(*liveTransfer)(nil).sizeOf(strings.NewReader("x")) // outside a pool: no-op
}
