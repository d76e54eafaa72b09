package conn

import (
	"bytes"
	"context"
	"crypto/tls"
	"sync"
	"testing"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// TestClientCertEveryConnection: a client certificate and a highest TLS
// version set in Config.TLSConfig hold on every connection, control and
// data, as ftpd demanding certificates sees them.
func TestClientCertEveryConnection(t *testing.T) {
	server := testutil.NewCert(t, testutil.CertOptions{})
	client := testutil.NewCert(t, testutil.CertOptions{Client: true})
	var mu sync.Mutex
	var handshakes, withCert, tls12 int
	s := startServer(t, func(c *ftpd.Config) {
		c.TLS = server.ServerTLS()
		c.TLS.ClientCAs, c.TLS.ClientAuth = client.Roots, tls.RequireAndVerifyClientCert
		c.TLS.VerifyConnection = func(cs tls.ConnectionState) error {
			mu.Lock()
			defer mu.Unlock()
			handshakes++
			if len(cs.PeerCertificates) == 1 || cs.DidResume {
				withCert++
			}
			if cs.Version == tls.VersionTLS12 {
				tls12++
			}
			return nil
		}
		c.TLSRequired = true
	})
	p := newPool(t, s, func(c *Config) {
		c.TLS, c.TLSConfig = TLSExplicit, server.ClientTLS()
		c.TLSConfig.Certificates = []tls.Certificate{client.Pair}
		c.TLSConfig.MaxVersion = tls.VersionTLS12
	})
	data := testutil.RandBytes(61, 100<<10)
	upload(t, p, s, data, "/c.part", "c")
	b := make([]byte, len(data))
	if n, err := p.ReadAt(context.Background(), "/c", b, 0, int64(len(data))); err != nil || !bytes.Equal(b[:n], data) {
		t.Fatalf("ReadAt: %d, %v", n, err)
	}
	waitIdle(t, p)
	mu.Lock()
	defer mu.Unlock()
	if handshakes < 3 || withCert != handshakes || tls12 != handshakes {
		t.Fatalf("%d handshakes, %d with the client's certificate, %d on TLS 1.2", handshakes, withCert, tls12)
	}
}
