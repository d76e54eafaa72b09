package conn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// statServer is a LIST-only server scripted for STAT: stat answers
// "STAT -a <path>" with what it writes, whole, or with writes that
// keep going (hostile); LIST answers from lists over a data connection.
type statServer struct {
	ln    net.Listener
	stat  func(w io.Writer, path string)
	lists map[string]string
	mlsd  map[string]string // MLSD's listings; the server has MLSD when set

	mu     sync.Mutex
	counts map[string]int
}

func startStatServer(t *testing.T, stat func(w io.Writer, path string), lists map[string]string) *statServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &statServer{ln: ln, stat: stat, lists: lists, counts: map[string]int{}}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for c, err := ln.Accept(); err == nil; c, err = ln.Accept() {
			go s.serve(c)
		}
	}()
	return s
}

// hungUp runs a script and says whether it hung up.
func hungUp(script func()) (hung bool) {
	defer func() {
		if r := recover(); r != nil {
			if r != errHangUp {
				panic(r)
			}
			hung = true
		}
	}()
	script()
	return false
}

func (s *statServer) count(verb string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[verb]
}

func (s *statServer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	w := bufio.NewWriter(c)
	say := func(l string) { w.WriteString(l + "\r\n"); w.Flush() }
	say("220 scripted")
	r := bufio.NewReader(c)
	var data net.Listener
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		s.mu.Lock()
		s.counts[verb]++
		s.mu.Unlock()
		switch verb {
		case "USER":
			say("331 password")
		case "PASS":
			say("230 in")
		case "FEAT":
			if s.mlsd != nil {
				say("211-Features:\r\n MDTM\r\n EPSV\r\n MLST type*;size*;modify*;\r\n211 End")
				continue
			}
			say("211-Features:\r\n MDTM\r\n EPSV\r\n211 End")
		case "TYPE":
			say("200 ok")
		case "EPSV":
			data, _ = net.Listen("tcp", "127.0.0.1:0")
			say(fmt.Sprintf("229 Entering Extended Passive Mode (|||%d|)", data.Addr().(*net.TCPAddr).Port))
		case "LIST", "MLSD":
			body, ok := s.lists[strings.TrimPrefix(arg, "-a ")]
			if verb == "MLSD" {
				body, ok = s.mlsd[arg]
			}
			if data == nil || !ok {
				say("550 no")
				continue
			}
			say("150 here")
			if dc, err := data.Accept(); err == nil {
				io.WriteString(dc, body)
				dc.Close()
			}
			data.Close()
			data = nil
			say("226 done")
		case "STAT":
			if hungUp(func() { s.stat(w, strings.TrimPrefix(arg, "-a ")) }) {
				w.Flush()
				return
			}
			w.Flush()
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 no")
		}
	}
}

const (
	statLine1 = "-rw-r--r--    1 0        0               5 Jan 02 03:04 a file"
	statLine2 = "lrwxrwxrwx    1 0        0               1 Jan 02 03:04 l -> a file"
)

// TestStatListingShapes: the shapes of STAT replies servers send: lines
// as they are (vsftpd, pure-ftpd), indented by a space and under 212
// (proftpd), each in the "213-" style of RFC 959; lines longer than a
// reply line may be; all list the same, in one STAT and no LIST.
func TestStatListingShapes(t *testing.T) {
	const want = "a file file 5 |l link 0 a file"
	for name, reply := range map[string]string{
		"plain":    "213-Status follows:\r\n" + statLine1 + "\r\n" + statLine2 + "\r\n213 End of status\r\n",
		"indented": "212-Status of /d:\r\n " + statLine1 + "\r\n " + statLine2 + "\r\n212 End of status\r\n",
		"dashed":   "213-STAT\r\n213-" + statLine1 + "\r\n213-" + statLine2 + "\r\n213 End.\r\n",
		"total":    "213-Status follows:\r\ntotal 2\r\n" + statLine1 + "\r\n" + statLine2 + "\r\n213 End\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			s := startStatServer(t, func(w io.Writer, _ string) { io.WriteString(w, reply) }, nil)
			p := NewPool(Config{Addr: s.ln.Addr().String(), Timeout: 5 * time.Second})
			defer p.Close()
			for range 2 {
				es, err := p.ReadDir(context.Background(), "/d")
				if err != nil {
					t.Fatal(err)
				}
				if got := shown(es); got != want {
					t.Fatalf("entries %q, want %q", got, want)
				}
			}
			if s.count("STAT") != 2 || s.count("LIST") != 0 {
				t.Fatalf("STAT %d, LIST %d; want 2, 0", s.count("STAT"), s.count("LIST"))
			}
		})
	}
}

// TestStatListingLongLine: a line longer than any reply line may be, but
// within a listing's, lists as over a data connection.
func TestStatListingLongLine(t *testing.T) {
	name := strings.Repeat("n", 20000)
	line := "-rw-r--r--    1 0        0               5 Jan 02 03:04 " + name
	s := startStatServer(t, func(w io.Writer, _ string) {
		io.WriteString(w, "213-Status follows:\r\n"+line+"\r\n"+statLine1+"\r\n213 End\r\n")
	}, nil)
	p := NewPool(Config{Addr: s.ln.Addr().String(), Timeout: 5 * time.Second})
	defer p.Close()
	var lines []string
	err := p.list(context.Background(), "/d", false, func() { lines = nil }, func(l string, _ bool) error {
		lines = append(lines, l)
		return nil
	})
	if err != nil || len(lines) != 2 || lines[0] != line || lines[1] != statLine1 {
		t.Fatalf("%d lines, %v", len(lines), err)
	}
}

// TestStatListingFallback: what STAT cannot stand for goes to LIST: its
// refusal (for good), an empty answer (an empty directory, or a missing
// one on vsftpd: LIST decides, and STAT stays while LIST agrees), a name
// with a 0xFF, which servers send doubled or not.
func TestStatListingFallback(t *testing.T) {
	lists := map[string]string{"/full": statLine1 + "\r\n", "/empty": ""}
	for _, tc := range []struct {
		name      string
		reply     string
		dir       string
		entries   int
		statAfter bool // STAT still asked for the next listing
	}{
		{"status instead", "211-Status:\r\n connected\r\n211 End\r\n", "/full", 1, false},
		{"refused", "501 no paths\r\n", "/full", 1, false},
		{"failed, LIST lists", "450 busy\r\n", "/full", 1, false},
		{"empty, LIST lists", "213-Status follows:\r\n213 End\r\n", "/full", 1, false},
		{"empty, LIST agrees", "213-Status follows:\r\n213 End\r\n", "/empty", 0, true},
		{"a 0xFF, doubled or not", "213-Status follows:\r\n" + statLine1 + "\xff\xff\r\n213 End\r\n", "/full", 1, true},
		{"single-line, LIST agrees", "213 End\r\n", "/empty", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startStatServer(t, func(w io.Writer, _ string) { io.WriteString(w, tc.reply) }, lists)
			p := NewPool(Config{Addr: s.ln.Addr().String(), Timeout: 5 * time.Second})
			defer p.Close()
			es, err := p.ReadDir(context.Background(), tc.dir)
			if err != nil || len(es) != tc.entries {
				t.Fatalf("%d entries, %v; want %d", len(es), err, tc.entries)
			}
			if s.count("STAT") != 1 || s.count("LIST") != 1 {
				t.Fatalf("STAT %d, LIST %d; want 1, 1", s.count("STAT"), s.count("LIST"))
			}
			p.ReadDir(context.Background(), tc.dir)
			if got := s.count("STAT") == 2; got != tc.statAfter {
				t.Fatalf("STAT asked again: %v, want %v", got, tc.statAfter)
			}
		})
	}
}

// TestStatListingHostile: a STAT reply without end is cut at the
// listing's caps, in lines and in bytes, and never taken for a whole
// listing; nor is one the server closes in the middle.
func TestStatListingHostile(t *testing.T) {
	endless := func(w io.Writer, _ string) {
		io.WriteString(w, "213-Status follows:\r\n")
		for {
			if _, err := io.WriteString(w, statLine1+"\r\n"); err != nil {
				return
			}
		}
	}
	for _, tc := range []struct {
		name    string
		entries int
		bytes   int64
	}{{"lines", 1000, 1 << 30}, {"bytes", 1 << 20, 64 << 10}} {
		t.Run(tc.name, func(t *testing.T) {
			s := startStatServer(t, endless, nil)
			p := NewPool(Config{Addr: s.ln.Addr().String(), Timeout: 5 * time.Second, MaxListingEntries: tc.entries, MaxListingBytes: tc.bytes})
			defer p.Close()
			_, err := p.ReadDir(context.Background(), "/d")
			if !errors.Is(err, ErrListingTooLarge) || Classify(err) != ClassTooLarge {
				t.Fatalf("%v; want ErrListingTooLarge", err)
			}
		})
	}
	t.Run("cut", func(t *testing.T) {
		s := startStatServer(t, func(w io.Writer, _ string) {
			io.WriteString(w, "213-Status follows:\r\n"+statLine1+"\r\n")
			panic(errHangUp)
		}, nil)
		p := NewPool(Config{Addr: s.ln.Addr().String(), Timeout: 5 * time.Second})
		defer p.Close()
		if es, err := p.ReadDir(context.Background(), "/d"); err == nil {
			t.Fatalf("a reply cut short listed %d entries", len(es))
		}
	})
}

// errHangUp, panicked by a script, ends its session.
var errHangUp = errors.New("hang up")
