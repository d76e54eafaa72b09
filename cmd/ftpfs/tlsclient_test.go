package main

import (
	"bytes"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpfs/conn"
	"ftpfs/internal/testutil"
)

// TestTLSClientFlags: --tls-client-cert and --tls-client-key load a
// pair, from two files or one; the key file must be the user's alone;
// --tls-max-version caps the version; each implies explicit TLS.
func TestTLSClientFlags(t *testing.T) {
	home := t.TempDir()
	cert := testutil.NewCert(t, testutil.CertOptions{Client: true})
	both := filepath.Join(t.TempDir(), "both.pem")
	certPEM, _ := os.ReadFile(cert.CertFile)
	keyPEM, _ := os.ReadFile(cert.KeyFile)
	testutil.WriteFile(t, both, append(certPEM, keyPEM...))
	os.Chmod(both, 0o600)
	open := filepath.Join(t.TempDir(), "open-key.pem")
	testutil.WriteFile(t, open, keyPEM)
	os.Chmod(open, 0o644)
	for _, tc := range []struct {
		args []string
		max  uint16
		cert bool
		err  string
	}{
		{[]string{"--tls-client-cert", cert.CertFile, "--tls-client-key", cert.KeyFile}, 0, true, ""},
		{[]string{"-o", "tls_client_cert=" + both}, 0, true, ""},
		{[]string{"--tls-max-version", "1.2"}, tls.VersionTLS12, false, ""},
		{[]string{"--tls-max-version=1.3", "--tls-client-cert", both}, tls.VersionTLS13, true, ""},
		{[]string{"--tls-max-version", "1.1"}, 0, false, "want 1.2 or 1.3"},
		{[]string{"--tls-client-cert", cert.CertFile, "--tls-client-key", open}, 0, false, "readable by group or others"},
		{[]string{"--tls-client-cert", cert.CertFile}, 0, false, "which holds the key"},
		{[]string{"--tls-client-key", cert.KeyFile}, 0, false, "needs --tls-client-cert"},
		{[]string{"--tls-client-cert", "/nonexistent", "--tls-client-key", cert.KeyFile}, 0, false, "--tls-client-cert"},
	} {
		c := parseCase(t, tc.args, inputs(home, nil), tc.err)
		if c == nil {
			continue
		}
		cc := c.opts.Conn
		if cc.TLS != conn.TLSExplicit || cc.TLSConfig.MaxVersion != tc.max || (len(cc.TLSConfig.Certificates) == 1) != tc.cert {
			t.Errorf("%q: TLS %v, max version %x, %d certificates", tc.args, cc.TLS, cc.TLSConfig.MaxVersion, len(cc.TLSConfig.Certificates))
		}
	}
}

// TestMountClientCertBinary: ftpfs serve --tls-client-ca demands a
// client certificate; ftpfs mount with --tls-client-cert reads and
// writes (control and data connections each present it), and a mount
// without one is refused.
func TestMountClientCertBinary(t *testing.T) {
	testutil.NeedFUSE(t)
	server := testutil.NewCert(t, testutil.CertOptions{})
	client := testutil.NewCert(t, testutil.CertOptions{Client: true})
	root := t.TempDir()
	testutil.WriteFile(t, filepath.Join(root, "there.txt"), []byte("served\n"))
	srv := serveBinary(t, root, "--tls-cert", server.CertFile, "--tls-key", server.KeyFile,
		"--tls-required", "--tls-client-ca", client.CertFile)
	m := mountBinary(t, "ftp://u@"+srv.addr+"/", "p", "--tls-ca", server.CertFile,
		"--tls-client-cert", client.CertFile, "--tls-client-key", client.KeyFile, "--tls-max-version", "1.2")
	mountRoundTrip(t, root, m.mnt)

	// Without a certificate: the mount fails, and says so.
	cmd := exec.Command(testutil.Binary(t), "mount", "--cache-dir", t.TempDir(), "--tls-ca", server.CertFile,
		"--timeout", "5s", "ftp://u@"+srv.addr+"/", t.TempDir())
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), passwordEnv+"=p")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	cmd.Start()
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(out.String(), "certificate") {
			t.Fatalf("mount without a client certificate: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("mount without a client certificate hangs")
	}
}
