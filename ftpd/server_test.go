package ftpd

// Unit tests of the server with jlaffaye/ftp, the client library the mount
// uses, plus raw-protocol checks where the library cannot say what we need
// (ABOR, fault replies, exact reply codes).

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"ftpfs/internal/testutil"
)

// dialLib logs in with jlaffaye/ftp and quits at cleanup.
func dialLib(t *testing.T, addr string, opts ...ftp.DialOption) *ftp.ServerConn {
	t.Helper()
	opts = append([]ftp.DialOption{ftp.DialWithTimeout(5 * time.Second)}, opts...)
	c, err := ftp.Dial(addr, opts...)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Quit() })
	if err := c.Login(testUser, testPass); err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

// ftpCode is the reply code of a jlaffaye/ftp error, or 0.
func ftpCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

func retrAll(t *testing.T, c *ftp.ServerConn, name string, offset uint64) []byte {
	t.Helper()
	r, err := c.RetrFrom(name, offset)
	if err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("RETR %s data: %v", name, err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("RETR %s end: %v", name, err)
	}
	return b
}

func TestFileOperations(t *testing.T) {
	h := startHarness(t)
	c := dialLib(t, h.Addr().String())
	data := testutil.RandBytes(1, 3<<20+17)

	if err := c.MakeDir("dir with space"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("dir with space/f ü.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	disk, err := os.ReadFile(filepath.Join(h.Root, "dir with space", "f ü.bin"))
	if err != nil || !bytes.Equal(disk, data) {
		t.Fatalf("stored file differs on disk (err %v)", err)
	}
	if got := retrAll(t, c, "dir with space/f ü.bin", 0); !bytes.Equal(got, data) {
		t.Fatal("RETR returned other bytes")
	}
	if got := retrAll(t, c, "/dir with space/f ü.bin", 1000); !bytes.Equal(got, data[1000:]) {
		t.Fatal("RETR after REST returned other bytes")
	}
	if n, err := c.FileSize("dir with space/f ü.bin"); err != nil || n != int64(len(data)) {
		t.Fatalf("SIZE = %d, %v", n, err)
	}

	// REST + STOR rewrites from the offset on; APPE appends.
	if err := c.StorFrom("dir with space/f ü.bin", bytes.NewReader([]byte("TAIL")), 10); err != nil {
		t.Fatal(err)
	}
	if err := c.Append("dir with space/f ü.bin", strings.NewReader("++")); err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]byte{}, data[:10]...), "TAIL"...), "++"...)
	if got := retrAll(t, c, "dir with space/f ü.bin", 0); !bytes.Equal(got, want) {
		t.Fatalf("after REST+STOR and APPE: %q", got)
	}

	// Times: MFMT sets, MDTM and MLST read back to the second.
	mt := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := c.SetTime("dir with space/f ü.bin", mt); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetTime("dir with space/f ü.bin"); err != nil || !got.Equal(mt) {
		t.Fatalf("MDTM = %v, %v", got, err)
	}
	e, err := c.GetEntry("dir with space/f ü.bin")
	if err != nil || e.Size != uint64(len(want)) || !e.Time.Equal(mt) || e.Type != ftp.EntryTypeFile {
		t.Fatalf("MLST = %+v, %v", e, err)
	}

	// Navigation.
	if err := c.ChangeDir("dir with space"); err != nil {
		t.Fatal(err)
	}
	if pwd, err := c.CurrentDir(); err != nil || pwd != "/dir with space" {
		t.Fatalf("PWD = %q, %v", pwd, err)
	}
	names, err := c.NameList("")
	if err != nil || len(names) != 1 || names[0] != "f ü.bin" {
		t.Fatalf("NLST = %q, %v", names, err)
	}
	if err := c.ChangeDirToParent(); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangeDir("nope"); ftpCode(err) != 550 {
		t.Fatalf("CWD nope: %v, want 550", err)
	}

	// Rename, delete, remove.
	if err := c.RemoveDir("dir with space"); ftpCode(err) != 550 {
		t.Fatalf("RMD of a non-empty dir: %v, want 550", err)
	}
	if err := c.Rename("dir with space/f ü.bin", "moved"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("dir with space"); ftpCode(err) != 550 {
		t.Fatalf("DELE of a dir: %v, want 550", err)
	}
	if err := c.RemoveDir("dir with space"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("moved"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FileSize("moved"); ftpCode(err) != 550 {
		t.Fatalf("SIZE after DELE: %v, want 550", err)
	}
	if _, err := c.Retr("moved"); ftpCode(err) != 550 {
		t.Fatalf("RETR after DELE: %v, want 550", err)
	}
	if err := c.NoOp(); err != nil {
		t.Fatalf("session unusable after errors: %v", err)
	}
}

func TestListingFormats(t *testing.T) {
	mt := time.Date(2020, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	setup := func(t *testing.T, root string) {
		testutil.WriteFile(t, filepath.Join(root, "plain"), []byte("12345"))
		testutil.WriteFile(t, filepath.Join(root, " lead space"), nil)
		testutil.WriteFile(t, filepath.Join(root, "-dash"), nil)
		testutil.WriteFile(t, filepath.Join(root, ".hidden"), nil)
		testutil.WriteFile(t, filepath.Join(root, "ünï cødé"), nil)
		if err := os.Mkdir(filepath.Join(root, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("plain", filepath.Join(root, "link")); err != nil {
			t.Fatal(err)
		}
		// A name with LF would forge a listing line: it must be left out.
		testutil.WriteFile(t, filepath.Join(root, "evil\nname"), nil)
		for _, n := range []string{"plain", "sub"} {
			if err := os.Chtimes(filepath.Join(root, n), mt, mt); err != nil {
				t.Fatal(err)
			}
		}
	}
	names := []string{" lead space", "-dash", ".hidden", "link", "plain", "sub", "ünï cødé"}

	t.Run("MLSD", func(t *testing.T) {
		h := startHarness(t)
		setup(t, h.Root)
		c := mustDial(t, h.Addr().String())
		c.mustLogin(t)
		lines := dataLines(t, c, "MLSD")
		got := map[string]string{}
		for _, l := range lines {
			facts, name, ok := strings.Cut(l, " ")
			if !ok {
				t.Fatalf("bad MLSD line %q", l)
			}
			got[name] = facts
		}
		if len(got) != len(names) {
			t.Fatalf("MLSD names %q, want %q", keys(got), names)
		}
		for _, n := range names {
			if _, ok := got[n]; !ok {
				t.Errorf("MLSD lacks %q", n)
			}
		}
		if f := got["plain"]; !strings.Contains(f, "type=file;size=5;modify=20200102030405.600;perm=adfrw;unique=") || !strings.Contains(f, "UNIX.mode=0644;") {
			t.Errorf("plain facts %q", f)
		}
		if f := got["sub"]; !strings.HasPrefix(f, "type=dir;") {
			t.Errorf("sub facts %q", f)
		}
		if f := got["link"]; !strings.HasPrefix(f, "type=OS.unix=slink:plain;") {
			t.Errorf("link facts %q", f)
		}
		// OPTS MLST narrows the facts.
		c.expect(t, "OPTS MLST size;type;", 200)
		r := c.expect(t, "MLST plain", 250)
		if !strings.Contains(r.Text, " type=file;size=5; /plain") {
			t.Errorf("MLST after OPTS: %q", r.Text)
		}
	})

	for _, p := range []Profile{ProfileFull, ProfileVsftpd, ProfileDOS} {
		t.Run("LIST-"+string(p), func(t *testing.T) {
			h := startHarness(t, func(c *Config) { c.Profile = p })
			setup(t, h.Root)
			c := dialLib(t, h.Addr().String(), ftp.DialWithDisabledMLSD(true))
			entries, err := c.List("/")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]*ftp.Entry{}
			for _, e := range entries {
				got[e.Name] = e
			}
			for _, n := range names {
				if p == ProfileDOS {
					// jlaffaye/ftp trims DOS names; the server sends them whole.
					n = strings.TrimSpace(n)
				}
				if got[n] == nil {
					t.Errorf("LIST lacks %q: %q", n, keys(got))
				}
			}
			if e := got["plain"]; e == nil || e.Size != 5 || e.Type != ftp.EntryTypeFile {
				t.Errorf("plain: %+v", e)
			} else if want := mt.Truncate(24 * time.Hour); !e.Time.Truncate(24 * time.Hour).Equal(want) {
				t.Errorf("plain time %v, want the day of %v", e.Time, mt)
			}
			if e := got["sub"]; e == nil || e.Type != ftp.EntryTypeFolder {
				t.Errorf("sub: %+v", e)
			}
			if e := got["link"]; p != ProfileDOS && (e == nil || e.Type != ftp.EntryTypeLink || e.Target != "plain") {
				t.Errorf("link: %+v", e)
			}
		})
	}
}

// dataLines runs a listing command over EPSV and returns its lines.
func dataLines(t *testing.T, c *rawClient, cmd string) []string {
	t.Helper()
	d, err := c.passive(false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c.expect(t, cmd, 150)
	b, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.readReply(); err != nil || r.Code != 226 {
		t.Fatalf("%s end: %v %v", cmd, r, err)
	}
	s := strings.TrimSuffix(string(b), "\r\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\r\n")
}

func keys[V any](m map[string]V) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}

func TestProfiles(t *testing.T) {
	cases := []struct {
		p          Profile
		mlsd       bool
		setTimeCmd string
	}{
		{ProfileFull, true, "MFMT"},
		{ProfileVsftpd, false, "MDTM"},
		{ProfileDOS, false, "MDTM"},
	}
	for _, tc := range cases {
		t.Run(string(tc.p), func(t *testing.T) {
			h := startHarness(t, func(c *Config) { c.Profile = tc.p })
			testutil.WriteFile(t, filepath.Join(h.Root, "f"), []byte("x"))
			c := mustDial(t, h.Addr().String())
			feat := c.expect(t, "FEAT", 211)
			for _, f := range []string{"EPSV", "PASV", "SIZE", "MDTM", "REST STREAM", "UTF8"} {
				if !strings.Contains(feat.Text, "\n "+f) {
					t.Errorf("FEAT lacks %s: %q", f, feat.Text)
				}
			}
			if strings.Contains(feat.Text, "MLST") != tc.mlsd || strings.Contains(feat.Text, "MFMT") != tc.mlsd {
				t.Errorf("FEAT MLST/MFMT presence wrong for %s: %q", tc.p, feat.Text)
			}
			c.mustLogin(t)
			mlsd := c.expect(t, "MLST f", 250, 500)
			if (mlsd.Code == 250) != tc.mlsd {
				t.Errorf("MLST answered %d", mlsd.Code)
			}
			// Each profile can set a time the way its real server does.
			lib := dialLib(t, h.Addr().String(), ftp.DialWithWritingMDTM(tc.setTimeCmd == "MDTM"))
			mt := time.Date(2019, 5, 6, 7, 8, 9, 0, time.UTC)
			if err := lib.SetTime("f", mt); err != nil {
				t.Fatalf("SetTime: %v", err)
			}
			fi, err := os.Stat(filepath.Join(h.Root, "f"))
			if err != nil || !fi.ModTime().Equal(mt) {
				t.Fatalf("mtime on disk %v, want %v (%v)", fi.ModTime(), mt, err)
			}
			if !h.Log.has(tc.setTimeCmd) {
				t.Errorf("time set without %s", tc.setTimeCmd)
			}
		})
	}
}

func TestReplyCodes(t *testing.T) {
	h := startHarness(t)
	testutil.WriteFile(t, filepath.Join(h.Root, "f"), []byte("abc"))
	if err := os.Mkdir(filepath.Join(h.Root, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(h.Root, "d", "x"), nil)
	c := mustDial(t, h.Addr().String())
	steps := []struct {
		cmd   string
		codes []int
	}{
		{"NOOP", []int{200}},
		{"SYST", []int{215}},
		{"HELP", []int{214}},
		{"PWD", []int{530}},
		{"PASS x", []int{503}},
		{"OPTS UTF8 ON", []int{200}},
		{"AUTH TLS", []int{502}},
		{"PBSZ 0", []int{503}},
		{"USER " + testUser, []int{331}},
		{"PASS " + testPass, []int{230}},
		{"PWD", []int{257}},
		{"STAT", []int{211}},
		{"STAT /", []int{213}},
		{"TYPE I", []int{200}},
		{"TYPE A", []int{200}},
		{"TYPE E", []int{504}},
		{"MODE S", []int{200}},
		{"MODE B", []int{504}},
		{"STRU F", []int{200}},
		{"STRU R", []int{504}},
		{"CWD d", []int{250}},
		{"CDUP", []int{250}},
		{"XCWD d", []int{250}},
		{"XCUP", []int{250}},
		{"XPWD", []int{257}},
		{"CDUP", []int{550}}, // at the root: refused, not clamped
		{"CWD f", []int{550}},
		{"SIZE d", []int{550}},
		{"SIZE f", []int{213}},
		{"REST 100", []int{350}},
		{"RETR f", []int{554}}, // beyond the end of the file
		{"MDTM f", []int{213}},
		{"MDTM nope", []int{550}},
		{"MFMT 2020 f", []int{501}},
		{"MFMT 20200101000000 f", []int{213}},
		{"REST x", []int{501}},
		{"REST 1", []int{350}},
		{"RETR f", []int{425}},
		{"LIST", []int{425}},
		{"STOR g", []int{425}},
		{"RNTO x", []int{503}},
		{"RNFR nope", []int{550}},
		{"RNFR f", []int{350}},
		{"RNTO g", []int{250}},
		{"MKD g", []int{550}},
		{"XMKD e", []int{257}},
		{"XRMD e", []int{250}},
		{"RMD d", []int{550}},
		{"DELE d", []int{550}},
		{"DELE nope", []int{550}},
		{"SITE CHMOD 600 g", []int{200}},
		{"SITE CHMOD 99 g", []int{501}},
		{"SITE HELP", []int{214}},
		{"SITE EXEC ls", []int{500}},
		{"ABOR", []int{225}},
		{"EPSV 3", []int{522}},
		{"EPRT |3|x|1|", []int{522}},
		{"PORT 1,2,3", []int{501}},
		{"FOO", []int{500}},
		{"RETR", []int{501}},
		{"QUIT", []int{221}},
	}
	for _, s := range steps {
		c.expect(t, s.cmd, s.codes...)
	}
	fi, err := os.Stat(filepath.Join(h.Root, "g"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("SITE CHMOD: %v %v", fi.Mode(), err)
	}
}

func TestReadOnlyAndAnonymous(t *testing.T) {
	writes := []string{"STOR x", "APPE x", "STOU", "DELE f", "MKD m", "RMD m", "RNFR f", "MFMT 20200101000000 f", "MDTM 20200101000000 f", "SITE CHMOD 777 f"}
	check := func(t *testing.T, h *harness, user, pass string) {
		testutil.WriteFile(t, filepath.Join(h.Root, "f"), []byte("read me"))
		c := mustDial(t, h.Addr().String())
		if err := c.login(user, pass); err != nil {
			t.Fatal(err)
		}
		for _, w := range writes {
			c.expect(t, w, 550)
		}
		if b, err := c.retr("f"); err != nil || string(b) != "read me" {
			t.Fatalf("RETR on read-only: %q %v", b, err)
		}
		fi, _ := os.Stat(filepath.Join(h.Root, "f"))
		if fi.ModTime().Year() == 2020 || fi.Mode().Perm() == 0o777 {
			t.Fatal("a read-only session changed the file")
		}
	}
	t.Run("read-only", func(t *testing.T) {
		h := startHarness(t, func(c *Config) { c.ReadOnly = true })
		check(t, h, testUser, testPass)
	})
	t.Run("anonymous", func(t *testing.T) {
		h := startHarness(t, func(c *Config) { c.Anonymous = true })
		check(t, h, "anonymous", "guest@")
	})
	t.Run("anonymous disabled", func(t *testing.T) {
		h := startHarness(t)
		c := mustDial(t, h.Addr().String())
		if err := c.login("anonymous", "guest@"); err == nil {
			t.Fatal("anonymous login accepted while disabled")
		}
	})
}

func TestAbortDuringTransfer(t *testing.T) {
	h := startHarness(t, func(c *Config) { c.Faults.DataRate = 1 << 20 })
	testutil.WriteFile(t, filepath.Join(h.Root, "big"), testutil.RandBytes(2, 8<<20))
	c := mustDial(t, h.Addr().String())
	c.mustLogin(t)
	for i := range 3 {
		d, err := c.passive(i%2 == 1)
		if err != nil {
			t.Fatal(err)
		}
		c.expect(t, "RETR big", 150)
		buf := make([]byte, 4096)
		if _, err := io.ReadFull(d, buf); err != nil {
			t.Fatal(err)
		}
		c.send("ABOR")
		r1, err1 := c.readReply()
		r2, err2 := c.readReply()
		if err1 != nil || err2 != nil || r1.Code != 426 || r2.Code != 226 {
			t.Fatalf("ABOR replies %v %v / %v %v, want 426 then 226", r1, err1, r2, err2)
		}
		d.Close()
		c.expect(t, "NOOP", 200)
	}
	// A command sent during a transfer waits for it and is answered after.
	d, err := c.passive(false)
	if err != nil {
		t.Fatal(err)
	}
	h.SetFaults(Faults{})
	c.expect(t, "RETR big", 150)
	c.send("PWD")
	n, err := io.Copy(io.Discard, d)
	if err != nil || n != 8<<20 {
		t.Fatalf("download %d bytes, %v", n, err)
	}
	r1, _ := c.readReply()
	r2, _ := c.readReply()
	if r1.Code != 226 || r2.Code != 257 {
		t.Fatalf("replies %v, %v; want 226 then 257", r1, r2)
	}
}

func TestCommandLogAndCounts(t *testing.T) {
	h := startHarness(t)
	c := dialLib(t, h.Addr().String())
	h.ResetCounts()
	for range 3 {
		if err := c.NoOp(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.List("/"); err != nil {
		t.Fatal(err)
	}
	got := h.Counts()
	if got["NOOP"] != 3 || got["MLSD"] != 1 || got["EPSV"] != 1 || got["PASS"] != 0 {
		t.Fatalf("counts %v", got)
	}
	log := h.Log.String()
	if strings.Contains(log, testPass) {
		t.Fatal("the password reached the command log")
	}
	if !strings.Contains(log, " PASS ****\n") {
		t.Fatalf("PASS not logged masked:\n%s", log)
	}
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || !strings.HasPrefix(f[1], "s") {
			t.Fatalf("log line %q is not <time> <session> <VERB> [arg]", l)
		}
		if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
	}
}

func TestTLS(t *testing.T) {
	mod, _ := withTLS(t)
	h := startHarness(t, mod, func(c *Config) { c.ImplicitTLSListen = "127.0.0.1:0" })
	data := testutil.RandBytes(3, 1<<20)
	for _, tc := range []struct {
		name string
		opt  func(*tls.Config) ftp.DialOption
		addr string
	}{
		{"explicit", ftp.DialWithExplicitTLS, h.Addr().String()},
		{"implicit", ftp.DialWithTLS, h.ImplicitTLSAddr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One session cache per connection, as vsftpd-style reuse needs.
			conf := &tls.Config{InsecureSkipVerify: true, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
			c := dialLib(t, tc.addr, tc.opt(conf))
			if err := c.Stor("t.bin", bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			if got := retrAll(t, c, "t.bin", 0); !bytes.Equal(got, data) {
				t.Fatal("TLS round trip changed the bytes")
			}
			if _, err := c.List("/"); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("PROT before AUTH", func(t *testing.T) {
		c := mustDial(t, h.Addr().String())
		c.expect(t, "PROT P", 503)
		c.expect(t, "AUTH XYZ", 504)
	})
}

func TestFaults(t *testing.T) {
	big := testutil.RandBytes(4, 1<<20)
	start := func(t *testing.T, f Faults) (*harness, *ftp.ServerConn) {
		h := startHarness(t, func(c *Config) { c.DataTimeout = 2 * time.Second })
		testutil.WriteFile(t, filepath.Join(h.Root, "big"), big)
		c := dialLib(t, h.Addr().String())
		h.SetFaults(f)
		return h, c
	}

	t.Run("reply delay", func(t *testing.T) {
		_, c := start(t, Faults{ReplyDelay: 50 * time.Millisecond})
		t0 := time.Now()
		for range 4 {
			if err := c.NoOp(); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(t0); d < 200*time.Millisecond {
			t.Fatalf("4 NOOPs took %v with a 50ms reply delay", d)
		}
	})
	t.Run("pipelined commands share the delay", func(t *testing.T) {
		h, _ := start(t, Faults{})
		c := mustDial(t, h.Addr().String())
		c.mustLogin(t)
		h.SetFaults(Faults{ReplyDelay: 100 * time.Millisecond})
		t0 := time.Now()
		if err := c.sendRaw([]byte("NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n")); err != nil {
			t.Fatal(err)
		}
		for range 4 {
			c.expectReply(t, 200)
		}
		// One delay, as over a network; four if each reply waited anew.
		if d := time.Since(t0); d < 100*time.Millisecond || d >= 300*time.Millisecond {
			t.Fatalf("4 pipelined NOOPs took %v with a 100ms reply delay", d)
		}
	})
	t.Run("data rate", func(t *testing.T) {
		_, c := start(t, Faults{DataRate: 2 << 20})
		t0 := time.Now()
		if got := retrAll(t, c, "big", 0); !bytes.Equal(got, big) {
			t.Fatal("rate-limited RETR changed the bytes")
		}
		if d := time.Since(t0); d < 400*time.Millisecond {
			t.Fatalf("1 MiB at 2 MiB/s took %v", d)
		}
	})
	t.Run("drop data after", func(t *testing.T) {
		_, c := start(t, Faults{DropDataAfter: 100_000})
		r, err := c.Retr("big")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		if len(b) != 100_000 || !bytes.Equal(b, big[:100_000]) {
			t.Fatalf("got %d bytes before the drop", len(b))
		}
		if err := r.Close(); ftpCode(err) != 426 {
			t.Fatalf("final reply %v, want 426", err)
		}
		if err := c.Stor("up", bytes.NewReader(big)); ftpCode(err) != 426 {
			t.Fatalf("STOR with a dropped connection: %v, want 426", err)
		}
	})
	t.Run("stor full after", func(t *testing.T) {
		h, c := start(t, Faults{StorFullAfter: 65536})
		if err := c.Stor("up", bytes.NewReader(big)); ftpCode(err) != 552 {
			t.Fatalf("STOR on a full disk: %v, want 552", err)
		}
		fi, err := os.Stat(filepath.Join(h.Root, "up"))
		if err != nil || fi.Size() != 65536 {
			t.Fatalf("partial upload %v, %v", fi, err)
		}
		if err := c.NoOp(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("listing dropped", func(t *testing.T) {
		_, c := start(t, Faults{DropDataAfter: 10})
		if _, err := c.List("/"); ftpCode(err) != 426 {
			t.Fatalf("LIST with the data connection dropped: %v, want 426", err)
		}
	})
	t.Run("quota after", func(t *testing.T) {
		_, c := start(t, Faults{QuotaAfter: 65536})
		err := c.Stor("up", bytes.NewReader(big))
		if ftpCode(err) != 552 || !strings.Contains(err.Error(), "Quota") {
			t.Fatalf("STOR over the quota: %v, want 552 Quota exceeded", err)
		}
	})
	t.Run("close control after", func(t *testing.T) {
		h, _ := start(t, Faults{CloseControlAfter: 2})
		c2 := mustDial(t, h.Addr().String())
		c2.expect(t, "NOOP", 200)
		c2.expect(t, "NOOP", 200)
		if err := c2.send("NOOP"); err == nil {
			if r, err := c2.readReply(); err == nil {
				t.Fatalf("third command answered %v", r)
			}
		}
	})
	t.Run("max sessions", func(t *testing.T) {
		h, _ := start(t, Faults{MaxSessions: 1})
		c, greet, err := dialRaw(h.Addr().String())
		if err == nil {
			c.Close()
		}
		if greet.Code != 421 {
			t.Fatalf("second session greeted %v (%v), want 421", greet, err)
		}
	})
	t.Run("stall", func(t *testing.T) {
		h, c := start(t, Faults{Stall: true, StallAfter: 1000})
		r, err := c.Retr("big")
		if err != nil {
			t.Fatal(err)
		}
		r.SetDeadline(time.Now().Add(500 * time.Millisecond))
		b, err := io.ReadAll(r)
		var ne net.Error
		if len(b) != 1000 || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("stalled RETR: %d bytes, %v; want 1000 and a timeout", len(b), err)
		}
		// The stall lasts until the client gives up: closing the session
		// ends it, and the server is left with no session.
		c.Quit()
		h.SetFaults(Faults{})
		testutil.WaitUntil(t, 5*time.Second, "stalled session ends", func() (bool, string) {
			return h.Sessions() == 0, fmt.Sprint(h.Sessions(), " sessions")
		})
	})
}

func TestSessionLimits(t *testing.T) {
	t.Run("per address", func(t *testing.T) {
		h := startHarness(t, func(c *Config) { c.MaxPerIP = 2 })
		mustDial(t, h.Addr().String())
		mustDial(t, h.Addr().String())
		c, greet, err := dialRaw(h.Addr().String())
		if err == nil {
			c.Close()
		}
		if greet.Code != 421 {
			t.Fatalf("third session: %v %v, want 421", greet, err)
		}
	})
	t.Run("idle timeout", func(t *testing.T) {
		h := startHarness(t, func(c *Config) { c.IdleTimeout = 200 * time.Millisecond })
		c := mustDial(t, h.Addr().String())
		r, err := c.readReply()
		if err != nil || r.Code != 421 {
			t.Fatalf("idle session: %v %v, want 421", r, err)
		}
		testutil.WaitUntil(t, 5*time.Second, "idle session ends", func() (bool, string) {
			return h.Sessions() == 0, fmt.Sprint(h.Sessions(), " sessions")
		})
	})
	t.Run("passive port range", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		h := startHarness(t, func(c *Config) { c.PassivePortMin, c.PassivePortMax = port, port })
		c := mustDial(t, h.Addr().String())
		c.mustLogin(t)
		r := c.expect(t, "EPSV", 229)
		if !strings.Contains(r.Text, fmt.Sprintf("|||%d|", port)) {
			t.Fatalf("EPSV outside the range: %q", r.Text)
		}
	})
}

func TestPassiveRefusesStrangers(t *testing.T) {
	h := startHarness(t)
	testutil.WriteFile(t, filepath.Join(h.Root, "f"), []byte("secret data"))
	c := mustDial(t, h.Addr().String())
	c.mustLogin(t)
	r := c.expect(t, "EPSV", 229)
	port := r.Text[strings.Index(r.Text, "|||")+3 : strings.LastIndex(r.Text, "|")]
	// A connection from another loopback address reaches the listener
	// first; the server must drop it and wait for the client's own.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 2 * time.Second}
	stranger, err := d.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Skipf("cannot connect from 127.0.0.2: %v", err)
	}
	defer stranger.Close()
	time.Sleep(50 * time.Millisecond)
	own, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	c.expect(t, "RETR f", 150)
	stranger.SetReadDeadline(time.Now().Add(2 * time.Second))
	if b, _ := io.ReadAll(stranger); len(b) != 0 {
		t.Fatalf("stranger received %q", b)
	}
	b, err := io.ReadAll(own)
	if err != nil || string(b) != "secret data" {
		t.Fatalf("client received %q %v", b, err)
	}
	c.expectReply(t, 226)
}

func TestSTOU(t *testing.T) {
	h := startHarness(t)
	c := mustDial(t, h.Addr().String())
	c.mustLogin(t)
	d, err := c.passive(false)
	if err != nil {
		t.Fatal(err)
	}
	r := c.expect(t, "STOU", 150)
	_, name, ok := strings.Cut(r.Text, "FILE: ")
	if !ok {
		t.Fatalf("STOU reply without a name: %q", r.Text)
	}
	d.Write([]byte("unique"))
	d.Close()
	c.expectReply(t, 226)
	b, err := os.ReadFile(filepath.Join(h.Root, name))
	if err != nil || string(b) != "unique" {
		t.Fatalf("STOU file %q: %q %v", name, b, err)
	}
}

func TestIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
	h := startHarness(t, func(c *Config) { c.Listen = "[::1]:0" })
	testutil.WriteFile(t, filepath.Join(h.Root, "f"), []byte("six"))
	c := dialLib(t, h.Addr().String())
	if got := retrAll(t, c, "f", 0); string(got) != "six" {
		t.Fatalf("RETR over IPv6: %q", got)
	}
	raw := mustDial(t, h.Addr().String())
	raw.mustLogin(t)
	raw.expect(t, "PASV", 425)
	raw.expect(t, "EPSV 1", 522)
	raw.expect(t, "EPRT |2|::1|1|", 501)
}
