package link

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer answers a script over one control connection, with replies
// real servers seldom send together, and serves the data connections it
// announces: each writes its name and closes.
type fakeServer struct {
	t  *testing.T
	ln net.Listener

	mu   sync.Mutex
	seen []string // command lines received
}

func startFake(t *testing.T) *fakeServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{t: t, ln: ln}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		f.serve(c)
	}()
	return f
}

// data listens for one data connection that sends name, and returns its
// port as PASV's "p1,p2" and as a number.
func (f *fakeServer) data(name string) (string, int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Error(err)
		return "0,0", 0
	}
	f.t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.WriteString(c, name)
			c.Close()
		}
	}()
	p := ln.Addr().(*net.TCPAddr).Port
	return fmt.Sprintf("%d,%d", p>>8, p&0xff), p
}

func (f *fakeServer) serve(c net.Conn) {
	io.WriteString(c, "220 fake\r\n")
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		f.mu.Lock()
		f.seen = append(f.seen, line)
		f.mu.Unlock()
		var out string
		switch line {
		case "BOTH":
			pasv, _ := f.data("one")
			_, epsv := f.data("two")
			out = fmt.Sprintf("200 ok\r\n227 Entering Passive Mode (10,1,2,3,%s).\r\n229 Entering Extended Passive Mode (|||%d|)\r\n", pasv, epsv)
		case "STAT":
			out = "211-status\r\n227 Entering Passive Mode (10,1,2,3,4,1)\r\n (|||1025|)\r\n211 End\r\n"
		case "MULTI":
			pasv, _ := f.data("three")
			out = fmt.Sprintf("227-Passive,\r\n227 over two lines (10,1,2,3,%s)\r\n", pasv)
		case "RETR silent":
			continue // as a server still connecting
		case "ABOR":
			out = "226 nothing to abort\r\n"
		case "RETR claim":
			out = "150 opening, not connecting\r\n425 no data connection\r\n"
		case "QUIT":
			io.WriteString(c, "221 bye\r\n")
			return
		default:
			out = "200 ok\r\n"
		}
		io.WriteString(c, out)
	}
}

func (f *fakeServer) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

// fetch connects to addr and returns what the data connection carried.
func fetch(t *testing.T, addr string) string {
	t.Helper()
	d, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("data connection to %s: %v", addr, err)
	}
	defer d.Close()
	d.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Passive replies sent together, or over several lines, are rewritten to
// listeners of the link that lead to the server's ports, whatever host
// the server announced; other replies pass untouched.
func TestPassiveRewrite(t *testing.T) {
	f := startFake(t)
	l := startLink(t, f.ln.Addr().String(), Options{RTT: 10 * time.Millisecond})
	c := dial(t, l.Addr())

	c.send("BOTH")
	c.expect(200)
	pasv := c.expect(227)
	if !strings.Contains(pasv, "(127,0,0,1,") {
		t.Errorf("227 not rewritten to the link: %q", pasv)
	}
	_, _, pasvPort, _ := findPASV([]byte(pasv), 4)
	epsv := c.expect(229)
	_, _, epsvPort, _ := findEPSV([]byte(epsv), 4)
	host, _, _ := net.SplitHostPort(l.Addr())
	// The second passive reply abandoned the first listener, as a
	// server does.
	if d, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", host, pasvPort), time.Second); err == nil {
		d.Close()
		t.Errorf("the listener of the first of two passive replies still accepts")
	}
	if got := fetch(t, fmt.Sprintf("%s:%d", host, epsvPort)); got != "two" {
		t.Errorf("EPSV's data connection carried %q, want \"two\"", got)
	}

	want := "211-status\n227 Entering Passive Mode (10,1,2,3,4,1)\n (|||1025|)\n211 End"
	if got := c.cmd("STAT", 211); got != want {
		t.Errorf("STAT reply changed:\n got %q\nwant %q", got, want)
	}

	multi := c.cmd("MULTI", 227)
	if !strings.HasPrefix(multi, "227-Passive,\n227 over two lines (127,0,0,1,") {
		t.Errorf("multi-line 227 not rewritten: %q", multi)
	}
	_, _, port, _ := findPASV([]byte(multi), 20)
	if got := fetch(t, fmt.Sprintf("%s:%d", host, port)); got != "three" {
		t.Errorf("data connection carried %q, want \"three\"", got)
	}
	if s := l.Stats(); s.Data != 2 {
		t.Errorf("%d data connections, want 2", s.Data)
	}
}

// AUTH is answered by the link, a round trip later, and never reaches
// the server.
func TestRefused(t *testing.T) {
	f := startFake(t)
	l := startLink(t, f.ln.Addr().String(), Options{RTT: rtt})
	c := dial(t, l.Addr())
	l.Reset()
	start := time.Now()
	c.cmd("AUTH TLS", 534)
	within(t, "AUTH TLS", time.Since(start), rtt)
	checkStats(t, l, 1, 1)
	// Pipelined with commands the server answers, in order.
	c.send("NOOP", "AUTH TLS", "NOOP")
	c.expect(200)
	c.expect(534)
	c.expect(200)
	c.cmd("QUIT", 221)
	got := strings.Join(f.commands(), ",")
	if got != "NOOP,NOOP,QUIT" {
		t.Errorf("server saw %s, want NOOP,NOOP,QUIT", got)
	}
}
