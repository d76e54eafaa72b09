package ftpd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzSession sends arbitrary bytes as commands after login. Whatever they
// are, the server must answer with well-formed replies (or close the
// connection) and still answer a NOOP after them; a panic anywhere in the
// server ends the fuzz run.
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		"NOOP", "RETR f", "LIST -la d", "MLSD d", "MLST f", "CWD ../..", "CDUP",
		"PORT 10,0,0,1,4,1", "EPRT |2|::1|5000|", "EPRT ||||", "EPSV ALL\r\nPASV",
		"REST 5\r\nSIZE f", "MDTM 20200101000000 f", "MFMT 2020 f", "SITE CHMOD 7777 f",
		"RNFR f\r\nRNTO d/g\r\nRNFR d/g\r\nRNTO f", "STAT d", "OPTS MLST type;;size",
		"\xff\xf4\xff\xf2ABOR", "TYPE L 8", "USER x\r\nPASS y", "STOR \x00", "DELE",
		strings.Repeat("A", 5000), "PASV\r\nLIST", "AUTH TLS", "HELP",
		"DELE f\xffZ", "RNFR f\r\nRNTO d\xff\xff\xf1", "MKD d/\xff\xff\r\nMLST d/\xff\xff",
	} {
		f.Add([]byte(seed))
	}
	// One server for every input (and in every fuzz worker process):
	// starting one per input would measure start-up, not the parser.
	root := f.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("content"), 0o644); err != nil {
		f.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "d"), 0o755); err != nil {
		f.Fatal(err)
	}
	srv, err := New(Config{
		Root:           root,
		Listen:         "127.0.0.1:0",
		Users:          map[string]string{testUser: testPass},
		DataTimeout:    200 * time.Millisecond,
		LoginFailDelay: time.Millisecond,
		MaxSessions:    -1,
		MaxPerIP:       -1,
	})
	if err == nil {
		err = srv.Start()
	}
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	f.Fuzz(func(t *testing.T, in []byte) {
		if bytes.Contains(bytes.ToUpper(in), []byte("QUIT")) {
			in = bytes.ReplaceAll(bytes.ToUpper(in), []byte("QUIT"), []byte("NOOP"))
		}
		c, err := net.DialTimeout("tcp", srv.Addr().String(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		io.WriteString(c, "USER "+testUser+"\r\nPASS "+testPass+"\r\n")
		c.Write(in)
		io.WriteString(c, "\r\nNOOP fuzz-end\r\n")
		for {
			line, err := r.ReadString('\n')
			if errors.Is(err, io.EOF) || isReset(err) {
				return // the server may hang up (USER storms, AUTH TLS)
			}
			if err != nil {
				t.Fatalf("no reply to the final NOOP: %v", err)
			}
			if len(line) < 4 || !strings.HasSuffix(line, "\r\n") || !isReplyLine(line) {
				t.Fatalf("malformed reply line %q", line)
			}
			if strings.HasPrefix(line, "200 NOOP") {
				// Several NOOPs may be in the input; the final one is
				// the last reply the server sends.
				c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
				if _, err := r.Peek(1); err != nil {
					return
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
			}
		}
	})
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

// isReplyLine accepts "ddd text", "ddd-text" and the " text" lines inside
// a multi-line reply.
func isReplyLine(l string) bool {
	if l[0] == ' ' {
		return true
	}
	for i := 0; i < 3; i++ {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	return l[3] == ' ' || l[3] == '-'
}

// FuzzReadLine checks the line reader's bounds: no line longer than
// maxLine comes out, and an overlong one does not swallow the next line.
func FuzzReadLine(f *testing.F) {
	f.Add([]byte("NOOP\r\nPWD\n"), 10)
	f.Add([]byte("\xff\xf4\xff\xf2ABOR\r\n"), 1)
	f.Add([]byte("DELE /important\xffZ\r\n"), 2)
	f.Add(bytes.Repeat([]byte("x"), 9000), 3)
	f.Fuzz(func(t *testing.T, in []byte, long int) {
		long = (long%10000+10000)%10000 + 1
		var b bytes.Buffer
		b.Write(in)
		b.WriteString(strings.Repeat("L", long))
		b.WriteString("\nNEXT\n")
		r := bufio.NewReaderSize(&b, maxLine+2)
		sawNext := false
		for {
			line, err := readLine(r)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil && !refused(err) {
				t.Fatal(err)
			}
			if len(line) > maxLine {
				t.Fatalf("line of %d bytes", len(line))
			}
			sawNext = line == "NEXT"
		}
		if !sawNext {
			t.Fatal("the line after the input was lost")
		}
	})
}

// FuzzResolve checks that no argument resolves to a path outside the root.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"..", "../x", "/../../etc", "a/../../b", "./././", "a//b/", "\x00", ".../..", "a/.."} {
		f.Add("/d", s)
	}
	f.Fuzz(func(t *testing.T, cwd, arg string) {
		s := &session{cwd: "/"}
		if v, _, err := s.resolve(cwd); err == nil {
			s.cwd = v
		}
		v, rel, err := s.resolve(arg)
		if err != nil {
			return
		}
		if !strings.HasPrefix(v, "/") || (rel != "." && "/"+rel != v) {
			t.Fatalf("resolve(%q) = %q, %q", arg, v, rel)
		}
		for _, c := range strings.Split(rel, "/") {
			if c == ".." || c == "" {
				t.Fatalf("resolve(%q) rel %q has component %q", arg, rel, c)
			}
		}
	})
}

// FuzzParseFTPTime checks that accepted times print back as they came.
func FuzzParseFTPTime(f *testing.F) {
	f.Add("20200102030405")
	f.Add("20200102030405.123")
	f.Add("99999999999999.")
	f.Fuzz(func(t *testing.T, v string) {
		tm, err := parseFTPTime(v)
		if err != nil {
			return
		}
		main, _, _ := strings.Cut(v, ".")
		if got := tm.Format(mdtmLayout); got != main {
			t.Fatalf("parseFTPTime(%q) = %s", v, got)
		}
	})
}
