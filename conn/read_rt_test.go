package conn

// Round trips of reads, counted through the link emulator.

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"ftpfs/internal/link"
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
// aborts are over.
func waitIdle(t *testing.T, p *Pool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if st := p.Stats(); st.Idle == st.Open {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections not back: %+v", p.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// A random read in the middle of a file returns once its bytes are in,
// before the abort's replies: on a connection that read before, the
// pipelined EPSV+REST+RETR and the data connection are all it waits for.
func TestRandomReadRoundTrips(t *testing.T) {
	s := startServer(t)
	data := randBytes(3, 4<<20)
	writeFile(t, filepath.Join(s.root, "f"), data)
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
		if s.RoundTrips > 3 || s.Commands["RETR"] != 1 || s.Commands["NOOP"] != 0 {
			t.Fatalf("random read at %d: %v; want at most 3 round trips, one RETR and no NOOP before it returns", off, s)
		}
		waitIdle(t, p)
	}
	if st := p.Stats(); st.Dials != 1 {
		t.Fatalf("%d connections dialled, want 1", st.Dials)
	}
}
