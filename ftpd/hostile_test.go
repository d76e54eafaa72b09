package ftpd

// Hostile clients over raw TCP: path escapes, bounce attacks (PORT/EPRT to a
// third party), passive-port theft, oversize and garbage command lines,
// login brute force, abrupt disconnects mid-transfer, session floods and
// slow clients. Each test checks the attack fails and the server still
// serves an honest client afterwards.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"ftpfs/internal/testutil"
)

// transfer runs a data command over EPSV. For an upload it sends body and
// closes the data connection; for anything else it reads the data. When the
// first reply is not 1xx, final is zero and data holds whatever the data
// connection carried anyway (it should be nothing).
func (c *rawClient) transfer(line string, body []byte) (first, final ftpReply, data []byte, err error) {
	dc, err := c.passive(false)
	if err != nil {
		return first, final, nil, err
	}
	defer dc.Close()
	if first, err = c.cmd(line); err != nil {
		return first, final, nil, err
	}
	if first.Code >= 200 {
		// Refused: the server must not use the connection we opened.
		_ = dc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		data, _ = io.ReadAll(dc)
		return first, final, data, nil
	}
	if body != nil {
		if _, err = dc.Write(body); err != nil {
			return first, final, nil, fmt.Errorf("upload data: %w", err)
		}
		dc.Close()
	} else if data, err = io.ReadAll(dc); err != nil {
		return first, final, data, fmt.Errorf("download data: %w", err)
	}
	final, err = c.readReply()
	return first, final, data, err
}

func TestHostilePathEscape(t *testing.T) {
	h := startHarness(t)
	secret := "TOP-SECRET-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	outsideDir := filepath.Join(h.Base, "outside")
	outsideFile := filepath.Join(h.Base, "outside.txt")
	testutil.WriteFile(t, outsideFile, []byte(secret+" file\n"))
	testutil.WriteFile(t, filepath.Join(outsideDir, "secret-name.txt"), []byte(secret+" in dir\n"))
	testutil.WriteFile(t, filepath.Join(h.Root, "inside.txt"), []byte("inside\n"))
	if err := os.Mkdir(filepath.Join(h.Root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"link-file":         filepath.Join(outsideDir, "secret-name.txt"),
		"link-dir":          outsideDir,
		"rel-link":          "../outside.txt",
		"sub/deeper-link":   "../../outside",
		"sub/abs-root-link": "/",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(h.Root, name)); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, h.Base, h.Root)

	// pre are commands that must succeed first; codes are what cmd may
	// answer; pwd, when set, is the directory PWD must report afterwards.
	cases := []struct {
		pre   []string
		cmd   string
		codes []int
		data  bool
		body  []byte
		pwd   string
	}{
		{cmd: "CWD ..", codes: []int{550}, pwd: "/"},
		{cmd: "CWD ../..", codes: []int{550}, pwd: "/"},
		{cmd: "CWD /..", codes: []int{550}, pwd: "/"},
		{cmd: "CWD /../..", codes: []int{550}, pwd: "/"},
		{pre: []string{"CWD sub"}, cmd: "CWD ../..", codes: []int{550}, pwd: "/sub"},
		{cmd: "CDUP", codes: []int{550}, pwd: "/"},
		{cmd: "CWD link-dir", codes: []int{550}, pwd: "/"},
		{cmd: "CWD sub/deeper-link", codes: []int{550}, pwd: "/"},
		{cmd: "CWD sub/abs-root-link", codes: []int{550}, pwd: "/"},
		{cmd: "RETR ../../etc/passwd", codes: []int{550}, data: true},
		{cmd: "RETR /../../etc/passwd", codes: []int{550}, data: true},
		{cmd: "RETR ../outside.txt", codes: []int{550}, data: true},
		{cmd: "RETR /../outside.txt", codes: []int{550}, data: true},
		{pre: []string{"CWD sub"}, cmd: "RETR ../../outside.txt", codes: []int{550}, data: true},
		{cmd: "RETR link-file", codes: []int{550}, data: true},
		{cmd: "RETR rel-link", codes: []int{550}, data: true},
		{cmd: "RETR link-dir/secret-name.txt", codes: []int{550}, data: true},
		{cmd: "RETR sub/deeper-link/secret-name.txt", codes: []int{550}, data: true},
		{cmd: "RETR sub/abs-root-link/etc/passwd", codes: []int{550}, data: true},
		{cmd: "SIZE ../outside.txt", codes: []int{550}},
		{cmd: "SIZE link-file", codes: []int{550}},
		{cmd: "MDTM ../outside.txt", codes: []int{550}},
		{cmd: "MDTM link-file", codes: []int{550}},
		{cmd: "MLST ../outside.txt", codes: []int{550}},
		{cmd: "MLST link-file", codes: []int{550}},
		{cmd: "MLST link-dir", codes: []int{550}},
		{cmd: "STAT ..", codes: []int{550}},
		{cmd: "STAT link-dir", codes: []int{550}},
		{cmd: "LIST ..", codes: []int{550}, data: true},
		{cmd: "LIST link-dir", codes: []int{550}, data: true},
		{cmd: "NLST ../outside", codes: []int{550}, data: true},
		{cmd: "MLSD link-dir", codes: []int{550}, data: true},
		{cmd: "MLSD /..", codes: []int{550}, data: true},
		// RFC 959 allows 553 (file name not allowed) for the writers.
		{cmd: "STOR ../escaped.txt", codes: []int{550, 553}, data: true, body: []byte(secret)},
		{cmd: "STOR link-dir/new.txt", codes: []int{550, 553}, data: true, body: []byte(secret)},
		{cmd: "APPE link-file", codes: []int{550, 553}, data: true, body: []byte("appended")},
		{cmd: "APPE ../outside.txt", codes: []int{550, 553}, data: true, body: []byte("appended")},
		{cmd: "STOR link-file", codes: []int{550, 553}, data: true, body: []byte("overwritten")},
		{cmd: "MKD ../newdir", codes: []int{550, 553}},
		{cmd: "MKD link-dir/newdir", codes: []int{550, 553}},
		{cmd: "RMD ../outside", codes: []int{550}},
		{cmd: "DELE ../outside.txt", codes: []int{550}},
		{cmd: "DELE link-dir/secret-name.txt", codes: []int{550}},
		{cmd: "RNFR ../outside.txt", codes: []int{550}},
		{cmd: "RNFR link-dir/secret-name.txt", codes: []int{550}},
		{pre: []string{"RNFR inside.txt"}, cmd: "RNTO ../moved.txt", codes: []int{550, 553}},
		{pre: []string{"RNFR inside.txt"}, cmd: "RNTO link-dir/moved.txt", codes: []int{550, 553}},
		{cmd: "SITE CHMOD 777 ../outside.txt", codes: []int{550}},
		{cmd: "SITE CHMOD 777 link-file", codes: []int{550}},
		{cmd: "MFMT 20000101000000 ../outside.txt", codes: []int{550}},
		{cmd: "MFMT 20000101000000 link-file", codes: []int{550}},
	}
	for _, tc := range cases {
		name := strings.Join(append(append([]string{}, tc.pre...), tc.cmd), "; ")
		t.Run(name, func(t *testing.T) {
			c := mustDial(t, h.Addr().String())
			c.mustLogin(t)
			c.expect(t, "TYPE I", 200)
			for _, p := range tc.pre {
				c.expect(t, p, 250, 350)
			}
			var got ftpReply
			if tc.data {
				first, final, data, err := c.transfer(tc.cmd, tc.body)
				if err != nil {
					t.Fatal(err)
				}
				got = first
				if len(data) > 0 {
					t.Errorf("%q carried %d data bytes: %q", tc.cmd, len(data), truncate(data))
				}
				if final.Text != "" {
					t.Errorf("%q: transfer ran (%q, then %q)", tc.cmd, first.Text, final.Text)
				}
			} else {
				var err error
				if got, err = c.cmd(tc.cmd); err != nil {
					t.Fatal(err)
				}
			}
			if !containsCode(tc.codes, got.Code) {
				t.Errorf("%q: reply %q, want %v", tc.cmd, got.Text, tc.codes)
			}
			// The reply may echo the name we sent, but neither the outside
			// content nor where the root really is.
			if strings.Contains(got.Text, secret) || strings.Contains(got.Text, h.Base) {
				t.Errorf("%q: reply leaks outside content or the real path: %q", tc.cmd, got.Text)
			}
			if tc.pwd != "" {
				r := c.expect(t, "PWD", 257)
				if !strings.Contains(r.Text, `"`+tc.pwd+`"`) {
					t.Errorf("after %q: PWD %q, want %q", tc.cmd, r.Text, tc.pwd)
				}
			}
			// The session stays usable and confined after a refusal.
			c.expect(t, "NOOP", 200)
		})
	}

	t.Run("inside still served", func(t *testing.T) {
		// Proves the refusals above are about the paths, not a broken setup.
		c := mustDial(t, h.Addr().String())
		c.mustLogin(t)
		b, err := c.retr("sub/../inside.txt")
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != "inside\n" {
			t.Errorf("inside.txt = %q", b)
		}
		c.expect(t, "CWD sub", 250)
		c.expect(t, "CWD ..", 250)
		c.expect(t, "PWD", 257)
	})

	if after := snapshot(t, h.Base, h.Root); after != before {
		t.Errorf("outside the root changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// snapshot describes everything under base except root: names, modes,
// times and contents, so that any write escaping the root shows.
func snapshot(t *testing.T, base, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(base, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return filepath.SkipDir
		}
		fmt.Fprintf(&b, "%s %v %d", p, fi.Mode(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %q", data)
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func containsCode(codes []int, code int) bool {
	for _, c := range codes {
		if c == code {
			return true
		}
	}
	return false
}

func truncate(b []byte) []byte {
	if len(b) > 100 {
		return b[:100]
	}
	return b
}

// canary is a listener that counts connections: a server that connects to
// it has been turned against a third party.
type canary struct {
	ln    net.Listener
	conns atomic.Int64
}

func listenCanary(t *testing.T, addr string) *canary {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil
	}
	c := &canary{ln: ln}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.conns.Add(1)
			conn.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return c
}

// portArg renders a TCP address in PORT's h1,h2,h3,h4,p1,p2 form.
func portArg(a *net.TCPAddr) string {
	ip := a.IP.To4()
	return fmt.Sprintf("%d,%d,%d,%d,%d,%d", ip[0], ip[1], ip[2], ip[3], a.Port>>8, a.Port&0xff)
}

func eprtArg(a *net.TCPAddr) string {
	if a.IP.To4() != nil {
		return fmt.Sprintf("|1|%s|%d|", a.IP, a.Port)
	}
	return fmt.Sprintf("|2|%s|%d|", a.IP, a.Port)
}

func TestHostileActiveModeTarget(t *testing.T) {
	h := startHarness(t)
	testutil.WriteFile(t, filepath.Join(h.Root, "file.txt"), []byte("data\n"))
	other4 := listenCanary(t, "127.0.0.2:0") // same host, another address
	other6 := listenCanary(t, "[::1]:0")

	type target struct {
		name string
		cmd  func() string
		can  *canary
	}
	var targets []target
	if other4 != nil {
		a := other4.ln.Addr().(*net.TCPAddr)
		targets = append(targets,
			target{"PORT 127.0.0.2", func() string { return "PORT " + portArg(a) }, other4},
			target{"EPRT 127.0.0.2", func() string { return "EPRT " + eprtArg(a) }, other4})
	} else {
		t.Log("127.0.0.2 not bindable: no canary for the same-host case")
	}
	if other6 != nil {
		a := other6.ln.Addr().(*net.TCPAddr)
		targets = append(targets, target{"EPRT ::1", func() string { return "EPRT " + eprtArg(a) }, other6})
	}
	targets = append(targets,
		target{"PORT 10.0.0.1", func() string { return "PORT 10,0,0,1,0,80" }, nil},
		target{"EPRT 10.0.0.1", func() string { return "EPRT |1|10.0.0.1|80|" }, nil},
		target{"PORT 0.0.0.0", func() string { return "PORT 0,0,0,0,4,1" }, nil},
		target{"PORT 255.255.255.255", func() string { return "PORT 255,255,255,255,4,1" }, nil},
		target{"PORT malformed", func() string { return "PORT 127,0,0,1,300,1" }, nil},
		target{"PORT short", func() string { return "PORT 127,0,0,1" }, nil},
		target{"EPRT malformed", func() string { return "EPRT |1|127.0.0.1|notaport|" }, nil},
		target{"EPRT unknown family", func() string { return "EPRT |9|127.0.0.1|1025|" }, nil},
	)
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			c := mustDial(t, h.Addr().String())
			c.mustLogin(t)
			cmd := tg.cmd()
			if r := c.expect(t, cmd, 500, 501, 502, 504, 522); r.Code != 501 && r.Code != 522 {
				t.Logf("%q answered %q (501 expected for a refused address)", cmd, r.Text)
			}
			// The refused address must not be used by a later transfer.
			r, err := c.cmd("RETR file.txt")
			if err != nil {
				t.Fatal(err)
			}
			if r.Code < 400 {
				t.Errorf("RETR after refused %q: %q, want 425 or 503", cmd, r.Text)
				_, _ = c.readReply()
			}
			c.expect(t, "NOOP", 200)
			if tg.can != nil {
				time.Sleep(300 * time.Millisecond)
				if n := tg.can.conns.Load(); n != 0 {
					t.Errorf("server made %d connections to %s after %q", n, tg.can.ln.Addr(), cmd)
				}
			}
		})
	}

	// Control: PORT and EPRT to the client's own address work, so the
	// refusals above are about the address.
	for _, verb := range []string{"PORT", "EPRT"} {
		t.Run(verb+" own address", func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			a := ln.Addr().(*net.TCPAddr)
			c := mustDial(t, h.Addr().String())
			c.mustLogin(t)
			c.expect(t, "TYPE I", 200)
			arg := portArg(a)
			if verb == "EPRT" {
				arg = eprtArg(a)
			}
			c.expect(t, verb+" "+arg, 200)
			got := make(chan []byte, 1)
			go func() {
				_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
				dc, err := ln.Accept()
				if err != nil {
					got <- nil
					return
				}
				defer dc.Close()
				_ = dc.SetDeadline(time.Now().Add(10 * time.Second))
				b, _ := io.ReadAll(dc)
				got <- b
			}()
			c.expect(t, "RETR file.txt", 150, 125)
			if b := <-got; string(b) != "data\n" {
				t.Errorf("active RETR data %q", b)
			}
			c.expectReply(t, 226, 250)
		})
	}
}

func TestHostilePassiveThief(t *testing.T) {
	h := startHarness(t)
	content := testutil.RandBytes(40, 256<<10)
	testutil.WriteFile(t, filepath.Join(h.Root, "secret.bin"), content)
	thiefDialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}

	for _, pasv := range []bool{true, false} {
		t.Run(map[bool]string{true: "PASV", false: "EPSV"}[pasv], func(t *testing.T) {
			c := mustDial(t, h.Addr().String())
			c.mustLogin(t)
			c.expect(t, "TYPE I", 200)
			var port string
			if pasv {
				r := c.expect(t, "PASV", 227)
				m := pasvRE.FindStringSubmatch(r.Text)
				if m == nil {
					t.Fatalf("PASV reply %q", r.Text)
				}
				hi, _ := strconv.Atoi(m[5])
				lo, _ := strconv.Atoi(m[6])
				port = strconv.Itoa(hi<<8 | lo)
			} else {
				r := c.expect(t, "EPSV", 229)
				m := epsvRE.FindStringSubmatch(r.Text)
				if m == nil {
					t.Fatalf("EPSV reply %q", r.Text)
				}
				port = m[1]
			}
			target := net.JoinHostPort("127.0.0.1", port)
			thief, err := thiefDialer.Dial("tcp", target)
			if err != nil {
				// Refusing the connection outright is fine; not being
				// able to bind 127.0.0.2 means we cannot test.
				if errors.Is(err, syscall.EADDRNOTAVAIL) {
					t.Skipf("cannot dial from 127.0.0.2: %v", err)
				}
				t.Logf("thief dial refused: %v", err)
			} else {
				defer thief.Close()
			}
			// Let the server see the thief first.
			time.Sleep(200 * time.Millisecond)
			legit, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				t.Fatalf("legitimate data connection: %v", err)
			}
			defer legit.Close()
			_ = legit.SetDeadline(time.Now().Add(10 * time.Second))
			r, err := c.cmd("RETR secret.bin")
			if err != nil {
				t.Fatal(err)
			}
			if r.Code == 150 || r.Code == 125 {
				b, err := io.ReadAll(legit)
				if err != nil {
					t.Errorf("legitimate data: %v", err)
				}
				if err := testutil.SameBytes(b, content); err != nil {
					t.Errorf("legitimate client: %v", err)
				}
				c.expectReply(t, 226, 250)
			} else if r.Code != 425 {
				t.Errorf("RETR: %q, want 150 (or 425)", r.Text)
			}
			if thief != nil {
				_ = thief.SetReadDeadline(time.Now().Add(time.Second))
				b, _ := io.ReadAll(thief)
				if len(b) > 0 {
					t.Errorf("connection from 127.0.0.2 received %d bytes of the file", len(b))
				}
			}
			c.expect(t, "NOOP", 200)
		})
	}
}

func TestHostileLongLines(t *testing.T) {
	h := startHarness(t)
	cases := []struct {
		name  string
		login bool
		line  []byte
	}{
		{"10000-byte RETR", true, []byte("RETR " + strings.Repeat("a", 9995) + "\r\n")},
		{"10000-byte before login", false, []byte("USER " + strings.Repeat("u", 9995) + "\r\n")},
		{"4097-byte NOOP", true, []byte("NOOP " + strings.Repeat(" ", 4092) + "\r\n")},
		{"1 MiB without newline", true, append(bytes.Repeat([]byte("A"), 1<<20), "\r\n"...)},
		{"1 MiB of NULs", true, append(make([]byte, 1<<20), "\r\n"...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustDial(t, h.Addr().String())
			if tc.login {
				c.mustLogin(t)
			}
			c.timeout = 30 * time.Second
			// Write concurrently: the server may answer before the line ends.
			werr := make(chan error, 1)
			go func() { werr <- c.sendRaw(tc.line) }()
			r, err := c.readReply()
			if err != nil {
				t.Fatalf("reply to oversize line: %v", err)
			}
			if r.Code != 500 {
				t.Errorf("oversize line: reply %q, want 500", r.Text)
			}
			if err := <-werr; err != nil {
				t.Fatalf("writing the line: %v (the server stopped reading)", err)
			}
			// Exactly one reply per line: the next one must be NOOP's.
			c.expect(t, "NOOP", 200)
			if !tc.login {
				c.mustLogin(t)
			}
			c.expect(t, "PWD", 257)
		})
	}
}

func TestHostileBeforeLogin(t *testing.T) {
	h := startHarness(t)
	testutil.WriteFile(t, filepath.Join(h.Root, "x"), []byte("x"))
	refused := []string{
		"CWD /", "CDUP", "PWD", "LIST", "NLST", "MLSD", "MLST x", "STAT /", "RETR x",
		"STOR y", "STOU", "APPE y", "DELE x", "MKD d", "RMD d", "RNFR x", "RNTO z",
		"SIZE x", "MDTM x", "MFMT 20200101000000 x", "SITE CHMOD 777 x", "REST 0",
		"PASV", "EPSV", "PORT 127,0,0,1,4,1", "EPRT |1|127.0.0.1|1025|", "TYPE I",
		"MODE S", "STRU F", "ABOR",
	}
	t.Run("no USER", func(t *testing.T) {
		c := mustDial(t, h.Addr().String())
		for _, cmd := range refused {
			c.expect(t, cmd, 530)
		}
		// Allowed before login (RFC 2389 FEAT is meant for that).
		for cmd, code := range map[string]int{"NOOP": 200, "SYST": 215, "FEAT": 211, "OPTS UTF8 ON": 200} {
			c.expect(t, cmd, code)
		}
		if r := c.expect(t, "HELP", 211, 214); r.Code == 530 {
			t.Errorf("HELP refused before login")
		}
		c.mustLogin(t)
		c.expect(t, "CWD /", 250)
	})
	t.Run("USER without PASS", func(t *testing.T) {
		c := mustDial(t, h.Addr().String())
		c.expect(t, "USER "+testUser, 331)
		for _, cmd := range []string{"CWD /", "RETR x", "STOR y", "PASV", "LIST"} {
			c.expect(t, cmd, 530)
		}
	})
	if _, err := os.Stat(filepath.Join(h.Root, "y")); err == nil {
		t.Errorf("STOR before login created a file")
	}
	if _, err := os.Stat(filepath.Join(h.Root, "x")); err != nil {
		t.Errorf("DELE before login: %v", err)
	}
}

func TestHostileWrongPassword(t *testing.T) {
	const delay = 100 * time.Millisecond
	h := startHarness(t, func(c *Config) {
		c.LoginFailDelay = delay
		c.MaxLoginFailures = 3
	})
	// pass sends USER and PASS and returns PASS's reply and its latency.
	pass := func(t *testing.T, c *rawClient, user, pw string) (ftpReply, time.Duration) {
		t.Helper()
		r := c.expect(t, "USER "+user, 331, 530)
		if r.Code == 530 {
			return r, 0
		}
		start := time.Now()
		r, err := c.cmd("PASS " + pw)
		if err != nil {
			t.Fatal(err)
		}
		return r, time.Since(start)
	}

	t.Run("wrong then right", func(t *testing.T) {
		c := mustDial(t, h.Addr().String())
		r, took := pass(t, c, testUser, "wrong")
		if r.Code != 530 {
			t.Errorf("wrong password: %q, want 530", r.Text)
		}
		if took < delay*9/10 {
			t.Errorf("wrong password answered after %v, want at least LoginFailDelay %v", took, delay)
		}
		if r, _ = pass(t, c, testUser, testPass); r.Code != 230 {
			t.Errorf("right password after a wrong one: %q, want 230", r.Text)
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		c := mustDial(t, h.Addr().String())
		if r, _ := pass(t, c, "mallory", testPass); r.Code != 530 {
			t.Errorf("unknown user: %q, want 530", r.Text)
		}
		c.expect(t, "RETR x", 530)
	})
	t.Run("anonymous disabled", func(t *testing.T) {
		c := mustDial(t, h.Addr().String())
		if r, _ := pass(t, c, "anonymous", "guest@example.com"); r.Code != 530 {
			t.Errorf("anonymous: %q, want 530", r.Text)
		}
	})
	t.Run("lockout", func(t *testing.T) {
		c := mustDial(t, h.Addr().String())
		for i := 1; i < 3; i++ {
			if r, _ := pass(t, c, testUser, "guess"+strconv.Itoa(i)); r.Code != 530 {
				t.Fatalf("failure %d: %q, want 530", i, r.Text)
			}
		}
		// The last allowed failure: 530 then 421, or 421 at once.
		r, _ := pass(t, c, testUser, "guess3")
		if r.Code == 530 {
			var err error
			if r, err = c.readReply(); err != nil {
				t.Fatalf("after the last failure: want 421, got %v", err)
			}
		}
		if r.Code != 421 {
			t.Fatalf("after %d failures: %q, want 421", 3, r.Text)
		}
		expectClosed(t, c)
	})
	testutil.WaitUntil(t, 10*time.Second, "sessions end", func() (bool, string) {
		return h.Sessions() == 0, fmt.Sprintf("%d sessions", h.Sessions())
	})
}

// expectClosed fails unless the server closes the connection soon, without
// sending anything more.
func expectClosed(t *testing.T, c *rawClient) {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("connection still open 5s later")
	}
	if len(b) > 0 {
		t.Errorf("unexpected bytes before close: %q", truncate(b))
	}
}

// abortedDownload starts a RETR of name over PASV, reads a little and then
// drops both connections the way mode says: "rst" resets both, "ctl-first"
// closes the control connection first, "ctl-linger" leaves the data
// connection open a moment longer, "fin" closes data then control politely
// at the TCP level but without ABOR or QUIT.
func abortedDownload(addr, name, mode string) error {
	c, greet, err := dialRaw(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if greet.Code != 220 {
		return fmt.Errorf("greeting %q", greet.Text)
	}
	if err := c.login(testUser, testPass); err != nil {
		return err
	}
	if r, err := c.cmd("TYPE I"); err != nil || r.Code != 200 {
		return fmt.Errorf("TYPE I: %q %v", r.Text, err)
	}
	dc, err := c.passive(true)
	if err != nil {
		return err
	}
	defer dc.Close()
	r, err := c.cmd("RETR " + name)
	if err != nil {
		return err
	}
	if r.Code != 150 && r.Code != 125 {
		return fmt.Errorf("RETR: %q", r.Text)
	}
	if _, err := io.ReadFull(dc, make([]byte, 64<<10)); err != nil {
		return fmt.Errorf("reading the start: %w", err)
	}
	switch mode {
	case "rst":
		_ = dc.(*net.TCPConn).SetLinger(0)
		_ = c.conn.(*net.TCPConn).SetLinger(0)
		dc.Close()
		c.Close()
	case "ctl-first":
		c.Close()
		dc.Close()
	case "ctl-linger":
		c.Close()
		time.Sleep(300 * time.Millisecond)
		dc.Close()
	case "fin":
		dc.Close()
		c.Close()
	}
	return nil
}

func TestHostileAbruptDisconnect(t *testing.T) {
	h := startHarness(t)
	big := testutil.RandBytes(50, 32<<20)
	testutil.WriteFile(t, filepath.Join(h.Root, "big.bin"), big)
	base := idleBaseline(t, h)

	modes := []string{"rst", "ctl-first", "ctl-linger", "fin"}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mode := modes[i%len(modes)]
			if err := abortedDownload(h.Addr().String(), "big.bin", mode); err != nil {
				t.Errorf("client %d (%s): %v", i, mode, err)
			}
		}()
	}
	wg.Wait()

	// An honest client is served, completely and correctly.
	c := mustDial(t, h.Addr().String())
	c.mustLogin(t)
	got, err := c.retr("big.bin")
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.SameBytes(got, big); err != nil {
		t.Error(err)
	}
	c.expect(t, "QUIT", 221)
	c.Close()
	checkNoLeaks(t, h, base)
}

func TestHostileAbortedUpload(t *testing.T) {
	h := startHarness(t, func(c *Config) { c.DataTimeout = 2 * time.Second })
	base := idleBaseline(t, h)
	chunk := testutil.RandBytes(60, 1<<20)

	// held are data connections left open after their control connection
	// died: the server must end those sessions on its own (DataTimeout or
	// by noticing the control connection is gone).
	var (
		mu   sync.Mutex
		held []net.Conn
	)
	modes := []string{"rst", "ctl-first-data-idle", "data-fin-then-ctl", "ctl-first-keep-writing"}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mode := modes[i%len(modes)]
			err := func() error {
				c, _, err := dialRaw(h.Addr().String())
				if err != nil {
					return err
				}
				defer c.Close()
				if err := c.login(testUser, testPass); err != nil {
					return err
				}
				dc, err := c.passive(true)
				if err != nil {
					return err
				}
				r, err := c.cmd(fmt.Sprintf("STOR up-%d.bin", i))
				if err != nil || (r.Code != 150 && r.Code != 125) {
					dc.Close()
					return fmt.Errorf("STOR: %q %v", r.Text, err)
				}
				if _, err := dc.Write(chunk); err != nil {
					dc.Close()
					return fmt.Errorf("upload: %w", err)
				}
				switch mode {
				case "rst":
					_ = dc.(*net.TCPConn).SetLinger(0)
					_ = c.conn.(*net.TCPConn).SetLinger(0)
					c.Close()
					dc.Close()
				case "ctl-first-data-idle":
					c.Close()
					mu.Lock()
					held = append(held, dc)
					mu.Unlock()
				case "data-fin-then-ctl":
					dc.Close()
					c.Close()
				case "ctl-first-keep-writing":
					c.Close()
					// The server may already have dropped the data
					// connection; a write error is fine.
					_, _ = dc.Write(chunk)
					dc.Close()
				}
				return nil
			}()
			if err != nil {
				t.Errorf("client %d (%s): %v", i, mode, err)
			}
		}()
	}
	wg.Wait()
	start := time.Now()
	testutil.WaitUntil(t, 15*time.Second, "sessions with an idle data connection end", func() (bool, string) {
		n := h.Sessions()
		return n == 0, fmt.Sprintf("%d sessions", n)
	})
	t.Logf("sessions ended %v after the clients left", time.Since(start).Round(time.Millisecond))
	mu.Lock()
	for _, dc := range held {
		dc.Close()
	}
	mu.Unlock()

	// An honest upload and download still work.
	c := mustDial(t, h.Addr().String())
	c.mustLogin(t)
	first, final, _, err := c.transfer("STOR honest.bin", chunk)
	if err != nil || first.Code != 150 && first.Code != 125 || final.Code != 226 && final.Code != 250 {
		t.Fatalf("honest STOR: %q, %q, %v", first.Text, final.Text, err)
	}
	got, err := c.retr("honest.bin")
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.SameBytes(got, chunk); err != nil {
		t.Error(err)
	}
	c.expect(t, "QUIT", 221)
	c.Close()
	checkNoLeaks(t, h, base)
}

func TestHostileGarbage(t *testing.T) {
	h := startHarness(t)
	testutil.WriteFile(t, filepath.Join(h.Root, "f"), []byte("f"))
	noNewline := func(b []byte) []byte {
		for i := range b {
			if b[i] == '\r' || b[i] == '\n' {
				b[i] = 'x'
			}
		}
		return b
	}
	cases := []struct {
		name  string
		login bool
		line  []byte // sent as is
	}{
		{"random binary", false, append(noNewline(testutil.RandBytes(70, 512)), "\r\n"...)},
		{"random binary logged in", true, append(noNewline(testutil.RandBytes(71, 3000)), "\r\n"...)},
		{"NULs", false, []byte("\x00\x00\x00\x00\r\n")},
		{"NUL in verb", true, []byte("NO\x00OP\r\n")},
		{"NUL in path", true, []byte("CWD a\x00/../..\r\n")},
		{"NUL in SIZE", true, []byte("SIZE f\x00.txt\r\n")},
		{"telnet negotiation", false, []byte("\xff\xfb\x01\xff\xfd\x03\r\n")},
		{"telnet IP DM", true, []byte("\xff\xf4\xff\xf2\r\n")},
		{"lone IAC", true, []byte("\xff\r\n")},
		{"high bytes verb", true, []byte("\xc3\xa9\xc3\xa9 x\r\n")},
		{"invalid UTF-8 path", true, []byte("SIZE \xff\xfe\xfd\r\n")},
		{"empty line", true, []byte("\r\n")},
		{"control chars LF only", true, []byte("\x01\x02\x03\n")},
		{"TYPE garbage", true, []byte("TYPE \x00\x01\r\n")},
		{"TYPE unknown", true, []byte("TYPE Z\r\n")},
		{"MODE unknown", true, []byte("MODE Z\r\n")},
		{"STRU unknown", true, []byte("STRU Z\r\n")},
		{"REST negative", true, []byte("REST -5\r\n")},
		{"REST huge", true, []byte("REST 99999999999999999999999999\r\n")},
		{"REST text", true, []byte("REST abc\r\n")},
		{"PORT overflow", true, []byte("PORT 999,999,999,999,999,999\r\n")},
		{"EPRT empty", true, []byte("EPRT\r\n")},
		{"EPRT delimiters only", true, []byte("EPRT ||||\r\n")},
		{"MFMT bad time", true, []byte("MFMT 2020-01-01 f\r\n")},
		{"MFMT no path", true, []byte("MFMT 20200101000000\r\n")},
		{"SITE empty", true, []byte("SITE\r\n")},
		{"SITE CHMOD bad mode", true, []byte("SITE CHMOD zzz f\r\n")},
		{"SITE CHMOD no args", true, []byte("SITE CHMOD\r\n")},
		{"RNTO without RNFR", true, []byte("RNTO f2\r\n")},
		{"OPTS garbage", true, []byte("OPTS \xff\xff\r\n")},
		{"AUTH unknown", false, []byte("AUTH KERBEROS_V4\r\n")},
		{"PROT without TLS", true, []byte("PROT P\r\n")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustDial(t, h.Addr().String())
			if tc.login {
				c.mustLogin(t)
			}
			if err := c.sendRaw(tc.line); err != nil {
				t.Fatal(err)
			}
			r, err := c.readReply()
			switch {
			case err != nil && isClosed(err):
				return // closing on garbage is allowed
			case err != nil:
				t.Fatalf("reply to %q: %v", truncate(tc.line), err)
			case r.Code == 421:
				expectClosed(t, c)
				return
			case r.Code < 500:
				t.Errorf("garbage %q: reply %q, want 5xx", truncate(tc.line), r.Text)
			}
			// Still exactly one reply per line.
			if r, err := c.cmd("NOOP"); err != nil && !isClosed(err) {
				t.Fatalf("NOOP after garbage: %v", err)
			} else if err == nil && r.Code != 200 {
				t.Errorf("NOOP after garbage: %q, want 200", r.Text)
			}
		})
	}

	t.Run("binary flood", func(t *testing.T) {
		// Random bytes including newlines, on several sessions at once,
		// while nobody reads the replies until the end.
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, _, err := dialRaw(h.Addr().String())
				if err != nil {
					t.Errorf("flood %d: %v", i, err)
					return
				}
				defer c.Close()
				go func() {
					// Drain so the server never blocks on our window.
					_ = c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
					_, _ = io.Copy(io.Discard, c.conn)
				}()
				_ = c.conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
				_, _ = c.conn.Write(testutil.RandBytes(uint64(80+i), 256<<10))
			}()
		}
		wg.Wait()
	})

	// No crash: an honest client is still served.
	c := mustDial(t, h.Addr().String())
	c.mustLogin(t)
	if b, err := c.retr("f"); err != nil || string(b) != "f" {
		t.Fatalf("after garbage: RETR f = %q, %v", b, err)
	}
	c.expect(t, "QUIT", 221)
	c.Close()
	testutil.WaitUntil(t, 15*time.Second, "sessions end", func() (bool, string) {
		return h.Sessions() == 0, fmt.Sprintf("%d sessions", h.Sessions())
	})
}

// isClosed reports whether err means the peer closed or reset.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func TestHostileSessionFlood(t *testing.T) {
	cases := []struct {
		name  string
		mod   func(*Config)
		limit int
	}{
		{"MaxSessions", func(c *Config) { c.MaxSessions = 3 }, 3},
		{"MaxPerIP", func(c *Config) { c.MaxPerIP = 2 }, 2},
		{"Faults.MaxSessions", func(c *Config) { c.Faults.MaxSessions = 1 }, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := startHarness(t, tc.mod)
			var open []*rawClient
			for range tc.limit {
				c := mustDial(t, h.Addr().String())
				c.mustLogin(t)
				open = append(open, c)
			}
			for range 5 {
				c, greet, err := dialRaw(h.Addr().String())
				if err != nil {
					if isClosed(err) {
						t.Errorf("over the limit: closed without 421: %v", err)
						continue
					}
					t.Fatalf("over the limit: %v", err)
				}
				if greet.Code != 421 {
					t.Errorf("over the limit: greeting %q, want 421", greet.Text)
				}
				expectClosed(t, c)
				c.Close()
			}
			// Freeing a slot lets the next client in.
			open[0].expect(t, "QUIT", 221)
			open[0].Close()
			testutil.WaitUntil(t, 5*time.Second, "a freed slot is reused", func() (bool, string) {
				c, greet, err := dialRaw(h.Addr().String())
				if err != nil {
					return false, err.Error()
				}
				defer c.Close()
				return greet.Code == 220, greet.Text
			})
			for _, c := range open[1:] {
				c.expect(t, "NOOP", 200)
			}
		})
	}
}

func TestHostileSlowClient(t *testing.T) {
	h := startHarness(t, func(c *Config) { c.IdleTimeout = time.Second })
	cases := []struct {
		name string
		send string
	}{
		{"silent", ""},
		{"partial line", "NOO"},
		{"logged in then silent", "USER " + testUser + "\r\nPASS " + testPass + "\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustDial(t, h.Addr().String())
			if tc.send != "" {
				if err := c.sendRaw([]byte(tc.send)); err != nil {
					t.Fatal(err)
				}
			}
			start := time.Now()
			_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			b, err := io.ReadAll(c.r)
			if err != nil && !isClosed(err) {
				t.Fatalf("idle client not disconnected: %v (read %q)", err, b)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("idle client disconnected after %v, IdleTimeout is 1s", took)
			}
			// Whatever came before the close must be replies (e.g. 421).
			for _, l := range strings.Split(strings.TrimRight(string(b), "\r\n"), "\n") {
				if _, ok := replyCode(strings.TrimRight(l, "\r")); l != "" && !ok {
					t.Errorf("malformed line before close: %q", l)
				}
			}
		})
	}
	testutil.WaitUntil(t, 10*time.Second, "sessions end", func() (bool, string) {
		return h.Sessions() == 0, fmt.Sprintf("%d sessions", h.Sessions())
	})
}

func TestHostileTLSHandshake(t *testing.T) {
	mod, _ := withTLS(t)
	// The server bounds TLS handshakes by DataTimeout and idle sessions
	// by IdleTimeout; whichever applies, a stuck client is gone by then.
	const limit = 2 * time.Second
	h := startHarness(t, mod, func(c *Config) {
		c.IdleTimeout = time.Second
		c.DataTimeout = limit
	})
	base := idleBaseline(t, h)

	// Each case leaves a connection in a state where only the server's
	// own timeouts or error handling can end it.
	cases := []struct {
		name     string
		implicit bool
		auth     bool   // send AUTH TLS and expect 234 first
		send     []byte // then send these bytes instead of a ClientHello
	}{
		{name: "implicit plaintext", implicit: true, send: []byte("USER alice\r\n")},
		{name: "implicit silent", implicit: true},
		{name: "implicit garbage", implicit: true, send: testutil.RandBytes(90, 4096)},
		{name: "AUTH then plaintext", auth: true, send: []byte("USER alice\r\n")},
		{name: "AUTH then silent", auth: true},
		{name: "AUTH then half a ClientHello", auth: true, send: []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := h.Addr().String()
			if tc.implicit {
				addr = h.ImplicitTLSAddr().String()
			}
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			c := &rawClient{conn: conn, r: bufio.NewReader(conn), timeout: 10 * time.Second}
			if !tc.implicit {
				c.expectReply(t, 220)
			}
			if tc.auth {
				c.expect(t, "AUTH TLS", 234)
			}
			if tc.send != nil {
				if err := c.sendRaw(tc.send); err != nil && !isClosed(err) {
					t.Fatal(err)
				}
			}
			// The server must hang up by itself: a TLS alert and close,
			// or the idle/handshake timeout. Never plaintext replies
			// on a connection that should be TLS.
			start := time.Now()
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			b, err := io.ReadAll(c.r)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection still open after %v", time.Since(start).Round(time.Millisecond))
			}
			if took := time.Since(start); took > limit+3*time.Second {
				t.Errorf("connection closed only after %v", took.Round(time.Millisecond))
			}
			if bytes.Contains(b, []byte("230")) || bytes.Contains(b, []byte("331")) {
				t.Errorf("server answered a plaintext command on a TLS connection: %q", truncate(b))
			}
		})
	}
	checkNoLeaks(t, h, base)
}

func TestHostileStalledData(t *testing.T) {
	const dataTimeout = time.Second
	h := startHarness(t, func(c *Config) { c.DataTimeout = dataTimeout })
	testutil.WriteFile(t, filepath.Join(h.Root, "big.bin"), testutil.RandBytes(100, 32<<20))
	base := idleBaseline(t, h)
	closedPort := func(t *testing.T) *net.TCPAddr {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := ln.Addr().(*net.TCPAddr)
		ln.Close()
		return a
	}

	cases := []struct {
		name string
		// setup prepares the data connection and returns the command
		// to send and what to keep open until the end of the case.
		setup func(t *testing.T, c *rawClient) (cmd string, keep net.Conn)
	}{
		{"passive never connected", func(t *testing.T, c *rawClient) (string, net.Conn) {
			c.expect(t, "EPSV", 229)
			return "RETR big.bin", nil
		}},
		{"reader never reads", func(t *testing.T, c *rawClient) (string, net.Conn) {
			dc, err := c.passive(false)
			if err != nil {
				t.Fatal(err)
			}
			return "RETR big.bin", dc
		}},
		{"writer never writes", func(t *testing.T, c *rawClient) (string, net.Conn) {
			dc, err := c.passive(false)
			if err != nil {
				t.Fatal(err)
			}
			return "STOR stalled.bin", dc
		}},
		{"active target refuses", func(t *testing.T, c *rawClient) (string, net.Conn) {
			c.expect(t, "PORT "+portArg(closedPort(t)), 200)
			return "RETR big.bin", nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustDial(t, h.Addr().String())
			c.mustLogin(t)
			c.expect(t, "TYPE I", 200)
			cmd, keep := tc.setup(t, c)
			if keep != nil {
				defer keep.Close()
				_ = keep.SetDeadline(time.Time{})
			}
			start := time.Now()
			r := c.expect(t, cmd, 150, 125, 425, 426)
			if r.Code < 200 {
				r = c.expectReply(t, 425, 426, 451)
			}
			if took := time.Since(start); took > dataTimeout+5*time.Second {
				t.Errorf("%q gave up after %v, DataTimeout is %v", cmd, took, dataTimeout)
			}
			// The session survives a failed transfer.
			c.expect(t, "NOOP", 200)
			c.expect(t, "QUIT", 221)
		})
	}
	checkNoLeaks(t, h, base)
}

// TestHostileCommandFloodDuringTransfer sends command lines without pause
// while a transfer the client keeps alive (by not reading) is running. The
// server holds such lines until the transfer ends; it must bound that
// backlog (stop reading, or drop the session) instead of buffering without
// limit.
func TestHostileCommandFloodDuringTransfer(t *testing.T) {
	h := startHarness(t, func(c *Config) {
		c.DataTimeout = 30 * time.Second
		c.CommandLog = nil // the log would hold the flood itself
	})
	testutil.WriteFile(t, filepath.Join(h.Root, "big.bin"), testutil.RandBytes(110, 32<<20))
	c := mustDial(t, h.Addr().String())
	c.mustLogin(t)
	c.expect(t, "TYPE I", 200)
	dc, err := c.passive(false)
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	c.expect(t, "RETR big.bin", 150, 125)

	const (
		total    = 64 << 20
		lineSize = 4000
	)
	line := []byte("SIZE " + strings.Repeat("f", lineSize-7) + "\r\n")
	chunk := bytes.Repeat(line, (1<<20)/lineSize)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sent := 0
	for sent < total {
		_ = c.conn.SetWriteDeadline(time.Now().Add(3 * time.Second))
		n, err := c.conn.Write(chunk)
		sent += n
		if err != nil {
			// Backpressure (the server stopped reading) or a closed
			// session: both bound the backlog.
			t.Logf("flood stopped after %d MiB: %v", sent>>20, err)
			break
		}
	}
	time.Sleep(500 * time.Millisecond) // let the server read what it will
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("sent %d MiB of commands during the transfer; heap grew %d MiB", sent>>20, grown>>20)
	if grown > 24<<20 {
		t.Errorf("heap grew by %d MiB while %d MiB of commands arrived during a transfer: the server buffers them without bound",
			grown>>20, sent>>20)
	}
	c.Close()
	dc.Close()
	testutil.WaitUntil(t, 15*time.Second, "session ends", func() (bool, string) {
		return h.Sessions() == 0, fmt.Sprintf("%d sessions", h.Sessions())
	})
}
