package conn

import (
	"testing"
	"time"
)

// TestHashVerbOf: the digest command chosen from FEAT: HASH with the
// server's default when it is a SHA, else the best algorithm offered
// (OPTS HASH), else the best of the older X commands.
func TestHashVerbOf(t *testing.T) {
	for _, c := range []struct {
		feat []string
		want hashVerb
		ok   bool
	}{
		{[]string{"HASH SHA-256*;SHA-1;MD5;CRC32"}, hashVerb{"HASH", "SHA-256", false}, true},
		{[]string{"HASH SHA-1*;SHA-256;SHA-512;MD5;CRC32"}, hashVerb{"HASH", "SHA-1", false}, true},
		{[]string{"HASH CRC32*;MD5;SHA-1;SHA-256"}, hashVerb{"HASH", "SHA-256", true}, true},
		{[]string{"HASH MD5*;CRC32", "XSHA256"}, hashVerb{"HASH", "MD5", false}, true},
		{[]string{"HASH MD5*;SHA-1"}, hashVerb{"HASH", "SHA-1", true}, true},
		{[]string{"HASH WHIRLPOOL*", "XCRC", "XMD5"}, hashVerb{"XMD5", "MD5", false}, true},
		{[]string{"XCRC"}, hashVerb{"XCRC", "CRC32", false}, true},
		{[]string{"SIZE", "MDTM"}, hashVerb{}, false},
	} {
		got, ok := hashVerbOf(&Features{Raw: c.feat})
		if got != c.want || ok != c.ok {
			t.Errorf("%q: %+v %v, want %+v %v", c.feat, got, ok, c.want, c.ok)
		}
	}
}

// TestDigestIn: the digest is found in HASH's reply and the X commands',
// a CRC without its leading zeros too.
func TestDigestIn(t *testing.T) {
	sha := hashVerb{"HASH", "SHA-256", false}
	hex := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	for _, c := range []struct {
		how  hashVerb
		msg  string
		want string
	}{
		{sha, "SHA-256 0-4 " + hex + " /a b/.ftpfs-upload-1-x", hex},
		{hashVerb{"XSHA256", "SHA-256", false}, hex, hex},
		{hashVerb{"XSHA256", "SHA-256", false}, "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08", hex},
		{hashVerb{"XCRC", "CRC32", false}, "3610a686", "3610a686"},
		{hashVerb{"XCRC", "CRC32", false}, "610a686", "0610a686"},
		{sha, "SHA-256 0-4 abc /x", ""},
		{sha, "Computing SHA-256 digest\n213 SHA-256 0-4 " + hex + " /x", hex},
		{hashVerb{"HASH", "CRC32", false}, "Computing CRC32 digest\n213 CRC32 0-4 610a686 /213", "0610a686"},
		{hashVerb{"HASH", "CRC32", false}, "Computing CRC32 digest\n213 CRC32 0-4", ""},
	} {
		got, ok := c.how.digestIn(c.msg)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("%s %q: %q %v, want %q", c.how.verb, c.msg, got, ok, c.want)
		}
	}
}

// TestHashable: a file the server could not hash within the exchange
// timeout at 100 MiB/s is checked by its size alone.
func TestHashable(t *testing.T) {
	cfg := &Config{Timeout: 30 * time.Second}
	if !hashable(cfg, 3000<<20) || hashable(cfg, 3001<<20) {
		t.Fatal("30 s: 3000 MiB hashed, not one more")
	}
}
