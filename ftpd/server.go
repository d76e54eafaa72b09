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
)

// Server is an FTP server. Create it with New, start it with Start, stop it
// with Close.
type Server struct {
	cfg    Config
	log    *slog.Logger
	root   *os.Root
	cmds   map[string]command
	faults atomic.Pointer[Faults]
	wg     sync.WaitGroup // every goroutine the server started

	mu        sync.Mutex // guards the fields below
	listeners []net.Listener
	sessions  map[*session]struct{}
	perIP     map[string]int
	nextID    uint64
	closed    bool

	countMu sync.Mutex
	counts  map[string]int64

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
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:      cfg,
		log:      log,
		root:     root,
		cmds:     commandTable(cfg.Profile),
		sessions: make(map[*session]struct{}),
		perIP:    make(map[string]int),
		counts:   make(map[string]int64),
	}
	f := cfg.Faults
	s.faults.Store(&f)
	return s, nil
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

// Counts returns how many commands of each verb were received (upper case).
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
	ip := hostOf(c.RemoteAddr())
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.Close()
		return
	}
	f := s.currentFaults()
	var refuse string
	switch {
	case f.MaxSessions > 0 && len(s.sessions) >= f.MaxSessions:
		refuse = "421 Too many connections (injected limit).\r\n"
	case s.cfg.MaxSessions > 0 && len(s.sessions) >= s.cfg.MaxSessions:
		refuse = "421 Too many connections.\r\n"
	case s.cfg.MaxPerIP > 0 && s.perIP[ip] >= s.cfg.MaxPerIP:
		refuse = "421 Too many connections from your address.\r\n"
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
	s.sessions[sess] = struct{}{}
	s.perIP[ip]++
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		sess.serve()
		s.mu.Lock()
		delete(s.sessions, sess)
		if s.perIP[ip]--; s.perIP[ip] <= 0 {
			delete(s.perIP, ip)
		}
		s.mu.Unlock()
	}()
}

// logCommand counts a command and writes its command log line.
func (s *Server) logCommand(sid, verb, arg string) {
	s.countMu.Lock()
	s.counts[verb]++
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

// printable escapes control bytes so that a hostile line stays one log line.
func printable(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			q := strconv.Quote(s)
			return q[1 : len(q)-1]
		}
	}
	return s
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
