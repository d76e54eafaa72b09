package conn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// TestActiveMode: against a server that refuses EPSV and PASV, active
// mode uploads and commits, downloads from the start and from an offset,
// streams and lists, and never asks for a passive port, not even ahead of
// a transfer (the commit's EPSV, a spare's warm-up).
func TestActiveMode(t *testing.T) {
	s := startServer(t)
	s.SetFaults(ftpd.Faults{RefuseVerb: "EPSV,PASV", RefuseCode: 502})
	p := newPool(t, s, func(c *Config) { c.Active = true; c.MaxConns = 3 })
	ctx := context.Background()
	data := testutil.RandBytes(21, 300<<10)
	for range 3 { // the second and third reuse a connection
		upload(t, p, s, data, "/up.part", "f")
	}
	b := make([]byte, 1000)
	if n, err := p.ReadAt(ctx, "/f", b, 5000, int64(len(data))); err != nil || !bytes.Equal(b[:n], data[5000:6000]) {
		t.Fatalf("ReadAt from an offset: %d bytes, %v", n, err)
	}
	st, err := p.OpenStream(ctx, "/f", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := st.Read(ctx, buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("stream: %d bytes, %v", len(got), err)
	}
	st.Close()
	es, err := p.ReadDir(ctx, "/")
	if err != nil || len(es) != 1 || es[0].Name != "f" || es[0].Size != int64(len(data)) {
		t.Fatalf("listing in active mode: %+v, %v", es, err)
	}
	waitIdle(t, p)
	n := s.Counts()
	if n["EPSV"] != 0 || n["PASV"] != 0 {
		t.Fatalf("active mode asked for passive ports: EPSV %d, PASV %d", n["EPSV"], n["PASV"])
	}
	if n["EPRT"] < 6 || n["PORT"] != 0 {
		t.Fatalf("EPRT %d, PORT %d: want EPRT for each transfer", n["EPRT"], n["PORT"])
	}
}

// TestActivePORT: a server without EPRT gets PORT, from then on.
func TestActivePORT(t *testing.T) {
	s := startServer(t)
	s.SetFaults(ftpd.Faults{RefuseVerb: "EPSV,PASV,EPRT", RefuseCode: 502})
	p := newPool(t, s, func(c *Config) { c.Active = true; c.MaxConns = 1 })
	data := testutil.RandBytes(22, 70<<10)
	upload(t, p, s, data, "/a.part", "a")
	upload(t, p, s, data, "/b.part", "b")
	if got, err := p.ReadDir(context.Background(), "/"); err != nil || len(got) != 2 {
		t.Fatalf("listing: %v %v", got, err)
	}
	if n := s.Counts(); n["EPRT"] != 1 || n["PORT"] != 3 {
		t.Fatalf("EPRT %d, PORT %d: want one EPRT, then PORT", n["EPRT"], n["PORT"])
	}
}

// TestActiveOnlyFromServer: a connection to the active port from another
// address is closed and the wait goes on; the server's is taken. With
// only strangers, the wait ends at the deadline with an error.
func TestActiveOnlyFromServer(t *testing.T) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialFrom := func(ip string, msg string) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Error(err)
			return
		}
		c.Write([]byte(msg))
		c.Close()
	}
	server := net.IPv4(127, 0, 0, 1)
	log := slog.New(slog.DiscardHandler)
	dialFrom("127.0.0.2", "stranger")
	go func() {
		time.Sleep(100 * time.Millisecond)
		dialFrom("127.0.0.1", "server")
	}()
	c, err := acceptFrom(context.Background(), ln, server, time.Now().Add(5*time.Second), log)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != "server" {
		t.Fatalf("took %q, want the server's connection", got)
	}

	dialFrom("127.0.0.2", "stranger")
	t0 := time.Now()
	_, err = acceptFrom(context.Background(), ln, server, time.Now().Add(300*time.Millisecond), log)
	if !errors.Is(err, errStranger) || time.Since(t0) < 250*time.Millisecond {
		t.Fatalf("only a stranger: %v after %v, want errStranger at the deadline", err, time.Since(t0))
	}
}

// TestActiveTLS: active mode over FTPS, where the server opens the TCP
// connection and the client still runs the TLS handshake as client.
func TestActiveTLS(t *testing.T) {
	cert := testutil.NewCert(t, testutil.CertOptions{})
	s := startServer(t, func(c *ftpd.Config) { c.TLS = cert.ServerTLS(); c.TLSRequired = true })
	s.SetFaults(ftpd.Faults{RefuseVerb: "EPSV,PASV", RefuseCode: 502})
	p := newPool(t, s, func(c *Config) { c.Active = true; c.TLS = TLSExplicit; c.TLSConfig = cert.ClientTLS() })
	data := testutil.RandBytes(23, 200<<10)
	upload(t, p, s, data, "/t.part", "t")
	b := make([]byte, len(data))
	if n, err := p.ReadAt(context.Background(), "/t", b, 0, int64(len(data))); err != nil || !bytes.Equal(b[:n], data) {
		t.Fatalf("ReadAt over TLS in active mode: %d, %v", n, err)
	}
	if got, _ := os.ReadFile(filepath.Join(s.Root, "t")); !bytes.Equal(got, data) {
		t.Fatal("upload differs on the server")
	}
}

// TestActiveAddr: ActiveAddr is the address named to the server; one
// that is not ours is still named (a NAT's, forwarded to us), and ftpd,
// which takes only the client's own address, refuses it (501).
func TestActiveAddr(t *testing.T) {
	s := startServer(t)
	p := newPool(t, s, func(c *Config) { c.Active, c.ActiveAddr = true, "127.0.0.1" })
	if _, err := p.ReadDir(context.Background(), "/"); err != nil {
		t.Fatalf("active mode naming 127.0.0.1: %v", err)
	}
	p = newPool(t, s, func(c *Config) { c.Active, c.ActiveAddr = true, "192.0.2.1" })
	_, err := p.ReadDir(context.Background(), "/")
	var fe *Error
	if !errors.As(err, &fe) || fe.Op != "eprt" || fe.Code != 501 {
		t.Fatalf("active mode naming another host: %v, want ftpd's 501 to EPRT", err)
	}
}

// TestActivePipelined: once a port was taken on a connection (and REST,
// for a read from an offset), a read sends its EPRT, REST and RETR in
// one write. A port refused there
// breaks that connection, and the read is made again on a fresh one,
// which names its port alone (PORT, after EPRT's 502).
func TestActivePipelined(t *testing.T) {
	s := startServer(t)
	s.SetFaults(ftpd.Faults{RefuseVerb: "EPSV,PASV", RefuseCode: 502})
	data := testutil.RandBytes(24, 100<<10)
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), data)
	p := newPool(t, s, func(c *Config) { c.Active = true; c.MaxConns = 1 })
	ctx := context.Background()
	read := func(off int64) {
		t.Helper()
		b := make([]byte, int64(len(data))-off)
		if n, err := p.ReadAt(ctx, "/f", b, off, int64(len(data))); err != nil || !bytes.Equal(b[:n], data[off:]) {
			t.Fatalf("ReadAt from %d: %d bytes, %v", off, n, err)
		}
	}
	read(0)    // EPRT alone: the port is taken here
	read(5000) // REST alone, once
	waitIdle(t, p)
	for _, off := range []int64{0, 5000} {
		before, was := p.Snapshot(), s.Counts()
		read(off)
		waitIdle(t, p)
		n := s.Counts()
		if f := p.Snapshot().Flights - before.Flights; f != 1 || n["EPRT"] != was["EPRT"]+1 || n["RETR"] != was["RETR"]+1 {
			t.Fatalf("read from %d: %d writes of commands (want 1), server saw %v then %v", off, f, was, n)
		}
	}
	s.SetFaults(ftpd.Faults{RefuseVerb: "EPSV,PASV,EPRT", RefuseCode: 502})
	read(0)
	if st := p.Stats(); st.Dials != 2 {
		t.Fatalf("%d connections dialled: want the refused one dropped and one more", st.Dials)
	}
	if n := s.Counts(); n["PORT"] != 1 {
		t.Fatalf("server saw %v: want the fresh connection on PORT", n)
	}
}
