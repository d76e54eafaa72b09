package conn

import (
	"bytes"
	"context"
	"errors"
	"ftpfs/internal/testutil"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTelnetIAC checks both directions of the Telnet layer against ftpd,
// which refuses an undoubled IAC (501) and doubles 0xFF in its replies:
// commands with a 0xFF in a name reach the right file, and the name in an
// MLST reply comes back as it is on disk. The full round trip of such
// names, against ftpd and the real servers, is fs's TestIACNames.
func TestTelnetIAC(t *testing.T) {
	s := startServer(t)
	const name = "/d\xff/f\xffile"
	testutil.WriteFile(t, filepath.Join(s.Root, "d\xff", "f\xffile"), []byte("content"))
	ctx := context.Background()

	p := newPool(t, s)
	e, err := p.Stat(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != name || e.Size != int64(len("content")) {
		t.Fatalf("MLST entry %q, size %d; want %q, 7", e.Name, e.Size, name)
	}
	if err := p.Mkdir(ctx, "/d\xff/sub\xff"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Root, "d\xff", "sub\xff")); err != nil {
		t.Fatalf("MKD made the wrong name: %v", err)
	}

	// IACRaw sends the bytes as they are: ftpd refuses the line.
	raw := newPool(t, s, func(c *Config) { c.TelnetIAC = IACRaw })
	var fe *Error
	if err := raw.Mkdir(ctx, "/x\xffy"); !errors.As(err, &fe) || fe.Code != 501 {
		t.Fatalf("MKD with IACRaw: %v, want a 501", err)
	}
	if _, err := raw.Stat(ctx, "/d"); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("the connection after the 501: %v, want a 550 for /d", err)
	}
}

// TestIACFromGreeting checks the rule auto picks from the default banners
// of the servers probed (see TelnetIAC), and that a forced mode ignores
// the banner.
func TestIACFromGreeting(t *testing.T) {
	for _, tc := range []struct {
		mode             TelnetIAC
		greeting         string
		double, undouble bool
	}{
		{IACAuto, "(vsFTPd 3.0.3)", false, true},
		{IACAuto, "---------- Welcome to Pure-FTPd [privsep] [TLS] ----------\nYou are user number 1 of 50 allowed.", false, false},
		{IACAuto, "ProFTPD Server (ProFTPD Default Installation) [127.0.0.1]", true, false},
		{IACAuto, "ftpd ready.", true, true},
		{IACAuto, "Welcome to the Example mirror", true, true},
		{IACDouble, "(vsFTPd 3.0.3)", true, true},
		{IACRaw, "ftpd ready.", false, false},
	} {
		r := iacFor(tc.mode, tc.greeting)
		if r.doubleCommands != tc.double || r.undoubleReplies != tc.undouble {
			t.Errorf("%v, %q: doubles commands %v, undoubles replies %v; want %v, %v",
				tc.mode, tc.greeting, r.doubleCommands, r.undoubleReplies, tc.double, tc.undouble)
		}
	}
}

// TestIACLoggedOnce checks that auto's choice is logged once per pool,
// however many connections it opens.
func TestIACLoggedOnce(t *testing.T) {
	s := startServer(t)
	var log bytes.Buffer
	p := newPool(t, s, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&log, nil)) })
	ctx := context.Background()
	a, err := p.get(ctx, Metadata, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.get(ctx, Transfer, true)
	if err != nil {
		t.Fatal(err)
	}
	p.put(a, Metadata)
	p.put(b, Transfer)
	if n := p.Stats().Dials; n != 2 {
		t.Fatalf("%d dials, want 2", n)
	}
	if got := strings.Count(log.String(), "telnet IAC mode"); got != 1 || !strings.Contains(log.String(), "mode=double") {
		t.Fatalf("log: %q, want one line with mode=double", log.String())
	}
}

func TestParseTelnetIAC(t *testing.T) {
	for _, m := range []TelnetIAC{IACAuto, IACDouble, IACRaw} {
		if got, err := ParseTelnetIAC(m.String()); err != nil || got != m {
			t.Errorf("ParseTelnetIAC(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseTelnetIAC("yes"); err == nil {
		t.Error(`ParseTelnetIAC("yes") succeeded`)
	}
}
