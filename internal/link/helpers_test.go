package link

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"ftpfs/ftpd"
)

const (
	testUser = "alice"
	testPass = "secret"
)

// startFTPD serves a temporary root holding files (name to size, bytes
// i%251) with ftpd on 127.0.0.1:0, and closes it when the test ends.
func startFTPD(t *testing.T, files map[string]int) *ftpd.Server {
	t.Helper()
	root := t.TempDir()
	for name, size := range files {
		if err := os.WriteFile(filepath.Join(root, name), content(size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := ftpd.New(ftpd.Config{
		Root:           root,
		Listen:         "127.0.0.1:0",
		Users:          map[string]string{testUser: testPass},
		LoginFailDelay: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// content is what startFTPD puts in a file of size bytes.
func content(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// startLink starts a link in front of upstream and closes it when the
// test ends.
func startLink(t *testing.T, upstream string, opt Options) *Link {
	t.Helper()
	l, err := Start(upstream, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// client speaks FTP line by line, so that tests decide what travels
// together.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect(220)
	return c
}

// login dials and logs in.
func login(t *testing.T, addr string) *client {
	t.Helper()
	c := dial(t, addr)
	c.cmd("USER "+testUser, 331)
	c.cmd("PASS "+testPass, 230)
	c.cmd("TYPE I", 200)
	return c
}

func (c *client) send(lines ...string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.conn, strings.Join(lines, "\r\n")+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
}

// reply reads one reply, single- or multi-line, and returns its code and
// lines.
func (c *client) reply() (int, string) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	var text []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reply: %v (after %q)", err, text)
		}
		line = strings.TrimRight(line, "\r\n")
		text = append(text, line)
		if len(line) < 4 || (len(text) == 1 && line[3] == ' ') {
			break
		}
		if len(text) > 1 && line[:3] == text[0][:3] && line[3] == ' ' {
			break
		}
		if len(text) == 1 && line[3] != '-' {
			break
		}
	}
	code, _ := strconv.Atoi(text[0][:3])
	return code, strings.Join(text, "\n")
}

// expect reads a reply and fails the test unless it has the code.
func (c *client) expect(code int) string {
	c.t.Helper()
	got, text := c.reply()
	if got != code {
		c.t.Fatalf("reply %q, want %d", text, code)
	}
	return text
}

func (c *client) cmd(line string, code int) string {
	c.t.Helper()
	c.send(line)
	return c.expect(code)
}

// passive sends PASV or EPSV and returns the address the reply announces,
// read the way clients do: the port, on the control connection's host.
func (c *client) passive(verb string) string {
	c.t.Helper()
	text := c.cmd(verb, map[string]int{"PASV": 227, "EPSV": 229}[verb])
	var port int
	if verb == "EPSV" {
		_, end, p, ok := findEPSV([]byte(text), 4)
		if !ok || end == 0 {
			c.t.Fatalf("no port in %q", text)
		}
		port = p
	} else {
		_, _, p, ok := findPASV([]byte(text), 4)
		if !ok {
			c.t.Fatalf("no address in %q", text)
		}
		port = p
	}
	host, _, _ := net.SplitHostPort(c.conn.RemoteAddr().String())
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// within fails unless got lies in [want, want+slack], the slack generous
// for a busy machine: timers never fire early, but they do fire late.
func within(t *testing.T, what string, got, want time.Duration) {
	t.Helper()
	slack := 100*time.Millisecond + want/4
	if got < want || got > want+slack {
		t.Errorf("%s took %v, want %v (+%v)", what, got.Round(time.Millisecond), want, slack)
	} else {
		t.Logf("%s: %v (model %v)", what, got.Round(time.Millisecond), want)
	}
}

// checkStats fails unless the link counted these round trips and flights.
func checkStats(t *testing.T, l *Link, roundTrips, flights int) Stats {
	t.Helper()
	s := l.Stats()
	if s.RoundTrips != roundTrips || s.Flights != flights {
		t.Errorf("counted %d round trips and %d flights, want %d and %d (%+v)", s.RoundTrips, s.Flights, roundTrips, flights, s)
	}
	return s
}

func fmtRate(bytesPerSec float64) string { return fmt.Sprintf("%.2f MiB/s", bytesPerSec/(1<<20)) }
