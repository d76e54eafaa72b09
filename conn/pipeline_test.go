package conn

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// epsvProbe sits between the pool and ftpd and holds each EPSV back until
// the client's next line arrives or hold passes. A client that waits for
// the 229 cannot send its next command before the EPSV is forwarded, so a
// line that arrives during the hold proves the two were pipelined.
type epsvProbe struct {
	ln   net.Listener
	to   string
	hold time.Duration

	mu    sync.Mutex
	after []string // for each EPSV: the verb that came with it, or ""
}

func startEPSVProbe(t *testing.T, to string, hold time.Duration) *epsvProbe {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &epsvProbe{ln: ln, to: to, hold: hold}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for c, err := ln.Accept(); err == nil; c, err = ln.Accept() {
			go p.relay(c)
		}
	}()
	return p
}

func (p *epsvProbe) relay(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.to)
	if err != nil {
		return
	}
	defer server.Close()
	go io.Copy(client, server)
	lines := make(chan string)
	go func() {
		defer close(lines)
		r := bufio.NewReader(client)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			lines <- l
		}
	}()
	for l := range lines {
		if !strings.HasPrefix(l, "EPSV") {
			if _, err := io.WriteString(server, l); err != nil {
				return
			}
			continue
		}
		var next string
		select {
		case next = <-lines:
		case <-time.After(p.hold):
		}
		verb, _, _ := strings.Cut(strings.TrimSpace(next), " ")
		p.mu.Lock()
		p.after = append(p.after, verb)
		p.mu.Unlock()
		if _, err := io.WriteString(server, l+next); err != nil {
			return
		}
	}
}

func (p *epsvProbe) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.after...)
}

// TestEPSVPipelined: once EPSV has worked on a connection, later transfers
// send EPSV together with their command (and REST once REST has worked),
// and the bytes still arrive whole.
func TestEPSVPipelined(t *testing.T) {
	s := startServer(t)
	probe := startEPSVProbe(t, s.Addr().String(), 300*time.Millisecond)
	p := newPool(t, s, func(c *Config) { c.Addr = probe.ln.Addr().String(); c.MaxConns = 1 })
	ctx := context.Background()
	data := testutil.RandBytes(7, 300<<10)
	for _, name := range []string{"/a", "/b", "/c"} {
		if _, err := p.Store(ctx, name, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 1000)
	for range 2 {
		if n, err := p.ReadAt(ctx, "/b", buf, 5000, int64(len(data))); err != nil || !bytes.Equal(buf[:n], data[5000:6000]) {
			t.Fatalf("ReadAt: %d bytes, %v", n, err)
		}
		// A read leaves a data connection opened ahead (EPSV alone,
		// while idle); aged, it is not used, and the next transfer
		// pipelines its own EPSV.
		waitIdle(t, p)
		p.mu.Lock()
		for _, c := range p.idle {
			c.ready.at = c.ready.at.Add(-time.Hour)
		}
		p.mu.Unlock()
	}
	lines, _ := listLines(t, p, "/")
	if len(lines) != 3 {
		t.Fatalf("listing: %q", lines)
	}
	for _, name := range []string{"a", "b", "c"} {
		if got, err := os.ReadFile(s.Root + "/" + name); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s on the server: %d bytes, %v", name, len(got), err)
		}
	}
	// The first EPSV of the connection goes alone; so does the first
	// REST's, since REST is not known to work yet, and each one that
	// opens a data connection ahead after a read. The listing's carries
	// MLSD, and one goes behind it, alone as far as the probe sees.
	want := []string{"", "STOR", "STOR", "", "", "REST", "", "MLSD", ""}
	if got := probe.seen(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("what came with each EPSV: %q, want %q", got, want)
	}
}

// TestEPSVPipelineRefused: a server that stops accepting EPSV after the
// connection proved it: the pipelined transfer fails over to a fresh
// connection, which finds PASV.
func TestEPSVPipelineRefused(t *testing.T) {
	s := startServer(t)
	p := newPool(t, s)
	ctx := context.Background()
	if _, err := p.Store(ctx, "/a", strings.NewReader("first")); err != nil {
		t.Fatal(err)
	}
	s.SetFaults(ftpd.Faults{RefuseVerb: "EPSV", RefuseCode: 500})
	if _, err := p.Store(ctx, "/b", strings.NewReader("second")); err != nil {
		t.Fatalf("upload once EPSV is refused: %v", err)
	}
	if got, err := os.ReadFile(s.Root + "/b"); err != nil || string(got) != "second" {
		t.Fatalf("b on the server: %q, %v", got, err)
	}
}

// TestEPSVPipelineCommandRefused: a server that refuses the command of a
// pipelined transfer may close its port before the data connection
// reaches it; the refusal still comes back as the server's reply, and the
// connection stays usable.
func TestEPSVPipelineCommandRefused(t *testing.T) {
	s := startServer(t)
	p := newPool(t, s, func(c *Config) { c.MaxConns = 1 })
	ctx := context.Background()
	if _, err := p.Store(ctx, "/a", strings.NewReader("first")); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		_, err := p.Store(ctx, "/no/such/dir", strings.NewReader("x"))
		var fe *Error
		if !errors.As(err, &fe) || fe.Code != 550 || Classify(err) != ClassNotFound {
			t.Fatalf("try %d: upload into a missing directory: %v, want the server's 550", i, err)
		}
	}
	if _, err := p.Store(ctx, "/b", strings.NewReader("second")); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Dials != 1 {
		t.Fatalf("%d connections dialled, want the one kept in step", st.Dials)
	}
}
