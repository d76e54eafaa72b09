package ftpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"
)

// Data connection setup: PASV, EPSV, PORT and EPRT prepare one data
// connection, which the next transfer command opens and then closes.

func (s *session) localIP() net.IP  { return s.raw.LocalAddr().(*net.TCPAddr).IP }
func (s *session) remoteIP() net.IP { return s.raw.RemoteAddr().(*net.TCPAddr).IP }

// setPassive replaces the prepared data connection by a passive listener.
func (s *session) setPassive(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pasv != nil {
		s.pasv.Close()
	}
	if s.dead {
		ln.Close()
		return
	}
	s.pasv, s.active = ln, nil
}

// setActive replaces the prepared data connection by an address to dial.
func (s *session) setActive(a *net.TCPAddr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pasv != nil {
		s.pasv.Close()
	}
	s.pasv, s.active = nil, a
}

// closeDataSetup drops a prepared data connection that will not be used.
func (s *session) closeDataSetup() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pasv != nil {
		s.pasv.Close()
	}
	s.pasv, s.active = nil, nil
}

func (s *session) hasDataSetup() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pasv != nil || s.active != nil
}

// listenPassive listens on the control connection's local address, within
// the configured port range when there is one.
func (s *session) listenPassive() (net.Listener, error) {
	ip := s.localIP()
	lo, hi := s.srv.cfg.PassivePortMin, s.srv.cfg.PassivePortMax
	if lo == 0 && hi == 0 {
		return net.ListenTCP("tcp", &net.TCPAddr{IP: ip})
	}
	n := hi - lo + 1
	start := rand.IntN(n)
	var err error
	for i := range n {
		var ln net.Listener
		ln, err = net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: lo + (start+i)%n})
		if err == nil {
			return ln, nil
		}
	}
	return nil, fmt.Errorf("no free passive port in %d-%d: %w", lo, hi, err)
}

// preparePassive opens the passive listener of the next transfer, or
// answers 425 and returns nil.
func (s *session) preparePassive() net.Listener {
	ln, err := s.listenPassive()
	if err != nil {
		s.srv.log.Warn("passive listen", "session", s.id, "err", err)
		s.reply(425, "Cannot open passive connection.")
		return nil
	}
	s.setPassive(ln)
	return ln
}

func (s *session) cmdPASV(string) {
	if s.epsvAll {
		s.reply(503, "Only EPSV is allowed after EPSV ALL.")
		return
	}
	ip4 := s.localIP().To4()
	if ip4 == nil {
		s.reply(425, "PASV cannot express an IPv6 address; use EPSV.")
		return
	}
	ln := s.preparePassive()
	if ln == nil {
		return
	}
	p := ln.Addr().(*net.TCPAddr).Port
	s.reply(227, fmt.Sprintf("Entering Passive Mode (%d,%d,%d,%d,%d,%d).", ip4[0], ip4[1], ip4[2], ip4[3], p>>8, p&0xff))
}

func (s *session) cmdEPSV(arg string) {
	v4 := s.localIP().To4() != nil
	switch strings.ToUpper(strings.TrimSpace(arg)) {
	case "":
	case "ALL":
		s.epsvAll = true
		s.reply(200, "EPSV ALL ok.")
		return
	case "1":
		if !v4 {
			s.reply(522, "Network protocol not supported, use (2)")
			return
		}
	case "2":
		if v4 {
			s.reply(522, "Network protocol not supported, use (1)")
			return
		}
	default:
		if v4 {
			s.reply(522, "Network protocol not supported, use (1)")
		} else {
			s.reply(522, "Network protocol not supported, use (2)")
		}
		return
	}
	ln := s.preparePassive()
	if ln == nil {
		return
	}
	s.reply(229, fmt.Sprintf("Entering Extended Passive Mode (|||%d|)", ln.Addr().(*net.TCPAddr).Port))
}

// checkActive refuses a data address other than the client's own (FTP
// bounce) and privileged ports.
func (s *session) checkActive(ip net.IP, port int) bool {
	if s.epsvAll {
		s.reply(503, "Only EPSV is allowed after EPSV ALL.")
		return false
	}
	if !ip.Equal(s.remoteIP()) {
		s.srv.log.Warn("active address refused", "session", s.id, "addr", ip.String())
		s.reply(501, "Illegal PORT: the address must be the client's own.")
		return false
	}
	if port < 1024 || port > 65535 {
		s.reply(501, "Illegal PORT: privileged or invalid port.")
		return false
	}
	return true
}

func (s *session) cmdPORT(arg string) {
	f := strings.Split(strings.TrimSpace(arg), ",")
	var n [6]int
	ok := len(f) == 6
	for i := 0; ok && i < 6; i++ {
		v, err := strconv.Atoi(strings.TrimSpace(f[i]))
		ok = err == nil && v >= 0 && v <= 255
		n[i] = v
	}
	if !ok {
		s.reply(501, "Illegal PORT command.")
		return
	}
	ip := net.IPv4(byte(n[0]), byte(n[1]), byte(n[2]), byte(n[3]))
	port := n[4]<<8 | n[5]
	if !s.checkActive(ip, port) {
		return
	}
	s.setActive(&net.TCPAddr{IP: ip, Port: port})
	s.reply(200, "PORT command successful. Consider using PASV.")
}

func (s *session) cmdEPRT(arg string) {
	// |proto|addr|port| with any printable delimiter (RFC 2428 section 2).
	if len(arg) < 7 || arg[0] < 33 || arg[0] > 126 || arg[len(arg)-1] != arg[0] {
		s.reply(501, "Illegal EPRT command.")
		return
	}
	f := strings.Split(arg[1:len(arg)-1], arg[:1])
	if len(f) != 3 {
		s.reply(501, "Illegal EPRT command.")
		return
	}
	ip := net.ParseIP(f[1])
	port, err := strconv.Atoi(f[2])
	switch {
	case f[0] != "1" && f[0] != "2":
		s.reply(522, "Network protocol not supported, use (1,2)")
		return
	case ip == nil || err != nil || (f[0] == "1") != (ip.To4() != nil):
		s.reply(501, "Illegal EPRT command.")
		return
	}
	if !s.checkActive(ip, port) {
		return
	}
	s.setActive(&net.TCPAddr{IP: ip, Port: port})
	s.reply(200, "EPRT command successful. Consider using EPSV.")
}

// openData opens the prepared data connection: accepts the client's
// connection to the passive listener, from the control connection's peer
// only, or dials the active address.
func (s *session) openData(x *transfer) (net.Conn, error) {
	s.mu.Lock()
	ln, act := s.pasv, s.active
	s.mu.Unlock()
	timeout := s.srv.cfg.DataTimeout
	var c net.Conn
	switch {
	case ln != nil:
		tl := ln.(*net.TCPListener)
		tl.SetDeadline(time.Now().Add(timeout))
		// Closing the listener (abort, kill) ends Accept too.
		stop := context.AfterFunc(x.ctx, func() { tl.Close() })
		defer stop()
		for c == nil {
			nc, err := tl.Accept()
			if err != nil {
				return nil, err
			}
			if !hostIP(nc.RemoteAddr()).Equal(s.remoteIP()) {
				s.srv.log.Warn("data connection from a stranger refused", "session", s.id, "from", nc.RemoteAddr().String())
				nc.Close()
				continue
			}
			c = nc
		}
		s.closeDataSetup()
	case act != nil:
		d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: s.localIP()}}
		nc, err := d.DialContext(x.ctx, "tcp", act.String())
		s.closeDataSetup()
		if err != nil {
			return nil, err
		}
		c = nc
	default:
		return nil, errors.New("no data connection prepared")
	}
	s.mu.Lock()
	if s.dead || x.ctx.Err() != nil {
		s.mu.Unlock()
		c.Close()
		return nil, context.Canceled
	}
	s.data = c
	s.mu.Unlock()
	return c, nil
}

// startDataTLS runs the TLS handshake of a protected data connection. It
// comes after the 150 reply: clients start it only once they read that.
func (s *session) startDataTLS(x *transfer, c net.Conn) (net.Conn, error) {
	tc := tls.Server(c, s.srv.cfg.TLS)
	ctx, cancel := context.WithTimeout(x.ctx, s.srv.cfg.DataTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("data TLS handshake: %w", err)
	}
	return tc, nil
}

func hostIP(a net.Addr) net.IP {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP
	}
	return nil
}
