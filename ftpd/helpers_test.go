package ftpd

// Shared helpers of interop_test.go and hostile_test.go: a server on a
// temporary root, a self-signed certificate, a raw FTP client that speaks
// the wire protocol line by line, leak probes and tree comparison.

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

const (
	testUser = "alice"
	testPass = "secret"
)

// syncBuffer is an io.Writer safe for the server's concurrent sessions.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// verbLog is the server's CommandLog: "<time> <session> <VERB> <arg>" lines.
type verbLog struct{ syncBuffer }

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
	events *syncBuffer
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
	h := &harness{Base: base, Root: root, Log: &verbLog{}, events: &syncBuffer{}}
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
	t.Cleanup(func() {
		done := make(chan error, 1)
		go func() { done <- srv.Close() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Close: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Close did not return within 15s")
		}
		if t.Failed() {
			t.Logf("server command log:\n%s", tail(h.Log.String(), 60))
			t.Logf("server events:\n%s", tail(h.events.String(), 60))
		}
	})
	return h
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		// Hostile tests log binary garbage: keep it short and printable.
		if len(l) > 300 {
			l = l[:300] + "..."
		}
		if !utf8.ValidString(l) || strings.ContainsFunc(l, func(r rune) bool { return r < ' ' && r != '\t' }) {
			l = strconv.QuoteToGraphic(l)
		}
		lines[i] = l
	}
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines omitted)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// withTLS returns a config modifier that enables AUTH TLS and the implicit
// listener, and the PEM file clients should trust.
func withTLS(t *testing.T) (mod func(*Config), certFile string) {
	t.Helper()
	conf, certFile := selfSignedCert(t)
	return func(c *Config) {
		c.TLS = conf
		c.ImplicitTLSListen = "127.0.0.1:0"
	}, certFile
}

// selfSignedCert makes an ECDSA certificate for 127.0.0.1, ::1 and
// localhost. It is its own CA so that curl --cacert and lftp ssl:ca-file
// accept it.
func selfSignedCert(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "ftpd test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	dir := t.TempDir()
	certFile := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, certFile
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

// requireTool returns the path of an external client. A missing tool fails
// the test in CI, where it is part of the image, and skips it elsewhere.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found in PATH (required in CI): %v", name, err)
		}
		t.Skipf("%s not found in PATH: %v", name, err)
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

// randomBytes is deterministic pseudo-random content, so failures repeat.
func randomBytes(seed uint64, n int) []byte {
	r := mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 1})
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}

func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// sameBytes reports where two contents differ, without printing megabytes.
func sameBytes(got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	n := min(len(got), len(want))
	i := 0
	for i < n && got[i] == want[i] {
		i++
	}
	return fmt.Errorf("content differs: got %d bytes, want %d, first difference at offset %d", len(got), len(want), i)
}

// sampleTree is the tree lftp mirrors: nested and empty directories, an
// empty file, a 3 MiB random file, names with spaces and UTF-8.
func sampleTree() (files map[string][]byte, dirs []string) {
	files = map[string][]byte{
		"a.txt":                        []byte("hello, mirror\n"),
		"empty":                        {},
		"big.bin":                      randomBytes(1, 3<<20),
		"dir one/nested/deep file.txt": []byte("deep\n"),
		"dir one/nested/empty file":    {},
		"dir one/odd.bin":              randomBytes(2, 65537),
		"ünïcødé 日本/ファイル.txt":          []byte("utf-8 名前\n"),
		"ünïcødé 日本/sub/x y.bin":       randomBytes(3, 100_003),
	}
	dirs = []string{"dir one/empty dir"}
	return files, dirs
}

func writeTree(t *testing.T, dir string, files map[string][]byte, dirs []string) {
	t.Helper()
	for name, data := range files {
		mustWrite(t, filepath.Join(dir, filepath.FromSlash(name)), data)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(d)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// compareTrees checks that got holds exactly want's names, kinds and bytes.
func compareTrees(t *testing.T, want, got string) {
	t.Helper()
	w, g := readTree(t, want), readTree(t, got)
	var names []string
	for n := range w {
		names = append(names, n)
	}
	for n := range g {
		if _, ok := w[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		we, wok := w[n]
		ge, gok := g[n]
		switch {
		case !gok:
			t.Errorf("%q: missing in %s", n, got)
		case !wok:
			t.Errorf("%q: unexpected in %s", n, got)
		case we.dir != ge.dir:
			t.Errorf("%q: directory=%v, want %v", n, ge.dir, we.dir)
		case !we.dir:
			if err := sameBytes(ge.data, we.data); err != nil {
				t.Errorf("%q: %v", n, err)
			}
		}
	}
}

type treeEntry struct {
	dir  bool
	data []byte
}

func readTree(t *testing.T, dir string) map[string]treeEntry {
	t.Helper()
	m := map[string]treeEntry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			m[rel] = treeEntry{dir: true}
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file (%v)", rel, d.Type())
		}
		b, err := os.ReadFile(p)
		m[rel] = treeEntry{data: b}
		return err
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return m
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

// waitUntil polls cond until it holds or timeout passes; cond describes
// the current state for the failure message.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			if d := time.Since(deadline.Add(-timeout)); d > time.Second {
				t.Logf("%s: took %v", what, d.Round(time.Millisecond))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: not reached within %v: %s", what, timeout, state)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitEvents waits until the server has logged n events with message msg,
// which must hold a space (TextHandler then quotes it).
func waitEvents(t *testing.T, h *harness, msg string, n int) {
	t.Helper()
	waitUntil(t, 10*time.Second, fmt.Sprintf("%d %q events", n, msg), func() (bool, string) {
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
	waitUntil(t, 10*time.Second, "sessions drain before baseline", func() (bool, string) {
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
	waitUntil(t, 15*time.Second, "Sessions() back to 0", func() (bool, string) {
		n := h.Sessions()
		return n == 0, fmt.Sprintf("%d sessions", n)
	})
	waitUntil(t, 10*time.Second, "goroutines back to baseline", func() (bool, string) {
		n := runtime.NumGoroutine()
		return n <= base.goroutines+2, fmt.Sprintf("%d goroutines, baseline %d\n%s", n, base.goroutines, goroutineDump())
	})
	if base.fds >= 0 {
		waitUntil(t, 10*time.Second, "open descriptors back to baseline", func() (bool, string) {
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
	return tail(string(buf[:runtime.Stack(buf, true)]), 120)
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
