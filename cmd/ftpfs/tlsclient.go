package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// tlsClientFlags are --tls-client-cert, --tls-client-key and
// --tls-max-version.
type tlsClientFlags struct {
	cert, key  string
	maxVersion string
}

// set says whether any of them is given: each implies explicit TLS.
func (t tlsClientFlags) set() bool {
	return t.cert != "" || t.key != "" || t.maxVersion != ""
}

// apply loads the client certificate into c, and sets its highest
// version. The key file is checked as password files are (yours alone);
// without --tls-client-key the key is looked for in the certificate's
// file, which is then checked so.
func (t tlsClientFlags) apply(c *tls.Config) error {
	switch t.maxVersion {
	case "":
	case "1.2":
		c.MaxVersion = tls.VersionTLS12
	case "1.3":
		c.MaxVersion = tls.VersionTLS13
	default:
		return fmt.Errorf("--tls-max-version %q: want 1.2 or 1.3", t.maxVersion)
	}
	if t.cert == "" {
		if t.key != "" {
			return errors.New("--tls-client-key needs --tls-client-cert")
		}
		return nil
	}
	certPEM, err := os.ReadFile(t.cert)
	if err != nil {
		return fmt.Errorf("--tls-client-cert: %w", err)
	}
	keyFile, name := t.key, "--tls-client-key "+t.key
	if keyFile == "" {
		keyFile, name = t.cert, "--tls-client-cert "+t.cert+" (which holds the key without --tls-client-key)"
	}
	keyPEM, err := readSecretFile(keyFile, name)
	if err != nil {
		return err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// Its text names no byte of the key.
		return fmt.Errorf("--tls-client-cert and its key: %w", err)
	}
	c.Certificates = []tls.Certificate{pair}
	return nil
}

// demandClientCert makes the server's configuration c demand a client
// certificate signed by a CA of the PEM file ca, on control and data
// connections alike; "" leaves c as it is.
func demandClientCert(c *tls.Config, ca string) error {
	if ca == "" {
		return nil
	}
	pool, err := readCAFile("--tls-client-ca", ca)
	if err != nil {
		return err
	}
	c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	return nil
}

// readCAFile reads the PEM certificates of file, given by flag name.
func readCAFile(name, file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in it", name, file)
	}
	return pool, nil
}
