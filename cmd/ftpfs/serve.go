package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"ftpfs/conn"
	"ftpfs/ftpd"
)

// serveOptions is a parsed "ftpfs serve" command line. Files other than the
// password file are only named here and opened by serve, so that parsing
// can be tested without them.
type serveOptions struct {
	dir         string
	cfg         ftpd.Config // everything but Root, TLS, CommandLog and Logger
	commandLog  string      // "" for none, "-" for stderr
	tlsCert     string
	tlsKey      string
	tlsClientCA string // "" for no client certificate asked
}

// serveFlags holds the flag values before they are checked.
type serveFlags struct {
	cfg          ftpd.Config
	user         string
	passwordFile string
	commandLog   string
	tlsCert      string
	tlsKey       string
	tlsClientCA  string
}

// flagSet binds every flag of "ftpfs serve" to f. Flags that map one to
// one onto ftpd.Config write straight into f.cfg.
func (f *serveFlags) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("ftpfs serve", flag.ContinueOnError)
	c := &f.cfg
	c.Profile = ftpd.ProfileFull

	fs.StringVar(&c.Listen, "listen", "127.0.0.1:2121", "listen on `HOST:PORT`; port 0 picks a free one")
	fs.StringVar(&f.user, "user", "", "allow `NAME` to log in with the password from $"+passwordEnv+" or --password-file")
	fs.StringVar(&f.passwordFile, "password-file", "", "read the password of --user from the first line of `FILE`")
	fs.BoolVar(&c.Anonymous, "anonymous", false, "allow read-only anonymous logins (users anonymous and ftp)")
	fs.BoolVar(&c.ReadOnly, "read-only", false, "refuse every command that changes the tree, for every user")
	fs.BoolVar(&c.AllowSpecialModes, "allow-special-modes", false, "let SITE CHMOD set setuid, setgid and sticky (otherwise only 0777)")
	fs.StringVar(&f.commandLog, "log-commands", "", "append one line per command received to `FILE` (- for stderr)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate `FILE`; enables explicit FTPS (AUTH TLS)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key `FILE` for --tls-cert")
	fs.StringVar(&f.tlsClientCA, "tls-client-ca", "", "demand of every TLS client a certificate signed by a CA of the PEM `FILE` (needs --tls-cert)")
	fs.StringVar(&c.ImplicitTLSListen, "implicit-tls-listen", "", "also listen for implicit FTPS on `HOST:PORT` (needs --tls-cert)")
	fs.BoolVar(&c.TLSRequired, "tls-required", false, "refuse USER before AUTH TLS and data connections before PROT P (needs --tls-cert)")
	fs.Func("pasv-ports", "`MIN-MAX` range of passive data ports (default any free port)", func(s string) error {
		lo, hi, err := parsePortRange(s)
		c.PassivePortMin, c.PassivePortMax = lo, hi
		return err
	})
	fs.IntVar(&c.MaxSessions, "max-sessions", 0, "at most `N` concurrent sessions (0: 256, negative: unlimited)")
	fs.IntVar(&c.MaxPerIP, "max-per-ip", 0, "at most `N` concurrent sessions per client address or IPv6 /64 (0: 64, negative: unlimited)")
	fs.IntVar(&c.MaxUnauthenticated, "max-unauthenticated", 0, "at most `N` sessions not logged in (0: max-sessions/4, negative: unlimited)")
	fs.DurationVar(&c.LoginTimeout, "login-timeout", 0, "close a session not logged in `DUR` after it connected (0: 30s)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 0, "close a session idle for `DUR` (0: 5m)")
	fs.DurationVar(&c.DataTimeout, "data-timeout", 0, "bound each data connection open, read and write to `DUR` (0: 30s)")
	fs.Func("profile", "server dialect to mimic: `full|vsftpd|dos` (default full)", func(s string) error {
		switch p := ftpd.Profile(s); p {
		case ftpd.ProfileFull, ftpd.ProfileVsftpd, ftpd.ProfileDOS:
			c.Profile = p
			return nil
		}
		return errors.New("want full, vsftpd or dos")
	})

	fs.Int64Var(&c.Quota, "quota", 0, "limit what uploads store to `BYTES`, all users together (552 \"Quota exceeded.\" beyond), and tell it with SITE QUOTA in proftpd mod_quotatab's form")
	fs.Func("timezone", "give LIST's and MDTM's times, and read the times MDTM and MFMT set, in `ZONE` (an IANA name or +HH:MM), as vsftpd with use_localtime=YES; MLSD stays UTC", func(s string) error {
		loc, err := conn.ParseZone(s)
		c.Zone = loc
		return err
	})

	fl := &c.Faults
	fs.DurationVar(&fl.ReplyDelay, "fault-reply-delay", 0, "answer each command `DUR` after it arrived (a round trip)")
	fs.Int64Var(&fl.DataRate, "fault-data-rate", 0, "limit each data connection to `BYTES_PER_SEC`")
	fs.Int64Var(&fl.DropDataAfter, "fault-drop-data-after", 0, "close data connections after `N` bytes (426)")
	fs.IntVar(&fl.CloseControlAfter, "fault-close-control-after", 0, "drop the control connection, unanswered, at command `N`+1")
	fs.IntVar(&fl.MaxSessions, "fault-max-sessions", 0, "answer 421 to sessions beyond `N`")
	fs.Int64Var(&fl.StorFullAfter, "fault-stor-full-after", 0, "answer 552 (storage allocation exceeded) to uploads after `N` bytes")
	fs.Int64Var(&fl.QuotaAfter, "fault-quota-after", 0, "answer 552 \"Quota exceeded.\" to uploads after `N` bytes")
	fs.Int64Var(&fl.StallAfter, "fault-stall-after", 0, "stall transfers after `N` bytes, forever (0 counts)")
	fs.Func("fault-refuse", "answer each command VERB with CODE, without doing it (`VERB:CODE`, e.g. RETR:451; several verbs comma-separated: EPSV,PASV:502 leaves active mode only)", func(s string) error {
		verb, code, ok := strings.Cut(s, ":")
		n, err := strconv.Atoi(code)
		if !ok || verb == "" || err != nil || n < 100 || n > 599 {
			return errors.New("want VERB:CODE, e.g. RETR:451")
		}
		fl.RefuseVerb, fl.RefuseCode = strings.ToUpper(verb), n
		return nil
	})
	fs.BoolVar(&fl.NoOverwrite, "fault-no-overwrite", false, "refuse an RNTO onto an existing file (553)")
	fs.BoolVar(&fl.TwoAbortReplies, "fault-two-abort-replies", false, "follow the 426 of an aborted transfer with a 226")
	return fs
}

// parseServeFlags parses the arguments of "ftpfs serve" and reads the
// password; lookupEnv is os.LookupEnv outside tests.
func parseServeFlags(args []string, lookupEnv func(string) (string, bool)) (*serveOptions, error) {
	var f serveFlags
	fs := f.flagSet()
	fs.SetOutput(io.Discard) // errors are reported by the caller, in one line
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o := &serveOptions{cfg: f.cfg, commandLog: f.commandLog, tlsCert: f.tlsCert, tlsKey: f.tlsKey, tlsClientCA: f.tlsClientCA}

	switch rest := fs.Args(); {
	case len(rest) == 0:
		return nil, errors.New("missing DIR")
	case len(rest) > 1 && strings.HasPrefix(rest[1], "-"):
		return nil, fmt.Errorf("flags go before DIR (found %q after it)", rest[1])
	case len(rest) > 1:
		return nil, fmt.Errorf("want one DIR, got %d arguments", len(rest))
	default:
		o.dir = rest[0]
	}

	// 0 is a meaningful stall point, so the flag being present is the switch.
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "fault-stall-after" {
			o.cfg.Faults.Stall = true
		}
	})
	if err := checkServeNumbers(&o.cfg); err != nil {
		return nil, err
	}

	if o.cfg.Anonymous && (f.user == "anonymous" || f.user == "ftp") {
		// Anyone could log in as that user with any password.
		return nil, fmt.Errorf("--user %s and --anonymous conflict: %s is an anonymous login name; pick another user name", f.user, f.user)
	}
	if f.passwordFile != "" && f.user == "" {
		return nil, errors.New("--password-file needs --user")
	}
	if f.user != "" {
		pw, err := password(f.user, f.passwordFile, lookupEnv)
		if err != nil {
			return nil, err
		}
		o.cfg.Users = map[string]string{f.user: pw}
	}
	if f.user == "" && !o.cfg.Anonymous {
		return nil, errors.New("nobody could log in: give --user NAME or --anonymous")
	}

	if (o.tlsCert == "") != (o.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if o.cfg.ImplicitTLSListen != "" && o.tlsCert == "" {
		return nil, errors.New("--implicit-tls-listen needs --tls-cert and --tls-key")
	}
	if o.cfg.TLSRequired && o.tlsCert == "" {
		return nil, errors.New("--tls-required needs --tls-cert and --tls-key")
	}
	if o.tlsClientCA != "" && o.tlsCert == "" {
		return nil, errors.New("--tls-client-ca needs --tls-cert and --tls-key")
	}
	return o, nil
}

// password finds the password of user: --password-file wins over the
// environment, because it was asked for explicitly. Errors never quote it.
func password(user, file string, lookupEnv func(string) (string, bool)) (string, error) {
	if file != "" {
		return readPasswordFile(file)
	}
	if pw, ok := lookupEnv(passwordEnv); ok && pw != "" {
		return pw, nil
	}
	return "", fmt.Errorf("no password for user %q: set %s or use --password-file", user, passwordEnv)
}

// checkServeNumbers rejects negative values where ftpd gives them no meaning.
func checkServeNumbers(c *ftpd.Config) error {
	f := c.Faults
	for _, v := range []struct {
		name string
		bad  bool
	}{
		{"quota", c.Quota < 0},
		{"idle-timeout", c.IdleTimeout < 0},
		{"data-timeout", c.DataTimeout < 0},
		{"login-timeout", c.LoginTimeout < 0},
		{"fault-reply-delay", f.ReplyDelay < 0},
		{"fault-data-rate", f.DataRate < 0},
		{"fault-drop-data-after", f.DropDataAfter < 0},
		{"fault-close-control-after", f.CloseControlAfter < 0},
		{"fault-max-sessions", f.MaxSessions < 0},
		{"fault-stor-full-after", f.StorFullAfter < 0},
		{"fault-quota-after", f.QuotaAfter < 0},
		{"fault-stall-after", f.StallAfter < 0},
	} {
		if v.bad {
			return fmt.Errorf("--%s must not be negative", v.name)
		}
	}
	return nil
}

// parsePortRange parses "MIN-MAX".
func parsePortRange(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if ok {
		lo, err = strconv.Atoi(a)
	}
	if ok && err == nil {
		hi, err = strconv.Atoi(b)
	}
	if !ok || err != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, errors.New("want MIN-MAX with 1 <= MIN <= MAX <= 65535")
	}
	return lo, hi, nil
}

// runServe is the "serve" subcommand: it serves until ctx is cancelled.
func runServe(ctx context.Context, args []string, stderr io.Writer) int {
	stderr = &syncWriter{w: stderr}
	o, err := parseServeFlags(args, os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stderr, serveHelp)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ftpfs serve: %v (see ftpfs serve -h)\n", err)
		return 2
	}
	if err := serve(ctx, o, stderr); err != nil {
		fmt.Fprintf(stderr, "ftpfs serve: %v\n", err)
		return 1
	}
	return 0
}

// serve opens what o names, runs the server and closes it when ctx is done.
// stderr must be safe for concurrent writes.
func serve(ctx context.Context, o *serveOptions, stderr io.Writer) error {
	logger := slog.New(newSafeTextHandler(stderr, slog.LevelInfo))
	cfg := o.cfg
	cfg.Logger = logger

	root, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	if st, err := os.Stat(root); err != nil {
		return err
	} else if !st.IsDir() {
		return fmt.Errorf("%s: not a directory", o.dir)
	}
	cfg.Root = root

	if o.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if err := demandClientCert(cfg.TLS, o.tlsClientCA); err != nil {
			return err
		}
	}

	switch o.commandLog {
	case "":
	case "-":
		cfg.CommandLog = stderr
	default:
		// 0600: the log names users and paths, though never passwords.
		f, err := os.OpenFile(o.commandLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("command log: %w", err)
		}
		defer f.Close()
		cfg.CommandLog = f
	}

	srv, err := ftpd.New(cfg)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	addr := srv.Addr()
	if ta, ok := addr.(*net.TCPAddr); ok && cfg.TLS == nil && !ta.IP.IsLoopback() {
		logger.Warn("plain FTP beyond loopback: passwords and data cross the network in clear", "addr", addr.String())
	}
	if a := srv.ImplicitTLSAddr(); a != nil {
		logger.Info("implicit FTPS", "addr", "ftps://"+a.String())
	}
	// Scripts wait for this line, and the tests parse the address from it.
	fmt.Fprintf(stderr, "ftpfs serve: serving %s on ftp://%s\n", o.dir, addr)

	<-ctx.Done()
	logger.Info("shutting down", "sessions", srv.Sessions())
	return srv.Close()
}
