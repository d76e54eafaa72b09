package testutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Cert is a self-signed server certificate that is its own CA, so that
// clients trust it by its PEM file (curl --cacert, lftp ssl:ca-file, the
// mount's --tls-ca) or by Roots.
type Cert struct {
	// CertFile and KeyFile hold it in PEM, for servers and tools.
	CertFile, KeyFile string
	// DER is the certificate, for pins (sha256 of it).
	DER   []byte
	Pair  tls.Certificate
	Roots *x509.CertPool
}

// CertOptions are what some tests need of a certificate; the zero value
// is an ECDSA certificate for the loopback addresses and localhost.
type CertOptions struct {
	// Hosts are the IP addresses and DNS names the certificate is for;
	// empty means 127.0.0.1, ::1 and localhost.
	Hosts []string
	// RSA makes a 2048-bit RSA key, for servers that want one (proftpd's
	// TLSRSACertificateFile); the default is ECDSA P-256, which is fast.
	RSA bool
	// Shared makes the key file readable by others, for servers that
	// drop their privileges before they read it (pure-ftpd).
	Shared bool
	// Client makes a client certificate (for TLS client authentication),
	// which is its own CA as well: a server that wants client
	// certificates trusts it by its PEM file.
	Client bool
}

// NewCert makes a certificate, valid from an hour ago for a day, in a
// temp dir of the test.
func NewCert(t testing.TB, o CertOptions) *Cert {
	t.Helper()
	var key crypto.Signer
	var keyPEM *pem.Block
	if o.RSA {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		key, keyPEM = k, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		key, keyPEM = k, &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "ftpfs test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if o.Client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	hosts := o.Hosts
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1", "::1", "localhost"}
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &Cert{
		CertFile: filepath.Join(dir, "cert.pem"),
		KeyFile:  filepath.Join(dir, "key.pem"),
		DER:      der,
		Pair:     tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: parsed},
		Roots:    x509.NewCertPool(),
	}
	c.Roots.AddCert(parsed)
	keyMode, dirMode := os.FileMode(0o600), os.FileMode(0o700)
	if o.Shared {
		keyMode, dirMode = 0o644, 0o755
	}
	if err := os.WriteFile(c.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.KeyFile, pem.EncodeToMemory(keyPEM), keyMode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, dirMode); err != nil {
		t.Fatal(err)
	}
	return c
}

// ServerTLS is a server configuration that presents the certificate.
func (c *Cert) ServerTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.Pair}, MinVersion: tls.VersionTLS12}
}

// ClientTLS is a client configuration that trusts the certificate alone.
func (c *Cert) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: c.Roots, MinVersion: tls.VersionTLS12}
}
