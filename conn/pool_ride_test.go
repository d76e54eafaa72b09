package conn

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/link"
	"ftpfs/internal/testutil"
)

// rideReady is a pool of one connection to s through a link of 50 ms,
// /f0 read on it (a login, EPSV proven, the next data connection open),
// and the three files /f0.. it wrote.
func rideReady(t *testing.T, s *server) (*Pool, *link.Link, [][]byte) {
	t.Helper()
	files := smallFilesAt(t, s, 3, 20)
	p, l := linkPool(t, s, link.Options{RTT: 50 * time.Millisecond}, func(c *Config) { c.MaxConns = 1 })
	b := make([]byte, len(files[0]))
	if _, err := p.ReadAt(context.Background(), "/f0", b, 0, int64(len(b))); err != nil {
		t.Fatal(err)
	}
	return p, l, files
}

// rideDuringRead reads /f1 on p's one connection and, while it is under
// way, starts ask with a Riding context, so that the read's connection
// lends itself to ask as it opens its next data connection. It returns
// once both are done, with ask's error.
func rideDuringRead(t *testing.T, p *Pool, files [][]byte, ask func(ctx context.Context) error) error {
	t.Helper()
	read := make(chan error, 1)
	go func() {
		b := make([]byte, len(files[1]))
		n, err := p.ReadAt(context.Background(), "/f1", b, 0, int64(len(b)))
		if err == nil && !bytes.Equal(b[:n], files[1]) {
			err = fmt.Errorf("f1: %d bytes, not its own", n)
		}
		read <- err
	}()
	waitPool(t, p, func() bool { return p.transfers > 0 })
	asked := make(chan error, 1)
	go func() { asked <- ask(Riding(context.Background())) }()
	waitPool(t, p, func() bool { return len(p.riders) > 0 })
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	return <-asked
}

// waitPool waits until cond, called with p.mu held, holds.
func waitPool(t *testing.T, p *Pool, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Microsecond) {
		p.mu.Lock()
		ok := cond()
		p.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the pool never got there")
		}
	}
}

// A metadata caller working ahead (Riding) gets the round trip a
// connection has to spare while its next data connection connects: its
// MDTMs travel beside the connect, on the connection that read, and the
// next read uses the data connection opened meanwhile. The read (1), the
// MDTMs beside the connect (1), the next read (1) and its connect (1): 4
// round trips, no login, an EPSV behind each RETR and none alone. (The
// MDTMs on their own: 5.)
func TestRideWhileDataConnects(t *testing.T) {
	p, l, files := rideReady(t, startServer(t, func(c *ftpd.Config) { c.Profile = ftpd.ProfileVsftpd }))
	resetAtRest(t, p, l)
	ctx := context.Background()
	var times []time.Time
	err := rideDuringRead(t, p, files, func(ctx context.Context) (err error) {
		times, err = p.ModTimes(ctx, []string{"/f0", "/f2"})
		return err
	})
	if err != nil || len(times) != 2 || times[0].IsZero() || times[1].IsZero() {
		t.Fatalf("MDTM on a ride: %v, %v", times, err)
	}
	b := make([]byte, len(files[2]))
	if n, err := p.ReadAt(ctx, "/f2", b, 0, int64(len(b))); err != nil || !bytes.Equal(b[:n], files[2]) {
		t.Fatalf("f2 after the ride: %d bytes, %v", n, err)
	}
	settled(t, p)
	st := l.Stats()
	t.Logf("a read, a ride, a read: %v", st)
	if st.RoundTrips != 4 || st.Commands["MDTM"] != 2 || st.Commands["RETR"] != 2 || st.Commands["EPSV"] != 2 || st.Control != 0 {
		t.Fatalf("%v; want 2 RETR, 2 EPSV and 2 MDTM in 4 round trips, no login", st)
	}
	if ps := p.Stats(); ps.Dials != 1 || ps.Lent != 1 {
		t.Fatalf("%d connections dialled, %d lent; want 1, 1", ps.Dials, ps.Lent)
	}
}

// A rider that asks for a data port of its own (a listing over a data
// connection, MLSD) replaces the port the lender was connecting to: that
// data connection is dropped, and the next read uses the rider's next
// one, whole and on the same connection.
func TestRideWithItsOwnPort(t *testing.T) {
	p, _, files := rideReady(t, startServer(t))
	settled(t, p)
	ctx := context.Background()
	var names int
	err := rideDuringRead(t, p, files, func(ctx context.Context) error {
		es, err := p.ReadDir(ctx, "/")
		names = len(es)
		return err
	})
	if err != nil || names != 3 {
		t.Fatalf("listing on a ride: %d entries, %v", names, err)
	}
	for i := range 2 {
		b := make([]byte, len(files[2]))
		if n, err := p.ReadAt(ctx, "/f2", b, 0, int64(len(b))); err != nil || !bytes.Equal(b[:n], files[2]) {
			t.Fatalf("f2 after the ride (%d): %d bytes, %v", i, n, err)
		}
	}
	if ps := p.Stats(); ps.Dials != 1 || ps.Lent != 1 {
		t.Fatalf("%d connections dialled, %d lent; want 1, 1", ps.Dials, ps.Lent)
	}
}

// A stream gives no ride (it holds its connection to its end): a
// metadata caller working ahead beside one, with no short read under way
// or just ended, takes a connection at once instead of waiting.
func TestNoRideBesideAStream(t *testing.T) {
	s := startServer(t)
	big := testutil.RandBytes(7, 8<<20)
	testutil.WriteFile(t, filepath.Join(s.Root, "big"), big)
	p, _ := linkPool(t, s, link.Options{RTT: 20 * time.Millisecond, Rate: 1 << 20}, func(c *Config) { c.MaxConns = 2 })
	ctx := context.Background()
	// An exchange timed: the pool knows the round trip, which riders
	// wait in.
	if _, err := p.ModTime(ctx, "/big"); err != nil || p.RTT() == 0 {
		t.Fatalf("no round trip timed: %v", err)
	}
	st, err := p.OpenStream(ctx, "/big", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := make([]byte, 4096)
	if n, err := st.Read(ctx, b); err != nil || !bytes.Equal(b[:n], big[:n]) {
		t.Fatalf("stream: %v", err)
	}
	if _, err := p.ModTime(Riding(ctx), "/big"); err != nil {
		t.Fatal(err)
	}
	if ps := p.Stats(); ps.RideWaits != 0 {
		t.Fatalf("%d riders waited beside a stream, want 0", ps.RideWaits)
	}
}
