package ftpd

// Logins under attack: anonymous names that are also users, floods of
// unknown verbs, idle connections before login, password guessing from many
// sessions, IPv6 clients spread over their /64, and TLS demanded.

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"ftpfs/internal/testutil"
)

func TestAnonymousNameIsAUser(t *testing.T) {
	for _, name := range anonymousNames {
		t.Run(name, func(t *testing.T) {
			srv, err := New(Config{Root: t.TempDir(), Users: map[string]string{name: "pw"}, Anonymous: true})
			if err == nil {
				srv.Close()
				t.Fatalf("New accepted user %q with Anonymous: anyone could log in as it with any password", name)
			}
			if !strings.Contains(err.Error(), strconv.Quote(name)) {
				t.Errorf("error %q does not name the user", err)
			}
		})
	}
	// Without the conflict, a listed user still needs its password while
	// anonymous logins are on.
	h := startHarness(t, func(c *Config) { c.Anonymous = true })
	c := mustDial(t, h.Addr().String())
	c.expect(t, "USER "+testUser, 331)
	c.expect(t, "PASS guest@example.com", 530)
}

// TestUnknownVerbsBounded floods the counters with distinct verbs, as the
// review did (50,000 of 4,000 bytes took the server to 221 MB): the heap
// must not keep them.
func TestUnknownVerbsBounded(t *testing.T) {
	h := startHarness(t, func(c *Config) { c.CommandLog = nil })
	const conns, perConn, verbLen = 5, 10000, 1000
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc

	var wg sync.WaitGroup
	for i := range conns {
		c := mustDial(t, h.Addr().String())
		c.mustLogin(t) // unknown verbs after login are allowed, and counted
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.timeout = 60 * time.Second
			done := make(chan error, 1)
			go func() {
				// The replies, read as they come so the server never
				// blocks; the last one answers the final NOOP.
				for {
					r, err := c.readReply()
					if err != nil || r.Code == 200 {
						done <- err
						return
					}
				}
			}()
			w := bufio.NewWriter(c.conn)
			_ = c.conn.SetWriteDeadline(time.Now().Add(60 * time.Second))
			pad := strings.Repeat("X", verbLen-16)
			for j := range perConn {
				fmt.Fprintf(w, "V%d-%06d%s\r\n", i, j, pad)
			}
			fmt.Fprintf(w, "NOOP\r\n")
			if err := w.Flush(); err != nil {
				t.Errorf("conn %d: send: %v", i, err)
			}
			if err := <-done; err != nil {
				t.Errorf("conn %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	grew := int64(ms.HeapAlloc) - int64(before)
	t.Logf("heap grew by %d KiB for %d distinct verbs", grew>>10, conns*perConn)
	if grew > 4<<20 {
		t.Errorf("heap grew by %d MiB for %d distinct unknown verbs, want under 4 MiB", grew>>20, conns*perConn)
	}
	counts := h.Counts()
	if counts[otherVerbs] != conns*perConn {
		t.Errorf("counts[%q] = %d, want %d", otherVerbs, counts[otherVerbs], conns*perConn)
	}
	for verb := range counts {
		if _, ok := h.verbs[verb]; !ok && verb != otherVerbs {
			t.Errorf("a counter for unknown verb %q", truncate([]byte(verb)))
			break
		}
	}
}

func TestUnknownVerbsBeforeLogin(t *testing.T) {
	h := startHarness(t)
	c := mustDial(t, h.Addr().String())
	for i := 1; i < maxJunkBeforeLogin; i++ {
		c.expect(t, "JUNK"+strconv.Itoa(i), 500)
	}
	c.expect(t, "JUNK", 421)
	expectClosed(t, c)

	// Known commands refused for want of a login do not count: a client
	// may try them before it logs in.
	c = mustDial(t, h.Addr().String())
	for range 2 * maxJunkBeforeLogin {
		c.expect(t, "PWD", 530)
	}
	c.mustLogin(t)
	for range 2 * maxJunkBeforeLogin {
		c.expect(t, "XYZZY", 500)
	}
	c.expect(t, "NOOP", 200)
}

// TestUnimplementedVerbsBeforeLogin sends, before login, verbs of the
// FTP RFCs that the server does not implement, as clients do (HOST of RFC
// 7151, LANG, CLNT...): they get 502 and are not junk, nor counters of
// their own. Unknown verbs still close the session at the limit.
func TestUnimplementedVerbsBeforeLogin(t *testing.T) {
	h := startHarness(t)
	c := mustDial(t, h.Addr().String())
	verbs := []string{
		"HOST ftp.example.com", "LANG EN", "CLNT lftp 4.9", "ACCT x", "ALLO 100",
		"REIN", "SMNT /mnt", "CCC", "XCRC f", "ADAT abc", "MIC abc", "CONF abc", "ENC abc",
	}
	for i := range 20 {
		c.expect(t, verbs[i%len(verbs)], 502)
	}
	c.expect(t, "NOOP", 200)
	counts := h.Counts()
	if counts[otherVerbs] != 20 {
		t.Errorf("counts[%q] = %d, want 20", otherVerbs, counts[otherVerbs])
	}
	for _, v := range verbs {
		v, _, _ = strings.Cut(v, " ")
		if _, ok := counts[v]; ok {
			t.Errorf("a counter of its own for %s", v)
		}
	}
	for i := 1; i < maxJunkBeforeLogin; i++ {
		c.expect(t, "JUNK"+strconv.Itoa(i), 500)
	}
	c.expect(t, "JUNK", 421)
	expectClosed(t, c)
}

// TestCountsOfOtherProfiles keeps a counter for a verb the profile lacks:
// tests check that a client does not send MLSD to a LIST-only server.
func TestCountsOfOtherProfiles(t *testing.T) {
	h := startHarness(t, func(c *Config) { c.Profile = ProfileVsftpd })
	c := mustDial(t, h.Addr().String())
	c.mustLogin(t)
	c.expect(t, "MLSD", 500)
	c.expect(t, "NOT-A-VERB", 500)
	if got := h.Counts(); got["MLSD"] != 1 || got[otherVerbs] != 1 {
		t.Errorf("counts %v, want MLSD 1 and %s 1", got, otherVerbs)
	}
}

func TestLoginTimeout(t *testing.T) {
	const timeout = 400 * time.Millisecond
	h := startHarness(t, func(c *Config) { c.LoginTimeout = timeout })
	t.Run("NOOP does not extend it", func(t *testing.T) {
		// Before the dial: the deadline runs from the accept, and the
		// greeting may be slow to come on a loaded machine.
		start := time.Now()
		c := mustDial(t, h.Addr().String())
		for {
			r, err := c.cmd("NOOP")
			if err != nil {
				t.Fatalf("after %v: %v, want a 421 first", time.Since(start), err)
			}
			if r.Code == 421 {
				break
			}
			if time.Since(start) > 10*timeout {
				t.Fatalf("still not logged in and open after %v", time.Since(start))
			}
			time.Sleep(timeout / 8)
		}
		if took := time.Since(start); took < timeout*9/10 {
			t.Errorf("closed after %v, before the login timeout %v", took, timeout)
		}
		expectClosed(t, c)
	})
	t.Run("logged in outlives it", func(t *testing.T) {
		c := mustDial(t, h.Addr().String())
		c.mustLogin(t)
		time.Sleep(2 * timeout)
		c.expect(t, "NOOP", 200)
		// Logging in again as someone else is no new deadline to miss.
		c.expect(t, "USER "+testUser, 331)
		c.expect(t, "PASS "+testPass, 230)
	})
}

// dialFrom connects from a given loopback address and reads the greeting.
func dialFrom(t *testing.T, local, addr string) (*rawClient, ftpReply) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", local, err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{conn: conn, r: bufio.NewReader(conn), timeout: 10 * time.Second}
	greet, err := c.readReply()
	if err != nil && !isClosed(err) {
		t.Fatalf("greeting: %v", err)
	}
	return c, greet
}

// TestPreLoginSlots fills the server with connections that never log in,
// as the review did: clients that log in must still get in.
func TestPreLoginSlots(t *testing.T) {
	const maxSessions = 8
	h := startHarness(t, func(c *Config) { c.MaxSessions = maxSessions })
	var idle []*rawClient
	for range maxSessions {
		c, _ := dialFrom(t, "127.0.0.2", h.Addr().String())
		idle = append(idle, c)
	}
	var users []*rawClient
	for i := range maxSessions - 1 {
		c, greet := dialFrom(t, "127.0.0.1", h.Addr().String())
		if greet.Code != 220 {
			t.Fatalf("client %d, with the server full of idle connections: %q, want 220", i, greet.Text)
		}
		c.mustLogin(t)
		users = append(users, c)
	}
	for _, c := range users {
		c.expect(t, "NOOP", 200)
	}
	open := 0
	for _, c := range idle {
		_ = c.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.r.ReadByte(); !isClosed(err) {
			open++
		}
	}
	// The default pre-login limit, MaxSessions/4, and room for the
	// logged-in users: at most one idle connection is left.
	if open > 1 {
		t.Errorf("%d idle connections still open beside %d logged-in users, want at most 1", open, len(users))
	}
	// The last slot is the last idle connection's; once a user holds it,
	// every slot is a logged-in user's and newcomers are turned away.
	c, greet := dialFrom(t, "127.0.0.1", h.Addr().String())
	if greet.Code != 220 {
		t.Fatalf("user %d: %q, want 220", maxSessions, greet.Text)
	}
	c.mustLogin(t)
	if _, greet := dialFrom(t, "127.0.0.1", h.Addr().String()); greet.Code != 421 {
		t.Errorf("beyond MaxSessions logged-in sessions: %q, want 421", greet.Text)
	}
}

// pipeConn is one end of net.Pipe that claims to come from remote, so that
// admit sees addresses loopback cannot give, such as a whole IPv6 /64.
type pipeConn struct {
	net.Conn
	remote net.Addr
}

func (c pipeConn) RemoteAddr() net.Addr { return c.remote }

func TestPerAddressIPv6Prefix(t *testing.T) {
	h := startHarness(t, func(c *Config) { c.MaxPerIP = 2 })
	connect := func(ip string) ftpReply {
		t.Helper()
		client, server := net.Pipe()
		t.Cleanup(func() { client.Close() })
		h.admit(pipeConn{server, &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}}, false)
		c := &rawClient{conn: client, r: bufio.NewReader(client), timeout: 5 * time.Second}
		r, err := c.readReply()
		if err != nil {
			t.Fatalf("from %s: %v", ip, err)
		}
		return r
	}
	for _, tc := range []struct {
		ip   string
		code int
	}{
		{"2001:db8:0:1::1", 220},
		{"2001:db8:0:1:ffff:ffff:ffff:ffff", 220},
		{"2001:db8:0:1:1234::5", 421}, // the same /64: the limit holds
		{"2001:db8:0:2::1", 220},      // the next /64 is another client
		{"192.0.2.1", 220},
		{"192.0.2.2", 220}, // IPv4 counts single addresses
		{"::ffff:192.0.2.1", 220},
		{"192.0.2.1", 421},
	} {
		if r := connect(tc.ip); r.Code != tc.code {
			t.Errorf("from %s: %q, want %d", tc.ip, r.Text, tc.code)
		}
	}
}

// TestLoginBackoffIPv6Prefix fails a login from one address of a /64:
// another address of that /64 then waits out the back-off, even with the
// right password, while an address of the next /64 gets in at once.
func TestLoginBackoffIPv6Prefix(t *testing.T) {
	const base = 400 * time.Millisecond
	h := startHarness(t, func(c *Config) { c.LoginFailDelay = base })
	connect := func(ip string) *rawClient {
		t.Helper()
		client, server := net.Pipe()
		t.Cleanup(func() { client.Close() })
		h.admit(pipeConn{server, &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}}, false)
		c := &rawClient{conn: client, r: bufio.NewReader(client), timeout: 5 * time.Second}
		c.expectReply(t, 220)
		c.expect(t, "USER "+testUser, 331)
		return c
	}
	guesser := connect("2001:db8:0:1::1")
	neighbour := connect("2001:db8:0:1:ffff::2")
	stranger := connect("2001:db8:0:2::1")
	start := time.Now()
	if err := guesser.send("PASS wrong"); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, h, "login failed", 1)
	began := time.Now()
	stranger.expect(t, "PASS "+testPass, 230)
	if took := time.Since(began); took >= base/2 {
		t.Errorf("another /64 waited %v for its login, want no back-off", took)
	}
	neighbour.expect(t, "PASS "+testPass, 230)
	if took, want := time.Since(start), loginFailDelay(base, 1); took < want {
		t.Errorf("the same /64 got in %v after the failure, want the back-off of %v", took, want)
	}
	guesser.expectReply(t, 530)
}

func TestAddrKey(t *testing.T) {
	for ip, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2::":       "2001:db8:1:2::/64",
		"fe80::1":              "fe80::/64",
	} {
		if got := addrKey(&net.TCPAddr{IP: net.ParseIP(ip)}); got != want {
			t.Errorf("addrKey(%s) = %q, want %q", ip, got, want)
		}
	}
}

// TestLoginBackoffAcrossSessions guesses passwords from many sessions at
// once, as the review did (64 sessions, 768 guesses in 5 s). The address's
// guesses are spaced by the back-off rule, whatever the number of sessions.
func TestLoginBackoffAcrossSessions(t *testing.T) {
	const (
		sessions = 16
		base     = 50 * time.Millisecond
		window   = 2 * time.Second
	)
	h := startHarness(t, func(c *Config) { c.LoginFailDelay = base })
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []*rawClient
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				c, greet, err := dialRaw(h.Addr().String())
				if err != nil || greet.Code != 220 {
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				for {
					if r, err := c.cmd("USER " + testUser); err != nil || r.Code != 331 {
						break
					}
					if r, err := c.cmd(fmt.Sprintf("PASS guess-%d-%d", i, n)); err != nil || r.Code != 530 {
						break
					}
				}
				c.Close()
			}
		}()
	}
	time.Sleep(window)
	// Every check ends in a "login failed" event: count those done so far.
	guesses := strings.Count(h.events.String(), `msg="login failed"`)
	// The time the guesses had, which a loaded machine's sleep exceeds.
	elapsed := time.Since(start)
	close(stop)
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	wg.Wait()

	// The bound: one check per session may be under way before the first
	// failure is recorded; after it, check k+1 comes at least
	// loginFailDelay(1) + ... + loginFailDelay(k) after the first.
	bound, spent := sessions+1, time.Duration(0)
	for k := 1; ; k++ {
		spent += loginFailDelay(base, k)
		if spent > elapsed {
			break
		}
		bound++
	}
	t.Logf("%d guesses from %d sessions in %v (bound %d)", guesses, sessions, elapsed, bound)
	if guesses > bound {
		t.Errorf("%d guesses from %d sessions in %v, want at most %d", guesses, sessions, elapsed, bound)
	}
	if guesses == 0 {
		t.Errorf("no guess was checked at all")
	}
}

func TestLoginBackoffUnderway(t *testing.T) {
	const base = 400 * time.Millisecond
	h := startHarness(t, func(c *Config) { c.LoginFailDelay = base })
	c := mustDial(t, h.Addr().String())
	other := mustDial(t, h.Addr().String())
	c.expect(t, "USER "+testUser, 331)
	other.expect(t, "USER "+testUser, 331)
	// The failure is recorded at once; its own 530 comes LoginFailDelay
	// later.
	start := time.Now()
	if err := c.send("PASS wrong"); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, h, "login failed", 1)
	// Another session of the same address waits out the back-off, even
	// with the right password, and then gets in: not before the back-off
	// has passed since the failure, which came after start.
	other.expect(t, "PASS "+testPass, 230)
	if took, want := time.Since(start), loginFailDelay(base, 1); took < want {
		t.Errorf("right password after a failure elsewhere answered %v after the failure, want the back-off of %v", took, want)
	}
	c.expectReply(t, 530)
}

// TestReloginBackoffBounded logs in again on a session that was logged
// in, while the address is in back-off: the wait is bounded by the login
// timeout, as for a new session, instead of lasting the whole back-off
// with no command read.
func TestReloginBackoffBounded(t *testing.T) {
	const base, timeout = 3 * time.Second, 300 * time.Millisecond
	h := startHarness(t, func(c *Config) { c.LoginFailDelay, c.LoginTimeout = base, timeout })
	c := mustDial(t, h.Addr().String())
	c.mustLogin(t)
	other := mustDial(t, h.Addr().String())
	other.expect(t, "USER "+testUser, 331)
	if err := other.send("PASS wrong"); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, h, "login failed", 1)
	c.expect(t, "USER "+testUser, 331)
	start := time.Now()
	c.expect(t, "PASS "+testPass, 421)
	if took := time.Since(start); took >= base/2 {
		t.Errorf("421 after %v, want it without waiting for the back-off of %v", took, base)
	}
	expectClosed(t, c)
}

func TestLoginThrottleMemory(t *testing.T) {
	th := newLoginThrottle(time.Millisecond)
	now := time.Now()
	key := func(i int) string { return fmt.Sprintf("2001:db8:%x::/64", i) }
	for i := range maxFailRecords + 100 {
		_, reserved, _ := th.reserve(key(i), now, time.Time{})
		th.result(key(i), reserved, false, now)
		now = now.Add(time.Millisecond)
	}
	if n := len(th.m); n > maxFailRecords {
		t.Fatalf("%d failure records, want at most %d", n, maxFailRecords)
	}
	newest := key(maxFailRecords + 99)
	if _, ok := th.m[newest]; !ok {
		t.Fatalf("the newest failure was forgotten")
	}
	if _, ok := th.m[key(0)]; ok {
		t.Errorf("the oldest failure was kept, a newer one dropped")
	}
	if _, reserved, _ := th.reserve(newest, now, time.Time{}); !reserved {
		t.Errorf("a recent failure does not delay the next check")
	}
	// Records are forgotten once their window has passed.
	later := now.Add(failWindow + time.Hour)
	if at, reserved, _ := th.reserve(newest, later, time.Time{}); reserved || !at.Equal(later) {
		t.Errorf("an old failure still delays: at %v, reserved %v", at, reserved)
	}
}

func TestTLSRequired(t *testing.T) {
	mod, _ := withTLS(t)
	if _, err := New(Config{Root: t.TempDir(), TLSRequired: true}); err == nil {
		t.Errorf("New accepted TLSRequired without TLS")
	}
	h := startHarness(t, mod, func(c *Config) { c.TLSRequired = true })
	testutil.WriteFile(t, filepath.Join(h.Root, "f"), []byte("private"))

	c := mustDial(t, h.Addr().String())
	if r := c.expect(t, "USER "+testUser, 530); !strings.Contains(r.Text, "TLS") {
		t.Errorf("USER in clear: %q, want a reason naming TLS", r.Text)
	}
	c.expect(t, "PASS "+testPass, 503)
	c.expect(t, "AUTH TLS", 234)
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	c.conn, c.r = tc, bufio.NewReader(tc)
	c.mustLogin(t)
	for _, cmd := range []string{"PASV", "EPSV", "PORT 127,0,0,1,4,1", "EPRT |1|127.0.0.1|1025|"} {
		c.expect(t, cmd, 521)
	}
	c.expect(t, "PBSZ 0", 200)
	c.expect(t, "PROT C", 534)
	c.expect(t, "PROT P", 200)
	data, err := c.passive(false)
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	c.expect(t, "RETR f", 150)
	td := tls.Client(data, &tls.Config{InsecureSkipVerify: true})
	b, err := io.ReadAll(td)
	if err != nil || string(b) != "private" {
		t.Fatalf("RETR over PROT P: %q %v", b, err)
	}
	c.expectReply(t, 226)

	// Implicit TLS sessions are protected from the first byte.
	ic := dialLib(t, h.ImplicitTLSAddr().String(), ftp.DialWithTLS(&tls.Config{InsecureSkipVerify: true}))
	if got := retrAll(t, ic, "f", 0); string(got) != "private" {
		t.Fatalf("implicit TLS RETR: %q", got)
	}
}

// TestPreLoginDropChoice fills the pre-login slots: a newcomer ends the
// newest session not logged in of the address holding the most, the
// flooder's fresh connection rather than a user typing a password.
func TestPreLoginDropChoice(t *testing.T) {
	h := startHarness(t, func(c *Config) { c.MaxSessions, c.MaxUnauthenticated = 16, 3 })
	addr := h.Addr().String()
	first, _ := dialFrom(t, "127.0.0.2", addr)
	user, _ := dialFrom(t, "127.0.0.3", addr)
	fresh, _ := dialFrom(t, "127.0.0.2", addr)
	// 127.0.0.2 holds two: its newest goes.
	newer, greet := dialFrom(t, "127.0.0.4", addr)
	if greet.Code != 220 {
		t.Fatalf("newcomer: %q, want 220", greet.Text)
	}
	expectClosed(t, fresh)
	first.expect(t, "NOOP", 200)
	user.expect(t, "NOOP", 200)
	// One each now: the newest of all goes, the one that came last.
	if _, greet := dialFrom(t, "127.0.0.5", addr); greet.Code != 220 {
		t.Fatalf("newcomer: %q, want 220", greet.Text)
	}
	expectClosed(t, newer)
	first.expect(t, "NOOP", 200)
	user.expect(t, "NOOP", 200)
}

// TestPreLoginDropSparesPASS keeps sessions whose password is being
// checked: with every pre-login slot held by one, a newcomer is turned
// away rather than cutting a login short.
func TestPreLoginDropSparesPASS(t *testing.T) {
	const base = time.Second
	h := startHarness(t, func(c *Config) {
		c.MaxSessions, c.MaxUnauthenticated, c.LoginFailDelay = 16, 2, base
	})
	addr := h.Addr().String()
	failing, _ := dialFrom(t, "127.0.0.2", addr)
	failing.expect(t, "USER "+testUser, 331)
	if err := failing.send("PASS wrong"); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, h, "login failed", 1) // failing now sleeps LoginFailDelay
	waiting, _ := dialFrom(t, "127.0.0.2", addr)
	waiting.expect(t, "USER "+testUser, 331)
	if err := waiting.send("PASS " + testPass); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, h, "password check delayed", 1) // waiting sleeps the back-off
	if _, greet := dialFrom(t, "127.0.0.3", addr); greet.Code != 421 {
		t.Errorf("newcomer with every pre-login session in PASS: %q, want 421", greet.Text)
	}
	failing.expectReply(t, 530)
	waiting.expectReply(t, 230)
}

// TestPreLoginDropBlockedLog blocks the log writer on the line about a
// dropped session: the server must go on admitting clients.
func TestPreLoginDropBlockedLog(t *testing.T) {
	w := &blockingWriter{on: "dropping", release: make(chan struct{})}
	h := startHarness(t, func(c *Config) {
		c.MaxSessions, c.MaxUnauthenticated = 16, 1
		c.Logger = slog.New(slog.NewTextHandler(w, nil))
	})
	t.Cleanup(func() { close(w.release) }) // before the harness's Close
	addr := h.Addr().String()
	dialFrom(t, "127.0.0.2", addr)
	for i := range 2 {
		// Each newcomer drops the session before it, and logs it.
		got := make(chan int, 1)
		go func() {
			c, greet, err := dialRaw(addr)
			if err == nil {
				c.Close()
			}
			got <- greet.Code
		}()
		select {
		case code := <-got:
			if code != 220 {
				t.Fatalf("newcomer %d: code %d, want 220", i, code)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("newcomer %d: no greeting within 3s while the log writer is blocked", i)
		}
	}
	done := make(chan int, 1)
	go func() { done <- h.Sessions() }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Sessions blocked while the log writer is blocked")
	}
}

// blockingWriter blocks writes holding on until release is closed.
type blockingWriter struct {
	on      string
	release chan struct{}
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.on) {
		<-w.release
	}
	return len(p), nil
}
