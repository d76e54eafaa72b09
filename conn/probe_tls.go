package conn

// The TLS probes: the versions the server accepts, its certificate, and
// whether it demands that data connections resume the control
// connection's session (vsftpd's require_ssl_reuse, on by default), which
// the pool does (tlsClientConfig).

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"time"
)

// tlsVersions are the versions probed, oldest first.
var tlsVersions = []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13}

// tlsState reports the connection's TLS and the server's certificate.
func (pr *prober) tlsState(_ context.Context, c *Conn) {
	tc, ok := c.ctrl.(*tls.Conn)
	if !ok {
		return
	}
	st := tc.ConnectionState()
	pr.add(Finding{Topic: "TLS", Verdict: ProbeOK, Detail: fmt.Sprintf("%s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))})
	pr.certificate(st)
}

// certificate reports the server's certificate, and a pin to verify it
// by when the login did not verify it.
func (pr *prober) certificate(st tls.ConnectionState) {
	if len(st.PeerCertificates) == 0 {
		pr.add(Finding{Topic: "certificate", Verdict: ProbeProblem, Detail: "none sent"})
		return
	}
	cert := st.PeerCertificates[0]
	sum := sha256.Sum256(cert.Raw)
	pin := fmt.Sprintf("sha256:%x", sum)
	f := Finding{Topic: "certificate", Verdict: ProbeOK, Detail: fmt.Sprintf("%s, issued by %s, valid until %s, %s",
		cert.Subject, cert.Issuer, cert.NotAfter.UTC().Format(time.DateOnly), pin)}
	if now := time.Now(); now.After(cert.NotAfter) || now.Before(cert.NotBefore) {
		f.Verdict = ProbeProblem
		f.Detail += "; not valid now"
	}
	tc := pr.cfg.TLSConfig
	if tc != nil && tc.InsecureSkipVerify && tc.VerifyConnection == nil {
		f.Verdict, f.Advice, f.Value = ProbeProblem, AdviseFingerprint, pin
		f.Detail += "; not verified: pin it"
	}
	pr.add(f)
}

// versions logs in once per TLS version, each alone.
func (pr *prober) versions(ctx context.Context, _ *Conn) {
	if pr.cfg.TLS == TLSNone {
		return
	}
	var yes, no []string
	late := false
	for _, v := range tlsVersions {
		cfg := pr.cfg
		cfg.TLSConfig = &tls.Config{}
		if pr.cfg.TLSConfig != nil {
			cfg.TLSConfig = pr.cfg.TLSConfig.Clone()
		}
		cfg.TLSConfig.MinVersion, cfg.TLSConfig.MaxVersion = v, v
		c, err := pr.dial(ctx, &cfg)
		if late = ctx.Err() != nil; late {
			break // not refused: out of time
		}
		if err != nil {
			no = append(no, tls.VersionName(v))
			continue
		}
		c.close()
		yes = append(yes, tls.VersionName(v))
	}
	f := Finding{Topic: "TLS versions", Verdict: ProbeOK, Detail: "accepted: " + strings.Join(yes, ", ")}
	if len(no) > 0 {
		f.Detail += "; refused: " + strings.Join(no, ", ")
	}
	if late {
		f.Detail += "; the rest not tried within the timeout"
	}
	if len(yes) > 0 && (yes[0] == tls.VersionName(tls.VersionTLS10) || yes[0] == tls.VersionName(tls.VersionTLS11)) {
		f.Detail += " (the mount asks for TLS 1.2 at least)"
	}
	pr.add(f)
}

// sessionReuse lists the directory twice: with the connection's session
// cache, as the pool does, and without, so that the data connection's
// handshake is a full one. A server that refuses only the second demands
// reuse.
func (pr *prober) sessionReuse(ctx context.Context, c *Conn) {
	if pr.cfg.TLS == TLSNone {
		return
	}
	if err := pr.pool.listData(ctx, c, pr.o.Dir, true, func(string, bool) error { return nil }); err != nil {
		pr.add(Finding{Topic: "TLS data connections", Verdict: ProbeProblem, Detail: "a listing failed: " + err.Error()})
		return
	}
	fresh, err := pr.dial(ctx, &pr.cfg)
	if err != nil {
		pr.add(Finding{Topic: "TLS session reuse", Verdict: ProbeProblem, Detail: "no second login: " + err.Error()})
		return
	}
	defer fresh.close()
	fresh.tlsConf.ClientSessionCache = nil
	err = pr.pool.listData(ctx, fresh, pr.o.Dir, true, func(string, bool) error { return nil })
	if err != nil {
		pr.add(Finding{Topic: "TLS session reuse", Verdict: ProbeOK, Detail: "demanded on data connections (the mount resumes the control connection's session)"})
		return
	}
	pr.add(Finding{Topic: "TLS session reuse", Verdict: ProbeOK, Detail: "not demanded"})
}

// offeredTLS tries the AUTH TLS that FEAT offers to a login made in
// clear: a handshake, and no login, since nothing vouches for the server
// yet. A certificate the system's roots vouch for calls for --tls; one
// they do not, for its pin, which the user should check first.
func (pr *prober) offeredTLS(ctx context.Context) {
	pr.authTLS(ctx, "the server offers AUTH TLS, and this login went in clear", "FEAT offers AUTH TLS, but it fails: ")
}

// authTLS tries AUTH TLS and says what it found after why; failed
// prefixes a failure, which is not reported when it is "".
func (pr *prober) authTLS(ctx context.Context, why, failed string) {
	st, err := pr.tryAuthTLS(ctx)
	if err != nil {
		if failed != "" {
			pr.add(Finding{Topic: "TLS", Verdict: ProbeProblem, Detail: failed + err.Error() + "; this login went in clear"})
		}
		return
	}
	cert := st.PeerCertificates[0]
	pin := fmt.Sprintf("sha256:%x", sha256.Sum256(cert.Raw))
	host, _, _ := net.SplitHostPort(pr.cfg.Addr)
	inter := x509.NewCertPool()
	for _, c := range st.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, verr := cert.Verify(x509.VerifyOptions{DNSName: host, Intermediates: inter}); verr != nil {
		pr.add(Finding{Topic: "TLS", Verdict: ProbeProblem, Advice: AdviseFingerprint, Value: pin, Detail: fmt.Sprintf(
			"%s; its certificate (%s) is not one the system trusts (%v): check that %s is the server's before pinning it", why, cert.Subject, verr, pin)})
		return
	}
	pr.add(Finding{Topic: "TLS", Verdict: ProbeProblem, Advice: AdviseTLS, Detail: fmt.Sprintf("%s; its certificate (%s) is one the system trusts", why, cert.Subject)})
}

// tryAuthTLS connects, reads the greeting, asks AUTH TLS and shakes
// hands without checking the certificate, which the caller looks at.
func (pr *prober) tryAuthTLS(ctx context.Context) (tls.ConnectionState, error) {
	raw, err := pr.cfg.dialTCP(ctx, pr.cfg.Addr, time.Now().Add(pr.cfg.Timeout))
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer raw.Close()
	c := &Conn{cfg: &pr.cfg, raw: raw, ctrl: raw, r: bufio.NewReaderSize(raw, 4096), feat: pr.feat}
	if err := c.greeting(ctx); err != nil {
		return tls.ConnectionState{}, err
	}
	if _, err := c.expect(ctx, "auth", "", []int{234}, "AUTH TLS"); err != nil {
		return tls.ConnectionState{}, err
	}
	host, _, _ := net.SplitHostPort(pr.cfg.Addr)
	tc := tls.Client(raw, &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	hctx, cancel := context.WithTimeout(ctx, pr.cfg.Timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return tls.ConnectionState{}, &Error{Op: "tls handshake", Err: err}
	}
	st := tc.ConnectionState()
	if len(st.PeerCertificates) == 0 {
		return st, fmt.Errorf("no certificate")
	}
	return st, nil
}
