// Package proxytest runs a SOCKS5 or HTTP CONNECT proxy on loopback for
// tests: it relays connections and counts them. It connects out from
// 127.0.0.2, so that a server on 127.0.0.1 sees every relayed connection
// come from an address of its own, which a direct connection does not
// have: ftpd refuses a passive data connection from another address than
// its control connection's, so a data connection that bypasses the proxy
// fails.
package proxytest

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Proxy is a running test proxy.
type Proxy struct {
	ln         net.Listener
	user, pass string // wanted credentials, "" for none
	socks      bool

	mu      sync.Mutex
	relayed map[string]int // target host:port -> connections relayed
	refused int            // handshakes refused (bad credentials)
	wg      sync.WaitGroup
}

// SOCKS5 starts a SOCKS5 proxy (RFC 1928), which wants user and pass
// (RFC 1929) unless both are empty.
func SOCKS5(t testing.TB, user, pass string) *Proxy { return start(t, true, user, pass) }

// CONNECT starts an HTTP proxy that serves CONNECT alone, and wants Basic
// credentials unless both are empty.
func CONNECT(t testing.TB, user, pass string) *Proxy { return start(t, false, user, pass) }

func start(t testing.TB, socks bool, user, pass string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, user: user, pass: pass, socks: socks, relayed: map[string]int{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Relayed is how many connections went to target (host:port); "" counts
// them all.
func (p *Proxy) Relayed(target string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if target != "" {
		return p.relayed[target]
	}
	n := 0
	for _, v := range p.relayed {
		n += v
	}
	return n
}

// Refused is how many clients failed the proxy's authentication.
func (p *Proxy) Refused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			br := bufio.NewReader(c)
			var target string
			var err error
			if p.socks {
				target, err = p.socksHandshake(br, c)
			} else {
				target, err = p.connectHandshake(br, c)
			}
			if err != nil {
				return
			}
			p.relay(br, c, target)
		}()
	}
}

// relay connects to target from 127.0.0.2, tells the client, and copies
// both ways until both are done, passing half-closes on.
func (p *Proxy) relay(br *bufio.Reader, c net.Conn, target string) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	out, err := d.Dial("tcp", target)
	if p.socks {
		rep := []byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0}
		if err != nil {
			rep[1] = 5 // connection refused
		}
		c.Write(rep)
	} else if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
	} else {
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	}
	if err != nil {
		return
	}
	defer out.Close()
	p.mu.Lock()
	p.relayed[target]++
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		io.Copy(out, br)
		out.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, out)
	c.(*net.TCPConn).CloseWrite()
	<-done
}

func (p *Proxy) fail() error {
	p.mu.Lock()
	p.refused++
	p.mu.Unlock()
	return errors.New("refused")
}

// socksHandshake reads the greeting, the authentication and the CONNECT
// request of a SOCKS5 client, and returns the target.
func (p *Proxy) socksHandshake(br *bufio.Reader, c net.Conn) (string, error) {
	head := make([]byte, 2)
	if _, err := io.ReadFull(br, head); err != nil || head[0] != 5 {
		return "", errors.New("not SOCKS5")
	}
	methods := make([]byte, head[1])
	if _, err := io.ReadFull(br, methods); err != nil {
		return "", err
	}
	want := byte(0)
	if p.user != "" || p.pass != "" {
		want = 2
	}
	if !strings.ContainsRune(string(methods), rune(want)) {
		c.Write([]byte{5, 0xff})
		return "", p.fail()
	}
	c.Write([]byte{5, want})
	if want == 2 {
		user, pass, err := readUserPass(br)
		if err != nil {
			return "", err
		}
		if user != p.user || pass != p.pass {
			c.Write([]byte{1, 1})
			return "", p.fail()
		}
		c.Write([]byte{1, 0})
	}
	req := make([]byte, 4)
	if _, err := io.ReadFull(br, req); err != nil || req[1] != 1 {
		return "", errors.New("not CONNECT")
	}
	var host string
	switch req[3] {
	case 1, 4:
		ip := make([]byte, 4+12*int(req[3]/4))
		if _, err := io.ReadFull(br, ip); err != nil {
			return "", err
		}
		host = net.IP(ip).String()
	case 3:
		n, err := br.ReadByte()
		if err != nil {
			return "", err
		}
		name := make([]byte, n)
		if _, err := io.ReadFull(br, name); err != nil {
			return "", err
		}
		host = string(name)
	default:
		return "", errors.New("bad address type")
	}
	port := make([]byte, 2)
	if _, err := io.ReadFull(br, port); err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(port)))), nil
}

// readUserPass reads an RFC 1929 request.
func readUserPass(br *bufio.Reader) (string, string, error) {
	var fields [2]string
	if v, err := br.ReadByte(); err != nil || v != 1 {
		return "", "", errors.New("bad auth version")
	}
	for i := range fields {
		n, err := br.ReadByte()
		if err != nil {
			return "", "", err
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return "", "", err
		}
		fields[i] = string(b)
	}
	return fields[0], fields[1], nil
}

// connectHandshake reads a CONNECT request and its headers, checks the
// credentials, and returns the target.
func (p *Proxy) connectHandshake(br *bufio.Reader, c net.Conn) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "CONNECT" {
		io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\n\r\n")
		return "", errors.New("not CONNECT")
	}
	auth := ""
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		h = strings.TrimSpace(h)
		if h == "" {
			break
		}
		if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(k, "Proxy-Authorization") {
			auth = strings.TrimSpace(v)
		}
	}
	if p.user != "" || p.pass != "" {
		if auth != "Basic "+base64.StdEncoding.EncodeToString([]byte(p.user+":"+p.pass)) {
			io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
			return "", p.fail()
		}
	}
	return f[1], nil
}
