package conn

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// maxReplyLine and maxReplyLines bound what a hostile server can make us
// hold for one reply.
const (
	maxReplyLine  = 8 << 10
	maxReplyLines = 10000
)

var errTimeout = errors.New("timeout")

// Conn is one logged-in control connection. It carries one exchange at a
// time; the pool hands it to one caller at a time.
type Conn struct {
	id      int
	cfg     *Config
	raw     net.Conn // TCP, for deadlines and addresses
	ctrl    net.Conn // raw, or TLS over raw
	r       *bufio.Reader
	tlsConf *tls.Config // this connection's, with its own session cache
	feat    *Features
	protP   bool
	noEPSV  bool    // EPSV failed once: use PASV
	epsvOK  bool    // EPSV succeeded once: it may lead a pipeline
	noEPRT  bool    // EPRT unknown to the server: PORT (active.go)
	portOK  bool    // a port named (EPRT or PORT) was taken: it may lead a pipeline
	restOK  bool    // REST succeeded once: it may be in a pipeline
	broken  bool    // out of sync or dead: never reuse
	iac     iacRule // from the greeting, which is read raw
	used    time.Time
	ready   readyData     // a data connection opened ahead (read.go)
	rtt     time.Duration // the shortest exchange timed (read.go)
	// loan is closed when a rider gives the connection back, passives
	// counts the commands that open a data port (pool_ride.go).
	loan     chan struct{}
	passives int
}

// reply is one server reply.
type reply struct {
	code int
	msg  string // the lines joined with "\n"
}

// dial connects, logs in and prepares the connection for transfers.
// features is nil for the pool's first connection, which reads FEAT.
func dial(ctx context.Context, cfg *Config, id int, features *Features, pipeline bool) (*Conn, error) {
	return dialArmed(ctx, cfg, id, features, pipeline, false)
}

// dialArmed is dial that, with arm and a pipelined login, sends REST 0
// and EPSV with the login and opens the connection's first data
// connection with the answer (warm), a round trip sooner.
func dialArmed(ctx context.Context, cfg *Config, id int, features *Features, pipeline, arm bool) (*Conn, error) {
	raw, err := cfg.dialTCP(ctx, cfg.Addr, time.Now().Add(cfg.Timeout))
	if err != nil {
		return nil, &Error{Op: "connect", Err: err}
	}
	cfg.stats.connect()
	c := &Conn{id: id, cfg: cfg, raw: raw, ctrl: raw, feat: features}
	if cfg.TLS != TLSNone {
		c.tlsConf = tlsClientConfig(cfg)
	}
	login := c.login
	if pipeline && features != nil && cfg.TLS == TLSNone {
		login = func(ctx context.Context) error { return c.loginPipelined(ctx, arm) }
	}
	if err := login(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	c.used = time.Now()
	return c, nil
}

// tlsClientConfig clones the configuration with a session cache of its
// own: servers such as vsftpd require data connections to resume the
// control connection's session, and a shared cache resumes the wrong one.
func tlsClientConfig(cfg *Config) *tls.Config {
	t := &tls.Config{}
	if cfg.TLSConfig != nil {
		t = cfg.TLSConfig.Clone()
	}
	if t.ServerName == "" {
		host, _, _ := net.SplitHostPort(cfg.Addr)
		t.ServerName = host
	}
	t.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	return t
}

func (c *Conn) startTLS(ctx context.Context) error {
	tc := tls.Client(c.raw, c.tlsConf)
	hctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return &Error{Op: "tls handshake", Err: err}
	}
	c.ctrl = tc
	c.r = bufio.NewReaderSize(tc, 4096)
	return nil
}

func (c *Conn) login(ctx context.Context) error {
	c.r = bufio.NewReaderSize(c.raw, 4096)
	if c.cfg.TLS == TLSImplicit {
		if err := c.startTLS(ctx); err != nil {
			return err
		}
	}
	if err := c.greeting(ctx); err != nil {
		return err
	}
	if c.cfg.TLS == TLSExplicit {
		// No silent downgrade: without AUTH TLS, USER and PASS are
		// never sent.
		if _, err := c.expect(ctx, "auth", "", []int{234}, "AUTH TLS"); err != nil {
			return err
		}
		if err := c.startTLS(ctx); err != nil {
			return err
		}
	}
	r, err := c.exchange(ctx, "USER "+c.cfg.User)
	if err != nil {
		return &Error{Op: "login", Err: err}
	}
	if r.code == 331 || r.code == 332 {
		r, err = c.exchange(ctx, "PASS "+c.cfg.Password)
		if err != nil {
			return &Error{Op: "login", Err: err}
		}
	}
	if err := c.loggedIn(r); err != nil {
		return err
	}
	if c.feat == nil {
		c.feat = c.readFeatures(ctx)
	}
	if c.cfg.TLS != TLSNone {
		if _, err := c.expect(ctx, "pbsz", "", []int{200}, "PBSZ 0"); err != nil {
			return err
		}
		if _, err := c.expect(ctx, "prot", "", []int{200}, "PROT P"); err != nil {
			return err
		}
		c.protP = true
	}
	sent := time.Now()
	if _, err := c.expect(ctx, "type", "", []int{200}, "TYPE I"); err != nil {
		return err
	}
	c.observeRTT(sent) // TYPE costs the server nothing: the link's round trip
	if c.optsUTF8() {
		// Some servers need it for non-ASCII names; the reply does not matter.
		if _, err := c.exchange(ctx, "OPTS UTF8 ON"); err != nil {
			return &Error{Op: "opts", Err: err}
		}
	}
	return nil
}

// greeting reads the server's first reply.
func (c *Conn) greeting(ctx context.Context) error {
	greet, err := c.readReply(ctx)
	if err != nil {
		return &Error{Op: "greeting", Err: err}
	}
	if greet.code != 220 {
		c.cfg.stats.failed(classifyReply(greet.code, greet.msg))
	}
	if greet.code == 421 {
		return &Error{Op: "greeting", Code: greet.code, Msg: greet.msg, Err: errTooMany}
	}
	if greet.code != 220 {
		return &Error{Op: "greeting", Code: greet.code, Msg: greet.msg}
	}
	c.iac = iacFor(c.cfg.TelnetIAC, greet.msg)
	return nil
}

// loggedIn is the error of the reply that ends a login, nil for success.
func (c *Conn) loggedIn(r reply) error {
	if r.code == 230 || r.code == 202 {
		return nil
	}
	c.cfg.stats.failed(classifyReply(r.code, r.msg))
	if r.code == 421 {
		return &Error{Op: "login", Code: r.code, Msg: r.msg, Err: errTooMany}
	}
	return &Error{Op: "login", Code: r.code, Msg: r.msg}
}

// loginPipelined is login for a pool's later connections over plain FTP,
// where the first one told the features and pipelines work: USER, PASS,
// TYPE and OPTS go out together once the greeting is in, one round trip
// instead of four. A USER answered 230 (no password wanted) makes the
// PASS's reply moot (503 "already logged in"); a refused login makes the
// rest moot too, and the connection is closed. With arm, REST 0 and EPSV
// go too, where the server has them, as warm sends them.
func (c *Conn) loginPipelined(ctx context.Context, arm bool) error {
	c.r = bufio.NewReaderSize(c.raw, 4096)
	if err := c.greeting(ctx); err != nil {
		return err
	}
	lines := []string{"USER " + c.cfg.User, "PASS " + c.cfg.Password, "TYPE I"}
	if c.optsUTF8() {
		lines = append(lines, "OPTS UTF8 ON")
	}
	arm = arm && c.feat.EPSV && !c.cfg.Active && !c.protP
	rest := arm && c.feat.RestStream
	if rest {
		lines = append(lines, "REST 0")
	}
	if arm {
		lines = append(lines, "EPSV")
	}
	if err := c.sendAll(ctx, lines...); err != nil {
		return &Error{Op: "login", Err: err}
	}
	user, err := c.readReply(ctx)
	if err != nil {
		return &Error{Op: "login", Err: err}
	}
	if user.code != 331 && user.code != 332 {
		// USER decided (a 421 "too many" among others, after which
		// the server may hang up before PASS's reply).
		if err := c.loggedIn(user); err != nil {
			return err
		}
	}
	pass, err := c.readReply(ctx)
	if err != nil {
		return &Error{Op: "login", Err: err}
	}
	if user.code == 331 || user.code == 332 {
		if err := c.loggedIn(pass); err != nil {
			return err
		}
	}
	typ, err := c.readReply(ctx)
	if err != nil {
		return &Error{Op: "type", Err: err}
	}
	if typ.code != 200 {
		return &Error{Op: "type", Code: typ.code, Msg: firstLine(typ.msg)}
	}
	if c.optsUTF8() {
		// The reply does not matter, as in login.
		if _, err := c.readReply(ctx); err != nil {
			return &Error{Op: "opts", Err: err}
		}
	}
	if rest {
		r, err := c.readReply(ctx)
		if err != nil {
			return &Error{Op: "rest", Err: err}
		}
		c.restOK = r.code == 350
	}
	if arm {
		r, err := c.readReply(ctx)
		if err != nil {
			return &Error{Op: "epsv", Err: err}
		}
		c.armReply(ctx, r)
	}
	return nil
}

// readFeatures sends FEAT; a server without it simply has no extensions.
func (c *Conn) readFeatures(ctx context.Context) *Features {
	f := &Features{}
	r, err := c.exchange(ctx, "FEAT")
	if err != nil || r.code != 211 {
		return f
	}
	for _, l := range strings.Split(r.msg, "\n")[1:] {
		l = strings.TrimSpace(l)
		word, _, _ := strings.Cut(strings.ToUpper(l), " ")
		switch word {
		case "MLST":
			f.MLSD = true
		case "MFMT":
			f.MFMT = true
		case "MDTM":
			f.MDTM = true
		case "SIZE":
			f.Size = true
		case "REST":
			f.RestStream = strings.Contains(strings.ToUpper(l), "STREAM")
		case "UTF8":
			f.UTF8 = true
		case "EPSV":
			f.EPSV = true
		case "AUTH":
			f.AuthTLS = strings.Contains(strings.ToUpper(l), "TLS")
		}
		if l != "" && !strings.HasPrefix(l, "211") {
			f.Raw = append(f.Raw, l)
		}
	}
	return f
}

// deadline is when the current exchange must end: the timeout from now,
// or the caller's deadline if that is sooner.
func (c *Conn) deadline(ctx context.Context) time.Time {
	d := time.Now().Add(c.cfg.Timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// exchange sends one command line and reads its reply. Any failure
// breaks the connection: its replies can no longer be matched to commands.
func (c *Conn) exchange(ctx context.Context, line string) (reply, error) {
	if err := c.send(ctx, line); err != nil {
		return reply{}, err
	}
	return c.readReply(ctx)
}

func (c *Conn) send(ctx context.Context, line string) error {
	return c.sendAll(ctx, line)
}

// sendAll sends command lines in one write: pipelined commands then
// arrive together, as one segment where they fit.
func (c *Conn) sendAll(ctx context.Context, lines ...string) error {
	b, err := c.encode(lines)
	if err != nil {
		return err
	}
	if err := c.write(ctx, b); err != nil {
		c.broken = true
		return c.ioErr(ctx, err)
	}
	return nil
}

// encode checks and traces command lines and returns them as they go on
// the wire.
func (c *Conn) encode(lines []string) (string, error) {
	if c.broken {
		return "", errors.New("connection already broken")
	}
	wire := make([]string, len(lines))
	for i, line := range lines {
		if strings.ContainsAny(line, "\r\n\x00") {
			return "", ErrInvalidName
		}
		var err error
		if wire[i], err = c.toServer(line); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	if len(lines) > 0 {
		c.cfg.stats.flight()
	}
	for i, line := range wire {
		c.trace("> ", lines[i])
		c.cfg.stats.command(lines[i])
		if opensPort(lines[i]) {
			c.passives++
		}
		if c.iac.doubleCommands {
			// The control connection is Telnet: a 0xFF in a name goes
			// doubled (RFC 959, RFC 2640 section 3.1), or the server
			// may take it and the next byte for a Telnet command.
			line = strings.ReplaceAll(line, "\xff", "\xff\xff")
		}
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	return b.String(), nil
}

// write sends encoded lines within the exchange's deadline. It touches
// nothing but the socket, so that pipeline's writer may run it while
// replies are being read.
func (c *Conn) write(ctx context.Context, b string) error {
	c.ctrl.SetWriteDeadline(c.deadline(ctx))
	_, err := io.WriteString(c.ctrl, b)
	return err
}

// ioErr turns a deadline into ctx's own error when the caller gave up.
// Every failed read or write of a connection passes here, and is counted.
func (c *Conn) ioErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	c.cfg.stats.failed(Classify(err))
	return err
}

// readReply reads one reply, single- or multi-line (RFC 959 section 4.2).
func (c *Conn) readReply(ctx context.Context) (reply, error) {
	return c.readReplyBy(ctx, c.deadline(ctx))
}

// readReplyBy reads one reply that may come as late as d: a command the
// server works on for longer than an exchange (a copy on the server).
func (c *Conn) readReplyBy(ctx context.Context, d time.Time) (reply, error) {
	// The deadline first, then the cancel hook: a cancel in between
	// would otherwise be overwritten by the full timeout.
	c.raw.SetReadDeadline(d)
	stop := context.AfterFunc(ctx, func() { c.raw.SetReadDeadline(time.Now()) })
	defer stop()
	first, code, err := c.readFirst(ctx)
	if err != nil {
		return reply{}, err
	}
	return c.readRest(ctx, first, code)
}

// readFirst reads the first line of a reply and its code; the caller has
// set the read deadline.
func (c *Conn) readFirst(ctx context.Context) (string, int, error) {
	first, err := c.readLine()
	if err != nil {
		c.broken = true
		return "", 0, c.ioErr(ctx, err)
	}
	code, ok := replyCode(first)
	if !ok {
		c.broken = true
		return "", 0, fmt.Errorf("malformed reply %q", clip(first))
	}
	if len(first) == 3 {
		first += " " // the code alone, which replyCode tolerates
	}
	return first, code, nil
}

// readRest reads the lines of a reply after its first, within the caps
// of a reply.
func (c *Conn) readRest(ctx context.Context, first string, code int) (reply, error) {
	lines := []string{first[4:]}
	if first[3] == '-' {
		end := first[:3] + " "
		for {
			l, err := c.readLine()
			if err != nil {
				c.broken = true
				return reply{}, c.ioErr(ctx, err)
			}
			if strings.HasPrefix(l, end) {
				lines = append(lines, l[4:])
				break
			}
			if len(lines) >= maxReplyLines {
				c.broken = true
				return reply{}, errors.New("reply with too many lines")
			}
			lines = append(lines, l)
		}
	}
	r := reply{code: code, msg: strings.Join(lines, "\n")}
	return r, nil
}

func replyCode(l string) (int, bool) {
	if len(l) < 4 || (l[3] != ' ' && l[3] != '-') {
		// "200" alone is tolerated by being padded.
		if len(l) == 3 {
			l += " "
		} else {
			return 0, false
		}
	}
	n, err := strconv.Atoi(l[:3])
	if err != nil || n < 100 || n > 599 {
		return 0, false
	}
	return n, true
}

func (c *Conn) readLine() (string, error) {
	var line []byte
	for {
		frag, err := c.r.ReadSlice('\n')
		if len(line)+len(frag) > maxReplyLine {
			return "", fmt.Errorf("reply line longer than %d bytes", maxReplyLine)
		}
		line = append(line, frag...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
	}
	l := strings.TrimRight(string(line), "\r\n")
	if c.iac.undoubleReplies {
		// Names in replies (MLST) have their 0xFF doubled as well.
		l = strings.ReplaceAll(l, "\xff\xff", "\xff")
	}
	l = c.cfg.Encoding.decode(l)
	c.trace("< ", l)
	return l, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func (c *Conn) trace(dir, line string) {
	if c.cfg.Trace == nil {
		return
	}
	if strings.HasPrefix(strings.ToUpper(line), "PASS ") {
		line = "PASS ****"
	}
	fmt.Fprintf(c.cfg.Trace, "conn%d %s%s\n", c.id, dir, line)
}

// expect runs a command and checks its reply code; another code becomes
// an *Error for op and path.
func (c *Conn) expect(ctx context.Context, op, path string, codes []int, line string) (reply, error) {
	if err := c.send(ctx, line); err != nil {
		return reply{}, &Error{Op: op, Path: path, Err: err}
	}
	return c.check(ctx, op, path, codes)
}

// check reads the reply to a command already sent and checks its code, as
// expect does.
func (c *Conn) check(ctx context.Context, op, path string, codes []int) (reply, error) {
	r, err := c.readReply(ctx)
	if err != nil {
		return r, &Error{Op: op, Path: path, Err: err}
	}
	for _, want := range codes {
		if r.code == want {
			return r, nil
		}
	}
	if r.code == 421 {
		// The server is closing this connection.
		c.broken = true
	}
	c.cfg.stats.failed(classifyReply(r.code, r.msg))
	return r, &Error{Op: op, Path: path, Code: r.code, Msg: firstLine(r.msg)}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// close sends QUIT, briefly, and closes.
func (c *Conn) close() {
	if !c.broken {
		ctx, cancel := context.WithTimeout(context.Background(), min(c.cfg.Timeout, 2*time.Second))
		c.exchange(ctx, "QUIT")
		cancel()
	}
	c.raw.Close()
	c.dropReady()
}
