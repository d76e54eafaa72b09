package ftpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Server is an FTP server. Create it with New, start it with Start, stop it
// with Close.
type Server struct {
	cfg    Config
	log    *slog.Logger
	root   *os.Root
	cmds   map[string]command
	verbs  map[string]command // every verb of every profile: the counters kept
	faults atomic.Pointer[Faults]
	wg     sync.WaitGroup // every goroutine the server started

	throttle *loginThrottle
	stored   atomic.Int64 // bytes uploads stored, for Config.Quota (quota.go)

	mu        sync.Mutex // guards the fields below, and session.authed
	listeners []net.Listener
	sessions  map[*session]struct{}
	perIP     map[string]int // sessions per addrKey
	preLogin  int            // sessions in sessions not logged in yet
	nextID    uint64
	closed    bool

	countMu sync.Mutex
	counts  map[string]int64 // per known verb, and otherVerbs

	logMu sync.Mutex // one command log line at a time
}

// New checks cfg and fills in defaults. It does not listen yet.
func New(cfg Config) (*Server, error) {
	if cfg.Root == "" {
		return nil, errors.New("ftpd: no root directory")
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("ftpd: root: %w", err)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:2121"
	}
	if cfg.ImplicitTLSListen != "" && cfg.TLS == nil {
		root.Close()
		return nil, errors.New("ftpd: implicit TLS listener without a TLS configuration")
	}
	if err := checkLogins(&cfg); err != nil {
		root.Close()
		return nil, err
	}
	if cfg.PassivePortMin > cfg.PassivePortMax || cfg.PassivePortMin < 0 || cfg.PassivePortMax > 65535 {
		root.Close()
		return nil, fmt.Errorf("ftpd: bad passive port range %d-%d", cfg.PassivePortMin, cfg.PassivePortMax)
	}
	switch cfg.Profile {
	case "":
		cfg.Profile = ProfileFull
	case ProfileFull, ProfileVsftpd, ProfileDOS:
	default:
		root.Close()
		return nil, fmt.Errorf("ftpd: unknown profile %q (want full, vsftpd or dos)", cfg.Profile)
	}
	setDefault(&cfg.MaxSessions, 256)
	setDefault(&cfg.MaxPerIP, 64)
	setDefault(&cfg.MaxLoginFailures, 3)
	setDefault(&cfg.IdleTimeout, 5*time.Minute)
	setDefault(&cfg.DataTimeout, 30*time.Second)
	setDefault(&cfg.LoginFailDelay, 500*time.Millisecond)
	setDefault(&cfg.LoginTimeout, 30*time.Second)
	if cfg.MaxUnauthenticated == 0 {
		cfg.MaxUnauthenticated = -1
		if cfg.MaxSessions > 0 {
			cfg.MaxUnauthenticated = max(1, cfg.MaxSessions/4)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:      cfg,
		log:      log,
		root:     root,
		cmds:     commandTable(cfg.Profile),
		verbs:    commandTable(ProfileFull),
		sessions: make(map[*session]struct{}),
		perIP:    make(map[string]int),
		counts:   make(map[string]int64),
		throttle: newLoginThrottle(cfg.LoginFailDelay),
	}
	f := cfg.Faults
	s.faults.Store(&f)
	return s, nil
}

// checkLogins refuses configurations that would let someone in without
// the password meant for them.
func checkLogins(cfg *Config) error {
	if cfg.TLSRequired && cfg.TLS == nil {
		return errors.New("ftpd: TLS required without a TLS configuration")
	}
	if cfg.Anonymous {
		for _, name := range anonymousNames {
			if _, ok := cfg.Users[name]; ok {
				return fmt.Errorf("ftpd: user %q is also an anonymous login name: with anonymous logins on, it could not be told apart", name)
			}
		}
	}
	return nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// Start binds the listeners and serves them in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("ftpd: %w", err)
	}
	lns := []net.Listener{ln}
	if s.cfg.ImplicitTLSListen != "" {
		tln, err := net.Listen("tcp", s.cfg.ImplicitTLSListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("ftpd: implicit TLS: %w", err)
		}
		lns = append(lns, tln)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		for _, l := range lns {
			l.Close()
		}
		return errors.New("ftpd: server closed")
	}
	s.listeners = lns
	for i, l := range lns {
		s.wg.Add(1)
		go s.acceptLoop(l, i == 1)
	}
	return nil
}

// Addr is the explicit listener's address (valid after Start).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.listeners) == 0 {
		return nil
	}
	return s.listeners[0].Addr()
}

// ImplicitTLSAddr is the implicit-TLS listener's address, or nil.
func (s *Server) ImplicitTLSAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.listeners) < 2 {
		return nil
	}
	return s.listeners[1].Addr()
}

// Close stops listening, ends every session and waits for its goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, l := range s.listeners {
		l.Close()
	}
	for sess := range s.sessions {
		sess.kill()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return s.root.Close()
}

// SetFaults replaces the fault injection settings.
func (s *Server) SetFaults(f Faults) { s.faults.Store(&f) }

func (s *Server) currentFaults() Faults { return *s.faults.Load() }

// otherVerbs is the counter of every verb the server does not know: one
// counter per verb sent would let a client grow the map without bound.
const otherVerbs = "other"

// Counts returns how many commands of each verb were received: verbs of
// the full profile in upper case (so that a test can tell MLSD was not sent
// to a vsftpd profile), the rest (and lines too long to parse) as "other".
func (s *Server) Counts() map[string]int64 {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	m := make(map[string]int64, len(s.counts))
	for k, v := range s.counts {
		m[k] = v
	}
	return m
}

// ResetCounts sets every counter to zero.
func (s *Server) ResetCounts() {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	clear(s.counts)
}

// Sessions is the number of open control connections.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

func (s *Server) acceptLoop(ln net.Listener, implicitTLS bool) {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: wait rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept", "err", err)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.admit(c, implicitTLS)
	}
}

// admit starts a session for c, or turns it away with 421 when a limit is
// reached.
func (s *Server) admit(c net.Conn, implicitTLS bool) {
	key := addrKey(c.RemoteAddr())
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.Close()
		return
	}
	f := s.currentFaults()
	var refuse string
	var victim *session
	switch {
	case f.MaxSessions > 0 && len(s.sessions) >= f.MaxSessions:
		refuse = "421 Too many connections (injected limit).\r\n"
	case s.cfg.MaxPerIP > 0 && s.perIP[key] >= s.cfg.MaxPerIP:
		refuse = "421 Too many connections from your address.\r\n"
	case s._full():
		if victim = s._dropPreLogin(); victim == nil {
			refuse = "421 Too many connections.\r\n"
		}
	}
	if victim != nil {
		// Outside mu; the victim's own goroutine logs why it ended.
		defer victim.kill()
	}
	if refuse != "" {
		s.wg.Add(1)
		s.mu.Unlock()
		// A goroutine, so that a client that does not read cannot stall
		// the accept loop.
		go func() {
			defer s.wg.Done()
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if !implicitTLS {
				io.WriteString(c, refuse)
			}
			c.Close()
		}()
		return
	}
	s.nextID++
	sess := newSession(s, c, "s"+strconv.FormatUint(s.nextID, 10), implicitTLS)
	sess.key, sess.seq = key, s.nextID
	s.sessions[sess] = struct{}{}
	s.perIP[key]++
	s.preLogin++
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		sess.serve()
		s.mu.Lock()
		s._forget(sess)
		s.mu.Unlock()
	}()
}

// _full reports whether a new session needs a slot freed first; call with
// mu held. Pre-login sessions are limited on their own, so that the
// slots of MaxSessions beyond MaxUnauthenticated stay for clients that
// log in.
func (s *Server) _full() bool {
	return s.cfg.MaxSessions > 0 && len(s.sessions) >= s.cfg.MaxSessions ||
		s.cfg.MaxUnauthenticated > 0 && s.preLogin >= s.cfg.MaxUnauthenticated
}

// _dropPreLogin makes room for a new connection: it forgets the newest
// session not logged in of the address holding the most such sessions,
// and returns it for the caller to kill once mu is released. Idle
// connections then cannot keep newcomers out, the flooding address pays
// first, and of its sessions the freshest, rather than one whose user has
// been typing a password. A session whose password is being checked is
// never chosen. It returns nil when no session can go. Call with mu held.
func (s *Server) _dropPreLogin() *session {
	perKey := make(map[string]int)
	for sess := range s.sessions {
		if !sess.authed {
			perKey[sess.key]++
		}
	}
	var victim *session
	for sess := range s.sessions {
		if sess.authed || sess.checking.Load() {
			continue
		}
		if victim == nil || perKey[sess.key] > perKey[victim.key] ||
			perKey[sess.key] == perKey[victim.key] && sess.seq > victim.seq {
			victim = sess
		}
	}
	if victim != nil {
		victim.dropped.Store(true)
		s._forget(victim)
	}
	return victim
}

// _forget removes sess from the session counts, once; call with mu held.
func (s *Server) _forget(sess *session) {
	if _, ok := s.sessions[sess]; !ok {
		return
	}
	delete(s.sessions, sess)
	if s.perIP[sess.key]--; s.perIP[sess.key] <= 0 {
		delete(s.perIP, sess.key)
	}
	if !sess.authed {
		s.preLogin--
	}
}

// loggedIn moves sess from the pre-login count to the logged-in one.
func (s *Server) loggedIn(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.authed {
		return
	}
	sess.authed = true
	if _, ok := s.sessions[sess]; ok {
		s.preLogin--
	}
}

// logCommand counts a command and writes its command log line.
func (s *Server) logCommand(sid, verb, arg string) {
	key := verb
	if _, ok := s.verbs[verb]; !ok {
		key = otherVerbs
	}
	s.countMu.Lock()
	s.counts[key]++
	s.countMu.Unlock()
	if s.cfg.CommandLog == nil {
		return
	}
	if verb == "PASS" && arg != "" {
		arg = "****"
	}
	var b strings.Builder
	b.WriteString(time.Now().UTC().Format(time.RFC3339Nano))
	b.WriteByte(' ')
	b.WriteString(sid)
	b.WriteByte(' ')
	b.WriteString(printable(verb))
	if arg != "" {
		b.WriteByte(' ')
		b.WriteString(printable(arg))
	}
	b.WriteByte('\n')
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if _, err := io.WriteString(s.cfg.CommandLog, b.String()); err != nil {
		s.log.Warn("command log", "err", err)
	}
}

// printable escapes what could forge or hide log text, so that a hostile
// line stays one readable log line: each rune strconv.IsPrint refuses (C0
// and C1 controls, DEL, bidi overrides and other invisible formatting) and
// each byte that is no valid UTF-8 becomes a Go escape (\x1b, \u202e,
// \xfe). It is the rule of the mount's log (cmd/ftpfs/logsafe.go), which
// ftpd does not import.
func printable(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !strconv.IsPrint(r) }) < 0 {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case strconv.IsPrint(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}

func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

// sleepCtx sleeps for d or until ctx ends, whichever comes first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
