package conn

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"ftpfs/internal/link"
	"ftpfs/internal/testutil"
)

// A pool's later connections log in with USER, PASS, TYPE and OPTS in
// one flight once the greeting is in: the connect, the greeting and that
// flight, where one command at a time costs a round trip each.
func TestLoginPipelinedRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		name string
		mods []func(*Config)
		want int
	}{
		{"pipelined", nil, 3},
		{"one at a time", []func(*Config){func(c *Config) { c.NoPipelining = true }}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t)
			p, l := linkPool(t, s, link.Options{RTT: 10 * time.Millisecond}, tc.mods...)
			ctx := context.Background()
			first, err := p.get(ctx, Metadata, true) // logs in, FEAT included
			if err != nil {
				t.Fatal(err)
			}
			l.Reset()
			second, err := p.get(ctx, Transfer, true) // dials while first is out
			if err != nil {
				t.Fatal(err)
			}
			st := l.Stats()
			p.put(first, Metadata)
			p.put(second, Transfer)
			if st.RoundTrips != tc.want || st.Commands["USER"] != 1 || st.Commands["TYPE"] != 1 {
				t.Fatalf("second login: %d round trips, commands %v; want %d", st.RoundTrips, st.Commands, tc.want)
			}
			if !p.Pipelining() == (tc.mods == nil) {
				t.Fatalf("pipelining %v after the login", p.Pipelining())
			}
		})
	}
}

// A refused password on a pipelined login is the login's error, with the
// server's reply; the replies to what followed do not matter, and
// pipelining stays on (a refusal says nothing about pipelines).
func TestLoginPipelinedRefused(t *testing.T) {
	s := startServer(t)
	p := newPool(t, s)
	ctx := context.Background()
	first, err := p.get(ctx, Metadata, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.put(first, Metadata)
	p.cfg.Password = "wrong"
	_, err = p.get(ctx, Transfer, true)
	var fe *Error
	if !errors.As(err, &fe) || fe.Op != "login" || fe.Code != 530 {
		t.Fatalf("login with a wrong password: %v, want the 530", err)
	}
	if !p.Pipelining() {
		t.Fatal("a refused login turned pipelining off")
	}
}

// A server that answers a pipelined USER with 421 (too many connections)
// and hangs up gives the login errTooMany, as one command at a time
// does: the pool then lowers its ceiling instead of failing its caller.
func TestLoginPipelinedTooMany(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("220 ready\r\n"))
		if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
			c.Write([]byte("421 Too many connections from your address\r\n"))
		}
	}()
	cfg := Config{Addr: ln.Addr().String(), User: testUser, Password: testPass, Timeout: 5 * time.Second}
	cfg.fill()
	_, err = dial(context.Background(), &cfg, 2, &Features{UTF8: true}, true)
	if !errors.Is(err, errTooMany) {
		t.Fatalf("pipelined login refused with 421: %v, want errTooMany", err)
	}
}

// A server that goes silent on commands sent together: a spare's
// pipelined login runs out of the pool's timeout, and the pool sends one
// command at a time from then on, logins included.
func TestLoginPipelinedSilentServer(t *testing.T) {
	script := scripted(map[string]string{"USER": "331 password", "PASS": "230 in", "FEAT": "211-Features:\r\n UTF8\r\n211 End",
		"TYPE": "200 binary", "OPTS": "200 ok", "NOOP": "200 ok"})
	addr := fakeServer(t, func(verb string, r *bufio.Reader) (string, bool) {
		if r.Buffered() > 0 {
			io.Copy(io.Discard, r) // pipelined: never answered
			return "", false
		}
		return script(verb, r)
	})
	p := NewPool(Config{Addr: addr, User: testUser, Password: testPass, Timeout: 300 * time.Millisecond})
	defer p.Close()
	first, err := p.get(context.Background(), Metadata, true) // one command at a time: the features are not known yet
	if err != nil {
		t.Fatal(err)
	}
	defer p.put(first, Metadata)
	p.mu.Lock()
	p.spare()
	p.mu.Unlock()
	testutil.WaitUntil(t, 3*time.Second, "pipelining off after a spare's silent login", func() (bool, string) { return !p.Pipelining(), "pipelining on" })
}
