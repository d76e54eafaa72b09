package conn

// Round trips of reads, counted through the link emulator.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"ftpfs/internal/link"
	"ftpfs/internal/testutil"
)

// linkPool is a pool to s through a link of rtt.
func linkPool(t *testing.T, s *server, opt link.Options, mods ...func(*Config)) (*Pool, *link.Link) {
	t.Helper()
	l, err := link.Start(s.Addr().String(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := newPool(t, s, append([]func(*Config){func(c *Config) { c.Addr = l.Addr() }}, mods...)...)
	return p, l
}

// waitIdle waits until every open connection of p is idle: background
// aborts are over, and the link has seen their data connections.
func waitIdle(t *testing.T, p *Pool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if st := p.Stats(); st.Idle == st.Open {
			time.Sleep(10 * time.Millisecond)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections not back: %+v", p.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// A random read in the middle of a file returns once its bytes are in,
// before the abort's replies, and the connection that read before comes
// back with its next data connection open: REST+RETR, one round trip, is
// all the next read waits for. (Before: EPSV+REST+RETR, the data
// connection, the 426 and a NOOP, 4 round trips.)
func TestRandomReadRoundTrips(t *testing.T) {
	s := startServer(t)
	data := testutil.RandBytes(3, 16<<20) // more than a window past every offset read: no 226 before the abort
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), data)
	p, l := linkPool(t, s, link.Options{RTT: 10 * time.Millisecond}, func(c *Config) { c.MaxConns = 2 })
	ctx := context.Background()
	b := make([]byte, 4096)
	read := func(off int64) {
		t.Helper()
		if n, err := p.ReadAt(ctx, "/f", b, off, int64(len(data))); err != nil || !bytes.Equal(b[:n], data[off:off+4096]) {
			t.Fatalf("ReadAt(%d): %d bytes, %v", off, n, err)
		}
	}
	read(1 << 20) // logs in, and proves EPSV and REST
	waitIdle(t, p)
	for _, off := range []int64{5000, 2 << 20, 300_000} {
		l.Reset()
		read(off)
		s := l.Stats()
		if s.RoundTrips > 1 || s.Commands["RETR"] != 1 || s.Total() != 2 || s.Data != 0 {
			t.Fatalf("random read at %d: %v; want REST+RETR in at most 1 round trip on a data connection opened ahead", off, s)
		}
		waitIdle(t, p)
	}
	// The first read took the only connection: a spare was dialled
	// beside it, and the reads go round both.
	if st := p.Stats(); st.Dials != 2 {
		t.Fatalf("%d connections dialled, want 2", st.Dials)
	}
	if rtt := p.RTT(); rtt < 10*time.Millisecond || rtt > 100*time.Millisecond {
		t.Fatalf("round trip %v timed over a link of 10ms", rtt)
	}
}

// A data connection opened ahead and left unused for long is not trusted
// (servers close passive ports nobody uses): the read opens its own.
func TestStaleReadyDataConnection(t *testing.T) {
	s := startServer(t)
	data := testutil.RandBytes(4, 16<<20)
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), data)
	p, l := linkPool(t, s, link.Options{RTT: 10 * time.Millisecond}, func(c *Config) { c.MaxConns = 2 })
	ctx := context.Background()
	b := make([]byte, 4096)
	for i := range 3 {
		if i > 0 {
			waitIdle(t, p)
			p.mu.Lock()
			for _, c := range p.idle {
				if c.ready.data == nil {
					t.Fatal("no data connection opened ahead")
				}
				c.ready.at = c.ready.at.Add(-time.Hour)
			}
			p.mu.Unlock()
		}
		l.Reset()
		if n, err := p.ReadAt(ctx, "/f", b, 1000, int64(len(data))); err != nil || !bytes.Equal(b[:n], data[1000:5096]) {
			t.Fatalf("ReadAt: %d bytes, %v", n, err)
		}
		if st := l.Stats(); i > 0 && (st.Commands["EPSV"] != 1 || st.Data != 1) {
			t.Fatalf("read after the ready data connection aged: %v, want its own EPSV and data connection", st)
		}
	}
}

// A server that caps each data connection: a sequential read in ranged
// segments over several connections gets more than one connection's rate,
// in order and whole, one RETR per segment.
func TestSegmentedReadBeatsPerConnectionCap(t *testing.T) {
	s := startServer(t)
	const size = 8 << 20
	data := testutil.RandBytes(5, size)
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), data)
	const rate = 1 << 20
	p, l := linkPool(t, s, link.Options{RTT: 10 * time.Millisecond, Rate: rate}, func(c *Config) { c.MaxConns = 4 })
	ctx := context.Background()
	if _, err := p.ModTime(ctx, "/f"); err != nil { // logs in
		t.Fatal(err)
	}
	l.Reset()
	start := time.Now()
	sr := p.openSegmented(ctx, "/f", 0, size, 1<<20, 3)
	var got bytes.Buffer
	buf := make([]byte, 128<<10)
	for {
		n, err := sr.Read(ctx, buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	if err := sr.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("read %d bytes, not the file's", got.Len())
	}
	st := l.Stats()
	speed := float64(size) / took.Seconds()
	t.Logf("8 MiB in %v: %.1f× one connection's cap; %v", took, speed/rate, st)
	if speed < 2*rate {
		t.Fatalf("%.2f MiB/s, want more than twice one connection's %d MiB/s", speed/(1<<20), rate>>20)
	}
	// 8 segments of 1 MiB, made 9 for 3 connections to end together.
	if st.Commands["RETR"] != 9 {
		t.Fatalf("%d RETR for 9 segments", st.Commands["RETR"])
	}
}

// Small files read whole one after another on one connection: each RETR
// carries the EPSV of the next transfer, whose data connection is open by
// the time it starts, so that a file costs the RETR's round trip and the
// data connection's handshake, not EPSV's as well.
func TestSmallFilesBackToBack(t *testing.T) {
	s := startServer(t)
	files := smallFilesAt(t, s, 6, 10)
	p, l := linkPool(t, s, link.Options{RTT: 10 * time.Millisecond}, func(c *Config) { c.MaxConns = 2 })
	ctx := context.Background()
	read := func(i int) {
		t.Helper()
		b := make([]byte, len(files[i]))
		if n, err := p.ReadAt(ctx, fmt.Sprintf("/f%d", i), b, 0, int64(len(b))); err != nil || !bytes.Equal(b[:n], files[i]) {
			t.Fatalf("f%d: %d bytes, %v", i, n, err)
		}
	}
	read(0) // logs in, proves EPSV
	settled(t, p)
	l.Reset()
	for i := 1; i < 6; i++ {
		read(i)
	}
	settled(t, p)
	st := l.Stats()
	t.Logf("5 small files: %v", st)
	// A read returns with its bytes, before its connection connects to
	// the port of the EPSV behind: the next read takes the other
	// connection, whose data connection is open, one round trip each,
	// and the last connect after: 6, 7 when the last leg of a handshake
	// comes between two reads. (Before: 2 each.)
	if st.RoundTrips > 7 || st.Commands["RETR"] != 5 || st.Commands["EPSV"] > 5 || st.Commands["NOOP"] != 0 {
		t.Fatalf("5 small files back to back: %v; want at most 7 round trips and one RETR and EPSV each, no NOOP", st)
	}
	// The first read took the only connection: a spare came beside it.
	if ps := p.Stats(); ps.Dials != 2 {
		t.Fatalf("%d connections dialled, want 2", ps.Dials)
	}
}

// A read of a file that is gone carries the next EPSV too: the refusal
// leaves the connection in step, and the next read uses it.
func TestSmallFileGoneKeepsConnection(t *testing.T) {
	s := startServer(t)
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), []byte("hello"))
	p, _ := linkPool(t, s, link.Options{}, func(c *Config) { c.MaxConns = 2 })
	ctx := context.Background()
	b := make([]byte, 5)
	for i := range 4 {
		if _, err := p.ReadAt(ctx, "/f", b, 0, 5); err != nil || string(b) != "hello" {
			t.Fatalf("read %d: %q, %v", i, b, err)
		}
		if _, err := p.ReadAt(ctx, "/gone", b, 0, 5); Classify(err) != ClassNotFound {
			t.Fatalf("read of a missing file: %v", err)
		}
	}
	// One and the spare dialled beside the first read: none broke.
	if st := p.Stats(); st.Dials != 2 {
		t.Fatalf("%d connections dialled, want 2", st.Dials)
	}
}

// A transfer that takes the pool's last idle connection has a spare
// dialled beside it, logged in with EPSV and REST proven and its first
// data connection opened: a read on it is REST+RETR, one round trip, and
// nobody waits for a login.
func TestSpareDialledArmed(t *testing.T) {
	for _, pipeline := range []bool{true, false} {
		t.Run(fmt.Sprint("pipeline=", pipeline), func(t *testing.T) {
			s := startServer(t)
			data := testutil.RandBytes(7, 16<<20) // more than a window past the offsets read: no 226 before the abort
			testutil.WriteFile(t, filepath.Join(s.Root, "f"), data)
			p, l := linkPool(t, s, link.Options{RTT: 10 * time.Millisecond}, func(c *Config) { c.MaxConns = 3; c.NoPipelining = !pipeline })
			ctx := context.Background()
			if _, err := p.ModTime(ctx, "/f"); err != nil { // logs in: one connection, for metadata
				t.Fatal(err)
			}
			b := make([]byte, 4096)
			read := func() {
				t.Helper()
				if n, err := p.ReadAt(ctx, "/f", b, 1<<20, int64(len(data))); err != nil || !bytes.Equal(b[:n], data[1<<20:1<<20+4096]) {
					t.Fatalf("ReadAt: %d bytes, %v", n, err)
				}
			}
			read()
			waitIdle(t, p)
			if st := p.Stats(); st.Dials != 2 || st.Open != 2 {
				t.Fatalf("%+v: want the first connection and one spare", st)
			}
			p.mu.Lock()
			for _, c := range p.idle {
				if c.ready.data == nil || !c.restOK {
					t.Errorf("connection %d idle without a data connection opened ahead (rest proven: %v)", c.id, c.restOK)
				}
			}
			p.mu.Unlock()
			// The spare, not the connection that read first, has the offset's
			// REST proven: a read on it is REST+RETR on its data connection.
			for range 2 {
				l.Reset()
				read()
				if st := l.Stats(); st.RoundTrips > 1 || st.Total() != 2 || st.Commands["RETR"] != 1 || st.Data != 0 {
					t.Fatalf("read on a connection opened ahead: %v; want REST+RETR in one round trip", st)
				}
				waitIdle(t, p)
			}
			if st := p.Stats(); st.Dials != 2 {
				t.Fatalf("%d connections dialled for one reader at a time, want 2", st.Dials)
			}
		})
	}
}

// A download's data connection is closed on our side as soon as its
// command is out, on a data connection opened then or ahead: real servers
// (vsftpd, proftpd) send the final reply only once the client's side is
// closed, a round trip after the last byte otherwise. The link does not
// count that round (it follows commands, not a FIN), so it is checked here:
// nothing can be written any more, and the file still comes whole.
func TestDownloadHalfClosed(t *testing.T) {
	s := startServer(t)
	data := testutil.RandBytes(8, 5000)
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), data)
	p := newPool(t, s, func(c *Config) { c.MaxConns = 1 })
	ctx := context.Background()
	c, err := p.get(ctx, Transfer, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.put(c, Transfer)
	for i, how := range []string{"data connection opened for it", "data connection opened ahead"} {
		if i == 1 {
			c.armData()
			if c.ready.data == nil {
				t.Fatal("no data connection opened ahead")
			}
		}
		tr, err := c.startTransfer(ctx, "retr", "/f", "RETR /f", 0, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.data.Write([]byte("x")); err == nil {
			t.Errorf("%s: still open for writing after the RETR", how)
		}
		got, err := io.ReadAll(tr)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %d bytes, %v", how, len(got), err)
		}
		if err := tr.finish(); err != nil {
			t.Fatalf("%s: %v", how, err)
		}
	}
}

// The login times the link: a pool that has only logged in, and listed
// over the control connection, knows the round trip. A stream judged slow
// on such a server goes on in segments (fs) only where the server is far.
func TestLoginTimesTheLink(t *testing.T) {
	s := startServer(t)
	p, _ := linkPool(t, s, link.Options{RTT: 10 * time.Millisecond})
	if _, err := p.Times(context.Background()); err != nil { // logs in
		t.Fatal(err)
	}
	if rtt := p.RTT(); rtt < 10*time.Millisecond || rtt > 100*time.Millisecond {
		t.Fatalf("round trip %v after the login over a link of 10ms", rtt)
	}
}

// A stream on the pool's first connection knows the link's round trip
// before the pool does, which learns it when the connection comes back.
func TestStreamKnowsTheLink(t *testing.T) {
	s := startServer(t)
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), testutil.RandBytes(4, 1<<20))
	p, _ := linkPool(t, s, link.Options{RTT: 10 * time.Millisecond})
	st, err := p.OpenStream(context.Background(), "/f", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if rtt := p.RTT(); rtt != 0 {
		t.Fatalf("pool's round trip %v with its only connection out", rtt)
	}
	if rtt := st.RTT(); rtt < 10*time.Millisecond || rtt > 100*time.Millisecond {
		t.Fatalf("stream's round trip %v over a link of 10ms", rtt)
	}
}
