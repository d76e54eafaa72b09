package conn

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/link"
	"ftpfs/internal/testutil"
)

// startLink puts a counting link (no delay) in front of addr.
func startLink(t *testing.T, addr string) *link.Link {
	t.Helper()
	l, err := link.Start(addr, link.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// datedFiles writes n files under dir on the server's disk, each with a
// time of its own, and returns their server paths and times.
func datedFiles(t *testing.T, s *server, dir string, n int) ([]string, []time.Time) {
	t.Helper()
	paths := make([]string, n)
	times := make([]time.Time, n)
	base := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	for i := range n {
		paths[i] = fmt.Sprintf("%s/f%02d", dir, i)
		times[i] = base.Add(time.Duration(i) * 61 * time.Second)
		local := filepath.Join(s.Root, paths[i])
		testutil.WriteFile(t, local, []byte("x"))
		if err := os.Chtimes(local, times[i], times[i]); err != nil {
			t.Fatal(err)
		}
	}
	return paths, times
}

func checkTimes(t *testing.T, paths []string, got, want []time.Time) {
	t.Helper()
	for i := range paths {
		if !got[i].Equal(want[i]) {
			t.Errorf("%s: %v, want %v", paths[i], got[i], want[i])
		}
	}
}

// TestModTimesPipelined: the exact times of a 40-file directory on a
// LIST-only server come back in one round trip, one MDTM per file; a
// name the server refuses has no time and does not break the batch.
func TestModTimesPipelined(t *testing.T) {
	s := startServer(t, func(c *ftpd.Config) { c.Profile = ftpd.ProfileVsftpd })
	paths, want := datedFiles(t, s, "/d", 40)
	l := startLink(t, s.Addr().String())
	p := newPool(t, s, func(c *Config) { c.Addr = l.Addr(); c.MaxConns = 1 })
	ctx := context.Background()
	if _, err := p.Times(ctx); err != nil { // the login, not counted
		t.Fatal(err)
	}
	l.Reset()
	got, err := p.ModTimes(ctx, append(paths, "/d", "/missing"))
	if err != nil {
		t.Fatal(err)
	}
	checkTimes(t, paths, got, want)
	if !got[40].IsZero() || !got[41].IsZero() {
		t.Errorf("a directory and a missing name: %v, %v, want no time", got[40], got[41])
	}
	st := l.Stats()
	if st.RoundTrips != 1 || st.Commands["MDTM"] != 42 || st.Total() != 42 {
		t.Fatalf("%d round trips, commands %v; want 1 round trip, 42 MDTM", st.RoundTrips, st.Commands)
	}
	if !p.Pipelining() {
		t.Fatal("pipelining turned off by refusals")
	}
}

// TestModTimesDeepBatch: a batch far larger than the socket buffers of
// both ends neither deadlocks nor loses a reply.
func TestModTimesDeepBatch(t *testing.T) {
	s := startServer(t, func(c *ftpd.Config) { c.Profile = ftpd.ProfileVsftpd })
	paths, want := datedFiles(t, s, "/d", 3)
	long := "/" + strings.Repeat("n", 200)
	var batch []string
	for i := range 20000 {
		batch = append(batch, paths[i%3], long)
	}
	p := newPool(t, s, func(c *Config) { c.MaxConns = 1 })
	got, err := p.ModTimes(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	for i := range batch {
		if i%2 == 1 {
			if !got[i].IsZero() {
				t.Fatalf("reply %d out of step: %v", i, got[i])
			}
		} else if !got[i].Equal(want[(i/2)%3]) {
			t.Fatalf("reply %d out of step: %v", i, got[i])
		}
	}
	if st := p.Stats(); st.Dials != 1 {
		t.Fatalf("%d connections dialled", st.Dials)
	}
}

// TestModTimesOneByOne: with Config.NoPipelining every MDTM waits for the
// previous one's reply on its connection.
func TestModTimesOneByOne(t *testing.T) {
	s := startServer(t, func(c *ftpd.Config) { c.Profile = ftpd.ProfileVsftpd })
	paths, want := datedFiles(t, s, "/d", 12)
	l := startLink(t, s.Addr().String())
	p := newPool(t, s, func(c *Config) { c.Addr = l.Addr(); c.MaxConns = 1; c.NoPipelining = true })
	ctx := context.Background()
	if _, err := p.Times(ctx); err != nil {
		t.Fatal(err)
	}
	l.Reset()
	got, err := p.ModTimes(ctx, paths)
	if err != nil {
		t.Fatal(err)
	}
	checkTimes(t, paths, got, want)
	if st := l.Stats(); st.RoundTrips != 12 || st.Commands["MDTM"] != 12 {
		t.Fatalf("%d round trips, commands %v; want 12, one per MDTM", st.RoundTrips, st.Commands)
	}
}

// chokeRelay relays a client to a server that cannot take pipelined
// commands: of the lines that arrive in one read, it passes the first and
// with them does what its fault says.
type chokeRelay struct {
	ln    net.Listener
	fault string // "drop": the rest are lost; "noop": the second becomes NOOP
}

func startChokeRelay(t *testing.T, to, fault string) *chokeRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &chokeRelay{ln: ln, fault: fault}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for c, err := ln.Accept(); err == nil; c, err = ln.Accept() {
			go r.relay(c, to)
		}
	}()
	return r
}

func (r *chokeRelay) relay(client net.Conn, to string) {
	defer client.Close()
	server, err := net.Dial("tcp", to)
	if err != nil {
		return
	}
	defer server.Close()
	go io.Copy(client, server)
	br := bufio.NewReader(client)
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return
		}
		out := l
		if br.Buffered() > 0 && strings.HasPrefix(l, "MDTM") {
			switch r.fault {
			case "drop":
				br.Discard(br.Buffered())
			case "noop":
				br.ReadString('\n')
				out += "NOOP\r\n"
			}
		}
		if _, err := io.WriteString(server, out); err != nil {
			return
		}
	}
}

// TestModTimesPipelineChoked: a server that loses pipelined commands, or
// answers one with another's reply: the batch breaks its connection, the
// times still come, one at a time, and the pool pipelines no more.
func TestModTimesPipelineChoked(t *testing.T) {
	for _, fault := range []string{"drop", "noop"} {
		t.Run(fault, func(t *testing.T) {
			s := startServer(t, func(c *ftpd.Config) { c.Profile = ftpd.ProfileVsftpd })
			paths, want := datedFiles(t, s, "/d", 10)
			relay := startChokeRelay(t, s.Addr().String(), fault)
			p := newPool(t, s, func(c *Config) { c.Addr = relay.ln.Addr().String(); c.Timeout = 500 * time.Millisecond })
			ctx := context.Background()
			got, err := p.ModTimes(ctx, paths)
			if err != nil {
				t.Fatal(err)
			}
			checkTimes(t, paths, got, want)
			if p.Pipelining() {
				t.Fatal("still pipelining after a choked batch")
			}
			got, err = p.ModTimes(ctx, paths)
			if err != nil {
				t.Fatal(err)
			}
			checkTimes(t, paths, got, want)
		})
	}
}
