package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"ftpfs/conn"
)

// configureTLS sets the TLS mode and configuration from ftps:// and the
// --tls flags.
func configureTLS(c *mountConfig, f *mountFlags) error {
	cc := &c.opts.Conn
	explicit := f.tls || f.tlsInsecure || f.tlsCA != "" || f.tlsPin != "" || f.tlsClient.set()
	verifiers := 0
	for _, set := range []bool{f.tlsInsecure, f.tlsCA != "", f.tlsPin != ""} {
		if set {
			verifiers++
		}
	}
	switch {
	case c.server.implicitTLS && f.tls:
		return errors.New("--tls is explicit TLS (AUTH TLS) and ftps:// is implicit TLS: use one of them")
	case verifiers > 1:
		return errors.New("--tls-insecure, --tls-ca and --tls-fingerprint each say how the certificate is checked: use one of them")
	case c.server.implicitTLS:
		cc.TLS = conn.TLSImplicit
	case explicit:
		cc.TLS = conn.TLSExplicit
	default:
		return nil
	}
	cc.TLSConfig = &tls.Config{ServerName: c.server.host, MinVersion: tls.VersionTLS12}
	if err := f.tlsClient.apply(cc.TLSConfig); err != nil {
		return err
	}
	if f.tlsCA != "" {
		pool, err := readCAFile("--tls-ca", f.tlsCA)
		if err != nil {
			return err
		}
		cc.TLSConfig.RootCAs = pool
	}
	if f.tlsPin != "" {
		pin, err := parseFingerprint(f.tlsPin)
		if err != nil {
			return err
		}
		pinCertificate(cc.TLSConfig, pin)
	}
	if f.tlsInsecure {
		cc.TLSConfig.InsecureSkipVerify = true
		c.warnings = append(c.warnings, "--tls-insecure: the server's certificate is not checked; anyone on the path can read the password and the data")
	}
	return nil
}

// parseFingerprint reads sha256:HEX, with or without colons between the
// bytes (openssl x509 -fingerprint -sha256 prints them so).
func parseFingerprint(s string) ([]byte, error) {
	v, ok := strings.CutPrefix(strings.ToLower(s), "sha256:")
	if !ok {
		v = strings.ToLower(s)
		if algo, _, found := strings.Cut(v, "="); found {
			return nil, fmt.Errorf("--tls-fingerprint: %s is not SHA-256: give sha256:HEX", algo)
		}
	}
	pin, err := hex.DecodeString(strings.ReplaceAll(v, ":", ""))
	if err != nil || len(pin) != sha256.Size {
		return nil, fmt.Errorf("--tls-fingerprint %q: want sha256: and 64 hex digits", s)
	}
	return pin, nil
}

// pinCertificate makes t accept exactly the server certificate whose
// SHA-256 is pin, whoever signed it: for a server with a self-signed
// certificate. Every connection checks it, data connections included.
func pinCertificate(t *tls.Config, pin []byte) {
	t.InsecureSkipVerify = true // the chain is not checked, the pin is
	t.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the server sent no certificate")
		}
		got := sha256.Sum256(cs.PeerCertificates[0].Raw)
		if subtle.ConstantTimeCompare(got[:], pin) != 1 {
			return fmt.Errorf("the server's certificate has SHA-256 %x, not the one --tls-fingerprint names", got)
		}
		return nil
	}
}
