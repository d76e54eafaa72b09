package link

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// readPassive reads one file over a passive data connection to addr and
// returns what it carried and when its end (EOF) came.
func readPassive(t *testing.T, addr string, send func()) ([]byte, time.Time) {
	t.Helper()
	d, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	send()
	d.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	return b, time.Now()
}

// Files read one after another in passive mode, each RETR sent with the
// EPSV of the next: a lingering server replies to RETR and reads that
// EPSV R after the data's end (the ACK of its FIN), so a file costs 3
// round trips behind another (2 without): 229 with the 226, connect,
// RETR and data, the FIN's ACK. The first adds the first EPSV. A file
// beyond the window has the server's 226 read before the link read up
// to its FIN: it waits all the same, and counts the same.
func TestLingerPassive(t *testing.T) {
	const n = 3
	for _, tc := range []struct {
		name    string
		linger  bool
		size    int
		window  int
		perFile int  // round trips
		timed   bool // not beyond the window: the client's reads lag
	}{
		{"linger", true, 1000, 0, 3, true},
		{"no linger", false, 1000, 0, 2, true},
		{"linger, file beyond the window", true, 1 << 20, 64 << 10, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startFTPD(t, numbered(n, tc.size))
			l := startLink(t, srv.Addr().String(), Options{RTT: rtt, Linger: tc.linger, Window: tc.window})
			c := login(t, l.Addr())
			l.Reset()
			start := time.Now()
			readChain(t, c, n, tc.size, func(i int, end, replied time.Time) {
				if !tc.timed {
					return
				}
				// The first file's end at 3 RTT, each next one perFile later.
				fileEnd := time.Duration(3+tc.perFile*i) * rtt
				within(t, fmt.Sprintf("file %d's end", i), end.Sub(start), fileEnd)
				if tc.linger {
					fileEnd += rtt
				}
				within(t, fmt.Sprintf("file %d's 226", i), replied.Sub(start), fileEnd)
			})
			checkStats(t, l, tc.perFile*n+1, 2*n+1)
		})
	}
}

// readChain reads f0, f1, ... f(n-1) in passive mode, each RETR sent
// with the EPSV of the next, and calls each with a file's number, when
// its data ended and when its 226 came.
func readChain(t *testing.T, c *client, n, size int, each func(i int, end, replied time.Time)) {
	t.Helper()
	addr := c.passive("EPSV")
	for i := range n {
		lines := []string{fmt.Sprintf("RETR f%d", i)}
		if i < n-1 {
			lines = append(lines, "EPSV")
		}
		b, end := readPassive(t, addr, func() { c.send(lines...) })
		checkFile(t, b, size)
		c.expect(150)
		c.expect(226)
		each(i, end, time.Now())
		if i < n-1 {
			addr = c.passive229()
		}
	}
}

// passive229 reads the 229 of an EPSV sent before and returns the
// address it announces.
func (c *client) passive229() string {
	c.t.Helper()
	text := c.expect(229)
	_, _, port, ok := findEPSV([]byte(text), 4)
	if !ok {
		c.t.Fatalf("no port in %q", text)
	}
	host, _, _ := net.SplitHostPort(c.conn.RemoteAddr().String())
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// N small files asked for in one burst of EPRT and RETR from a
// lingering server: each connect returns R after it started, the FIN
// then takes R to be acknowledged, and only then does the server reply
// and read the next EPRT and RETR: 2 round trips a file, and the last
// 226 one more, 2N+1 (N+1 without linger, TestActivePipelined).
func TestLingerActive(t *testing.T) {
	const n, size = 4, 1000
	srv := startFTPD(t, numbered(n, size))
	l := startLink(t, srv.Addr().String(), Options{RTT: rtt, Linger: true})
	if s := lingerBurst(t, l, login(t, l.Addr()), n, size); s.Data != n || s.Commands["RETR"] != n {
		t.Errorf("stats %+v, want %d data connections and RETR", s, n)
	}
}

// lingerBurst reads f0, f1, ... f(n-1) from a lingering server in active
// mode, in one burst, and checks the timing and count of the model.
func lingerBurst(t *testing.T, l *Link, c *client, n, size int) Stats {
	t.Helper()
	lns, lines := activeBurst(t, n)
	l.Reset()
	start := time.Now()
	c.send(lines...)
	for i, ln := range lns {
		first, b := readActive(t, ln)
		checkFile(t, b, size)
		within(t, fmt.Sprintf("file %d's first byte", i), first.Sub(start), time.Duration(2*(i+1))*rtt)
	}
	c.expectBurst(n)
	within(t, "the last 226", time.Since(start), time.Duration(2*n+1)*rtt)
	return checkStats(t, l, 2*n+1, 1)
}

// A 226 follows the data connection whose FIN the link's kernel has,
// though the link did not read up to it, rather than a newer one still
// open; else the newest one the server opened, rather than one only
// announced (the next PORT's, say); else that one.
func TestLingerClaim(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pair := func() (net.Conn, net.Conn) {
		a, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		b, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}
	closed, server := pair()
	if _, err := server.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	server.Close() // its FIN waits behind 1000 bytes unread
	open, _ := pair()
	for deadline := time.Now().Add(5 * time.Second); !finArrived(closed); {
		if time.Now().After(deadline) {
			t.Fatal("the FIN never shows")
		}
		time.Sleep(time.Millisecond)
	}
	if finArrived(open) {
		t.Fatal("FIN seen on an open connection")
	}

	r := &relay{l: &Link{opt: Options{Linger: true}}, replies: &replyRewriter{ended: "200"}}
	older, newer, pending := r._followEnd(), r._followEnd(), r._followEnd()
	older.conn, newer.conn = closed, open
	if r._lingerClaim(); r.linger.claim != nil {
		t.Fatal("200 follows a data connection")
	}
	r.replies.ended = "226"
	for i, want := range []*dataEnd{older, newer, pending} {
		r._lingerClaim()
		if r.linger.claim != want {
			t.Fatalf("226 number %d follows the wrong data connection", i+1)
		}
		r.linger.claim = nil
	}
}

// A 226 with no transfer (ABOR) while a passive data connection is
// announced and never opened waits claimGrace for it, not forever.
func TestLingerUnopened(t *testing.T) {
	f := startFake(t)
	l := startLink(t, f.ln.Addr().String(), Options{RTT: rtt, Linger: true})
	c := dial(t, l.Addr())
	c.send("BOTH")
	for _, code := range []int{200, 227, 229} {
		c.expect(code)
	}
	start := time.Now()
	c.cmd("ABOR", 226)
	within(t, "226 to ABOR", time.Since(start), rtt/2+claimGrace) // read at h, then held
}
