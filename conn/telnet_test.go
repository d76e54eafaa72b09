package conn

import (
	"context"
	"errors"
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
	writeFile(t, filepath.Join(s.root, "d\xff", "f\xffile"), []byte("content"))
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
	if _, err := os.Stat(filepath.Join(s.root, "d\xff", "sub\xff")); err != nil {
		t.Fatalf("MKD made the wrong name: %v", err)
	}

	// RawIAC sends the bytes as they are: ftpd refuses the line.
	raw := newPool(t, s, func(c *Config) { c.RawIAC = true })
	var fe *Error
	if err := raw.Mkdir(ctx, "/x\xffy"); !errors.As(err, &fe) || fe.Code != 501 {
		t.Fatalf("MKD with RawIAC: %v, want a 501", err)
	}
	if _, err := raw.Stat(ctx, "/d"); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("the connection after the 501: %v, want a 550 for /d", err)
	}
}
