package ftpd

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"ftpfs/internal/testutil"
)

func TestTelnetDecode(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		bad            bool
	}{
		{"plain", "NOOP", "NOOP", false},
		{"empty", "", "", false},
		{"doubled IAC", "DELE /a\xff\xffb", "DELE /a\xffb", false},
		{"doubled IAC at the end", "DELE /a\xff\xff", "DELE /a\xff", false},
		{"four IACs", "MKD \xff\xff\xff\xff", "MKD \xff\xff", false},
		{"IP and Synch inline before ABOR", "\xff\xf4\xff\xf2ABOR", "ABOR", false},
		// lftp sends the Data Mark as urgent data: it leaves the stream.
		{"IP and Synch with the DM out of band", "\xff\xf4\xffABOR", "ABOR", false},
		{"Data Mark alone inline", "\xf2ABOR", "ABOR", false},
		{"negotiation before the verb", "\xff\xfb\x01\xff\xfd\x03NOOP", "NOOP", false},
		{"NOP before the verb", "\xff\xf1NOOP", "NOOP", false},
		{"IAC then a letter", "DELE /important\xffZ", "", true},
		{"IAC then a letter in RNTO", "RNTO /hello.txt\xffZ", "", true},
		{"lone IAC at the end", "DELE /important\xff", "", true},
		{"lone IAC alone", "\xff", "", true},
		{"command inside the argument", "DELE /important\xff\xf1Z", "", true},
		{"IP inside the argument", "DELE /a\xff\xf4", "", true},
		{"negotiation inside the argument", "DELE /a\xff\xfb\x01", "", true},
		{"WILL without its option", "\xff\xfb", "", true},
		{"IAC then NUL", "DELE a\xff\x00", "", true},
		{"Data Mark byte inside a name", "DELE a\xf2b", "DELE a\xf2b", false},
		{"high bytes without IAC", "SIZE \xfe\xfd", "SIZE \xfe\xfd", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeTelnet([]byte(tc.in))
			if tc.bad {
				if err == nil {
					t.Fatalf("decodeTelnet(%q) = %q, want it refused", tc.in, got)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("decodeTelnet(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// FuzzTelnet checks that any data a client doubles comes back as it was,
// and that a decoded line holds a 0xFF only where the input doubled one.
func FuzzTelnet(f *testing.F) {
	for _, s := range []string{"DELE /a\xffb", "\xff\xf4\xff\xf2ABOR", "\xff\xff\xff", "x\xff\xfb\x01", "\xf2"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := decodeTelnet(in)
		if err == nil && bytes.Count(got, []byte{0xff}) > bytes.Count(in, []byte{0xff, 0xff}) {
			t.Fatalf("decodeTelnet(%q) = %q: a 0xFF that was not doubled", in, got)
		}
		// A command line starts with its verb, never with a Data Mark.
		data := append([]byte("X"), in...)
		back, err := decodeTelnet(bytes.ReplaceAll(data, []byte{0xff}, []byte{0xff, 0xff}))
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("doubled %q decodes to %q, %v", data, back, err)
		}
	})
}

// TestTelnetRawIAC sends the commands of a client that does not double
// 0xFF: the server must refuse the line, not act on a name that lost
// bytes.
func TestTelnetRawIAC(t *testing.T) {
	h := startHarness(t)
	testutil.WriteFile(t, filepath.Join(h.Root, "important"), []byte("keep"))
	testutil.WriteFile(t, filepath.Join(h.Root, "hello.txt"), []byte("hello"))
	testutil.WriteFile(t, filepath.Join(h.Root, "other"), []byte("other"))
	c := mustDial(t, h.Addr().String())
	c.mustLogin(t)
	c.expect(t, "DELE /important\xffZ", 501)
	c.expect(t, "RNFR /other", 350)
	c.expect(t, "RNTO /hello.txt\xffZ", 501)
	c.expect(t, "SITE CHMOD 600 /hello.txt\xff\xf1x", 501)
	c.expect(t, "NOOP", 200)
	for name, want := range map[string]string{"important": "keep", "hello.txt": "hello", "other": "other"} {
		if b, err := os.ReadFile(filepath.Join(h.Root, name)); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", name, b, err, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(h.Root, "hello.txt")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("hello.txt mode %v, %v", fi.Mode(), err)
	}
}

// TestTelnetNames runs a name with 0xFF through every command that takes
// or returns one, doubled on the wire both ways.
func TestTelnetNames(t *testing.T) {
	h := startHarness(t)
	const dir, name = "d\xff\"q", "f\xffile"
	wire := func(s string) string { return strings.ReplaceAll(s, "\xff", "\xff\xff") }
	c := mustDial(t, h.Addr().String())
	c.mustLogin(t)
	r := c.expect(t, "MKD /"+wire(dir), 257)
	if want := `257 "/` + wire(`d`+"\xff"+`""q`) + `" created.`; r.Text != want {
		t.Errorf("MKD reply %q, want %q", r.Text, want)
	}
	c.expect(t, "CWD /"+wire(dir), 250)
	if r := c.expect(t, "PWD", 257); !strings.Contains(r.Text, wire(`d`+"\xff"+`""q`)) {
		t.Errorf("PWD reply %q", r.Text)
	}
	data, err := c.passive(false)
	if err != nil {
		t.Fatal(err)
	}
	c.expect(t, "STOR "+wire(name), 150)
	io.WriteString(data, "content")
	data.Close()
	c.expectReply(t, 226)
	if b, err := os.ReadFile(filepath.Join(h.Root, dir, name)); err != nil || string(b) != "content" {
		t.Fatalf("file on disk: %q, %v", b, err)
	}
	if r := c.expect(t, "MLST "+wire(name), 250); !strings.Contains(r.Text, "; /"+wire(dir+"/"+name)+"\n") {
		t.Errorf("MLST reply %q", r.Text)
	}
	if r := c.expect(t, "STAT .", 213); !strings.Contains(r.Text, " "+wire(name)+"\n") {
		t.Errorf("STAT reply %q", r.Text)
	}
	c.expect(t, "SIZE "+wire(name), 213)
	if b, err := c.retr(wire(name)); err != nil || string(b) != "content" {
		t.Fatalf("RETR: %q, %v", b, err)
	}
	// Listings on a data connection are not Telnet: names travel raw.
	data, err = c.passive(false)
	if err != nil {
		t.Fatal(err)
	}
	c.expect(t, "NLST", 150)
	b, _ := io.ReadAll(data)
	data.Close()
	c.expectReply(t, 226)
	if string(b) != name+"\r\n" {
		t.Errorf("NLST %q, want %q", b, name+"\r\n")
	}
	c.expect(t, "RNFR "+wire(name), 350)
	c.expect(t, "RNTO "+wire(name+"\xff2"), 250)
	c.expect(t, "DELE "+wire(name+"\xff2"), 250)
	c.expect(t, "CWD /", 250)
	c.expect(t, "RMD "+wire(dir), 250)
	if ents, err := os.ReadDir(h.Root); err != nil || len(ents) != 0 {
		t.Fatalf("root after the round trip: %v, %v", ents, err)
	}
}

// TestTelnetUrgentAbort sends ABOR as lftp does: IAC IP IAC in band, then
// the Data Mark as TCP urgent data, which leaves the stream.
func TestTelnetUrgentAbort(t *testing.T) {
	h := startHarness(t)
	c := mustDial(t, h.Addr().String())
	c.mustLogin(t)
	if err := c.sendRaw([]byte("\xff\xf4\xff")); err != nil {
		t.Fatal(err)
	}
	raw, err := c.conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Write(func(fd uintptr) bool {
		serr = syscall.Sendto(int(fd), []byte{0xf2}, syscall.MSG_OOB, nil)
		return true
	}); err != nil || serr != nil {
		t.Fatalf("urgent send: %v %v", err, serr)
	}
	// Give the urgent byte its own segment before the command follows.
	time.Sleep(20 * time.Millisecond)
	c.expect(t, "ABOR", 225, 226)
	c.expect(t, "NOOP", 200)
}

// TestCommandLogEscapes sends lines whose bytes could forge or hide log
// text: C0 and C1 controls, DEL, bidi overrides, invalid UTF-8. The
// command log shows them as Go escapes, as the mount's log does; printable
// text, UTF-8 included, stays as it is.
func TestCommandLogEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"plain name.txt":        "plain name.txt",
		"h\u00e9t\u00e9 \u65e5": "h\u00e9t\u00e9 \u65e5",
		"a\tb\x1b[31m":          `a\tb\x1b[31m`,
		"del\x7f":               `del\x7f`,
		"c1\u0085\u009b":        `c1\u0085\u009b`,
		"bidi\u202etxt.exe":     `bidi\u202etxt.exe`,
		"repl\ufffd ok":         "repl\ufffd ok",
		"bad\xc3(\xfe":          `bad\xc3(\xfe`,
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
	h := startHarness(t)
	c := mustDial(t, h.Addr().String())
	c.mustLogin(t)
	c.expect(t, "SIZE evil\u202egpj.exe\u0085", 550)
	if got, want := h.Log.args("SIZE"), `evil\u202egpj.exe\u0085`; len(got) != 1 || got[0] != want {
		t.Errorf("command log has SIZE %q, want %q", got, want)
	}
}
