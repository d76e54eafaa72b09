package conn

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
	"ftpfs/internal/testutil/proxytest"
)

// proxyKinds are the test proxies by Proxy.Kind.
var proxyKinds = map[string]func(testing.TB, string, string) *proxytest.Proxy{
	"socks5": proxytest.SOCKS5, "http": proxytest.CONNECT,
}

// TestProxies: through a SOCKS5 proxy and an HTTP CONNECT one, both with
// a user and password, the control connections and every data connection
// go through the proxy (ftpd sees them all come from the proxy's
// address, and would refuse a data connection from elsewhere), for
// uploads, commits, reads and listings.
func TestProxies(t *testing.T) {
	for kind, start := range proxyKinds {
		t.Run(kind, func(t *testing.T) {
			s := startServer(t)
			px := start(t, "proxyuser", "s3cret pass")
			logs := &testutil.Buffer{}
			p := newPool(t, s, func(c *Config) {
				c.Logger, c.Trace = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), logs
				c.Proxy = &Proxy{Kind: kind, Addr: px.Addr(), User: "proxyuser", Password: "s3cret pass"}
				c.MaxConns = 2
			})
			ctx := context.Background()
			data := testutil.RandBytes(41, 200<<10)
			upload(t, p, s, data, "/a.part", "a")
			upload(t, p, s, data, "/b.part", "b")
			b := make([]byte, len(data))
			if n, err := p.ReadAt(ctx, "/a", b, 0, int64(len(data))); err != nil || !bytes.Equal(b[:n], data) {
				t.Fatalf("ReadAt through the proxy: %d, %v", n, err)
			}
			if es, err := p.ReadDir(ctx, "/"); err != nil || len(es) != 2 {
				t.Fatalf("listing through the proxy: %v, %v", es, err)
			}
			waitIdle(t, p)
			n := s.Counts()
			control := px.Relayed(s.Addr().String())
			dataConns := px.Relayed("") - control
			if control == 0 || int64(control) != n["USER"] {
				t.Fatalf("%d control connections relayed, %d logins", control, n["USER"])
			}
			if transfers := n["STOR"] + n["RETR"] + n["MLSD"]; int64(dataConns) < transfers {
				t.Fatalf("%d data connections relayed for %d transfers", dataConns, transfers)
			}
			if strings.Contains(logs.String(), "s3cret") || logs.String() == "" {
				t.Fatalf("the log and trace name the proxy's password, or are empty:\n%s", logs)
			}
		})
	}
}

// TestProxyRefusals: a wrong proxy password fails the dial without the
// password in the error, and active mode is refused through a proxy.
func TestProxyRefusals(t *testing.T) {
	s := startServer(t)
	for kind, start := range proxyKinds {
		px := start(t, "u", "right")
		logs := &testutil.Buffer{}
		p := newPool(t, s, func(c *Config) {
			c.Proxy = &Proxy{Kind: kind, Addr: px.Addr(), User: "u", Password: "wrong-pw"}
			c.Logger, c.Trace = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), logs
		})
		_, err := p.ReadDir(context.Background(), "/")
		if err == nil || strings.Contains(err.Error(), "wrong-pw") || strings.Contains(logs.String(), "wrong-pw") || px.Refused() == 0 {
			t.Fatalf("%s with a wrong password: %v (refused %d)", kind, err, px.Refused())
		}
	}
	p := newPool(t, s, func(c *Config) { c.Proxy = &Proxy{Kind: "socks5", Addr: "127.0.0.1:1"}; c.Active = true })
	if _, err := p.ReadDir(context.Background(), "/"); !errors.Is(err, errActiveProxy) {
		t.Fatalf("active mode through a proxy: %v", err)
	}
}

// TestParseProxy: the URL forms, and errors that never quote a password.
func TestParseProxy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Proxy
		err  bool
	}{
		{"socks5://u:p%40ss@proxy.example:1081", Proxy{"socks5", "proxy.example:1081", "u", "p@ss"}, false},
		{"socks5h://proxy.example", Proxy{"socks5", "proxy.example:1080", "", ""}, false},
		{"http://u:pw@[2001:db8::1]:3128/", Proxy{"http", "[2001:db8::1]:3128", "u", "pw"}, false},
		{"HTTP://proxy", Proxy{"http", "proxy:80", "", ""}, false},
		{"https://u:topsecret@proxy:443", Proxy{}, true},
		{"socks4://u:topsecret@proxy", Proxy{}, true},
		{"socks5://u:topsecret@proxy:1080/path", Proxy{}, true},
		{"u:topsecret@proxy:1080", Proxy{}, true},
	} {
		p, err := ParseProxy(tc.in)
		if tc.err {
			if err == nil || strings.Contains(err.Error(), "topsecret") {
				t.Errorf("%q: error %v", tc.in, err)
			}
			continue
		}
		if err != nil || *p != tc.want {
			t.Errorf("%q: %+v, %v; want %+v", tc.in, p, err, tc.want)
		}
		if strings.Contains(p.String(), "@") {
			t.Errorf("%q: String %q names credentials", tc.in, p)
		}
	}
}

// TestProxyTLS: FTPS through either proxy, the TLS sessions end to end
// with the server (control and data, the certificate checked for the
// server's name).
func TestProxyTLS(t *testing.T) {
	cert := testutil.NewCert(t, testutil.CertOptions{})
	s := startServer(t, func(c *ftpd.Config) { c.TLS = cert.ServerTLS(); c.TLSRequired = true })
	for kind, start := range proxyKinds {
		px := start(t, "", "")
		p := newPool(t, s, func(c *Config) {
			c.Proxy = &Proxy{Kind: kind, Addr: px.Addr()}
			c.TLS, c.TLSConfig = TLSExplicit, cert.ClientTLS()
		})
		data := testutil.RandBytes(42, 150<<10)
		upload(t, p, s, data, "/"+kind+".part", kind)
		b := make([]byte, len(data))
		if n, err := p.ReadAt(context.Background(), "/"+kind, b, 0, int64(len(data))); err != nil || !bytes.Equal(b[:n], data) {
			t.Fatalf("%s: ReadAt over FTPS through the proxy: %d, %v", kind, n, err)
		}
		if control := px.Relayed(s.Addr().String()); control == 0 || px.Relayed("")-control < 2 {
			t.Fatalf("%s: relayed %d control and %d data connections", kind, control, px.Relayed("")-control)
		}
	}
}
