package ftpd

import (
	"io"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"ftpfs/internal/testutil"
)

// Replies keep the order of their commands: a NOOP or STAT sent behind a
// RETR whose data connection is not open yet is answered after the
// transfer, not before its 150 (a pipelining client would match the 200
// to the RETR).
func TestNoopBeforeTheTransferStarts(t *testing.T) {
	h := startHarness(t)
	testutil.WriteFile(t, filepath.Join(h.Root, "f"), []byte("some bytes"))
	c := mustDial(t, h.Addr().String())
	if err := c.login(testUser, testPass); err != nil {
		t.Fatal(err)
	}
	r := c.expect(t, "EPSV", 229)
	m := epsvRE.FindStringSubmatch(r.Text)
	if m == nil {
		t.Fatalf("EPSV: %q", r.Text)
	}
	if err := c.sendRaw([]byte("RETR f\r\nNOOP\r\nSTAT\r\n")); err != nil {
		t.Fatal(err)
	}
	// The server reads the NOOP and the STAT while it waits for the
	// data connection.
	time.Sleep(100 * time.Millisecond)
	host, _, _ := net.SplitHostPort(c.conn.RemoteAddr().String())
	d, err := net.DialTimeout("tcp", net.JoinHostPort(host, m[1]), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if b, err := io.ReadAll(d); err != nil || string(b) != "some bytes" {
		t.Fatalf("RETR: %q, %v", b, err)
	}
	var codes []string
	for range 4 {
		r, err := c.readReply()
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, strconv.Itoa(r.Code))
	}
	if got := codes[0] + " " + codes[1] + " " + codes[2] + " " + codes[3]; got != "150 226 200 211" {
		t.Fatalf("replies %s, want 150 226 200 211", got)
	}
}
