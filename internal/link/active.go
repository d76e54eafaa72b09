package link

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Active data connections (PORT and EPRT): the link tells the server of a
// listener of its own, relays the one connection the server opens there
// to the port the client announced, and holds the control connection as
// a server blocked in connect would be held (see the package doc).

// claimGrace bounds the wait for the server's connection after a 1xx
// reply and the final reply said the transfer ran: all servers the link
// was tried with connect before their 1xx, and the link's accept only
// lags behind them.
const claimGrace = time.Second

// active is one PORT or EPRT a client sent, and what became of it.
type active struct {
	ext    bool   // EPRT
	verb   []byte // as the client spelled it
	target string // the client's host and announced port
	from   net.IP // the link's address on the control connection
	// k is the number of the final reply to the transfer command that
	// uses it (0 without one); set by the up reader before the gate is
	// registered under ctl.
	k int

	// at and round are set before accepted closes: when the server's
	// connection reached the link and the round of its SYN-ACK.
	accepted chan struct{}
	at       time.Time
	round    int
	// end follows the server's end of the connection (Options.Linger).
	end *dataEnd
	// claimed (a 1xx answered the transfer command) and answerAt are set
	// under ctl before answered closes: the final reply was read then.
	answered chan struct{}
	claimed  bool
	answerAt time.Time
}

// newActive reads the port a PORT or EPRT line announces; nil if it
// announces none. The address is ignored, as in a 227: the link dials
// the control connection's peer, as a server checks that the address is
// the client's own.
func (r *relay) newActive(line []byte) *active {
	c := command(line)
	ext := bytes.EqualFold(c[:4], []byte("EPRT"))
	var port int
	var ok bool
	if ext {
		port, ok = eprtPort(bytes.TrimSpace(c[4:]))
	} else {
		_, _, port, ok = findPASV(c, 4)
	}
	if !ok || port < 1 {
		return nil
	}
	host := r.client.RemoteAddr().(*net.TCPAddr).IP.String()
	return &active{ext: ext, verb: bytes.Clone(c[:4]), target: net.JoinHostPort(host, strconv.Itoa(port)),
		from: r.client.LocalAddr().(*net.TCPAddr).IP, accepted: make(chan struct{}), answered: make(chan struct{})}
}

// eprtPort reads the port of EPRT's "<d>proto<d>addr<d>port<d>".
func eprtPort(arg []byte) (int, bool) {
	if len(arg) < 2 {
		return 0, false
	}
	f := bytes.Split(arg[1:len(arg)-1], arg[:1])
	if len(f) != 3 || arg[len(arg)-1] != arg[0] {
		return 0, false
	}
	port, err := strconv.Atoi(string(f[2]))
	return port, err == nil && port <= 65535
}

// openActive listens for the server's connection of a, replacing the
// listener of an earlier PORT or EPRT as the server replaces its address,
// and returns the line the server gets. A line it cannot rewrite goes
// without its argument, which the server refuses: it must not reach
// the client around the link.
func (r *relay) openActive(a *active, line []byte) []byte {
	bare := []byte(string(command(line)[:4]) + "\r\n")
	if a == nil {
		return bare
	}
	r.mu.Lock()
	ip := r.server.LocalAddr().(*net.TCPAddr).IP
	host := r.server.RemoteAddr().(*net.TCPAddr).IP
	r.mu.Unlock()
	if !a.ext && ip.To4() == nil {
		ip = net.IPv4(127, 0, 0, 1) // PORT carries IPv4 only
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip})
	if err != nil {
		r.l.log.Warn("link active listen", "conn", r.id, "err", err)
		return bare
	}
	if !r.setActiveLn(ln) {
		return bare
	}
	r.ctl.Lock()
	a.end = r._followEnd()
	r.ctl.Unlock()
	// Called from a writer of this relay, itself counted: wg is not zero.
	r.l.wg.Add(1)
	go r.acceptActive(ln, a, host)
	p := ln.Addr().(*net.TCPAddr).Port
	if !a.ext {
		v4 := ip.To4()
		return fmt.Appendf(nil, "%s %d,%d,%d,%d,%d,%d\r\n", a.verb, v4[0], v4[1], v4[2], v4[3], p>>8, p&0xff)
	}
	proto := 2
	if ip.To4() != nil {
		proto = 1
	}
	return fmt.Appendf(nil, "%s |%d|%s|%d|\r\n", a.verb, proto, ip, p)
}

// setActiveLn makes ln the listener for the server's next active
// connection; false once the relay ended.
func (r *relay) setActiveLn(ln net.Listener) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed {
		ln.Close()
		return false
	}
	r.closeActiveLn()
	r.activeLn = ln
	return true
}

// closeActiveLn drops the listener of a PORT or EPRT not used; r.mu held.
func (r *relay) closeActiveLn() {
	if r.activeLn != nil {
		r.activeLn.Close()
		r.activeLn = nil
	}
}

// acceptActive relays the first connection from the server's host.
func (r *relay) acceptActive(ln *net.TCPListener, a *active, serverHost net.IP) {
	defer r.l.wg.Done()
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			r.unfollow(a.end)
			return
		}
		if from := c.RemoteAddr().(*net.TCPAddr).IP; !from.Equal(serverHost) {
			r.l.log.Warn("link active connection from a stranger refused", "conn", r.id, "from", from.String())
			c.Close()
			continue
		}
		ln.Close()
		a.round, a.at = r.l.meter.serverConnects()
		close(a.accepted)
		r.l.serve(c, a.target, r, a, a.end)
		return
	}
}

// released waits until the server's connection of a is accepted, or the
// server answered its transfer command without one, or the control
// connection ended, and returns when what the server sends after its
// connect may go on (R after the connect: a real connect returns then)
// and whether it connected; false if the relay ended.
func (r *relay) released(a *active) (time.Time, bool, bool) {
	select {
	case <-a.accepted:
		return a.at.Add(r.l.opt.RTT), true, true
	case <-a.answered:
	case <-r.ctlEnd:
		return time.Now(), false, true
	case <-r.quit:
		return time.Time{}, false, false
	}
	if a.claimed {
		t := time.NewTimer(claimGrace)
		defer t.Stop()
		select {
		case <-a.accepted:
			return a.at.Add(r.l.opt.RTT), true, true
		case <-t.C:
		case <-r.quit:
			return time.Time{}, false, false
		}
	}
	return a.answerAt, false, true
}

// hold waits, in the up writer, until the bytes behind a's transfer
// command may reach the server; false if the relay ended.
func (r *relay) hold(a *active) bool {
	t, connected, ok := r.released(a)
	if !ok || !r.sleepUntil(t) {
		return false
	}
	if connected {
		// Before the server gets anything more: its next connect is a
		// round after this one.
		r.l.meter.reachedServer(a.round)
	}
	return true
}

// _gate returns the active transfer whose final reply is number k, if
// one waits for it; ctl held.
func (r *relay) _gate(k int) *active {
	for len(r.gates) > 0 && r.gates[0].k < k {
		r.gates = r.gates[1:]
	}
	if len(r.gates) > 0 && r.gates[0].k == k {
		return r.gates[0]
	}
	return nil
}

// _prelim notes a 1xx reply: one to an active transfer command says the
// server connected.
func (r *relay) _prelim() {
	if a := r._gate(r.finals + 1); a != nil && !a.claimed {
		a.claimed = true
		r.claim = a
	}
}

// mark is where a reply that waits starts in what the server sent: a
// 1xx that says the server connected, or a final reply that follows a
// lingering close.
type mark struct {
	at        int
	connected *active
	linger    *dataEnd
}

// _scanReplies passes what the server sent through the reply scanner,
// line by line, and returns it with the replies that wait; ctl held.
func (r *relay) _scanReplies(data []byte) (out []byte, marks []mark) {
	start := 0 // of the reply being read; one begun in an earlier read waits from here
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n') + 1
		if i == 0 {
			i = len(data)
		}
		n := len(out)
		if r.replies.n == 0 && r.replies.multi == "" {
			start = n
		}
		out = append(out, r.replies.feed(data[:i])...)
		data = data[i:]
		if r.claim != nil {
			marks = append(marks, mark{at: n, connected: r.claim})
			r.claim = nil
		}
		if r.linger.claim != nil {
			marks = append(marks, mark{at: start, linger: r.linger.claim})
			r.linger.claim = nil
		}
	}
	return out, marks
}
