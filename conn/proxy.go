package conn

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/proxy"
)

// Proxy is a SOCKS5 or HTTP CONNECT proxy that carries every connection
// of the mount, control and data alike (Config.Proxy). The proxy resolves
// the server's name, and passive data connections go to the server's
// name as given (the address the control connection reached is the
// proxy's). Active mode cannot work through one: the server would have
// to connect back through the proxy, which neither kind offers.
type Proxy struct {
	Kind     string // "socks5" or "http"
	Addr     string // host:port
	User     string
	Password string // never logged, never in an error
}

// ParseProxy reads socks5://[USER:PASS@]HOST:PORT (socks5h:// alike) or
// http://[USER:PASS@]HOST:PORT. Its errors never quote the URL, which may
// hold a password.
func ParseProxy(s string) (*Proxy, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return nil, errors.New("want socks5://[USER:PASS@]HOST:PORT or http://[USER:PASS@]HOST:PORT")
	}
	p := &Proxy{Addr: u.Host}
	switch strings.ToLower(u.Scheme) {
	case "socks5", "socks5h":
		p.Kind = "socks5"
		if u.Port() == "" {
			p.Addr = net.JoinHostPort(u.Hostname(), "1080")
		}
	case "http":
		p.Kind = "http"
		if u.Port() == "" {
			p.Addr = net.JoinHostPort(u.Hostname(), "80")
		}
	default:
		return nil, fmt.Errorf("proxy scheme %q: want socks5:// or http://", u.Scheme)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, errors.New("a proxy URL has no path: want scheme://[USER:PASS@]HOST:PORT")
	}
	if u.User != nil {
		p.User = u.User.Username()
		p.Password, _ = u.User.Password()
	}
	return p, nil
}

// errActiveProxy is active mode asked through a proxy.
var errActiveProxy = errors.New("active mode cannot work through a proxy: the server would have to connect back through it; use passive mode")

// String names the proxy without its credentials.
func (p *Proxy) String() string { return p.Kind + "://" + p.Addr }

// dialTCP connects to addr, through the proxy when there is one, by
// deadline.
func (cfg *Config) dialTCP(ctx context.Context, addr string, deadline time.Time) (net.Conn, error) {
	d := &net.Dialer{Deadline: deadline}
	p := cfg.Proxy
	if p == nil {
		return d.DialContext(ctx, "tcp", addr)
	}
	if cfg.Active {
		return nil, errActiveProxy
	}
	// The SOCKS5 handshake is bounded by the context's deadline alone.
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var c net.Conn
	var err error
	if p.Kind == "socks5" {
		c, err = p.dialSOCKS5(ctx, d, addr)
	} else {
		c, err = p.dialCONNECT(ctx, d, addr, deadline)
	}
	if err != nil {
		return nil, fmt.Errorf("through proxy %s: %w", p, err)
	}
	return c, nil
}

// dataHost is the host passive data connections go to: the control
// connection's peer, or, through a proxy, the server's name, which only
// the proxy resolves.
func (c *Conn) dataHost() string {
	if c.cfg.Proxy != nil {
		host, _, _ := net.SplitHostPort(c.cfg.Addr)
		return host
	}
	return c.raw.RemoteAddr().(*net.TCPAddr).IP.String()
}

// dialData opens a passive data connection to addr within the
// exchange's deadline.
func (c *Conn) dialData(ctx context.Context, addr string) (net.Conn, error) {
	return c.cfg.dialTCP(ctx, addr, c.deadline(ctx))
}

// tcpKeeper is the dialer under the SOCKS5 one, which keeps the TCP
// connection to the proxy: once the proxy relays, that connection is
// the one to use, as a *net.TCPConn (halfClose needs one).
type tcpKeeper struct {
	d    *net.Dialer
	conn net.Conn
}

func (k *tcpKeeper) Dial(network, addr string) (net.Conn, error) {
	return k.DialContext(context.Background(), network, addr)
}

func (k *tcpKeeper) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := k.d.DialContext(ctx, network, addr)
	k.conn = c
	return c, err
}

// dialSOCKS5 connects through a SOCKS5 proxy (RFC 1928), with a user
// name and password (RFC 1929) when the proxy has them.
func (p *Proxy) dialSOCKS5(ctx context.Context, d *net.Dialer, addr string) (net.Conn, error) {
	var auth *proxy.Auth
	if p.User != "" || p.Password != "" {
		auth = &proxy.Auth{User: p.User, Password: p.Password}
	}
	k := &tcpKeeper{d: d}
	sd, err := proxy.SOCKS5("tcp", p.Addr, auth, k)
	if err != nil {
		return nil, err
	}
	if _, err := sd.(proxy.ContextDialer).DialContext(ctx, "tcp", addr); err != nil {
		return nil, err
	}
	return k.conn, nil
}

// maxConnectReply bounds the proxy's reply to CONNECT.
const maxConnectReply = 8 << 10

// dialCONNECT connects through an HTTP proxy with CONNECT (RFC 9110
// section 9.3.6). The reply is read a byte at a time, up to its empty
// line: the FTP server's greeting may follow at once, and must stay
// unread on the connection.
func (p *Proxy) dialCONNECT(ctx context.Context, d *net.Dialer, addr string, deadline time.Time) (net.Conn, error) {
	c, err := d.DialContext(ctx, "tcp", p.Addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	c.SetDeadline(deadline)
	req := "CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n"
	if p.User != "" || p.Password != "" {
		req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(p.User+":"+p.Password)) + "\r\n"
	}
	if _, err := c.Write([]byte(req + "\r\n")); err != nil {
		c.Close()
		return nil, err
	}
	var head []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) && !bytes.HasSuffix(head, []byte("\n\n")) {
		if len(head) >= maxConnectReply {
			c.Close()
			return nil, errors.New("CONNECT reply too long")
		}
		if _, err := c.Read(b); err != nil {
			c.Close()
			return nil, fmt.Errorf("CONNECT reply: %w", err)
		}
		head = append(head, b[0])
	}
	status, _, _ := strings.Cut(string(head), "\n")
	status = strings.TrimSpace(status)
	f := strings.Fields(status)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/1.") || f[1] != "200" {
		c.Close()
		return nil, fmt.Errorf("CONNECT to %s refused: %q", addr, clip(status))
	}
	c.SetDeadline(time.Time{})
	return c, nil
}
