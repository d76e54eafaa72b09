package conn

// The data connection a commit opens ahead for the next transfer: what
// happens when the server refuses its EPSV, when its port cannot be
// reached, and when it is too old to trust.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// upload stores data at tmp and renames it to to, checking the server.
func upload(t *testing.T, p *Pool, s *server, data []byte, tmp, to string) Placed {
	t.Helper()
	ctx := context.Background()
	u, err := p.StartUpload(ctx, tmp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(ctx, data); err != nil {
		t.Fatal(err)
	}
	done, err := u.Commit(ctx, Placement{Size: int64(len(data)), To: to})
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(s.Root, to)); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%s on the server: %d bytes, %v", to, len(got), err)
	}
	return done
}

// idleConn is the pool's one connection, once it is back.
func idleConn(t *testing.T, p *Pool) *Conn {
	t.Helper()
	waitIdle(t, p)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) != 1 {
		t.Fatalf("%d idle connections, want 1", len(p.idle))
	}
	return p.idle[0]
}

// TestCommitArmRefused: a server that refuses the EPSV sent with the
// end of an upload: the upload is committed all the same, the connection
// stays in step and is used again, and opens nothing ahead from then on.
func TestCommitArmRefused(t *testing.T) {
	s := startServer(t)
	p, l := throughLink(t, s)
	ctx := context.Background()
	upload(t, p, s, []byte("warm"), "/warm.part", "warm") // proves EPSV
	u, err := p.StartUpload(ctx, "/tmp.part")
	if err != nil {
		t.Fatal(err)
	}
	// EPSV+STOR have been answered: only the EPSV ahead meets the fault.
	s.SetFaults(ftpd.Faults{RefuseVerb: "EPSV", RefuseCode: 425})
	data := testutil.RandBytes(11, 30<<10)
	if _, err := u.Write(ctx, data); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Commit(ctx, Placement{Size: int64(len(data)), To: "/f"}); err != nil {
		t.Fatalf("Commit with its EPSV ahead refused: %v", err)
	}
	s.SetFaults(ftpd.Faults{})
	c := idleConn(t, p)
	if c.ready.data != nil || !c.ready.refused || c.broken {
		t.Fatalf("after a refused EPSV ahead: ready %v, refused %v, broken %v", c.ready.data, c.ready.refused, c.broken)
	}
	l.Reset()
	data = testutil.RandBytes(12, 30<<10)
	upload(t, p, s, data, "/tmp.part", "f")
	if st := l.Stats(); st.Commands["EPSV"] != 1 || st.RoundTrips != 4 {
		t.Fatalf("upload after the refusal: %v; want its own EPSV only, 4 round trips", st)
	}
	if st := p.Stats(); st.Dials != 1 {
		t.Fatalf("%d connections dialled, want 1", st.Dials)
	}
}

// TestCommitArmUnreachable: a 229 whose port nobody listens on leaves the
// connection usable, with nothing opened ahead and no further attempt.
func TestCommitArmUnreachable(t *testing.T) {
	s := startServer(t)
	p := newPool(t, s)
	upload(t, p, s, []byte("warm"), "/warm.part", "warm")
	c := idleConn(t, p)
	c.dropReady()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // a port that refuses connections
	var a ahead
	a.start(c, reply{code: 229, msg: fmt.Sprintf("Entering Extended Passive Mode (|||%d|)", port)})
	a.keep(c, <-a.ch)
	if c.ready.data != nil || !c.ready.refused || c.broken || c.canArm() {
		t.Fatalf("after an unreachable port: ready %v, refused %v, broken %v", c.ready.data, c.ready.refused, c.broken)
	}
	upload(t, p, s, []byte("after"), "/tmp.part", "f")
}

// TestCommitArmAged: a data connection opened ahead that waited too long
// is not used: the next upload opens its own, and is committed.
func TestCommitArmAged(t *testing.T) {
	s := startServer(t)
	p, l := throughLink(t, s)
	upload(t, p, s, []byte("warm"), "/warm.part", "warm")
	upload(t, p, s, []byte("armed"), "/tmp.part", "f") // opens one ahead
	c := idleConn(t, p)
	if c.ready.data == nil {
		t.Fatal("no data connection opened ahead by the commit")
	}
	c.ready.at = c.ready.at.Add(-time.Hour)
	l.Reset()
	upload(t, p, s, testutil.RandBytes(13, 10<<10), "/tmp.part", "f")
	if st := l.Stats(); st.Commands["EPSV"] != 2 || st.Data != 2 || st.RoundTrips > 4 {
		t.Fatalf("upload after the one ahead aged: %v; want EPSV+STOR and one EPSV ahead, two data connections, at most 4 round trips", st)
	}
}

// TestCommitAheadDropped: a server that dropped the port of a data
// connection opened ahead refuses the STOR on it (425): the upload fails
// without storing anything, and the connection opens none ahead from
// then on; the next upload on it has its own EPSV and goes through.
func TestCommitAheadDropped(t *testing.T) {
	s := startServer(t)
	p, l := throughLink(t, s)
	ctx := context.Background()
	upload(t, p, s, []byte("warm"), "/warm.part", "warm")
	upload(t, p, s, []byte("armed"), "/tmp.part", "f") // opens one ahead
	if c := idleConn(t, p); c.ready.data == nil {
		t.Fatal("no data connection opened ahead by the commit")
	}
	s.SetFaults(ftpd.Faults{RefuseVerb: "STOR", RefuseCode: 425})
	u, err := p.StartUpload(ctx, "/tmp.part")
	if err != nil {
		t.Fatal(err)
	}
	u.Write(ctx, []byte("lost"))
	if _, err := u.Commit(ctx, Placement{Size: 4, To: "/f"}); Classify(err) != ClassUnavailable {
		t.Fatalf("Commit of a STOR refused with 425: %v, want the 425", err)
	}
	s.SetFaults(ftpd.Faults{})
	if c := idleConn(t, p); !c.ready.refused || c.ready.data != nil || c.broken {
		t.Fatalf("after a 425 on the data connection opened ahead: refused %v, ready %v, broken %v", c.ready.refused, c.ready.data, c.broken)
	}
	l.Reset()
	upload(t, p, s, []byte("again"), "/tmp.part", "f")
	if st := l.Stats(); st.Commands["EPSV"] != 1 || st.Data != 1 {
		t.Fatalf("upload after the 425: %v; want EPSV+STOR and nothing opened ahead", st)
	}
}

// A server known to answer in order that, this once, answers SIZE (550:
// the upload's name is not there yet) and the EPSV behind it during the
// transfer: the 229 after the 550 tells that both came early, and the
// final reply, still to come, decides. The upload succeeds.
func TestCommitEarlyRefusalThenEPSV(t *testing.T) {
	fake := startInTransferServer(t, func(int) string { return "550 No such file" })
	fake.epsvEarly = true
	p := fake.pool(t)
	p.answersInOrder.Store(true)
	ctx := context.Background()
	data := testutil.RandBytes(5, 100<<10)
	// The first upload proves EPSV on the connection, the second sends
	// it with SIZE at its end.
	for i := range 2 {
		if err := commitOnce(ctx, p, data); err != nil {
			t.Fatalf("upload %d: %v", i+1, err)
		}
	}
}
