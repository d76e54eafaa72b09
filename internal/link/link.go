package link

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultWindow is the window of each direction of each connection when
// Options.Window is 0.
const DefaultWindow = 4 << 20

// Options describe the emulated link. The zero value is a counting relay
// without delay.
type Options struct {
	// RTT is the round-trip time; each direction delays by RTT/2.
	RTT time.Duration
	// Window is how many bytes each direction of each connection keeps in
	// flight at most (default DefaultWindow).
	Window int
	// Rate caps each direction of each connection, in bytes per second;
	// 0 means no cap.
	Rate int64
	// Listen is where clients connect (default "127.0.0.1:0"; "[::1]:0"
	// for IPv6). Passive listeners use the address a client connected to.
	Listen string
	// Logger receives connection events and, at debug level, every
	// command with its round; nil discards them.
	Logger *slog.Logger
	// Linger models a server whose close of a data connection returns
	// only once its FIN is acknowledged, as vsftpd's (SO_LINGER): it
	// replies and reads its next command R after the FIN (see the package
	// doc).
	Linger bool
}

// Link relays FTP to one upstream server over an emulated link.
type Link struct {
	opt      Options
	upstream string
	ln       net.Listener
	log      *slog.Logger
	meter    *meter
	ctx      context.Context // ends with Close: dials to the server
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	nextID   atomic.Int64

	mu     sync.Mutex
	closed bool
	relays map[*relay]struct{} // GUARDED_BY(mu)
}

// Start listens and relays every connection to upstream ("host:port").
func Start(upstream string, opt Options) (*Link, error) {
	if opt.RTT < 0 || opt.Window < 0 || opt.Rate < 0 {
		return nil, fmt.Errorf("link: negative RTT, window or rate")
	}
	if opt.Window == 0 {
		opt.Window = DefaultWindow
	}
	if opt.Listen == "" {
		opt.Listen = "127.0.0.1:0"
	}
	if _, _, err := net.SplitHostPort(upstream); err != nil {
		return nil, fmt.Errorf("link: upstream %q: %w", upstream, err)
	}
	ln, err := net.Listen("tcp", opt.Listen)
	if err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	l := &Link{opt: opt, upstream: upstream, ln: ln, log: opt.Logger, meter: newMeter(),
		relays: map[*relay]struct{}{}}
	if l.log == nil {
		l.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// Addr is the address clients connect to, as "host:port".
func (l *Link) Addr() string { return l.ln.Addr().String() }

// Options returns the options in effect, defaults filled in.
func (l *Link) Options() Options { return l.opt }

// Stats returns the counters since Start or the last Reset.
func (l *Link) Stats() Stats { return l.meter.snapshot() }

// Reset zeroes the counters; RoundTrips counts from the highest round so
// far. Call it when no operation is under way.
func (l *Link) Reset() { l.meter.reset() }

// Close stops listening, closes every connection the link relays and
// waits for all its goroutines. The clients and servers see their
// connections closed.
func (l *Link) Close() error {
	l.mu.Lock()
	l.closed = true
	relays := make([]*relay, 0, len(l.relays))
	for r := range l.relays {
		relays = append(relays, r)
	}
	l.mu.Unlock()
	err := l.ln.Close()
	l.cancel()
	for _, r := range relays {
		r.fail()
	}
	l.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil // closed before
	}
	return err
}

func (l *Link) acceptLoop() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors, say: the client's connect waits in the
			// backlog meanwhile.
			l.log.Warn("link accept", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.serve(c, l.upstream, nil, nil, nil)
		}()
	}
}

// track registers a relay so that Close ends it; false once closed.
func (l *Link) track(r *relay) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.relays[r] = struct{}{}
	return true
}

func (l *Link) untrack(r *relay) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.relays, r)
}

// relay is one relayed connection: the client's, and the link's to the
// server, or on an active data connection the server's, and the link's
// to the client.
type relay struct {
	l      *Link
	id     int64
	data   bool
	client net.Conn // set before the up reader starts, or by setPeer
	up     *pipe
	down   *pipe
	quit   chan struct{} // closed by fail
	// minRound is the round of the server's bytes on an active data
	// connection at least: its connect's.
	minRound int
	// ctlRelay is a data connection's control connection; end follows the
	// server's side of it, with Options.Linger.
	ctlRelay *relay
	end      *dataEnd
	// lingerFrom is the earliest model time of the server's FIN on an
	// active data connection: its connect's return.
	lingerFrom time.Time

	replied atomic.Bool // something reached the client since its last flight
	flights atomic.Int64

	// Control connections only; each used by one reader goroutine.
	cmds       *commandScanner
	replies    *replyRewriter
	round      int     // of the client bytes being scanned; the up reader's alone
	lastActive *active // the PORT or EPRT scanned last; the up reader's alone
	// ctlEnd closes when either stream of a control connection ended,
	// which ends every hold.
	ctlEnd  chan struct{}
	endOnce sync.Once

	// ctl orders the replies the link gives after the server's earlier
	// ones: the server's replies are scanned and queued under it.
	ctl     sync.Mutex
	finals  int     // GUARDED_BY(ctl): final replies the server sent
	pending []chunk // GUARDED_BY(ctl): replies of the link waiting for them
	// Active transfer commands whose final reply is due, in order; the
	// one a 1xx just claimed; the time of the server's bytes being read.
	gates  []*active // GUARDED_BY(ctl)
	claim  *active   // GUARDED_BY(ctl)
	readAt time.Time // GUARDED_BY(ctl)
	linger lingering // GUARDED_BY(ctl)

	mu       sync.Mutex
	failed   bool         // GUARDED_BY(mu)
	server   net.Conn     // GUARDED_BY(mu)
	dataLn   net.Listener // GUARDED_BY(mu): the passive listener announced last
	activeLn net.Listener // GUARDED_BY(mu): the listener of the last PORT or EPRT
}

// serve relays one accepted connection to target until both directions
// ended or the link closes. The side that connected, the client or, with
// a (an active data connection), the server, is read from at once; the
// link dials the other side when the handshake's last leg would reach
// it, 1.5 RTT after the connect started. ctl is a data connection's
// control connection, nil for a control connection; end, if not nil,
// follows the server's end of a data connection (Options.Linger).
func (l *Link) serve(in net.Conn, target string, ctl *relay, a *active, end *dataEnd) {
	data := ctl != nil
	r := &relay{l: l, id: l.nextID.Add(1), data: data, ctlRelay: ctl, end: end, quit: make(chan struct{}), ctlEnd: make(chan struct{})}
	defer r.endData(false, time.Time{})
	var round int
	var t0 time.Time
	if a == nil {
		round, t0 = l.meter.connect(l.opt.RTT, data)
		r.client = in
	} else {
		round, t0 = a.round, a.at
		r.server, r.minRound = in, a.round
		r.lingerFrom = a.at.Add(l.opt.RTT)
		r.replied.Store(true) // the client's first send on it is a flight
	}
	if !data {
		r.cmds = &commandScanner{count: func(verb string) {
			l.meter.command(verb)
			l.log.Debug("link command", "conn", r.id, "verb", verb, "round", r.round)
		}}
		r.replies = &replyRewriter{passive: r.passive, final: r._final, prelim: r._prelim}
	}
	if !l.track(r) {
		in.Close()
		return
	}
	defer l.untrack(r)
	if a != nil {
		ctl.setEndConn(end, in)
	}
	l.log.Debug("link connect", "conn", r.id, "data", data, "active", a != nil, "round", round)

	var wg sync.WaitGroup
	first := newPipe(r, a == nil, in)
	if a == nil {
		r.up = first
	} else {
		r.down = first
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		first.readLoop()
	}()
	// A server's connect returns R after it started: its SYN-ACK is a
	// round that reaches the server.
	if a != nil && r.sleepUntil(t0.Add(l.opt.RTT)) {
		l.meter.reachedServer(round)
	}
	if r.sleepUntil(t0.Add(3 * l.opt.RTT / 2)) {
		d := net.Dialer{Timeout: 30 * time.Second}
		if a != nil {
			// From the address the client's control connection reached,
			// as clients accept data connections from the server's host.
			d.LocalAddr = &net.TCPAddr{IP: a.from}
		}
		peer, err := d.DialContext(l.ctx, "tcp", target)
		if err == nil && !r.setPeer(peer, a == nil) {
			err = net.ErrClosed
		}
		if err != nil {
			l.log.Warn("link dial", "conn", r.id, "target", target, "err", err)
			r.fail()
		} else {
			if a == nil {
				l.meter.reachedServer(round + 1) // the handshake's last leg
			} else {
				l.meter.delivered(false, round, 0) // the client's accept returns
			}
			if a == nil {
				ctl.setEndConn(end, peer)
			}
			first.dst = peer
			second := newPipe(r, a != nil, peer)
			second.dst = in
			if a == nil {
				r.down = second
			} else {
				r.up = second
			}
			wg.Add(3)
			for _, f := range []func(){first.writeLoop, second.readLoop, second.writeLoop} {
				go func() {
					defer wg.Done()
					f()
				}()
			}
		}
	}
	wg.Wait()
	r.fail()
	l.log.Debug("link closed", "conn", r.id, "flights", r.flights.Load())
}

// setPeer records the connection the link dialed: to the server, or to
// the client of an active data connection; false once the relay ended.
func (r *relay) setPeer(c net.Conn, server bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed {
		c.Close()
		return false
	}
	if server {
		r.server = c
	} else {
		r.client = c
	}
	return true
}

// fail ends the relay: both connections close at once, as a reset does.
func (r *relay) fail() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed {
		return
	}
	r.failed = true
	close(r.quit)
	for _, c := range []net.Conn{r.client, r.server} {
		if c != nil {
			c.Close()
		}
	}
	if r.dataLn != nil {
		r.dataLn.Close()
	}
	r.closeActiveLn()
}

func (r *relay) stopped() bool {
	select {
	case <-r.quit:
		return true
	default:
		return false
	}
}

// sleepUntil waits until t; false if the relay ended meanwhile.
func (r *relay) sleepUntil(t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return !r.stopped()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-r.quit:
		return false
	}
}

// arrived queues bytes read at now with their round; control streams
// pass through their scanners first.
func (r *relay) arrived(p *pipe, data []byte, now time.Time) {
	if !p.up {
		round := max(r.l.meter.serverSends(), r.minRound)
		if r.replies == nil {
			p.push(chunk{data: data, at: now, round: round})
			return
		}
		r.ctl.Lock()
		defer r.ctl.Unlock()
		r.readAt = now
		data, marks := r._scanReplies(data)
		// What the server sent from a 1xx that says it connected on
		// waits for its connect to return, and from a final reply after
		// a lingering close on, for that close (pipe.writeLoop).
		c := chunk{at: now, round: round}
		from := 0
		for _, m := range marks {
			if m.at > from {
				c.data = data[from:m.at]
				p.push(c)
				c = chunk{at: now, round: round}
				from = m.at
			}
			if m.connected != nil {
				c.connected = m.connected
			}
			if m.linger != nil {
				c.linger = m.linger
			}
		}
		if c.data = data[from:]; len(c.data) > 0 {
			p.push(c)
		}
		return
	}
	newFlight := r.replied.Swap(false)
	if newFlight {
		r.flights.Add(1)
	}
	r.round = r.l.meter.clientSends(now, newFlight)
	if r.cmds == nil {
		p.push(chunk{data: data, at: now, round: r.round})
		return
	}
	for _, pc := range r.cmds.feed(data) {
		c := chunk{data: pc.data, reply: pc.reply, after: pc.after, at: now, round: r.round}
		switch {
		case pc.active:
			r.lastActive = r.newActive(pc.data)
			c.port = r.lastActive
			c.portLine = true
		case pc.hold:
			a := r.lastActive
			r.lastActive = nil
			if a == nil {
				continue // a PORT the server refuses: nothing to wait for
			}
			a.k = pc.after
			r.ctl.Lock()
			r.gates = append(r.gates, a)
			r.ctl.Unlock()
			c.hold = a
		}
		p.push(c)
	}
}

// ended queues the end of a stream read at now, after any line a scanner
// held; fin says the sender closed it.
func (r *relay) ended(p *pipe, now time.Time, fin bool) {
	var rest []byte
	var round int
	switch {
	case p.up && r.cmds != nil:
		// r.round is the up reader's, which is this goroutine.
		rest, round = r.cmds.flush(), r.round
	case !p.up && r.replies != nil:
		r.ctl.Lock()
		defer r.ctl.Unlock()
		rest, round = r.replies.flush(), r.l.meter.serverSends()
	}
	if r.cmds != nil {
		// A hold waits no longer for a server that will not connect.
		r.endOnce.Do(func() { close(r.ctlEnd) })
	}
	if len(rest) > 0 {
		p.push(chunk{data: rest, at: now, round: round})
	}
	p.push(chunk{eof: true, at: now})
	if !p.up {
		r.endData(fin, now)
	}
}

// answer gives a reply in the server's place, when the command reached
// the server: at once if the server answered every command before, else
// right after its answer to the last of them.
func (r *relay) answer(c chunk) {
	r.ctl.Lock()
	defer r.ctl.Unlock()
	if r.finals >= c.after {
		r.down.push(chunk{data: c.reply, at: time.Now(), round: c.round})
		return
	}
	r.pending = append(r.pending, c)
}

// _final counts a final reply of the server and returns the replies of
// the link due after it.
func (r *relay) _final() []byte {
	r.finals++
	r._lingerClaim()
	if a := r._gate(r.finals); a != nil {
		a.answerAt = r.readAt
		close(a.answered)
	}
	var out []byte
	for len(r.pending) > 0 && r.pending[0].after <= r.finals {
		out = append(out, r.pending[0].reply...)
		r.pending = r.pending[1:]
	}
	return out
}

// delivering records a chunk about to be written.
func (r *relay) delivering(up bool, round, n int) {
	r.l.meter.delivered(up, round, n)
	if !up {
		r.replied.Store(true)
	}
}

// closeWrite passes an end of stream on: a FIN, the connection left open
// for the other direction.
func (r *relay) closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
		return
	}
	c.Close()
}

// passive listens for the data connection a passive reply announces and
// returns the address to announce instead of the server's.
func (r *relay) passive(v4 bool, serverPort int) (net.IP, int, error) {
	ip := r.client.LocalAddr().(*net.TCPAddr).IP
	if v4 && ip.To4() == nil {
		ip = net.IPv4(127, 0, 0, 1)
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip})
	if err != nil {
		r.l.log.Warn("link passive listen", "conn", r.id, "err", err)
		return nil, 0, err
	}
	r.mu.Lock()
	if r.failed {
		r.mu.Unlock()
		ln.Close()
		return nil, 0, net.ErrClosed
	}
	// A new passive reply abandons the previous listener, and the
	// address of a PORT or EPRT, as servers do.
	if r.dataLn != nil {
		r.dataLn.Close()
	}
	r.closeActiveLn()
	r.dataLn = ln
	host := r.server.RemoteAddr().(*net.TCPAddr).IP.String()
	r.mu.Unlock()
	// passive runs under ctl, scanning the server's replies.
	end := r._followEnd()
	target := net.JoinHostPort(host, strconv.Itoa(serverPort))
	// Called from a reader of this relay, itself counted: wg is not zero.
	r.l.wg.Add(1)
	go func() {
		defer r.l.wg.Done()
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			r.unfollow(end)
			return
		}
		r.l.serve(c, target, r, nil, end)
	}()
	return ip, ln.Addr().(*net.TCPAddr).Port, nil
}
