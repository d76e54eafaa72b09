package fs

// A hostile server: listings with names that would climb out of the
// mount or break lines, a 10 MB line, replies that make no sense, and a
// PASV reply that names another host. The mount shows what is safe,
// refuses the rest, never addresses anything outside its root and keeps
// answering.

import (
	"bufio"
	"errors"
	"fmt"
	"ftpfs/internal/testutil"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// evilServer speaks just enough FTP to be mounted, with the listings and
// replies a test gives it.
type evilServer struct {
	t        *testing.T
	ln       net.Listener
	mlsd     bool
	listings map[string]string // directory → raw listing
	// endless lists a directory with lines that never end: the i-th
	// line of its listing, until the client closes the data connection.
	endless  map[string]func(i int) string
	files    map[string]string // path → content
	replies  map[string]string // verb → a raw reply line in place of the normal one
	pasvHost string            // the address PASV replies name
	pasvPort int               // the port data is offered on, if free (0: any)

	mu       sync.Mutex
	commands []string
}

func startEvil(t *testing.T, e *evilServer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.t, e.ln = t, ln
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go e.serve(c)
		}
	}()
	return ln.Addr().String()
}

func (e *evilServer) log() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.commands...)
}

func (e *evilServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 1<<16)
	say := func(s string) { fmt.Fprintf(c, "%s\r\n", s) }
	say("220 evil")
	var data net.Listener
	defer func() {
		if data != nil {
			data.Close()
		}
	}()
	for {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		e.mu.Lock()
		e.commands = append(e.commands, line)
		e.mu.Unlock()
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		if rep, ok := e.replies[verb]; ok {
			c.Write([]byte(rep + "\r\n"))
			continue
		}
		switch verb {
		case "USER":
			say("331 password")
		case "PASS":
			say("230 in")
		case "FEAT":
			if e.mlsd {
				say("211-Features:\r\n MLST type*;size*;modify*;\r\n SIZE\r\n MDTM\r\n211 End")
			} else {
				say("211-Features:\r\n SIZE\r\n MDTM\r\n211 End")
			}
		case "TYPE", "OPTS", "NOOP":
			say("200 ok")
		case "PWD":
			say(`257 "/"`)
		case "QUIT":
			say("221 bye")
			return
		case "EPSV":
			say("500 no EPSV here")
		case "PASV":
			if data != nil {
				data.Close()
			}
			// The port of the canary, on this host: a client that
			// trusted the PASV address would reach the canary.
			if data, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", e.pasvPort)); err != nil {
				if data, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
					say("425 no")
					continue
				}
			}
			port := data.Addr().(*net.TCPAddr).Port
			h := strings.ReplaceAll(e.pasvHost, ".", ",")
			say(fmt.Sprintf("227 Entering Passive Mode (%s,%d,%d)", h, port>>8, port&255))
		case "MLSD", "LIST", "RETR":
			body, ok := e.files[arg]
			var endless func(int) string
			if verb != "RETR" {
				p := strings.TrimPrefix(arg, "-a ")
				body, ok = e.listings[p]
				endless = e.endless[p]
				ok = ok || endless != nil
			}
			if !ok || data == nil {
				say("550 no such thing")
				continue
			}
			say("150 here")
			data.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
			dc, err := data.Accept()
			data.Close()
			data = nil
			if err != nil {
				say("425 no data connection")
				continue
			}
			if endless != nil {
				dc.SetDeadline(time.Now().Add(30 * time.Second))
				w := bufio.NewWriterSize(dc, 1<<16)
				for i := 0; ; i++ {
					if _, err := w.WriteString(endless(i)); err != nil {
						break
					}
				}
				dc.Close()
				say("426 the client closed the data connection")
				continue
			}
			dc.Write([]byte(body))
			dc.Close()
			say("226 done")
		case "SIZE":
			if body, ok := e.files[arg]; ok {
				say(fmt.Sprintf("213 %d", len(body)))
			} else {
				say("550 no")
			}
		case "MDTM":
			say("213 20240101000000")
		default:
			say("502 not here")
		}
	}
}

// canary listens where a PASV reply points and counts who comes.
func canary(t *testing.T, host string) (port int, hits func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		testutil.Unavailable(t, "cannot listen on %s: %v", host, err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	n := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func TestHostileServer(t *testing.T) {
	testutil.NeedFUSE(t)
	long := strings.Repeat("x", 10<<20) // 10 MB without a newline
	for _, mlsd := range []bool{true, false} {
		name := map[bool]string{true: "MLSD", false: "LIST"}[mlsd]
		t.Run(name, func(t *testing.T) {
			port, hits := canary(t, "127.0.0.2")
			var root, sub string
			fileLine := func(n string) string {
				if mlsd {
					return "type=file;size=5;modify=20240101000000; " + n + "\r\n"
				}
				return "-rw-r--r--   1 u g 5 Jan  1  2024 " + n + "\r\n"
			}
			dirLine := func(n string) string {
				if mlsd {
					return "type=dir;modify=20240101000000; " + n + "\r\n"
				}
				return "drwxr-xr-x   2 u g 4096 Jan  1  2024 " + n + "\r\n"
			}
			for _, n := range []string{"ok.txt", "../escape", "/etc/passwd", "a/b", "..", ".", "nul\x00name", "cr\rname", ""} {
				root += fileLine(n)
			}
			root += dirLine("sub") + dirLine("../up") + "this is no listing line\r\n" + long + "\r\n" + fileLine("after-long.txt")
			sub = fileLine("inner.txt") + fileLine("../../../../etc/shadow") + long
			e := &evilServer{mlsd: mlsd, pasvHost: "127.0.0.2", pasvPort: port,
				listings: map[string]string{"/": root, "/sub": sub},
				files:    map[string]string{"/ok.txt": "hello", "/sub/inner.txt": "inner"},
			}
			addr := startEvil(t, e)
			_, mnt, logs := mountAt(t, addr, "u", "p")
			got := names(t, mnt)
			if want := []string{"after-long.txt", "ok.txt", "sub"}; strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("root shows %q, want %q", got, want)
			}
			if got := names(t, filepath.Join(mnt, "sub")); strings.Join(got, "|") != "inner.txt" {
				t.Fatalf("sub shows %q", got)
			}
			// The data goes to the control connection's host, not to
			// the one the PASV reply names.
			if b, err := os.ReadFile(filepath.Join(mnt, "ok.txt")); err != nil || string(b) != "hello" {
				t.Fatalf("ok.txt: %q %v", b, err)
			}
			if n := hits(); n != 0 {
				t.Fatalf("%d connections to the host a PASV reply named", n)
			}
			// Names that would climb out are refused before any command.
			for _, p := range []string{"../escape", "sub/../../escape"} {
				if _, err := os.Stat(filepath.Join(mnt, p)); err == nil {
					t.Errorf("%s resolved through the mount", p)
				}
			}
			before := len(e.log())
			for _, n := range []string{"a\rb", "a\nb"} {
				if err := os.WriteFile(filepath.Join(mnt, n), []byte("x"), 0o644); !errors.Is(err, syscall.EINVAL) {
					t.Errorf("create %q: %v, want EINVAL", n, err)
				}
			}
			for _, c := range e.log()[before:] {
				if strings.ContainsAny(c, "\r\x00") || strings.Contains(c, "a\nb") {
					t.Errorf("a command with CR, LF or NUL reached the server: %q", c)
				}
			}
			if s := logs.String(); !strings.Contains(s, "listing names refused") || !strings.Contains(s, "listing lines not understood") {
				t.Errorf("the refusals were not logged:\n%s", testutil.Tail(s, 20))
			}
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			// The 10 MB lines were skipped, not kept (this process holds
			// the test's own copy of one, and the server's listings).
			if ms.HeapInuse > 96<<20 {
				t.Errorf("heap in use %d MiB after the long lines", ms.HeapInuse>>20)
			}
		})
	}
}

// TestHostileReplies: replies with codes or content that make no sense
// give the caller an errno, and the mount goes on answering.
func TestHostileReplies(t *testing.T) {
	testutil.NeedFUSE(t)
	e := &evilServer{mlsd: true, pasvHost: "127.0.0.1",
		listings: map[string]string{
			"/":    "type=file;size=5; ok.txt\r\ntype=dir; d1\r\ntype=dir; d2\r\n",
			"/d1":  "type=file;size=1; x\r\n",
			"/d2":  "type=file;size=1; y\r\n",
			"/bad": "",
		},
		files:   map[string]string{"/ok.txt": "hello"},
		replies: map[string]string{"MKD": "999 what is this", "DELE": strings.Repeat("5", 20<<10), "RNFR": "350-no end to this"},
	}
	addr := startEvil(t, e)
	_, mnt, _ := mountAt(t, addr, "u", "p", func(o *Options) { o.Conn.Timeout = 2 * time.Second })
	for _, op := range []struct {
		what string
		do   func() error
	}{
		{"mkdir (reply 999)", func() error { return os.Mkdir(filepath.Join(mnt, "new"), 0o755) }},
		{"unlink (a 20 KB reply line)", func() error { return os.Remove(filepath.Join(mnt, "ok.txt")) }},
		{"rename (a reply that never ends)", func() error { return os.Rename(filepath.Join(mnt, "ok.txt"), filepath.Join(mnt, "k.txt")) }},
	} {
		t0 := time.Now()
		err := op.do()
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			t.Errorf("%s: %v, want an errno", op.what, err)
		}
		if d := time.Since(t0); d > 4*time.Second {
			t.Errorf("%s took %v, more than twice the timeout", op.what, d)
		}
		// And the mount still answers.
		if b, err := os.ReadFile(filepath.Join(mnt, "ok.txt")); err != nil || string(b) != "hello" {
			t.Fatalf("after %s: ok.txt %q %v", op.what, b, err)
		}
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}
