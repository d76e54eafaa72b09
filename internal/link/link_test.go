package link

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// The tests run at 50 ms: long enough that a busy machine's scheduling
// noise stays well below one round trip.
const rtt = 50 * time.Millisecond

// A login costs what it costs over TCP: the greeting at 2 RTT, then a
// round trip each for USER and PASS.
func TestLoginRoundTrips(t *testing.T) {
	srv := startFTPD(t, nil)
	l := startLink(t, srv.Addr().String(), Options{RTT: rtt})
	start := time.Now()
	c := dial(t, l.Addr())
	within(t, "greeting", time.Since(start), 2*rtt)
	c.cmd("USER "+testUser, 331)
	c.cmd("PASS "+testPass, 230)
	within(t, "login", time.Since(start), 4*rtt)
	s := checkStats(t, l, 4, 3)
	if s.Control != 1 || s.Data != 0 || s.Commands["USER"] != 1 || s.Commands["PASS"] != 1 || s.Total() != 2 {
		t.Errorf("stats %+v, want one control connection, USER and PASS", s)
	}
}

// N sequential NOOPs cost N round trips; N pipelined ones cost one.
func TestNOOPRoundTrips(t *testing.T) {
	const n = 20
	srv := startFTPD(t, nil)
	l := startLink(t, srv.Addr().String(), Options{RTT: rtt})
	c := login(t, l.Addr())

	l.Reset()
	start := time.Now()
	for range n {
		c.cmd("NOOP", 200)
	}
	within(t, "20 sequential NOOPs", time.Since(start), n*rtt)
	if s := checkStats(t, l, n, n); s.Commands["NOOP"] != n || s.Total() != n {
		t.Errorf("commands %v, want %d NOOP", s.Commands, n)
	}

	l.Reset()
	start = time.Now()
	c.send(strings.Split(strings.Repeat("NOOP,", n-1)+"NOOP", ",")...)
	for range n {
		c.expect(200)
	}
	within(t, "20 pipelined NOOPs", time.Since(start), rtt)
	if s := checkStats(t, l, 1, 1); s.Commands["NOOP"] != n {
		t.Errorf("commands %v, want %d NOOP", s.Commands, n)
	}
}

// A transfer's first byte comes at 3 RTT in passive mode (see
// passiveFirstByte) and at 2 RTT in active mode (activeFirstByte).
func TestFirstByte(t *testing.T) {
	const size = 64 << 10
	srv := startFTPD(t, map[string]int{"f": size})
	l := startLink(t, srv.Addr().String(), Options{RTT: rtt})
	for _, tc := range []struct {
		verb            string
		rounds, flights int
		read            func(t *testing.T, c *client, verb string, start time.Time) []byte
	}{
		{"EPSV", 3, 3, passiveFirstByte}, // passive, data connect, RETR
		{"PASV", 3, 3, passiveFirstByte},
		{"EPRT", 2, 1, activeFirstByte}, // EPRT+RETR, the server's connect
		{"PORT", 2, 1, activeFirstByte},
	} {
		t.Run(tc.verb, func(t *testing.T) {
			c := login(t, l.Addr())
			l.Reset()
			checkFile(t, tc.read(t, c, tc.verb, time.Now()), size)
			c.expect(226)
			s := checkStats(t, l, tc.rounds, tc.flights)
			if s.Control != 0 || s.Data != 1 || s.Commands[tc.verb] != 1 || s.Commands["RETR"] != 1 || s.Down < size {
				t.Errorf("stats %+v, want one data connection, %s and RETR, %d bytes down", s, tc.verb, size)
			}
		})
	}
}

// passiveFirstByte reads f in passive mode: the passive reply, the data
// connection's handshake, and RETR's way to the server and the data's
// way back (RETR rides the handshake's last leg), 3 RTT to the first
// byte.
func passiveFirstByte(t *testing.T, c *client, verb string, start time.Time) []byte {
	t.Helper()
	addr := c.passive(verb)
	within(t, verb, time.Since(start), rtt)
	d, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c.send("RETR f")
	first := make([]byte, 1)
	if _, err := io.ReadFull(d, first); err != nil {
		t.Fatal(err)
	}
	within(t, "first byte", time.Since(start), 3*rtt)
	rest, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	c.expect(150)
	return append(first, rest...)
}

// retrTimes reads a file through the link and returns when its first and
// last bytes came.
func retrTimes(t *testing.T, c *client, name string, size int) (first, last time.Time) {
	t.Helper()
	d, err := net.Dial("tcp", c.passive("EPSV"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c.send("RETR " + name)
	buf := make([]byte, 64<<10)
	n := 0
	for {
		k, err := d.Read(buf)
		if k > 0 {
			if n == 0 {
				first = time.Now()
			}
			n += k
			last = time.Now()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n != size {
		t.Fatalf("read %d bytes, want %d", n, size)
	}
	c.expect(150)
	c.expect(226)
	return first, last
}

// One stream moves at most a window per round trip: 256 KiB at 50 ms is
// 5 MiB/s.
func TestWindow(t *testing.T) {
	const window, size = 256 << 10, 4 << 20
	srv := startFTPD(t, map[string]int{"big": size})
	l := startLink(t, srv.Addr().String(), Options{RTT: rtt, Window: window})
	c := login(t, l.Addr())
	first, last := retrTimes(t, c, "big", size)
	// The first window comes at once; each further one a round trip later.
	got := float64(size-window) / last.Sub(first).Seconds()
	limit := float64(window) / rtt.Seconds()
	t.Logf("%s through a %d KiB window at %v (window/RTT = %s)", fmtRate(got), window>>10, rtt, fmtRate(limit))
	if got > limit*1.02 || got < limit/2 {
		t.Errorf("stream moved %s, want at most and near %s", fmtRate(got), fmtRate(limit))
	}
}

// The rate cap holds each way.
func TestRate(t *testing.T) {
	const rate, size = 1 << 20, 1 << 20
	srv := startFTPD(t, map[string]int{"f": size})
	l := startLink(t, srv.Addr().String(), Options{RTT: 10 * time.Millisecond, Rate: rate})
	c := login(t, l.Addr())
	check := func(dir string, n int, d time.Duration) {
		t.Helper()
		got := float64(n) / d.Seconds()
		t.Logf("%s: %s with a cap of %s", dir, fmtRate(got), fmtRate(rate))
		if got > rate*1.02 || got < rate/2 {
			t.Errorf("%s moved %s, want at most and near %s", dir, fmtRate(got), fmtRate(rate))
		}
	}
	first, last := retrTimes(t, c, "f", size)
	// Less the first burst of 20 ms, which the bucket holds when idle.
	check("download", size-rate/50, last.Sub(first))

	d, err := net.Dial("tcp", c.passive("EPSV"))
	if err != nil {
		t.Fatal(err)
	}
	c.cmd("STOR up", 150)
	start := time.Now()
	if _, err := d.Write(bytes.Repeat([]byte("x"), size)); err != nil {
		t.Fatal(err)
	}
	d.Close()
	c.expect(226)
	check("upload", size-rate/50, time.Since(start))
}

// Close ends promptly with connections in every state, and the clients
// see their connections end.
func TestClose(t *testing.T) {
	const size = 8 << 20
	srv := startFTPD(t, map[string]int{"big": size})
	l, err := Start(srv.Addr().String(), Options{RTT: rtt, Window: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	idle := login(t, l.Addr())
	busy := login(t, l.Addr())
	d, err := net.Dial("tcp", busy.passive("EPSV"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	busy.send("RETR big")
	if _, err := io.ReadFull(d, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	pending := idle.passive("EPSV") // a passive listener no one used
	// And a connection still in its handshake.
	handshaking, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer handshaking.Close()

	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v", took)
	}
	for name, conn := range map[string]net.Conn{"idle control": idle.conn, "data": d, "handshaking": handshaking} {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, conn); err != nil && !isReset(err) {
			t.Errorf("%s connection: %v, want its end", name, err)
		}
	}
	for _, addr := range []string{l.Addr(), pending} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts after Close", addr)
		}
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func isReset(err error) bool { return strings.Contains(err.Error(), "connection reset") }

// The link listens on ::1 when asked, and data connections follow.
func TestIPv6(t *testing.T) {
	probe, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	probe.Close()
	srv := startFTPD(t, map[string]int{"f": 1000})
	l := startLink(t, srv.Addr().String(), Options{RTT: 10 * time.Millisecond, Listen: "[::1]:0"})
	c := login(t, l.Addr())
	addr := c.passive("EPSV")
	if !strings.HasPrefix(addr, "[::1]:") {
		t.Fatalf("EPSV announced %s, want ::1", addr)
	}
	first, last := retrTimes(t, c, "f", 1000)
	if first.IsZero() || last.Before(first) {
		t.Fatal("no data")
	}
	// Active: the client's port on ::1, the server's on 127.0.0.1.
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c.send(fmt.Sprintf("EPRT |2|::1|%d|", ln.Addr().(*net.TCPAddr).Port), "RETR f")
	c.expect(200)
	c.expect(150)
	_, b := readActive(t, ln)
	checkFile(t, b, 1000)
	c.expect(226)
}
