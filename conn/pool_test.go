package conn

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
	"ftpfs/internal/testutil/ftpdtest"
)

// conn's tests log in as ftpdtest's user.
const (
	testUser = ftpdtest.User
	testPass = ftpdtest.Password
)

// server is an ftpd on a temp root for one test.
type server = ftpdtest.Server

func startServer(t *testing.T, mods ...func(*ftpd.Config)) *server {
	t.Helper()
	return ftpdtest.Serve(t, "", mods...)
}

func newPool(t *testing.T, s *server, mods ...func(*Config)) *Pool {
	t.Helper()
	cfg := Config{Addr: s.Addr().String(), User: testUser, Password: testPass, Timeout: 5 * time.Second}
	for _, m := range mods {
		m(&cfg)
	}
	p := NewPool(cfg)
	t.Cleanup(p.Close)
	return p
}

func listLines(t *testing.T, p *Pool, dir string) ([]string, bool) {
	t.Helper()
	var lines []string
	var mlsd bool
	err := p.list(context.Background(), dir, false, func() { lines = nil }, func(l string, m bool) error {
		lines, mlsd = append(lines, l), m
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lines, mlsd
}

func TestFeaturesAndListing(t *testing.T) {
	for _, tc := range []struct {
		profile ftpd.Profile
		mlsd    bool
	}{{ftpd.ProfileFull, true}, {ftpd.ProfileVsftpd, false}} {
		t.Run(string(tc.profile), func(t *testing.T) {
			s := startServer(t, func(c *ftpd.Config) { c.Profile = tc.profile })
			testutil.WriteFile(t, filepath.Join(s.Root, "-dash dir", "a file"), []byte("x"))
			p := newPool(t, s)
			f, err := p.features(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if f.MLSD != tc.mlsd || !f.Size || !f.MDTM || !f.EPSV || !f.UTF8 {
				t.Fatalf("features %+v", f)
			}
			lines, mlsd := listLines(t, p, "/-dash dir")
			if mlsd != tc.mlsd || len(lines) != 1 || !strings.HasSuffix(lines[0], " a file") {
				t.Fatalf("listing %q (mlsd %v)", lines, mlsd)
			}
			if got := s.Counts()["FEAT"]; got != 1 {
				t.Fatalf("FEAT sent %d times", got)
			}
		})
	}
}

func TestReadAtAndStream(t *testing.T) {
	s := startServer(t)
	data := testutil.RandBytes(1, 3<<20+123)
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), data)
	p := newPool(t, s)
	ctx := context.Background()
	size := int64(len(data))

	r := mrand.New(mrand.NewPCG(7, 7))
	for range 50 {
		off := r.Int64N(size)
		b := make([]byte, 1+r.IntN(200_000))
		n, err := p.ReadAt(ctx, "/f", b, off, size)
		if err != nil {
			t.Fatalf("ReadAt(%d, %d): %v", off, len(b), err)
		}
		want := data[off:min(size, off+int64(len(b)))]
		if n != len(want) || !bytes.Equal(b[:n], want) {
			t.Fatalf("ReadAt(%d, %d) = %d bytes, want %d", off, len(b), n, len(want))
		}
	}
	// Streams: one read to the end, one abandoned in the middle.
	st, err := p.OpenStream(ctx, "/f", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	buf := make([]byte, 100_000)
	for {
		n, err := st.Read(ctx, buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil || !bytes.Equal(got.Bytes(), data[1000:]) {
		t.Fatalf("stream: %d bytes, close %v", got.Len(), err)
	}
	st, err = p.OpenStream(ctx, "/f", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Read(ctx, buf); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// Every connection is back, in sync, and none was dialled per read:
	// a read returns before its abort is over, so reads back to back may
	// each find the last one's connection still busy and take another
	// transfer slot, but no more (3 of the 4, the last being metadata's).
	lines, _ := listLines(t, p, "/")
	if len(lines) != 1 {
		t.Fatalf("listing after aborts: %q", lines)
	}
	if st := p.Stats(); st.Dials > p.cfg.MaxConns {
		t.Fatalf("%d connections dialled for sequential use", st.Dials)
	}
}

func TestErrorsAndClasses(t *testing.T) {
	s := startServer(t, func(c *ftpd.Config) { c.ReadOnly = true })
	p := newPool(t, s)
	ctx := context.Background()
	_, err := p.ModTime(ctx, "/missing")
	if Classify(err) != ClassNotFound {
		t.Fatalf("MDTM of a missing file: %v (class %d)", err, Classify(err))
	}
	_, err = p.ReadAt(ctx, "/bad\nname", make([]byte, 10), 0, 10)
	if Classify(err) != ClassInvalid {
		t.Fatalf("CR/LF name: %v", err)
	}
	if s.Counts()["RETR"] != 0 {
		t.Fatal("a name with LF reached the server")
	}

	bad := newPool(t, s, func(c *Config) { c.Password = "wrong-" + testPass })
	_, err = bad.features(ctx)
	if Classify(err) != ClassPermission || strings.Contains(err.Error(), testPass) {
		t.Fatalf("login failure: %v", err)
	}
}

func TestTimeoutAndRecovery(t *testing.T) {
	s := startServer(t)
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), []byte("data"))
	p := newPool(t, s, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	ctx := context.Background()
	if _, err := p.ModTime(ctx, "/f"); err != nil {
		t.Fatal(err)
	}
	s.SetFaults(ftpd.Faults{ReplyDelay: 2 * time.Second})
	t0 := time.Now()
	_, err := p.ModTime(ctx, "/f")
	if Classify(err) != ClassTimeout || time.Since(t0) > 900*time.Millisecond {
		t.Fatalf("stalled server: %v after %v", err, time.Since(t0))
	}
	s.SetFaults(ftpd.Faults{})
	if _, err := p.ModTime(ctx, "/f"); err != nil {
		t.Fatalf("after the stall: %v", err)
	}
}

func TestServerRestart(t *testing.T) {
	s := startServer(t)
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), []byte("data"))
	p := newPool(t, s)
	ctx := context.Background()
	if _, err := p.ModTime(ctx, "/f"); err != nil {
		t.Fatal(err)
	}
	// The idle connection dies with the server; a new server on the same
	// port answers the retry.
	s.Close()
	ftpdtest.Start(t, s.Config)
	if _, err := p.ModTime(ctx, "/f"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestCeilingAndMetadataSlot(t *testing.T) {
	s := startServer(t)
	data := testutil.RandBytes(2, 1<<20)
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), data)
	s.SetFaults(ftpd.Faults{MaxSessions: 2})
	p := newPool(t, s, func(c *Config) { c.MaxConns = 4 })
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 4096)
			off := int64(i * 50_000)
			if _, err := p.ReadAt(ctx, "/f", b, off, int64(len(data))); err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(b, data[off:off+4096]) {
				errs <- fmt.Errorf("reader %d: wrong bytes", i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := p.Stats(); st.Ceiling != 2 {
		t.Fatalf("ceiling %d after 421s, want 2", st.Ceiling)
	}
	// Once the server allows more, the ceiling climbs back, a step at a
	// time.
	s.SetFaults(ftpd.Faults{})
	p.mu.Lock()
	p.raiseAfter = 0
	p.mu.Unlock()
	var wg2 sync.WaitGroup
	for range 6 {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			p.ReadAt(ctx, "/f", make([]byte, 4096), 0, int64(len(data)))
		}()
	}
	wg2.Wait()
	if st := p.Stats(); st.Ceiling <= 2 {
		t.Fatalf("ceiling stayed at %d after the server allowed more", st.Ceiling)
	}
	p.mu.Lock()
	p.raiseAfter = time.Hour
	p.ceiling = 2
	p.mu.Unlock()

	// With a transfer holding one of two connections, another transfer
	// waits but metadata goes through.
	st, err := p.OpenStream(ctx, "/f", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := p.OpenStream(short, "/f", 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second transfer did not wait: %v", err)
	}
	if _, err := p.ModTime(ctx, "/f"); err != nil {
		t.Fatalf("metadata behind a transfer: %v", err)
	}
	// A short read takes the metadata connection while nobody waits for
	// it, and waits while a metadata caller does.
	b := make([]byte, 10)
	if _, err := p.ReadAt(ctx, "/f", b, 0, 10); err != nil || !bytes.Equal(b, data[:10]) {
		t.Fatalf("read ahead beside a transfer: %v", err)
	}
	for { // the read's connection back
		p.mu.Lock()
		back := p.finishing == 0
		p.mu.Unlock()
		if back {
			break
		}
		time.Sleep(time.Millisecond)
	}
	p.mu.Lock()
	p.waiting[Metadata]++
	p.mu.Unlock()
	short2, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	if _, err := p.ReadAt(short2, "/f", b, 0, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read ahead took the connection a metadata caller waits for: %v", err)
	}
	p.mu.Lock()
	p.waiting[Metadata]--
	p.mu.Unlock()
}

func TestTLS(t *testing.T) {
	cert := testutil.NewCert(t, testutil.CertOptions{})
	roots := cert.Roots
	s := startServer(t, func(c *ftpd.Config) { c.TLS = cert.ServerTLS(); c.ImplicitTLSListen = "127.0.0.1:0" })
	data := testutil.RandBytes(3, 300_000)
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), data)
	ctx := context.Background()
	for _, tc := range []struct {
		mode TLSMode
		addr string
	}{{TLSExplicit, s.Addr().String()}, {TLSImplicit, s.ImplicitTLSAddr().String()}} {
		p := newPool(t, s, func(c *Config) {
			c.Addr, c.TLS, c.TLSConfig = tc.addr, tc.mode, &tls.Config{RootCAs: roots}
		})
		b := make([]byte, len(data))
		if n, err := p.ReadAt(ctx, "/f", b, 0, int64(len(data))); err != nil || n != len(data) || !bytes.Equal(b, data) {
			t.Fatalf("TLS mode %d: %d bytes, %v", tc.mode, n, err)
		}
	}
	// An unverifiable certificate fails the dial.
	p := newPool(t, s, func(c *Config) { c.TLS = TLSExplicit })
	if _, err := p.features(ctx); err == nil {
		t.Fatal("untrusted certificate accepted")
	}

	// A server without TLS refuses AUTH: USER and PASS are never sent.
	plain := startServer(t)
	s0 := plain.Counts()
	p = newPool(t, plain, func(c *Config) { c.TLS, c.TLSConfig = TLSExplicit, &tls.Config{RootCAs: roots} })
	if _, err := p.features(ctx); err == nil {
		t.Fatal("TLS downgrade accepted")
	}
	if c := plain.Counts(); c["USER"] != s0["USER"] || c["PASS"] != 0 {
		t.Fatalf("credentials sent after AUTH TLS was refused: %v", c)
	}
}

// A transfer takes the idle connection with a data connection opened
// ahead that has waited longest: the one that just came back may still be
// connecting its next data connection across the link. Metadata takes the
// most recent one without, leaving the opened ones to transfers.
func TestPickIdle(t *testing.T) {
	p := NewPool(Config{Addr: "127.0.0.1:1"})
	armed := func(id int) *Conn {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return &Conn{id: id, ready: readyData{data: a}}
	}
	plain := func(id int) *Conn { return &Conn{id: id} }
	for _, tc := range []struct {
		idle []*Conn
		kind Kind
		want int
	}{
		{[]*Conn{plain(1), armed(2), armed(3), plain(4)}, Transfer, 2},
		{[]*Conn{plain(1), armed(2), armed(3), plain(4)}, Ahead, 2},
		{[]*Conn{plain(1), armed(2), armed(3), plain(4)}, Metadata, 4},
		{[]*Conn{plain(1), plain(2)}, Transfer, 2},
		{[]*Conn{armed(1), armed(2)}, Metadata, 2},
	} {
		p.idle = tc.idle
		if c := p.pick(tc.kind); c.id != tc.want || len(p.idle) != len(tc.idle)-1 {
			t.Errorf("kind %d: picked %d, want %d", tc.kind, c.id, tc.want)
		}
	}
}

// A short read waiting for a connection makes long transfers yield theirs
// (Waiting(Transfer)), as any transfer does.
func TestWaitingCountsShortReads(t *testing.T) {
	p := NewPool(Config{Addr: "127.0.0.1:1"})
	p.waiting[Ahead]++
	if !p.Waiting(Transfer) || p.Waiting(Metadata) {
		t.Fatal("a short read waiting is a transfer waiting, not metadata")
	}
}
