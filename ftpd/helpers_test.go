package ftpd

// Shared helpers of ftpd's tests: a server on a temporary root, a raw FTP
// client that speaks the wire protocol line by line, and leak probes.
// What every package's tests share (certificates, trees, the skip rule) is
// in internal/testutil; its ftpdtest, which starts ftpd for the clients'
// tests, imports ftpd and so cannot serve here.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"ftpfs/internal/testutil"
)

const (
	testUser = "alice"
	testPass = "secret"
)

// verbLog is the server's CommandLog: "<time> <session> <VERB> <arg>" lines.
type verbLog struct{ testutil.Buffer }

// commands returns the logged commands as "VERB arg" (or "VERB"), in order.
func (l *verbLog) commands() []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		f := strings.SplitN(line, " ", 4)
		if len(f) < 3 {
			continue
		}
		c := strings.ToUpper(f[2])
		if len(f) == 4 {
			c += " " + f[3]
		}
		out = append(out, c)
	}
	return out
}

// args returns the arguments of every logged command with this verb.
func (l *verbLog) args(verb string) []string {
	var out []string
	for _, c := range l.commands() {
		v, arg, _ := strings.Cut(c, " ")
		if v == verb {
			out = append(out, arg)
		}
	}
	return out
}

func (l *verbLog) has(verb string) bool {
	for _, c := range l.commands() {
		if v, _, _ := strings.Cut(c, " "); v == verb {
			return true
		}
	}
	return false
}

// harness is a started Server on a fresh root. Root's parent (Base) is
// also temporary and is where hostile tests put files that must not leak.
type harness struct {
	*Server
	Base   string
	Root   string
	Log    *verbLog
	events *testutil.Buffer
}

// startHarness starts a server for alice/secret on 127.0.0.1:0 with small
// delays, applies mods to the config, and closes it when the test ends.
func startHarness(t *testing.T, mods ...func(*Config)) *harness {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	h := &harness{Base: base, Root: root, Log: &verbLog{}, events: &testutil.Buffer{}}
	cfg := Config{
		Root:           root,
		Listen:         "127.0.0.1:0",
		Users:          map[string]string{testUser: testPass},
		IdleTimeout:    time.Minute,
		DataTimeout:    10 * time.Second,
		LoginFailDelay: 10 * time.Millisecond,
		CommandLog:     h.Log,
		// Events go to a buffer, not t.Log: a session ending late must
		// not log into a finished test.
		Logger: slog.New(slog.NewTextHandler(h.events, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mods {
		m(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	h.Server = srv
	testutil.LogOnFailure(t, "server command log", h.Log, 60)
	testutil.LogOnFailure(t, "server events", h.events, 60)
	testutil.CloseAtEnd(t, "server", srv)
	return h
}

// withTLS returns a config modifier that enables AUTH TLS and the implicit
// listener, and the PEM file clients should trust.
func withTLS(t *testing.T) (mod func(*Config), certFile string) {
	t.Helper()
	cert := testutil.NewCert(t, testutil.CertOptions{})
	return func(c *Config) {
		c.TLS = cert.ServerTLS()
		c.ImplicitTLSListen = "127.0.0.1:0"
	}, cert.CertFile
}

// writeNetrc writes a netrc file with mode 0600 (curl refuses nothing, but
// a password file should never be world-readable).
func writeNetrc(t *testing.T, user, pass string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "netrc")
	data := fmt.Sprintf("machine 127.0.0.1\nlogin %s\npassword %s\n", user, pass)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// clientEnv is a minimal environment for client subprocesses: a private
// HOME so no user config (~/.curlrc, ~/.lftprc, ~/.netrc) applies, no proxy
// variables, and a UTF-8 locale so names are not transcoded.
func clientEnv(t *testing.T) []string {
	return []string{
		"HOME=" + t.TempDir(),
		"PATH=" + os.Getenv("PATH"),
		"LC_ALL=C.UTF-8",
		"LANG=C.UTF-8",
	}
}

// sampleTree is the tree lftp mirrors: nested and empty directories, an
// empty file, a 3 MiB random file, names with spaces and UTF-8.
func sampleTree() testutil.Tree {
	return testutil.Tree{
		"a.txt":                        []byte("hello, mirror\n"),
		"empty":                        {},
		"big.bin":                      testutil.RandBytes(1, 3<<20),
		"dir one/nested/deep file.txt": []byte("deep\n"),
		"dir one/nested/empty file":    {},
		"dir one/odd.bin":              testutil.RandBytes(2, 65537),
		"ünïcødé 日本/ファイル.txt":          []byte("utf-8 名前\n"),
		"ünïcødé 日本/sub/x y.bin":       testutil.RandBytes(3, 100_003),
		"dir one/empty dir/":           nil,
	}
}

// ftpReply is one reply; Text holds all its lines joined by "\n".
type ftpReply struct {
	Code int
	Text string
}

func (r ftpReply) String() string { return r.Text }

// rawClient speaks FTP line by line, so tests control every byte. Its
// methods return errors rather than failing the test, so that goroutines
// can use them.
type rawClient struct {
	conn    net.Conn
	r       *bufio.Reader
	timeout time.Duration
}

// dialRaw connects and reads the greeting.
func dialRaw(addr string) (*rawClient, ftpReply, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, ftpReply{}, err
	}
	c := &rawClient{conn: conn, r: bufio.NewReader(conn), timeout: 10 * time.Second}
	greet, err := c.readReply()
	if err != nil {
		conn.Close()
		return nil, greet, fmt.Errorf("greeting: %w", err)
	}
	return c, greet, nil
}

// mustDial connects, expects 220 and closes the connection at cleanup.
func mustDial(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, greet, err := dialRaw(addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.conn.Close() })
	if greet.Code != 220 {
		t.Fatalf("greeting: %q, want 220", greet.Text)
	}
	return c
}

func (c *rawClient) Close() error { return c.conn.Close() }

// readLine reads one line without its CRLF, refusing absurd lengths so a
// broken server cannot make the test allocate without bound.
func (c *rawClient) readLine() (string, error) {
	var line []byte
	for {
		frag, err := c.r.ReadSlice('\n')
		line = append(line, frag...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return string(line), err
		}
		if len(line) > 1<<20 {
			return "", fmt.Errorf("reply line longer than 1 MiB")
		}
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// readReply reads a single- or multi-line reply (RFC 959 4.2).
func (c *rawClient) readReply() (ftpReply, error) {
	if err := c.conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return ftpReply{}, err
	}
	first, err := c.readLine()
	if err != nil {
		return ftpReply{}, err
	}
	code, ok := replyCode(first)
	if !ok {
		return ftpReply{Text: first}, fmt.Errorf("malformed reply line %q", first)
	}
	r := ftpReply{Code: code, Text: first}
	if len(first) > 3 && first[3] == '-' {
		for lines := 0; ; lines++ {
			if lines > 10000 {
				return r, fmt.Errorf("multi-line reply %d does not end", code)
			}
			l, err := c.readLine()
			if err != nil {
				return r, fmt.Errorf("in multi-line reply: %w", err)
			}
			r.Text += "\n" + l
			if strings.HasPrefix(l, first[:3]) && (len(l) == 3 || l[3] == ' ') {
				break
			}
		}
	}
	return r, nil
}

func replyCode(line string) (int, bool) {
	if len(line) < 3 || (len(line) > 3 && line[3] != ' ' && line[3] != '-') {
		return 0, false
	}
	code, err := strconv.Atoi(line[:3])
	return code, err == nil && code >= 100 && code <= 599
}

// send writes one command line; the caller adds nothing.
func (c *rawClient) send(line string) error {
	return c.sendRaw([]byte(line + "\r\n"))
}

func (c *rawClient) sendRaw(b []byte) error {
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return err
	}
	_, err := c.conn.Write(b)
	return err
}

// cmd sends a command and reads its reply.
func (c *rawClient) cmd(line string) (ftpReply, error) {
	if err := c.send(line); err != nil {
		return ftpReply{}, fmt.Errorf("send %q: %w", redact(line), err)
	}
	r, err := c.readReply()
	if err != nil {
		return r, fmt.Errorf("reply to %q: %w", redact(line), err)
	}
	return r, nil
}

// expect sends a command and fails the test unless the reply has one of
// the codes.
func (c *rawClient) expect(t *testing.T, line string, codes ...int) ftpReply {
	t.Helper()
	r, err := c.cmd(line)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range codes {
		if r.Code == want {
			return r
		}
	}
	t.Fatalf("%q: reply %q, want code %v", redact(line), r.Text, codes)
	return r
}

// expectReply reads a reply without sending anything (the end of a
// transfer) and fails the test unless it has one of the codes.
func (c *rawClient) expectReply(t *testing.T, codes ...int) ftpReply {
	t.Helper()
	r, err := c.readReply()
	if err != nil {
		t.Fatal(err)
	}
	if !containsCode(codes, r.Code) {
		t.Fatalf("reply %q, want code %v", r.Text, codes)
	}
	return r
}

func redact(line string) string {
	if len(line) > 5 && strings.EqualFold(line[:5], "PASS ") {
		return "PASS ****"
	}
	if len(line) > 200 {
		return fmt.Sprintf("%s... (%d bytes)", line[:40], len(line))
	}
	return line
}

func (c *rawClient) login(user, pass string) error {
	r, err := c.cmd("USER " + user)
	if err != nil {
		return err
	}
	if r.Code == 230 {
		return nil
	}
	if r.Code != 331 {
		return fmt.Errorf("USER: %q", r.Text)
	}
	if r, err = c.cmd("PASS " + pass); err != nil {
		return err
	}
	if r.Code != 230 {
		return fmt.Errorf("PASS: %q", r.Text)
	}
	return nil
}

func (c *rawClient) mustLogin(t *testing.T) {
	t.Helper()
	if err := c.login(testUser, testPass); err != nil {
		t.Fatal(err)
	}
}

var (
	pasvRE = regexp.MustCompile(`(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)`)
	epsvRE = regexp.MustCompile(`\|\|\|(\d+)\|`)
)

// passive sends EPSV (or PASV when pasv is set) and dials the data port on
// the control connection's peer, as curl and jlaffaye/ftp do.
func (c *rawClient) passive(pasv bool) (net.Conn, error) {
	var port int
	if pasv {
		r, err := c.cmd("PASV")
		if err != nil {
			return nil, err
		}
		m := pasvRE.FindStringSubmatch(r.Text)
		if r.Code != 227 || m == nil {
			return nil, fmt.Errorf("PASV: %q", r.Text)
		}
		hi, _ := strconv.Atoi(m[5])
		lo, _ := strconv.Atoi(m[6])
		port = hi<<8 | lo
	} else {
		r, err := c.cmd("EPSV")
		if err != nil {
			return nil, err
		}
		m := epsvRE.FindStringSubmatch(r.Text)
		if r.Code != 229 || m == nil {
			return nil, fmt.Errorf("EPSV: %q", r.Text)
		}
		port, _ = strconv.Atoi(m[1])
	}
	host, _, _ := net.SplitHostPort(c.conn.RemoteAddr().String())
	d, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = d.SetDeadline(time.Now().Add(30 * time.Second))
	return d, nil
}

// retr downloads a file in binary mode over EPSV.
func (c *rawClient) retr(name string) ([]byte, error) {
	if r, err := c.cmd("TYPE I"); err != nil || r.Code != 200 {
		return nil, fmt.Errorf("TYPE I: %q %v", r.Text, err)
	}
	data, err := c.passive(false)
	if err != nil {
		return nil, err
	}
	defer data.Close()
	r, err := c.cmd("RETR " + name)
	if err != nil {
		return nil, err
	}
	if r.Code != 150 && r.Code != 125 {
		return nil, fmt.Errorf("RETR %s: %q", name, r.Text)
	}
	b, err := io.ReadAll(data)
	if err != nil {
		return b, fmt.Errorf("RETR %s data: %w", name, err)
	}
	if r, err = c.readReply(); err != nil || r.Code != 226 && r.Code != 250 {
		return b, fmt.Errorf("RETR %s end: %q %v", name, r.Text, err)
	}
	return b, nil
}

// waitEvents waits until the server has logged n events with message msg,
// which must hold a space (TextHandler then quotes it).
func waitEvents(t *testing.T, h *harness, msg string, n int) {
	t.Helper()
	testutil.WaitUntil(t, 10*time.Second, fmt.Sprintf("%d %q events", n, msg), func() (bool, string) {
		got := strings.Count(h.events.String(), "msg="+strconv.Quote(msg))
		return got >= n, fmt.Sprintf("%d of them", got)
	})
}

// openFDs counts this process's open descriptors, or -1 without /proc.
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// leakBaseline is what the process holds while the server is idle.
type leakBaseline struct {
	goroutines, fds int
}

// idleBaseline waits for the server to have no session and measures.
func idleBaseline(t *testing.T, h *harness) leakBaseline {
	t.Helper()
	testutil.WaitUntil(t, 10*time.Second, "sessions drain before baseline", func() (bool, string) {
		n := h.Sessions()
		return n == 0, fmt.Sprintf("%d sessions", n)
	})
	runtime.GC()
	return leakBaseline{goroutines: runtime.NumGoroutine(), fds: openFDs()}
}

// checkNoLeaks waits for sessions, goroutines and descriptors to return to
// the baseline. Goroutines get a little slack for runtime helpers.
func checkNoLeaks(t *testing.T, h *harness, base leakBaseline) {
	t.Helper()
	testutil.WaitUntil(t, 15*time.Second, "Sessions() back to 0", func() (bool, string) {
		n := h.Sessions()
		return n == 0, fmt.Sprintf("%d sessions", n)
	})
	testutil.WaitUntil(t, 10*time.Second, "goroutines back to baseline", func() (bool, string) {
		n := runtime.NumGoroutine()
		return n <= base.goroutines+2, fmt.Sprintf("%d goroutines, baseline %d\n%s", n, base.goroutines, goroutineDump())
	})
	if base.fds >= 0 {
		testutil.WaitUntil(t, 10*time.Second, "open descriptors back to baseline", func() (bool, string) {
			// Go keeps pipes for splice(2) (plain STOR/RETR) in a
			// sync.Pool that only a GC empties; they are not leaks.
			runtime.GC()
			n := openFDs()
			return n <= base.fds, fmt.Sprintf("%d open descriptors, baseline %d: %s", n, base.fds, fdTargets())
		})
	}
}

func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return testutil.Tail(string(buf[:runtime.Stack(buf, true)]), 120)
}

// fdTargets lists what the descriptors point at, to name a leak.
func fdTargets() string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil {
			out = append(out, e.Name()+"->"+target)
		}
	}
	return strings.Join(out, " ")
}
