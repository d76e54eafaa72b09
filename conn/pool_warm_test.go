package conn

// Round trips of the pool readied ahead (Warm), of listings that open the
// next data connection, and of a transfer's caller that does not wait for
// that connect, counted through the link emulator.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"ftpfs/internal/link"
	"ftpfs/internal/testutil"
)

// Warm dials every connection the pool may still open, each logged in
// with a data connection open ahead: three small files read at once then
// cost one round trip, a RETR each on its own connection, with no login
// (the next data connections' connects and their handshakes' last legs
// follow, which nobody waits for: 2 in all, counted from a link at rest
// after the handshakes' last legs of the warm-up, which the RETRs
// follow; 3 when one RETR leaves after another's reply came back, which
// the race detector's pace allows). Without Warm: a login, then EPSV
// and RETR, 7 or more.
func TestWarmArmsEveryConnection(t *testing.T) {
	s := startServer(t)
	files := smallFilesAt(t, s, 3, 20)
	p, l := linkPool(t, s, link.Options{RTT: 10 * time.Millisecond}, func(c *Config) { c.MaxConns = 4 })
	ctx := context.Background()
	if _, err := p.ModTime(ctx, "/f0"); err != nil { // logs in the first
		t.Fatal(err)
	}
	p.Warm()
	waitIdle(t, p)
	if st := p.Stats(); st.Dials != 4 || st.Open != 4 {
		t.Fatalf("%+v: want 4 connections dialled and open", st)
	}
	p.mu.Lock()
	armed := 0
	for _, c := range p.idle {
		if c.ready.data != nil {
			armed++
		}
	}
	p.mu.Unlock()
	if armed != 3 {
		t.Fatalf("%d connections with a data connection open ahead, want the 3 Warm dialled", armed)
	}
	settled(t, p)
	l.Reset()
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			b := make([]byte, len(files[i]))
			if n, err := p.ReadAt(ctx, fmt.Sprintf("/f%d", i), b, 0, int64(len(b))); err != nil || !bytes.Equal(b[:n], files[i]) {
				t.Errorf("f%d: %d bytes, %v", i, n, err)
			}
		})
	}
	wg.Wait()
	settled(t, p)
	st := l.Stats()
	t.Logf("3 small files at once on a warm pool: %v", st)
	if st.RoundTrips > 3 || st.Control != 0 || st.Commands["RETR"] != 3 || st.Commands["EPSV"] != 3 || st.Total() != 6 || st.Data != 3 {
		t.Fatalf("%v; want RETR and EPSV behind on each of 3 connections in at most 3 round trips, no login", st)
	}
}

// A listing over a data connection sends EPSV behind MLSD, and the next
// listing finds its data connection open: two listings one after the
// other, counted from a link at rest, cost 2 round trips to the second's
// data (the first MLSD rides the last leg of the handshake of the data
// connection opened ahead; the next one's connect; the second MLSD), 4
// with the data connection the second opens ahead (its connect, its
// handshake's last leg). (Before: EPSV+MLSD, the connect, its last leg with
// the data, 3 each: 6.)
func TestListingsArmNext(t *testing.T) {
	s := startServer(t)
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), []byte("x"))
	p, l := linkPool(t, s, link.Options{RTT: 10 * time.Millisecond}, func(c *Config) { c.MaxConns = 1 })
	ctx := context.Background()
	list := func() {
		t.Helper()
		if es, err := p.ReadDir(ctx, "/"); err != nil || len(es) != 1 {
			t.Fatalf("ReadDir: %v, %v", es, err)
		}
	}
	list() // logs in, proves EPSV, opens the next data connection after
	settled(t, p)
	l.Reset()
	list()
	list()
	settled(t, p)
	st := l.Stats()
	t.Logf("2 listings: %v", st)
	if st.RoundTrips != 4 || st.Commands["MLSD"] != 2 || st.Commands["EPSV"] != 2 || st.Total() != 4 || st.Data != 2 {
		t.Fatalf("%v; want MLSD with EPSV behind, twice, in 4 round trips", st)
	}
}

// A transfer's final reply comes with the reply to the EPSV that went
// behind it, but finish does not connect to that port: the caller has
// its bytes a round trip sooner, and armData connects once the
// connection is back.
func TestTransferFinishesBeforeArming(t *testing.T) {
	s := startServer(t)
	data := testutil.RandBytes(9, 3000)
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), data)
	p, l := linkPool(t, s, link.Options{RTT: 10 * time.Millisecond}, func(c *Config) { c.MaxConns = 1 })
	ctx := context.Background()
	b := make([]byte, len(data))
	if _, err := p.ReadAt(ctx, "/f", b, 0, int64(len(b))); err != nil { // proves EPSV
		t.Fatal(err)
	}
	waitIdle(t, p)
	c, err := p.get(ctx, Transfer, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.put(c, Transfer)
	tr, err := c.start(ctx, "retr", "/f", "RETR /f", 0, false, true)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(tr); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("RETR: %d bytes, %v", len(got), err)
	}
	l.Reset()
	if err := tr.finish(); err != nil {
		t.Fatal(err)
	}
	if c.ready.epsv == nil || c.ready.data != nil || l.Stats().Data != 0 {
		t.Fatalf("after finish: EPSV answered %v, data connection %v, %d connects; want the answer kept, no connect", c.ready.epsv != nil, c.ready.data, l.Stats().Data)
	}
	c.armData()
	for deadline := time.Now().Add(time.Second); l.Stats().Data == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond) // the link counts the connect it accepted
	}
	if c.ready.epsv != nil || c.ready.data == nil || l.Stats().Data != 1 {
		t.Fatalf("after armData: data connection %v, %d connects; want it open", c.ready.data, l.Stats().Data)
	}
}

// settled waits until every connection of p is idle and the link has
// seen the last legs of the handshakes of the data connections opened
// ahead, which it counts as a round each.
func settled(t *testing.T, p *Pool) {
	t.Helper()
	waitIdle(t, p)
	time.Sleep(50 * time.Millisecond)
}

// smallFilesAt writes n small files /f0... on s, of seeds from seed on,
// and returns their contents.
func smallFilesAt(t *testing.T, s *server, n, seed int) [][]byte {
	var files [][]byte
	for i := range n {
		files = append(files, testutil.RandBytes(uint64(seed+i), 3000+i))
		testutil.WriteFile(t, filepath.Join(s.Root, fmt.Sprintf("f%d", i)), files[i])
	}
	return files
}

// resetAtRest resets l's counters once p is settled and a NOOP came
// back: the count then starts after a reply, not after the last leg of a
// data connection's handshake, which the next command would ride (a
// round of its own no more).
func resetAtRest(t *testing.T, p *Pool, l *link.Link) {
	t.Helper()
	settled(t, p)
	ctx := context.Background()
	c, err := p.get(ctx, Metadata, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.exchange(ctx, "NOOP"); err != nil {
		t.Fatal(err)
	}
	p.put(c, Metadata)
	l.Reset()
}

// A spare logs in with REST 0 and EPSV in the login's flight (pipelined),
// and opens its data connection with the answer: dialled, it is ready in
// 5 round trips (the connect and the last leg of its handshake, which
// the greeting follows; the login with REST 0 and EPSV; the data
// connection's connect and its last leg), in 3 flights. (Before: REST 0
// and EPSV in a flight of their own, 6 in 4 flights.)
func TestSpareLoginOpensDataConnection(t *testing.T) {
	s := startServer(t)
	p, l := linkPool(t, s, link.Options{RTT: 10 * time.Millisecond}, func(c *Config) { c.MaxConns = 2 })
	ctx := context.Background()
	if _, err := p.Times(ctx); err != nil { // logs in the first
		t.Fatal(err)
	}
	resetAtRest(t, p, l)
	p.Warm()
	settled(t, p)
	st := l.Stats()
	t.Logf("a spare dialled: %v", st)
	if st.RoundTrips != 5 || st.Flights != 3 || st.Control != 1 || st.Data != 1 || st.Commands["REST"] != 1 || st.Commands["EPSV"] != 1 {
		t.Fatalf("%v; want a login with REST 0 and EPSV, and its data connection, in 5 round trips and 3 flights", st)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.idle {
		if c.id == 2 && (c.ready.data == nil || !c.restOK || !c.epsvOK) {
			t.Fatalf("the spare: data connection %v, REST proven %v, EPSV proven %v", c.ready.data, c.restOK, c.epsvOK)
		}
	}
}

// The first transfer on a connection asks EPSV alone; once that worked,
// the EPSV of the next transfer goes behind its RETR, not in a flight of
// its own after it: EPSV; the data connection and RETR with EPSV
// behind; the next data connection: 5 round trips in 4 flights, and the
// next read is RETR alone. (Before: the EPSV after the read, alone, 6 in
// 5.)
func TestFirstTransferArmsNext(t *testing.T) {
	s := startServer(t)
	files := smallFilesAt(t, s, 2, 30)
	p, l := linkPool(t, s, link.Options{RTT: 10 * time.Millisecond}, func(c *Config) { c.MaxConns = 1 })
	ctx := context.Background()
	if _, err := p.Times(ctx); err != nil { // logs in
		t.Fatal(err)
	}
	read := func(i int) {
		t.Helper()
		b := make([]byte, len(files[i]))
		if n, err := p.ReadAt(ctx, fmt.Sprintf("/f%d", i), b, 0, int64(len(b))); err != nil || !bytes.Equal(b[:n], files[i]) {
			t.Fatalf("f%d: %d bytes, %v", i, n, err)
		}
	}
	resetAtRest(t, p, l)
	read(0)
	settled(t, p)
	st := l.Stats()
	t.Logf("first read: %v", st)
	if st.RoundTrips != 5 || st.Flights != 4 || st.Commands["EPSV"] != 2 || st.Total() != 3 || st.Data != 2 {
		t.Fatalf("%v; want EPSV, then RETR with EPSV behind, in 5 round trips and 4 flights", st)
	}
	resetAtRest(t, p, l)
	read(1)
	if st := l.Stats(); st.Commands["RETR"] != 1 || st.Data > 1 {
		t.Fatalf("second read: %v; want RETR on the data connection opened ahead", st)
	}
}

// A first transfer refused, with the EPSV behind its RETR: the EPSV's
// reply is read too, and the connection serves the next read.
func TestFirstTransferRefusedInStep(t *testing.T) {
	s := startServer(t)
	files := smallFilesAt(t, s, 1, 40)
	p, _ := linkPool(t, s, link.Options{}, func(c *Config) { c.MaxConns = 1 })
	ctx := context.Background()
	b := make([]byte, len(files[0]))
	if _, err := p.ReadAt(ctx, "/gone", b, 0, int64(len(b))); Classify(err) != ClassNotFound {
		t.Fatalf("read of a missing file: %v", err)
	}
	if n, err := p.ReadAt(ctx, "/f0", b, 0, int64(len(b))); err != nil || !bytes.Equal(b[:n], files[0]) {
		t.Fatalf("f0: %d bytes, %v", n, err)
	}
	if st := p.Stats(); st.Dials != 1 {
		t.Fatalf("%d connections dialled, want 1: the refusal left it in step", st.Dials)
	}
}
