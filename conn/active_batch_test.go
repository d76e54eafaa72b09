package conn

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// batchResult is what ReadFiles handed over for one file.
type batchResult struct {
	data []byte
	err  error
}

// readFiles runs p.ReadFiles on paths of sizes and checks that every file
// is handed over once, in order.
func readFiles(t *testing.T, p *Pool, paths []string, sizes []int64) []batchResult {
	t.Helper()
	files := make([]BatchFile, len(paths))
	for i := range paths {
		files[i] = BatchFile{Path: paths[i], Size: sizes[i]}
	}
	out := make([]batchResult, len(paths))
	next := 0
	p.ReadFiles(context.Background(), files, func(i int, data []byte, err error) {
		if i != next {
			t.Errorf("file %d handed over after %d", i, next-1)
		}
		next = i + 1
		out[i] = batchResult{data, err}
	})
	if next != len(paths) {
		t.Fatalf("%d of %d files handed over", next, len(paths))
	}
	return out
}

// activeBatchPool is a pool in active mode with one connection to s, on
// a server where passive mode fails, logged in and with its counters
// (the server's too) at zero.
func activeBatchPool(t *testing.T, s *server) *Pool {
	t.Helper()
	s.SetFaults(ftpd.Faults{RefuseVerb: "EPSV,PASV", RefuseCode: 502})
	p := newPool(t, s, func(c *Config) { c.Active = true; c.MaxConns = 1 })
	if _, err := p.features(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !p.Batching() {
		t.Fatal("an active pool does not batch")
	}
	s.ResetCounts()
	return p
}

// batchServer is ftpd with n small files /f0... (smallFilesAt), and an
// active pool to it (activeBatchPool).
func batchServer(t *testing.T, n int) (*server, *Pool, [][]byte) {
	t.Helper()
	s := startServer(t)
	files := smallFilesAt(t, s, n, 50)
	return s, activeBatchPool(t, s), files
}

// oneConnection fails t unless p still has the one connection it
// dialled: no batch broke one.
func oneConnection(t *testing.T, p *Pool) {
	t.Helper()
	if st := p.Stats(); st.Dials != 1 || st.Open != 1 {
		t.Errorf("%+v: want the one connection dialled, kept", st)
	}
}

// Ten small files in one batch: every EPRT and RETR in one write, the
// files intact and in order, nothing else sent, on one connection.
func TestBatchPipelined(t *testing.T) {
	s := startServer(t)
	var paths []string
	var sizes []int64
	var want [][]byte
	for i := range 10 {
		b := testutil.RandBytes(uint64(40+i), 1+i*7000)
		testutil.WriteFile(t, filepath.Join(s.Root, fmt.Sprintf("f%d", i)), b)
		paths, sizes, want = append(paths, fmt.Sprintf("/f%d", i)), append(sizes, int64(len(b))), append(want, b)
	}
	p := activeBatchPool(t, s)
	before := p.Snapshot()
	got := readFiles(t, p, paths, sizes)
	for i, r := range got {
		if r.err != nil || !bytes.Equal(r.data, want[i]) {
			t.Errorf("f%d: %d bytes, %v", i, len(r.data), r.err)
		}
	}
	after := p.Snapshot()
	if n := after.Flights - before.Flights; n != 1 || after.Batched-before.Batched != 10 {
		t.Errorf("%d writes of commands, %d files counted batched: want the batch's one, 10", n, after.Batched-before.Batched)
	}
	n := s.Counts()
	if n["EPRT"] != 10 || n["RETR"] != 10 || len(n) != 2 {
		t.Errorf("server saw %v, want 10 EPRT and 10 RETR alone", n)
	}
	oneConnection(t, p)
}

// A file missing in the middle of a batch fails alone, as not found; the
// files around it arrive, and the connection stays in step for the next
// batch.
func TestBatchMissingFile(t *testing.T) {
	_, p, files := batchServer(t, 2)
	sizes := []int64{int64(len(files[0])), 100, int64(len(files[1]))}
	for range 2 {
		got := readFiles(t, p, []string{"/f0", "/gone", "/f1"}, sizes)
		if !bytes.Equal(got[0].data, files[0]) || !bytes.Equal(got[2].data, files[1]) || got[0].err != nil || got[2].err != nil {
			t.Fatalf("around the missing file: %v, %v", got[0].err, got[2].err)
		}
		if err := got[1].err; Classify(err) != ClassNotFound || errors.Is(err, ErrNotBatched) {
			t.Fatalf("missing file: %v, want not found, from the server", err)
		}
	}
	oneConnection(t, p)
}

// A server that refuses active mode (550 to EPRT and PORT): the batch
// fails at once, its files as not batched, and no batch is tried again.
func TestBatchEPRTRefused(t *testing.T) {
	s, p, _ := batchServer(t, 3)
	s.SetFaults(ftpd.Faults{RefuseVerb: "EPSV,PASV,EPRT,PORT", RefuseCode: 550})
	paths, sizes := []string{"/f0", "/f1", "/f2"}, []int64{3000, 3001, 3002}
	t0 := time.Now()
	for _, r := range readFiles(t, p, paths, sizes) {
		if !errors.Is(r.err, ErrNotBatched) {
			t.Fatalf("batch with EPRT refused: %v, want ErrNotBatched", r.err)
		}
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("the refused batch took %v", d)
	}
	if p.Batching() {
		t.Fatal("batches still on after a refused EPRT")
	}
	was := s.Counts()
	for _, r := range readFiles(t, p, paths, sizes) {
		if !errors.Is(r.err, ErrNotBatched) {
			t.Fatalf("batch after batches stopped: %v", r.err)
		}
	}
	if n := s.Counts(); n["EPRT"] != was["EPRT"] || n["RETR"] != was["RETR"] {
		t.Errorf("server saw %v, then %v after batches stopped: want nothing more", was, n)
	}
}

// A server that does not know EPRT (502) over IPv4: that batch fails,
// its files are read alone (over PORT), and the next batch names its
// ports with PORT and reads every file.
func TestBatchEPRTUnknown(t *testing.T) {
	s, p, files := batchServer(t, 3)
	s.SetFaults(ftpd.Faults{RefuseVerb: "EPSV,PASV,EPRT", RefuseCode: 502})
	paths, sizes := []string{"/f0", "/f1", "/f2"}, []int64{3000, 3001, 3002}
	for _, r := range readFiles(t, p, paths, sizes) {
		if !errors.Is(r.err, ErrNotBatched) {
			t.Fatalf("batch with EPRT unknown: %v, want ErrNotBatched", r.err)
		}
	}
	if !p.Batching() {
		t.Fatal("batches off after an unknown EPRT: PORT was not tried")
	}
	for i, path := range paths {
		b := make([]byte, sizes[i])
		if n, err := p.ReadAt(context.Background(), path, b, 0, sizes[i]); err != nil || !bytes.Equal(b[:n], files[i]) {
			t.Fatalf("%s alone: %d bytes, %v", path, n, err)
		}
	}
	was := s.Counts()
	for i, r := range readFiles(t, p, paths, sizes) {
		if r.err != nil || !bytes.Equal(r.data, files[i]) {
			t.Fatalf("f%d in a batch over PORT: %d bytes, %v", i, len(r.data), r.err)
		}
	}
	if n := s.Counts(); n["EPRT"] != was["EPRT"] || n["PORT"] != was["PORT"]+3 {
		t.Errorf("server saw %v, then %v: want 3 PORT and no EPRT in the second batch", was, n)
	}
}

// A server that never connects to the port of a batch: the batch fails
// within the timeout, its files as not batched, and the pool goes on
// (a fresh connection, whose server does connect).
func TestBatchServerNeverConnects(t *testing.T) {
	fs := startActiveFake(t)
	p := NewPool(Config{Addr: fs.ln.Addr().String(), User: "u", Password: "p", Timeout: 300 * time.Millisecond, Active: true, MaxConns: 1})
	t.Cleanup(p.Close)
	t0 := time.Now()
	for _, r := range readFiles(t, p, []string{"/a", "/b"}, []int64{5, 5}) {
		if !errors.Is(r.err, ErrNotBatched) || Classify(r.err) != ClassTimeout {
			t.Fatalf("no data connection: %v, want a timeout, not batched", r.err)
		}
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("failed after %v, timeout 300ms", d)
	}
	fs.connect.Store(true)
	for _, r := range readFiles(t, p, []string{"/a", "/b"}, []int64{5, 5}) {
		if r.err != nil || string(r.data) != "hello" {
			t.Fatalf("after the failed batch: %q, %v", r.data, r.err)
		}
	}
	if st := p.Stats(); st.Dials != 2 || st.Open != 1 {
		t.Fatalf("%+v: want the broken connection closed and one more dialled", st)
	}
}

// activeFake is a server that takes EPRT and answers RETR with 150, and
// then connects and sends "hello" only once connect is set.
type activeFake struct {
	ln      net.Listener
	connect atomic.Bool // connect to the ports named by EPRT
	refuse  atomic.Bool // answer 425 to an active RETR
	slow    atomic.Bool // take 1.5 s over the bytes of an active RETR
}

func startActiveFake(t *testing.T) *activeFake {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &activeFake{ln: ln}
	go func() {
		for c, err := ln.Accept(); err == nil; c, err = ln.Accept() {
			go f.serve(c)
		}
	}()
	return f
}

func (f *activeFake) serve(c net.Conn) {
	defer c.Close()
	say := func(l string) { fmt.Fprintf(c, "%s\r\n", l) }
	say("220 ready")
	r := bufio.NewReader(c)
	var port string
	var pasv net.Listener // the port of the last EPSV, if it came after EPRT
	defer func() {
		if pasv != nil {
			pasv.Close()
		}
	}()
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(strings.TrimRight(l, "\r\n"), " ")
		switch verb {
		case "USER":
			say("230 in")
		case "FEAT":
			say("211-Features:\r\n EPRT\r\n EPSV\r\n211 End")
		case "EPRT":
			port = strings.Split(arg, "|")[3]
			if pasv != nil {
				pasv.Close()
				pasv = nil
			}
			say("200 ok")
		case "EPSV":
			if pasv != nil {
				pasv.Close()
			}
			if pasv, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				return
			}
			say(fmt.Sprintf("229 Entering Extended Passive Mode (|||%d|)", pasv.Addr().(*net.TCPAddr).Port))
		case "RETR":
			if pasv != nil {
				say("150 here it comes")
				d, err := pasv.Accept()
				pasv.Close()
				pasv = nil
				if err != nil {
					return
				}
				d.Write([]byte("hello"))
				d.Close()
				say("226 done")
				continue
			}
			if f.refuse.Load() {
				say("425 Can't open data connection.")
				continue
			}
			say("150 here it comes")
			if !f.connect.Load() {
				continue
			}
			d, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
			if err != nil {
				return
			}
			rest := "hello"
			if f.slow.Load() {
				d.Write([]byte("hel"))
				time.Sleep(1500 * time.Millisecond)
				rest = "lo"
			}
			d.Write([]byte(rest))
			d.Close()
			say("226 done")
		default:
			say("200 ok")
		}
	}
}

// Over FTPS (PROT P) a batch runs the TLS handshake on each connection
// the server opens, as a single active transfer does.
func TestBatchTLS(t *testing.T) {
	cert := testutil.NewCert(t, testutil.CertOptions{})
	s := startServer(t, func(c *ftpd.Config) { c.TLS = cert.ServerTLS(); c.TLSRequired = true })
	files := smallFilesAt(t, s, 3, 70)
	p := newPool(t, s, func(c *Config) {
		c.Active, c.MaxConns, c.TLS, c.TLSConfig = true, 1, TLSExplicit, cert.ClientTLS()
	})
	for i, r := range readFiles(t, p, []string{"/f0", "/f1", "/f2"}, []int64{3000, 3001, 3002}) {
		if r.err != nil || !bytes.Equal(r.data, files[i]) {
			t.Fatalf("f%d over TLS: %d bytes, %v", i, len(r.data), r.err)
		}
	}
	if n := s.Counts(); n["EPRT"] != 3 || n["RETR"] != 3 {
		t.Fatalf("server saw %v", n)
	}
}

// A transfer the server cuts short (its 426 after part of the bytes)
// fails alone: the final reply keeps the connection in step.
func TestBatchTransferCut(t *testing.T) {
	s, p, _ := batchServer(t, 2)
	s.SetFaults(ftpd.Faults{RefuseVerb: "EPSV,PASV", RefuseCode: 502, DropDataAfter: 1000})
	for i, r := range readFiles(t, p, []string{"/f0", "/f1"}, []int64{3000, 3001}) {
		var fe *Error
		if !errors.As(r.err, &fe) || fe.Code != 426 || errors.Is(r.err, ErrNotBatched) {
			t.Fatalf("f%d cut short: %d bytes, %v; want the server's 426", i, len(r.data), r.err)
		}
	}
	oneConnection(t, p)
}
