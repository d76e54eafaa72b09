package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"ftpfs/conn"
	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
	"ftpfs/internal/testutil/ftpdtest"
)

func TestParseFingerprint(t *testing.T) {
	sum := sha256.Sum256([]byte("x"))
	plain := fmt.Sprintf("%x", sum)
	var colons []string
	for _, b := range sum {
		colons = append(colons, fmt.Sprintf("%02X", b))
	}
	for _, in := range []string{"sha256:" + plain, "SHA256:" + strings.ToUpper(plain), "sha256:" + strings.Join(colons, ":"), strings.Join(colons, ":")} {
		pin, err := parseFingerprint(in)
		if err != nil || string(pin) != string(sum[:]) {
			t.Errorf("parseFingerprint(%q) = %x, %v", in, pin, err)
		}
	}
	for _, in := range []string{"", "sha256:", "sha256:abcd", "sha1=AB:CD", "sha256:" + plain + "00", "sha256:zz" + plain[2:]} {
		if _, err := parseFingerprint(in); err == nil {
			t.Errorf("parseFingerprint(%q) accepted", in)
		}
	}
	in := inputs("/home/u", nil)
	c, err := parseMountArgs([]string{"--tls-fingerprint", "sha256:" + plain, "h", "/m"}, in)
	if err != nil || c.opts.Conn.TLS != conn.TLSExplicit || c.opts.Conn.TLSConfig.VerifyConnection == nil {
		t.Fatalf("--tls-fingerprint: %+v, %v", c.opts.Conn, err)
	}
	for _, args := range [][]string{
		{"--tls-fingerprint", "sha256:" + plain, "--tls-insecure", "h", "/m"},
		{"--tls-fingerprint", "sha256:" + plain, "--tls-ca", "/nonexistent", "h", "/m"},
	} {
		if _, err := parseMountArgs(args, in); err == nil || !strings.Contains(err.Error(), "use one of them") {
			t.Errorf("%q: err = %v", args, err)
		}
	}
}

// TestPinnedCertificate logs in to ftpd over TLS and moves data with
// the pin of its self-signed certificate, and is refused with any other.
func TestPinnedCertificate(t *testing.T) {
	// Not for the address dialled: only the pin vouches.
	cert := testutil.NewCert(t, testutil.CertOptions{Hosts: []string{"127.0.0.2"}})
	srv := ftpdtest.Start(t, ftpd.Config{Root: t.TempDir(), Listen: "127.0.0.1:0", Users: map[string]string{"u": "p"},
		TLS: cert.ServerTLS()})
	sum := sha256.Sum256(cert.DER)
	for _, tc := range []struct {
		pin string
		ok  bool
	}{{fmt.Sprintf("sha256:%x", sum), true}, {fmt.Sprintf("sha256:%064x", 1), false}} {
		c, err := parseMountArgs([]string{"--tls-fingerprint", tc.pin, "ftp://u@" + srv.Addr().String() + "/", "/m"}, inputs("/home/u", map[string]string{"FTPFS_PASSWORD": "p"}))
		if err != nil {
			t.Fatal(err)
		}
		c.opts.Conn.Timeout = 5 * time.Second
		p := conn.NewPool(c.opts.Conn)
		// A listing needs a data connection: the pin holds there too.
		_, err = p.ReadDir(context.Background(), "/")
		p.Close()
		if (err == nil) != tc.ok {
			t.Errorf("pin %s: listing err = %v, want ok=%v", tc.pin[:20], err, tc.ok)
		}
	}
}

func TestParseMountArgsTLS(t *testing.T) {
	in := inputs("/home/u", nil)
	c, err := parseMountArgs([]string{"h", "/m"}, in)
	if err != nil || c.opts.Conn.TLS != conn.TLSNone || c.opts.Conn.TLSConfig != nil {
		t.Errorf("plain: %+v, %v", c.opts.Conn, err)
	}

	c, err = parseMountArgs([]string{"--tls", "h.example:2121", "/m"}, in)
	if err != nil || c.opts.Conn.TLS != conn.TLSExplicit || c.opts.Conn.TLSConfig.ServerName != "h.example" || c.opts.Conn.TLSConfig.InsecureSkipVerify {
		t.Errorf("--tls: %+v, %v", c.opts.Conn, err)
	}

	c, err = parseMountArgs([]string{"ftps://[::1]", "/m"}, in)
	if err != nil || c.opts.Conn.TLS != conn.TLSImplicit || c.opts.Conn.Addr != "[::1]:990" || c.opts.Conn.TLSConfig.ServerName != "::1" {
		t.Errorf("ftps://: %+v, %v", c.opts.Conn, err)
	}

	c, err = parseMountArgs([]string{"--tls-insecure", "h", "/m"}, in)
	if err != nil || c.opts.Conn.TLS != conn.TLSExplicit || !c.opts.Conn.TLSConfig.InsecureSkipVerify {
		t.Errorf("--tls-insecure: %+v, %v", c.opts.Conn, err)
	}
	if len(c.warnings) != 1 || !strings.Contains(c.warnings[0], "not checked") {
		t.Errorf("--tls-insecure: warnings %q", c.warnings)
	}

	ca := testutil.NewCert(t, testutil.CertOptions{}).CertFile
	c, err = parseMountArgs([]string{"--tls-ca", ca, "h", "/m"}, in)
	if err != nil || c.opts.Conn.TLS != conn.TLSExplicit || c.opts.Conn.TLSConfig.RootCAs == nil {
		t.Errorf("--tls-ca: %+v, %v", c.opts.Conn, err)
	}
	notPEM := writeFile(t, "ca.pem", "not a certificate")
	if _, err := parseMountArgs([]string{"--tls-ca", notPEM, "h", "/m"}, in); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("--tls-ca garbage: err = %v", err)
	}
}
