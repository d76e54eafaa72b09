package link

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// activePort listens for an active data connection on 127.0.0.1 and
// returns the listener and the PORT or EPRT line that announces it.
func activePort(t *testing.T, verb string) (*net.TCPListener, string) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := ln.Addr().(*net.TCPAddr).Port
	if verb == "PORT" {
		return ln, fmt.Sprintf("PORT 127,0,0,1,%d,%d", p>>8, p&0xff)
	}
	return ln, fmt.Sprintf("EPRT |1|127.0.0.1|%d|", p)
}

// readActive accepts the data connection the link opens to ln, reads it
// to its end and returns when its first byte came and what it carried.
func readActive(t *testing.T, ln *net.TCPListener) (time.Time, []byte) {
	t.Helper()
	ln.SetDeadline(time.Now().Add(10 * time.Second))
	d, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.SetReadDeadline(time.Now().Add(10 * time.Second))
	first := make([]byte, 1)
	if _, err := io.ReadFull(d, first); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	rest, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	return at, append(first, rest...)
}

// checkFile fails unless b is the content startFTPD gives a file of size.
func checkFile(t *testing.T, b []byte, size int) {
	t.Helper()
	if len(b) != size {
		t.Fatalf("read %d bytes, want %d", len(b), size)
	}
	for i, c := range b {
		if c != byte(i%251) {
			t.Fatalf("byte %d is %d, want %d", i, c, i%251)
		}
	}
}

// numbered names n files f0, f1, ... of size bytes, for startFTPD.
func numbered(n, size int) map[string]int {
	files := map[string]int{}
	for i := range n {
		files[fmt.Sprintf("f%d", i)] = size
	}
	return files
}

// activeBurst prepares reading f0, f1, ... f(n-1) in active mode in one
// burst: the client's listeners, in order, and the EPRT and RETR lines.
func activeBurst(t *testing.T, n int) ([]*net.TCPListener, []string) {
	t.Helper()
	var lns []*net.TCPListener
	var lines []string
	for i := range n {
		ln, line := activePort(t, "EPRT")
		lns = append(lns, ln)
		lines = append(lines, line, fmt.Sprintf("RETR f%d", i))
	}
	return lns, lines
}

// expectBurst reads the replies to n EPRT and RETR sent in one burst.
func (c *client) expectBurst(n int) {
	c.t.Helper()
	for range n {
		c.expect(200)
		c.expect(150)
		c.expect(226)
	}
}

// activeFirstByte reads f in active mode: PORT or EPRT and RETR leave
// together, reach the server at 0.5 RTT, the server's connect returns R
// later and its 150 and data reach the client at 2 RTT.
func activeFirstByte(t *testing.T, c *client, verb string, start time.Time) []byte {
	t.Helper()
	ln, line := activePort(t, verb)
	c.send(line, "RETR f")
	c.expect(200)
	within(t, verb, time.Since(start), rtt)
	c.expect(150)
	within(t, "150", time.Since(start), 2*rtt) // sent when the connect returned
	first, b := readActive(t, ln)
	within(t, "first byte", first.Sub(start), 2*rtt)
	return b
}

// N small files asked for in one burst, EPRT and RETR each, take N+1
// round trips: the server, blocked in each connect for a round trip,
// gets the next EPRT and RETR only when the connect returned.
func TestActivePipelined(t *testing.T) {
	const n, size = 5, 1000
	srv := startFTPD(t, numbered(n, size))
	l := startLink(t, srv.Addr().String(), Options{RTT: rtt})
	c := login(t, l.Addr())
	lns, lines := activeBurst(t, n)
	l.Reset()
	start := time.Now()
	c.send(lines...)
	var last time.Time
	for _, ln := range lns {
		var b []byte
		last, b = readActive(t, ln)
		checkFile(t, b, size)
	}
	within(t, "last file's first byte", last.Sub(start), (n+1)*rtt)
	c.expectBurst(n)
	if s := checkStats(t, l, n+1, 1); s.Data != n || s.Commands["EPRT"] != n || s.Commands["RETR"] != n {
		t.Errorf("stats %+v, want %d data connections, EPRT and RETR", s, n)
	}
}

// A transfer command the server refuses, without connecting, holds
// nothing back: the next file of the burst comes at 2 RTT.
func TestActiveRefusedTransfer(t *testing.T) {
	const size = 1000
	srv := startFTPD(t, map[string]int{"f": size})
	l := startLink(t, srv.Addr().String(), Options{RTT: rtt})
	c := login(t, l.Addr())
	_, lineA := activePort(t, "EPRT")
	ln, lineB := activePort(t, "EPRT")
	l.Reset()
	start := time.Now()
	c.send(lineA, "RETR missing", lineB, "RETR f")
	first, b := readActive(t, ln)
	within(t, "first byte after a refused RETR", first.Sub(start), 2*rtt)
	checkFile(t, b, size)
	for _, code := range []int{200, 550, 200, 150, 226} {
		c.expect(code)
	}
	checkStats(t, l, 2, 1)
}

// The server gets the link's listener, in the form of the client's
// command; the link relays one connection to it, from the server's host
// only, to the port the client announced.
func TestActiveRewrite(t *testing.T) {
	f := startFake(t)
	l := startLink(t, f.ln.Addr().String(), Options{RTT: 10 * time.Millisecond})
	c := dial(t, l.Addr())
	for _, verb := range []string{"PORT", "EPRT"} {
		t.Run(verb, func(t *testing.T) {
			ln, line := activePort(t, verb)
			c.cmd(line, 200)
			seen := f.commands()
			got := seen[len(seen)-1]
			var port int
			var ok bool
			if verb == "PORT" {
				_, _, port, ok = findPASV([]byte(got), 4)
				ok = ok && strings.HasPrefix(got, "PORT 127,0,0,1,")
			} else {
				port, ok = eprtPort([]byte(strings.TrimPrefix(got, "EPRT ")))
				ok = ok && strings.HasPrefix(got, "EPRT |1|127.0.0.1|")
			}
			if !ok || port == ln.Addr().(*net.TCPAddr).Port {
				t.Fatalf("server got %q for %q, want the link's listener", got, line)
			}
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

			// From another host: not relayed.
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: time.Second}
			stranger, err := d.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("dial from 127.0.0.2: %v", err)
			}
			defer stranger.Close()
			stranger.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := stranger.Read(make([]byte, 1)); n != 0 || err == nil || strings.Contains(err.Error(), "timeout") {
				t.Errorf("stranger's connection: %d bytes, %v, want it closed", n, err)
			}
			ln.SetDeadline(time.Now().Add(200 * time.Millisecond))
			if nc, err := ln.Accept(); err == nil {
				nc.Close()
				t.Fatal("a stranger's connection was relayed to the client")
			}

			// From the server's host: relayed, once.
			server, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(server, "data")
			server.(*net.TCPConn).CloseWrite()
			_, b := readActive(t, ln)
			server.Close()
			if string(b) != "data" {
				t.Errorf("client got %q, want \"data\"", b)
			}
			if again, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				again.Close()
				t.Error("the listener accepts a second connection")
			}
		})
	}
	if s := l.Stats(); s.Data != 2 || s.Commands["PORT"] != 1 || s.Commands["EPRT"] != 1 {
		t.Errorf("stats %+v, want 2 data connections, PORT and EPRT", s)
	}
}

// Close ends promptly with an active listener pending and a hold in
// place (a server that never answers RETR), and the listener with it.
func TestActiveCloseWithHold(t *testing.T) {
	f := startFake(t)
	l, err := Start(f.ln.Addr().String(), Options{RTT: rtt})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, l.Addr())
	_, line := activePort(t, "EPRT")
	c.send(line, "RETR silent", "NOOP")
	c.expect(200)
	time.Sleep(2 * rtt) // NOOP waits behind RETR by now
	seen := f.commands()
	if got := strings.Join(seen, ","); !strings.HasSuffix(got, ",RETR silent") {
		t.Fatalf("server saw %s, want EPRT then RETR and no NOOP yet", got)
	}
	port, _ := eprtPort([]byte(strings.TrimPrefix(seen[len(seen)-2], "EPRT ")))

	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v", took)
	}
	if d, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second); err == nil {
		d.Close()
		t.Error("the active listener accepts after Close")
	}
}

// An upload over an active data connection: the client writes once the
// link's connection reached it, and its end reaches the server. The
// connection comes from the address the client's control connection
// reached (127.0.0.3), as clients check.
func TestActiveUpload(t *testing.T) {
	const size = 300 << 10
	srv := startFTPD(t, nil)
	l := startLink(t, srv.Addr().String(), Options{RTT: 10 * time.Millisecond, Window: 64 << 10, Listen: "127.0.0.3:0"})
	c := login(t, l.Addr())
	ln, line := activePort(t, "EPRT")
	c.send(line, "STOR up")
	c.expect(200)
	c.expect(150)
	ln.SetDeadline(time.Now().Add(10 * time.Second))
	d, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if from := d.RemoteAddr().(*net.TCPAddr).IP.String(); from != "127.0.0.3" {
		t.Errorf("data connection from %s, want the link's 127.0.0.3", from)
	}
	if _, err := d.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	d.Close()
	c.expect(226)
	if got := c.cmd("SIZE up", 213); got != "213 "+strconv.Itoa(size) {
		t.Errorf("SIZE says %q, want %d bytes", got, size)
	}
	if s := l.Stats(); s.Up < size || s.Data != 1 {
		t.Errorf("stats %+v, want %d bytes up over one data connection", s, size)
	}
}

// A hold ends with the control connection: what the client sent before
// its end reaches the server, though the server never connected.
func TestActiveHoldEndsWithControl(t *testing.T) {
	f := startFake(t)
	l := startLink(t, f.ln.Addr().String(), Options{RTT: rtt})
	c := dial(t, l.Addr())
	_, line := activePort(t, "EPRT")
	c.send(line, "RETR silent", "NOOP")
	c.expect(200)
	c.conn.(*net.TCPConn).CloseWrite()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.HasSuffix(strings.Join(f.commands(), ","), "RETR silent,NOOP") {
		if time.Now().After(deadline) {
			t.Fatalf("server saw %q, want NOOP after the client's end", f.commands())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A server that answers 1xx to an active transfer and then fails without
// connecting holds the control connection back for claimGrace at most.
func TestActiveClaimWithoutConnect(t *testing.T) {
	f := startFake(t)
	l := startLink(t, f.ln.Addr().String(), Options{RTT: rtt})
	c := dial(t, l.Addr())
	_, line := activePort(t, "EPRT")
	start := time.Now()
	c.send(line, "RETR claim", "NOOP")
	for _, code := range []int{200, 150, 425, 200} {
		c.expect(code)
	}
	within(t, "NOOP behind a transfer that never connected", time.Since(start), rtt+claimGrace)
}
