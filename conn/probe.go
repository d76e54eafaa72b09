package conn

// Probing a server before a mount (ftpfs doctor): what it offers, how it
// behaves where servers differ, and what the mount's configuration should
// say about it. The probes speak FTP on connections of their own, through
// the same dial, login, listing readers and transfers as the pool, so
// that what they find is what a mount would meet. By topic: this file
// runs them and holds the control connection's probes (FEAT, the round
// trip, EPSV and PASV, the connection limit); probe_tls.go the TLS ones;
// probe_list.go the listings (MLSD, MLST, STAT, LIST, names, the time zone
// of LIST); probe_write.go the changes, made in a scratch directory that
// is removed afterwards.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Verdict is what a probe found.
type Verdict int

const (
	// ProbeOK: it works (or, for a measure, here is the figure).
	ProbeOK Verdict = iota
	// ProbeUnsupported: the server lacks it; the mount does without.
	ProbeUnsupported
	// ProbeProblem: something the mount, or its user, must deal with.
	ProbeProblem
)

// Advice is a change of the mount's configuration that a finding calls
// for; the command line spells it.
type Advice int

const (
	AdviseNone Advice = iota
	// AdviseConnections: at most Finding.N connections.
	AdviseConnections
	// AdviseNoAtomicUpload: the server refuses renames over files.
	AdviseNoAtomicUpload
	// AdviseTrustPASVIP: data connections reach only the PASV address.
	AdviseTrustPASVIP
	// AdviseChmodIgnore: SITE CHMOD is refused or has no effect.
	AdviseChmodIgnore
	// AdviseTLS: the server offers AUTH TLS and the probe did not use it.
	AdviseTLS
	// AdviseFingerprint: the certificate was not verified; pin
	// Finding.Value ("sha256:HEX") instead.
	AdviseFingerprint
	// AdviseServerTimezone: the server gives local time, at the offset
	// Finding.Value ("+09:00").
	AdviseServerTimezone
	// AdviseEncoding: names are in the legacy encoding Finding.Value.
	AdviseEncoding
)

// Finding is one line of a probe's report.
type Finding struct {
	Topic   string // what was probed: "MLSD", "rename over a file", ...
	Verdict Verdict
	Detail  string // one line, for a person
	Advice  Advice
	N       int    // AdviseConnections' count
	Value   string // AdviseFingerprint's pin, AdviseServerTimezone's zone, AdviseEncoding's encoding
}

// ProbeOptions say what Probe may do.
type ProbeOptions struct {
	// Dir is listed, and the scratch directory of the write probes is
	// made in it; "/" when empty.
	Dir string
	// ReadOnly skips every probe that changes the server.
	ReadOnly bool
	// MaxConns bounds the connections opened to find the server's limit
	// (16 when zero).
	MaxConns int
}

// Probe runs every probe against the server of cfg and hands each
// finding to report as it comes. Each probe is bounded by cfg.Timeout,
// and ctx ends them all; a probe that breaks its connection leaves the
// next a fresh one. The error is the login's, when no connection could
// be made (nothing else was probed then), or ctx's when it ended first.
func Probe(ctx context.Context, cfg Config, o ProbeOptions, report func(Finding)) error {
	cfg.fill()
	if o.Dir == "" {
		o.Dir = "/"
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 16
	}
	pr := &prober{cfg: cfg, o: o, report: report, pool: NewPool(cfg)}
	defer pr.close()
	if err := pr.first(ctx); err != nil {
		return err
	}
	steps := []func(context.Context, *Conn){
		pr.features, pr.tlsState, pr.versions, pr.sessionReuse, pr.roundTrip, pr.passive,
		pr.mlsd, pr.stat, pr.list,
	}
	for _, step := range steps {
		if !pr.run(ctx, step) {
			return ctx.Err()
		}
	}
	pr.limit(ctx)
	if o.ReadOnly {
		pr.add(Finding{Topic: "write probes", Verdict: ProbeOK, Detail: "skipped (read-only): the server was not changed"})
	} else {
		pr.writes(ctx)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !pr.zoneDone {
		pr.add(Finding{Topic: "time zone of MDTM", Verdict: ProbeUnsupported, Detail: "not compared with the clock: only a file just stored tells whether the server's times are UTC or its local time (see --server-timezone)"})
	}
	if !pr.tzDone {
		pr.add(Finding{Topic: "time zone of LIST", Verdict: ProbeUnsupported, Detail: "no file listed with a time of day and an MDTM to compare"})
	}
	return nil
}

// prober holds what the probes share.
type prober struct {
	cfg    Config
	o      ProbeOptions
	report func(Finding)
	pool   *Pool // for its listing reader; it dials nothing itself
	c      *Conn // the probes' connection, dialled again when broken
	ids    int
	feat   *Features
	tzDone bool // the time zone of LIST was compared
	// zoneDone: an upload's MDTM was compared with the clock.
	zoneDone bool
	// statLines is the number of lines STAT listed, -1 when it did not.
	statLines int
}

func (pr *prober) add(f Finding) { pr.report(f) }

// dial logs in a connection of the probes'.
func (pr *prober) dial(ctx context.Context, cfg *Config) (*Conn, error) {
	pr.ids++
	return dial(ctx, cfg, pr.ids, pr.feat, false)
}

// first logs in the probes' connection and reports the login.
func (pr *prober) first(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pr.cfg.Timeout)
	defer cancel()
	t0 := time.Now()
	c, err := pr.dial(ctx, &pr.cfg)
	if err != nil {
		// A 421 may say the server is full, or that it wants TLS
		// (pure-ftpd): its words tell.
		detail := strings.TrimPrefix(err.Error(), "login: ")
		var fe *Error
		if errors.As(err, &fe) && fe.Code > 0 {
			detail = fmt.Sprintf("%d %s", fe.Code, fe.Msg)
		}
		pr.add(Finding{Topic: "login", Verdict: ProbeProblem, Detail: detail})
		if pr.cfg.TLS == TLSNone && fe != nil && fe.Code > 0 {
			// Some servers refuse logins in clear: 530 to USER (ftpd,
			// vsftpd), 550 (proftpd), 421 and a hang-up (pure-ftpd).
			pr.authTLS(ctx, "the server takes AUTH TLS, and may refuse logins in clear", "")
		}
		return err
	}
	pr.c, pr.feat = c, c.feat
	how := "plain FTP (the password and the data travel in clear)"
	switch pr.cfg.TLS {
	case TLSExplicit:
		how = "explicit TLS (AUTH TLS)"
	case TLSImplicit:
		how = "implicit TLS (ftps://)"
	}
	pr.add(Finding{Topic: "login", Verdict: ProbeOK, Detail: fmt.Sprintf("as %s in %s, over %s; Telnet IAC: %s", pr.cfg.User, ms(time.Since(t0)), how, c.iac.mode())})
	return nil
}

// conn is the probes' connection, a fresh one when the last broke.
func (pr *prober) conn(ctx context.Context) (*Conn, error) {
	if pr.c != nil && !pr.c.broken {
		return pr.c, nil
	}
	if pr.c != nil {
		pr.c.raw.Close()
		pr.c = nil
	}
	c, err := pr.dial(ctx, &pr.cfg)
	if err != nil {
		return nil, err
	}
	pr.c = c
	return c, nil
}

// run runs one probe on the probes' connection within the timeout;
// false when no connection could be had for it.
func (pr *prober) run(ctx context.Context, step func(context.Context, *Conn)) bool {
	if ctx.Err() != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, pr.cfg.Timeout)
	defer cancel()
	c, err := pr.conn(ctx)
	if err != nil {
		pr.add(Finding{Topic: "connection", Verdict: ProbeProblem, Detail: "lost, and no new login: " + err.Error()})
		return false
	}
	step(ctx, c)
	return true
}

func (pr *prober) close() {
	if pr.c != nil {
		pr.c.close()
	}
	pr.pool.Close()
}

// features reports FEAT.
func (pr *prober) features(ctx context.Context, c *Conn) {
	f := c.feat
	// The last line of FEAT's reply is its end ("211 End"), no feature.
	raw := f.Raw[:max(len(f.Raw)-1, 0)]
	if len(raw) == 0 {
		pr.add(Finding{Topic: "FEAT", Verdict: ProbeUnsupported, Detail: "no FEAT answer: no MLSD, MFMT or UTF8; listings come from LIST"})
		return
	}
	pr.add(Finding{Topic: "FEAT", Verdict: ProbeOK, Detail: strings.Join(raw, ", ")})
	if pr.cfg.TLS == TLSNone && f.AuthTLS {
		pr.offeredTLS(ctx)
	}
}

// roundTrip times NOOPs: the best of five is what the link costs.
func (pr *prober) roundTrip(ctx context.Context, c *Conn) {
	var best time.Duration
	for range 5 {
		t0 := time.Now()
		if _, err := c.expect(ctx, "noop", "", []int{200}, "NOOP"); err != nil {
			pr.add(Finding{Topic: "round trip", Verdict: ProbeProblem, Detail: "NOOP failed: " + err.Error()})
			return
		}
		if d := time.Since(t0); best == 0 || d < best {
			best = d
		}
	}
	f := Finding{Topic: "round trip", Verdict: ProbeOK, Detail: ms(best) + " (NOOP, best of 5)"}
	if best*20 > pr.cfg.Timeout {
		f.Verdict = ProbeProblem
		f.Detail += fmt.Sprintf("; the timeout (%s) leaves little room: raise --timeout", pr.cfg.Timeout)
	}
	pr.add(f)
}

// passive asks EPSV and PASV alone, and connects to the ports they name.
// A PASV address that is not the control connection's peer is the mark
// of a server behind NAT that does not know its public address: the pool
// connects to the peer, which works where the server listens on it too.
func (pr *prober) passive(ctx context.Context, c *Conn) {
	if pr.cfg.Active {
		// The mount will not use passive mode; the listings and transfers
		// of the later probes are active ones.
		pr.add(Finding{Topic: "data connections", Verdict: ProbeOK, Detail: "active mode (--active): EPSV and PASV not probed; the listings and transfers below use EPRT or PORT"})
		return
	}
	peer := c.raw.RemoteAddr().(*net.TCPAddr)
	epsv := false
	r, err := c.exchange(ctx, "EPSV")
	switch {
	case err != nil:
		pr.add(Finding{Topic: "EPSV", Verdict: ProbeProblem, Detail: err.Error()})
		return
	case r.code == 229:
		addr, err := c.epsvAddr(r)
		if err == nil {
			err = pr.reach(ctx, addr)
		}
		if epsv = err == nil; epsv {
			pr.add(Finding{Topic: "EPSV", Verdict: ProbeOK, Detail: "data connections to " + addr})
		} else {
			pr.add(Finding{Topic: "EPSV", Verdict: ProbeProblem, Detail: "offered, but its port cannot be reached: " + err.Error()})
		}
	default:
		pr.add(Finding{Topic: "EPSV", Verdict: ProbeUnsupported, Detail: fmt.Sprintf("%d %s: PASV instead", r.code, clip(firstLine(r.msg)))})
	}
	if c.broken {
		return
	}
	r, err = c.exchange(ctx, "PASV")
	if err != nil || r.code != 227 {
		v := ProbeUnsupported
		if !epsv {
			v = ProbeProblem
		}
		pr.add(Finding{Topic: "PASV", Verdict: v, Detail: "refused: " + replyOrErr(r, err)})
		return
	}
	named, port, ok := pasvHostPort(r.msg)
	if !ok {
		pr.add(Finding{Topic: "PASV", Verdict: ProbeProblem, Detail: "unreadable reply: " + clip(firstLine(r.msg))})
		return
	}
	viaPeer := net.JoinHostPort(c.dataHost(), strconv.Itoa(port))
	if named.Equal(peer.IP) {
		pr.add(Finding{Topic: "PASV", Verdict: ProbeOK, Detail: "names the control connection's address"})
		return
	}
	viaNamed := net.JoinHostPort(named.String(), strconv.Itoa(port))
	f := Finding{Topic: "PASV", Verdict: ProbeOK, Detail: fmt.Sprintf("names %s, not the control connection's %s", named, peer.IP)}
	switch {
	case pr.cfg.TrustPASVIP && pr.reach(ctx, viaNamed) == nil:
		f.Detail += "; the mount connects to the former (--trust-pasv-ip), which works"
	case pr.reach(ctx, viaPeer) == nil:
		f.Detail += "; the mount connects to the latter, which works"
	case epsv:
		f.Detail += "; the port is unreachable there, but the mount uses EPSV"
	case pr.reach(ctx, viaNamed) == nil:
		f.Verdict, f.Advice = ProbeProblem, AdviseTrustPASVIP
		f.Detail += "; only the named address answers"
	default:
		f.Verdict = ProbeProblem
		f.Detail += "; neither address answers: no data connection can be made"
	}
	pr.add(f)
}

// reach connects to addr and hangs up: the server takes that for a data
// connection that never carried a transfer, and the next EPSV or PASV
// replaces it.
func (pr *prober) reach(ctx context.Context, addr string) error {
	c, err := pr.cfg.dialTCP(ctx, addr, time.Now().Add(3*time.Second))
	if err != nil {
		return err
	}
	return c.Close()
}

// pasvHostPort reads the address of a 227 reply.
func pasvHostPort(msg string) (net.IP, int, bool) {
	m := pasvRE.FindStringSubmatch(msg)
	if m == nil {
		return nil, 0, false
	}
	var n [6]byte
	for i := range n {
		v, err := strconv.Atoi(m[i+1])
		if err != nil || v > 255 {
			return nil, 0, false
		}
		n[i] = byte(v)
	}
	return net.IPv4(n[0], n[1], n[2], n[3]), int(n[4])<<8 | int(n[5]), true
}

// limit opens connections, all at once and besides the probes' own, up
// to MaxConns, and counts those the server let log in: a 421 says the
// rest were one too many.
func (pr *prober) limit(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, pr.cfg.Timeout)
	defer cancel()
	var (
		mu       sync.Mutex
		ok, many int
		other    error
		wg       sync.WaitGroup
	)
	// The probes' connection counts as one of them.
	open := 0
	if pr.c != nil && !pr.c.broken {
		open = 1
	}
	conns := make(chan *Conn, pr.o.MaxConns)
	for range pr.o.MaxConns - open {
		pr.ids++
		id := pr.ids
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial(ctx, &pr.cfg, id, pr.feat, false)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
				conns <- c
			case errors.Is(err, errTooMany):
				many++
			case other == nil:
				other = err
			}
		}()
	}
	wg.Wait()
	close(conns)
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.close()
		}()
	}
	wg.Wait()
	n := ok + open
	f := Finding{Topic: "connections", Verdict: ProbeOK}
	switch {
	case many > 0:
		f.Detail = fmt.Sprintf("%d at once; the next was refused (421)", n)
		if n < pr.cfg.MaxConns {
			f.Verdict, f.Advice, f.N = ProbeProblem, AdviseConnections, max(n, 1)
		}
	case other != nil:
		f.Verdict = ProbeProblem
		f.Detail = fmt.Sprintf("%d at once; another failed: %v", n, other)
		if n < pr.cfg.MaxConns {
			f.Advice, f.N = AdviseConnections, max(n, 1)
		}
	default:
		f.Detail = fmt.Sprintf("at least %d at once (no more tried)", n)
	}
	pr.add(f)
}

// ms writes a duration in milliseconds, to a tenth.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

// replyOrErr is a refusal for a finding: the reply's code and first line,
// or the error when there was no reply.
func replyOrErr(r reply, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d %s", r.code, clip(firstLine(r.msg)))
}
