package ftpd

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"strings"
	"testing"

	"ftpfs/internal/testutil"
)

// TestHASH: FEAT offers HASH with SHA-256 the default; HASH answers
// "213 ALG 0-N hex name"; OPTS HASH switches the algorithm for the
// session (and says the current one without an argument); an unknown
// one, a missing file and a directory are refused.
func TestHASH(t *testing.T) {
	h := startHarness(t)
	data := testutil.RandBytes(5, 100_003)
	testutil.WriteFile(t, filepath.Join(h.Root, "d", "f x"), data)
	c := mustDial(t, h.Addr().String())
	c.mustLogin(t)
	if r := c.expect(t, "FEAT", 211); !strings.Contains(r.Text, "HASH SHA-256*;SHA-1;MD5;CRC32") {
		t.Fatalf("FEAT: %s", r.Text)
	}
	sum := sha256.Sum256(data)
	want := fmt.Sprintf("213 SHA-256 0-%d %s /d/f x", len(data), hex.EncodeToString(sum[:]))
	if r := c.expect(t, "HASH /d/f x", 213); r.Text != want {
		t.Fatalf("HASH: %q, want %q", r.Text, want)
	}
	c.expect(t, "OPTS HASH md5", 200)
	if r := c.expect(t, "OPTS HASH", 200); !strings.Contains(r.Text, "MD5") {
		t.Fatalf("OPTS HASH: %q", r.Text)
	}
	m := md5.Sum(data)
	if r := c.expect(t, "HASH /d/f x", 213); !strings.Contains(r.Text, "MD5 0-100003 "+hex.EncodeToString(m[:])) {
		t.Fatalf("HASH after OPTS HASH MD5: %q", r.Text)
	}
	c.expect(t, "OPTS HASH CRC32", 200)
	if r := c.expect(t, "HASH /d/f x", 213); !strings.Contains(r.Text, fmt.Sprintf(" %08x ", crc32.ChecksumIEEE(data))) {
		t.Fatalf("HASH after OPTS HASH CRC32: %q", r.Text)
	}
	c.expect(t, "OPTS HASH WHIRLPOOL", 504)
	c.expect(t, "HASH /nope", 550)
	c.expect(t, "HASH /d", 550)
}
