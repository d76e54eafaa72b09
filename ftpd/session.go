package ftpd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxLine bounds a command line; longer ones are refused with 500.
const maxLine = 4096

// replyTimeout bounds writing one reply to a client that does not read.
const replyTimeout = 30 * time.Second

// maxJunkBeforeLogin is how many unknown or unparsable commands a session
// may send before login; the next one closes it. Clients probe a few
// extensions; a flood of them before login is an attack.
const maxJunkBeforeLogin = 10

// refusedLine is a line the session answers without acting on it, then
// reads on.
type refusedLine struct {
	code int
	text string // the reply
	log  string // what the command log shows instead of the line
}

func (e *refusedLine) Error() string { return e.text }

var (
	errLineTooLong = &refusedLine{500, "Command line too long.", "(line too long)"}
	errTelnet      = &refusedLine{501, "Malformed Telnet sequence in the command line.", "(malformed telnet)"}
)

// refused reports whether err is a refusedLine: the line gets its reply
// and the session goes on.
func refused(err error) bool {
	var r *refusedLine
	return errors.As(err, &r)
}

type lineResult struct {
	line string
	err  error
	at   time.Time // when the bytes that ended the line arrived
}

// stampConn notes when its reads return data: when a command arrived,
// which the reply delay counts from.
type stampConn struct {
	net.Conn
	last atomic.Int64 // UnixNano of the last read that returned data
}

func (c *stampConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// session is one control connection. Fields without a comment belong to the
// session loop goroutine alone.
type session struct {
	srv         *Server
	id          string
	raw         net.Conn // the TCP connection, for kill and addresses
	implicitTLS bool
	ctx         context.Context
	cancel      context.CancelFunc
	key         string      // addrKey of the client
	seq         uint64      // admission order
	loginBy     time.Time   // the login deadline
	authed      bool        // logged in once; written under srv.mu, by the session loop only
	checking    atomic.Bool // in cmdPASS, checking a password: never dropped for room
	dropped     atomic.Bool // ended by the server to make room for a newcomer

	ctrl net.Conn      // raw, or TLS over raw after AUTH TLS
	r    *bufio.Reader // read by the reader goroutine, between want and lines

	want      chan struct{}   // loop → reader: read one more line
	lines     chan lineResult // reader → loop
	requested bool            // a line was asked for and not yet received
	pending   []lineResult    // lines received during a transfer

	stamp        *stampConn
	wmu          sync.Mutex // guards writes to ctrl, delayPending and replyAt
	delayPending bool       // the next reply is the first to a command
	replyAt      time.Time  // when it may leave: its command's arrival + ReplyDelay

	// Login and protocol state.
	user       string
	loggedIn   bool
	readOnly   bool
	failures   int
	junk       int // unknown commands before login
	cwd        string
	binary     bool
	rest       int64
	renameFrom string
	copyFrom   string // SITE CPFR's file, for SITE CPTO (copy.go)
	epsvAll    bool
	tlsOn      bool
	pbsz       bool
	protP      bool
	mlstFacts  map[string]bool
	hashWith   string // the HASH algorithm chosen with OPTS HASH
	ncmds      int
	quitting   bool

	mu     sync.Mutex // guards the fields below, touched by kill and aborts
	pasv   net.Listener
	active *net.TCPAddr
	data   net.Conn
	xfer   *transfer
	dead   bool
}

func newSession(srv *Server, c net.Conn, id string, implicitTLS bool) *session {
	ctx, cancel := context.WithCancel(context.Background())
	stamp := &stampConn{Conn: c}
	c = stamp
	s := &session{
		srv:         srv,
		id:          id,
		stamp:       stamp,
		raw:         c,
		implicitTLS: implicitTLS,
		ctx:         ctx,
		cancel:      cancel,
		ctrl:        c,
		r:           bufio.NewReaderSize(c, maxLine+2),
		want:        make(chan struct{}),
		lines:       make(chan lineResult, 1),
		loginBy:     time.Now().Add(srv.cfg.LoginTimeout),
		cwd:         "/",
		binary:      true,
		mlstFacts:   defaultFacts(),
	}
	return s
}

// kill ends the session from outside: every blocked read, write, accept and
// sleep returns.
func (s *session) kill() {
	s.mu.Lock()
	s.dead = true
	if s.pasv != nil {
		s.pasv.Close()
	}
	if s.data != nil {
		s.data.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.raw.Close()
}

func (s *session) serve() {
	log := s.srv.log.With("session", s.id, "remote", s.raw.RemoteAddr().String())
	log.Debug("session start")
	s.srv.wg.Add(1)
	go s.readLoop()
	defer func() {
		s.kill()
		close(s.want)
		if s.dropped.Load() {
			// Logged here, not by admit: a slow log writer must not hold
			// up the accept loop.
			log.Info("dropping a session not logged in, to make room", "addr", s.key)
		}
		log.Debug("session end")
	}()
	if s.implicitTLS {
		if err := s.startTLS(); err != nil {
			log.Debug("implicit TLS handshake", "err", err)
			return
		}
		s.protP = true
	}
	s.reply(220, "ftpd ready.")
	for !s.quitting {
		lr, ok := s.nextLine()
		if !ok {
			return
		}
		s.handleLine(lr)
	}
}

// readLoop reads one line per request on s.want until the session ends.
func (s *session) readLoop() {
	defer s.srv.wg.Done()
	for range s.want {
		line, err := readLine(s.r)
		s.lines <- lineResult{line, err, time.Unix(0, s.stamp.last.Load())}
	}
}

// readLine reads a CRLF- or LF-terminated line of at most maxLine bytes.
// A longer line is consumed whole, without keeping it, and reported as
// errLineTooLong, so that the next line is read correctly.
func readLine(r *bufio.Reader) (string, error) {
	b, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = r.ReadSlice('\n')
		}
		if err != nil {
			return "", err
		}
		return "", errLineTooLong
	}
	if err != nil {
		return "", err
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) > maxLine {
		return "", errLineTooLong
	}
	b, err = decodeTelnet(b)
	return string(b), err
}

// Telnet bytes (RFC 854) that reach the control connection.
const (
	iac        = 0xff // interpret as command; doubled, a 0xFF data byte
	telnetDM   = 0xf2 // Data Mark, the end of a Synch
	telnetSE   = 0xf0 // the lowest command byte
	telnetWill = 0xfb // WILL, WONT, DO and DONT (0xfb-0xfe) take an option byte
)

// decodeTelnet undoes the Telnet layer of a command line. IAC IAC is a
// 0xFF data byte (RFC 959 and RFC 2640 section 3.1: how a name carries
// 0xFF). Before the first data byte, Telnet commands are dropped: option
// negotiation, and the IP and Synch that clients such as lftp put before
// ABOR (RFC 959 section 4.1.3), whose Data Mark either arrives inline or
// leaves the stream as urgent data and leaves its IAC alone. Any other
// IAC is refused with the whole line (errTelnet): it comes from a client
// that sent a name's 0xFF raw, and acting on what is left of the name
// ("DELE /important\xffZ" as "DELE /important") would hit another file.
func decodeTelnet(b []byte) ([]byte, error) {
	if bytes.IndexByte(b, iac) < 0 && (len(b) == 0 || b[0] != telnetDM) {
		return b, nil
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == iac && i+1 < len(b) && b[i+1] == iac:
			out = append(out, iac)
			i++
		case c == iac && (len(out) > 0 || i+1 == len(b)):
			return nil, errTelnet
		case c == iac && b[i+1] >= telnetSE:
			i++
			if b[i] >= telnetWill {
				if i+1 == len(b) {
					return nil, errTelnet
				}
				i++ // the option
			}
		case c == iac:
			// The Synch's IAC, its Data Mark gone as urgent data.
		case c == telnetDM && len(out) == 0:
			// The Data Mark, when urgent data arrived inline.
		default:
			out = append(out, c)
		}
	}
	return out, nil
}

// nextLine returns the next command line: one held back during a transfer,
// or a fresh one. It ends the session on idle timeout or a read error.
func (s *session) nextLine() (lineResult, bool) {
	if len(s.pending) > 0 {
		lr := s.pending[0]
		s.pending = s.pending[1:]
		return lr, lr.err == nil || refused(lr.err) || errors.Is(lr.err, errLogged)
	}
	s.request()
	wait, why := s.srv.cfg.IdleTimeout, "Timeout."
	if d := time.Until(s.loginBy); !s.authed && d < wait {
		// An absolute deadline: commands before login do not extend it.
		wait, why = d, "Login timeout."
	}
	idle := time.NewTimer(wait)
	defer idle.Stop()
	select {
	case lr := <-s.lines:
		s.requested = false
		if lr.err != nil && !refused(lr.err) {
			return lr, false
		}
		return lr, true
	case <-idle.C:
		s.reply(421, why)
		return lineResult{}, false
	case <-s.ctx.Done():
		return lineResult{}, false
	}
}

// request asks the reader goroutine for one line, unless it was asked already.
func (s *session) request() {
	if s.requested {
		return
	}
	select {
	case s.want <- struct{}{}:
		s.requested = true
	case <-s.ctx.Done():
	}
}

// reply sends a one-line reply.
func (s *session) reply(code int, text string) {
	s.write(fmt.Sprintf("%d %s\r\n", code, oneLine(text)))
}

// replyLines sends a multi-line reply: the first and last lines carry the
// code, the lines between start with a space (RFC 959 section 4.2).
func (s *session) replyLines(code int, first string, body []string, last string) {
	var b strings.Builder
	fmt.Fprintf(&b, "%d-%s\r\n", code, oneLine(first))
	for _, l := range body {
		b.WriteString(" ")
		b.WriteString(oneLine(l))
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "%d %s\r\n", code, oneLine(last))
	s.write(b.String())
}

func (s *session) write(msg string) {
	// The control connection is Telnet: a 0xFF in a reply (a name in a
	// 257, MLST or STAT reply) goes doubled (RFC 2640 section 3.1).
	msg = strings.ReplaceAll(msg, "\xff", "\xff\xff")
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.delayPending {
		// As a network would: pipelined commands that arrived together
		// get their replies together, one delay after they arrived.
		s.delayPending = false
		sleepCtx(s.ctx, time.Until(s.replyAt))
	}
	s.ctrl.SetWriteDeadline(time.Now().Add(replyTimeout))
	if _, err := s.ctrl.Write([]byte(msg)); err != nil {
		// The reader sees the broken connection and ends the session.
		s.raw.Close()
	}
}

// oneLine keeps a reply on one line whatever a file name contains.
func oneLine(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	}
	return s
}

// startTLS runs a TLS handshake on the control connection.
func (s *session) startTLS() error {
	tc := tls.Server(s.raw, s.srv.cfg.TLS)
	ctx, cancel := context.WithTimeout(s.ctx, s.srv.cfg.DataTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	s.wmu.Lock()
	s.ctrl = tc
	s.wmu.Unlock()
	// The reader goroutine is idle between requests, so swapping r is safe.
	s.r = bufio.NewReaderSize(tc, maxLine+2)
	s.tlsOn = true
	return nil
}

// handleLine parses, logs and executes one command line.
func (s *session) handleLine(lr lineResult) {
	var bad *refusedLine
	if errors.As(lr.err, &bad) {
		s.srv.logCommand(s.id, "-", bad.log)
		s.refuseJunk(bad.code, bad.text)
		return
	}
	var verb, arg string
	if errors.Is(lr.err, errLogged) {
		verb, arg = splitCommand(lr.line)
		s.delayReply(lr.at)
	} else {
		var ok bool
		if verb, arg, ok = s.begin(lr); !ok {
			return
		}
	}
	s.dispatch(verb, arg)
}

func splitCommand(line string) (verb, arg string) {
	verb, arg, _ = strings.Cut(line, " ")
	return strings.ToUpper(verb), arg
}

// begin logs and counts a command and applies the control faults. It
// returns false when a fault closed the control connection.
func (s *session) begin(lr lineResult) (verb, arg string, ok bool) {
	verb, arg = splitCommand(lr.line)
	s.srv.logCommand(s.id, verb, arg)
	s.ncmds++
	f := s.srv.currentFaults()
	if f.CloseControlAfter > 0 && s.ncmds > f.CloseControlAfter {
		s.srv.log.Debug("fault: closing control connection", "session", s.id, "commands", s.ncmds)
		s.quitting = true
		s.raw.Close()
		return verb, arg, false
	}
	s.delayReply(lr.at)
	return verb, arg, true
}

// delayReply holds the next reply until ReplyDelay after its command
// arrived (at).
func (s *session) delayReply(at time.Time) {
	d := s.srv.currentFaults().ReplyDelay
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.delayPending, s.replyAt = d > 0, at.Add(d)
}

func (s *session) dispatch(verb, arg string) {
	if verb == "" {
		s.refuseJunk(500, "Empty command.")
		return
	}
	cmd, ok := s.commands()[verb]
	if f := s.srv.currentFaults(); f.RefuseVerb != "" && refusedVerb(f.RefuseVerb, verb, arg) && f.RefuseCode != 0 {
		s.reply(f.RefuseCode, "Refused (fault injection).")
		return
	}
	switch {
	case !ok && unimplemented[verb]:
		s.reply(502, "Command not implemented.")
	case !ok:
		s.refuseJunk(500, "Unknown command.")
	case cmd.login && !s.loggedIn:
		s.reply(530, "Please login with USER and PASS.")
	case cmd.data && s.srv.cfg.TLSRequired && !s.protP:
		s.reply(521, "PROT P required.")
	case cmd.write && s.readOnly:
		s.reply(550, "Permission denied.")
	case cmd.needArg && arg == "":
		s.reply(501, "Syntax error in parameters or arguments.")
	case strings.IndexByte(arg, 0) >= 0:
		s.reply(501, "NUL in argument.")
	default:
		cmd.fn(s, arg)
	}
}

// refuseJunk answers a line that is no known command (or no command at
// all), and closes a session that sends too many of them before login.
func (s *session) refuseJunk(code int, text string) {
	if !s.loggedIn {
		if s.junk++; s.junk >= maxJunkBeforeLogin {
			s.reply(421, "Too many unknown commands.")
			s.quitting = true
			return
		}
	}
	s.reply(code, text)
}

// loginDeadline is the time by which a password check must start. A
// session that logged in once has no login deadline any more, but its
// wait is bounded all the same: while cmdPASS waits out a back-off it
// reads no command and its idle timer is stopped.
func (s *session) loginDeadline() time.Time {
	if s.authed {
		return time.Now().Add(s.srv.cfg.LoginTimeout)
	}
	return s.loginBy
}
