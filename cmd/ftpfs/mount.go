package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"ftpfs/conn"
	"ftpfs/fs"
	"ftpfs/internal/mountinfo"
	"ftpfs/internal/private"
)

// daemonEnv marks the background child of "ftpfs mount" and names the file
// descriptor of its socket to the parent. The socket, not argv or the
// environment, carries the credentials: argv is world-readable in /proc.
const daemonEnv = "FTPFS_DAEMON_FD"

// Defaults of "ftpfs mount", also quoted by the usage text and README.
const (
	defaultTimeout     = 30 * time.Second
	defaultConns       = 4
	defaultDirCacheTTL = 10 * time.Second
	defaultCacheSize   = 256 << 20
	defaultStagingSize = 4 << 30
	defaultUmask       = 0o022
	// daemonLog is the background mount's log, inside the cache directory.
	daemonLog = "mount.log"
)

// mountHandle is what the command needs of a mount; fs.Mounted has it, and
// tests replace mountFS to run without FUSE.
type mountHandle interface {
	Wait()
	Unmount() error
}

// mountFS mounts; a variable so that tests can inject a fake.
var mountFS = func(ctx context.Context, mountpoint string, o fs.Options) (mountHandle, error) {
	m, err := fs.Mount(ctx, mountpoint, o)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return m, nil
}

// mountConfig is a parsed "ftpfs mount" command line.
type mountConfig struct {
	server        serverURL
	mountpoint    string // absolute
	opts          fs.Options
	foreground    bool
	debugFTP      bool
	passwordStdin bool
	// warnings are printed by the parent, one line each.
	warnings []string
}

// mountInputs is everything parsing reads besides the arguments, so that
// tests control it.
type mountInputs struct {
	lookupEnv func(string) (string, bool)
	stdin     io.Reader // for --password-stdin
	home      string    // for ~/.netrc and ~/.cache; "" if unknown
	uid, gid  uint32    // defaults of -o uid=, gid=
	// prompt asks for a password on the terminal without echo; nil or
	// errNoTerminal when there is none.
	prompt func(msg string) (string, error)
}

var errNoTerminal = errors.New("no terminal")

// mountFlags holds the flag values before they are checked.
type mountFlags struct {
	tls, tlsInsecure bool
	tlsCA            string
	tlsPin           string // --tls-fingerprint
	user             string
	passwordStdin    bool
	timeout          time.Duration
	conns            int
	dirCacheTTL      time.Duration
	cacheSize        int64
	stagingSize      int64
	noAtomicUpload   bool
	cacheDir         string
	trustPASVIP      bool
	maxListing       int
	telnetIAC        conn.TelnetIAC
	debugFTP         bool
	debugFUSE        bool
	foreground       bool
	o                []string // -o values, split later
}

func (f *mountFlags) flagSet() *flag.FlagSet {
	fset := flag.NewFlagSet("ftpfs mount", flag.ContinueOnError)
	f.timeout, f.conns, f.dirCacheTTL, f.cacheSize = defaultTimeout, defaultConns, defaultDirCacheTTL, defaultCacheSize
	fset.BoolVar(&f.tls, "tls", false, "explicit FTPS (AUTH TLS), verifying the server's certificate")
	fset.BoolVar(&f.tlsInsecure, "tls-insecure", false, "like --tls, but without verifying the certificate (warns)")
	fset.StringVar(&f.tlsCA, "tls-ca", "", "verify the server against the PEM CA bundle `FILE` (implies --tls)")
	fset.StringVar(&f.tlsPin, "tls-fingerprint", "", "accept only the certificate whose SHA-256 is `sha256:HEX` (implies --tls)")
	fset.StringVar(&f.user, "user", "", "log in as `NAME` (alternative to ftp://NAME@host)")
	fset.BoolVar(&f.passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	fset.DurationVar(&f.timeout, "timeout", f.timeout, "bound every FTP exchange to `DUR`")
	fset.IntVar(&f.conns, "connections", f.conns, "at most `N` FTP connections")
	fset.DurationVar(&f.dirCacheTTL, "dir-cache-ttl", f.dirCacheTTL, "trust a directory listing for `DUR`")
	fset.Func("cache-size", "bound the block cache to `BYTES` (suffix K, M, G, T; default 256M)", func(s string) error {
		n, err := parseSize(s)
		f.cacheSize = n
		return err
	})
	f.stagingSize = defaultStagingSize
	fset.Func("staging-size", "bound the files staged for upload in the cache dir to `BYTES` (default 4G); beyond, writes get ENOSPC", func(s string) error {
		n, err := parseSize(s)
		f.stagingSize = n
		return err
	})
	fset.BoolVar(&f.noAtomicUpload, "no-atomic-upload", false, "upload under the file's own name, for servers that refuse a rename over a file (a failed upload then leaves a partial file)")
	fset.StringVar(&f.cacheDir, "cache-dir", "", "cache and log `DIR` (default $XDG_CACHE_HOME/ftpfs or ~/.cache/ftpfs)")
	fset.BoolVar(&f.trustPASVIP, "trust-pasv-ip", false, "connect to the address in PASV replies (some NATs need it)")
	fset.IntVar(&f.maxListing, "max-listing-entries", conn.DefaultMaxListingEntries,
		fmt.Sprintf("fail (EIO) a directory listing of more than `N` lines, or more than N×%d bytes", conn.ListingBytesPerEntry))
	fset.Func("telnet-iac", "send and read a 0xFF byte of a name per `MODE`: auto (from the server's greeting; default), double (RFC 959) or raw", func(s string) error {
		m, err := conn.ParseTelnetIAC(s)
		f.telnetIAC = m
		return err
	})
	fset.BoolVar(&f.debugFTP, "debug-ftp", false, "trace the FTP control connections (PASS masked)")
	fset.BoolVar(&f.debugFUSE, "debug-fuse", false, "log every FUSE request")
	fset.BoolVar(&f.foreground, "foreground", false, "stay in the foreground, log to stderr")
	fset.BoolVar(&f.foreground, "f", false, "same as --foreground")
	fset.Func("o", "mount `OPTS`, comma-separated: ro, allow_other, uid=N, gid=N, umask=OCTAL, chmod=ignore, symlinks=safe|raw", func(s string) error {
		f.o = append(f.o, s)
		return nil
	})
	return fset
}

// parseMountArgs parses the arguments of "ftpfs mount" and finds the
// credentials. It touches no FUSE and no network.
func parseMountArgs(args []string, in mountInputs) (*mountConfig, error) {
	c, err := parseMountFlags(args, in)
	if err != nil {
		return nil, err
	}
	if err := resolveCredentials(c, in); err != nil {
		return nil, err
	}
	return c, nil
}

// parseMountFlags parses everything but the password (and, when no user is
// named, the user): the background child gets those from its parent.
func parseMountFlags(args []string, in mountInputs) (*mountConfig, error) {
	for _, a := range args {
		if a == "--" {
			break
		}
		if name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") && (name == "password" || name == "pass") {
			return nil, fmt.Errorf("passwords are not taken from the command line (ps shows it to every local user): use $%s, --password-stdin or ~/.netrc", passwordEnv)
		}
	}
	var f mountFlags
	fset := f.flagSet()
	fset.SetOutput(io.Discard) // errors are reported by the caller, in one line
	pos, err := parseInterspersed(fset, splitShortO(args))
	if err != nil {
		return nil, err
	}
	switch len(pos) {
	case 0:
		return nil, errors.New("missing SERVER and MOUNTPOINT")
	case 1:
		return nil, errors.New("missing MOUNTPOINT")
	case 2:
	default:
		return nil, fmt.Errorf("want SERVER MOUNTPOINT, got %d arguments", len(pos))
	}

	srv, err := parseServer(pos[0])
	if err != nil {
		return nil, err
	}
	c := &mountConfig{server: srv, foreground: f.foreground, debugFTP: f.debugFTP, passwordStdin: f.passwordStdin}
	if c.mountpoint, err = filepath.Abs(pos[1]); err != nil {
		return nil, err
	}

	switch {
	case f.user != "" && srv.user != "" && f.user != srv.user:
		return nil, errors.New("two different users: in SERVER and in --user")
	case f.user != "":
		c.server.user = f.user
	}

	switch {
	case f.timeout <= 0:
		return nil, errors.New("--timeout must be positive")
	case f.conns < 1:
		return nil, errors.New("--connections must be at least 1")
	case f.dirCacheTTL <= 0:
		// fs.Options reads 0 as "the default", so 0 cannot mean "no cache".
		return nil, errors.New("--dir-cache-ttl must be positive")
	case f.cacheSize <= 0:
		return nil, errors.New("--cache-size must be positive")
	case f.stagingSize <= 0:
		return nil, errors.New("--staging-size must be positive")
	case f.maxListing < 1 || f.maxListing > maxListingEntries:
		return nil, fmt.Errorf("--max-listing-entries must be from 1 to %d", maxListingEntries)
	}

	o := &c.opts
	o.Conn = conn.Config{
		Addr:        net.JoinHostPort(srv.host, strconv.Itoa(srv.port)),
		User:        c.server.user,
		Timeout:     f.timeout,
		MaxConns:    f.conns,
		TrustPASVIP: f.trustPASVIP,

		MaxListingEntries: f.maxListing,
		MaxListingBytes:   int64(f.maxListing) * conn.ListingBytesPerEntry,
		TelnetIAC:         f.telnetIAC,
	}
	o.Root = srv.path
	o.FsName = srv.String()
	o.DirCacheTTL = f.dirCacheTTL
	o.CacheSize = f.cacheSize
	o.StagingSize = f.stagingSize
	o.NoAtomicUpload = f.noAtomicUpload
	o.Debug = f.debugFUSE
	o.UID, o.GID, o.Umask = in.uid, in.gid, defaultUmask
	for _, s := range f.o {
		if err := applyMountOptions(o, s); err != nil {
			return nil, err
		}
	}

	if err := configureTLS(c, &f); err != nil {
		return nil, err
	}

	o.CacheDir = f.cacheDir
	if o.CacheDir == "" {
		if o.CacheDir = defaultCacheDir(in); o.CacheDir == "" {
			return nil, errors.New("no home directory for the cache: give --cache-dir")
		}
	}
	if o.CacheDir, err = filepath.Abs(o.CacheDir); err != nil {
		return nil, err
	}
	return c, nil
}

// maxListingEntries bounds --max-listing-entries: a listing of that many
// lines may take 64 GiB.
const maxListingEntries = 1 << 28

// parseInterspersed parses flags before, between and after the positional
// arguments, as sshfs users expect ("ftpfs mount host /mnt -o ro"); "--"
// ends the flags.
func parseInterspersed(fset *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fset.Parse(args); err != nil {
			return nil, err
		}
		rest := fset.Args()
		if n := len(args) - len(rest); len(rest) == 0 || (n > 0 && args[n-1] == "--") {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// splitShortO turns the "-oOPTS" spelling of FUSE tools into "-o OPTS".
func splitShortO(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if rest, ok := strings.CutPrefix(a, "-o"); ok && rest != "" && rest[0] != '=' {
			out = append(out, "-o", rest)
			continue
		}
		out = append(out, a)
	}
	return out
}

// applyMountOptions applies one -o value: comma-separated, like sshfs.
func applyMountOptions(o *fs.Options, s string) error {
	for _, opt := range strings.Split(s, ",") {
		name, val, hasVal := strings.Cut(opt, "=")
		var err error
		switch {
		case opt == "":
		case opt == "ro":
			o.ReadOnly = true
		case opt == "allow_other":
			o.AllowOther = true
		case opt == "chmod=ignore":
			o.ChmodIgnore = true
		case opt == "symlinks=safe":
			o.RawSymlinks = false
		case opt == "symlinks=raw":
			o.RawSymlinks = true
		case hasVal && (name == "uid" || name == "gid"):
			var n uint64
			if n, err = strconv.ParseUint(val, 10, 32); err == nil {
				if name == "uid" {
					o.UID = uint32(n)
				} else {
					o.GID = uint32(n)
				}
			} else {
				err = errors.New("want a number")
			}
		case hasVal && name == "umask":
			var n uint64
			if n, err = strconv.ParseUint(val, 8, 32); err == nil && n <= 0o777 {
				o.Umask = uint32(n)
			} else {
				err = errors.New("want an octal number up to 0777")
			}
		default:
			return fmt.Errorf("-o %s: unknown option (known: ro, allow_other, uid=N, gid=N, umask=OCTAL, chmod=ignore, symlinks=safe|raw)", opt)
		}
		if err != nil {
			return fmt.Errorf("-o %s: %v", opt, err)
		}
	}
	return nil
}

// parseSize parses a byte count with an optional binary suffix: 1048576,
// 512K, 256M, 1G, 2T; "MiB" and "MB" mean M as well.
func parseSize(s string) (int64, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, errors.New("want a byte count like 268435456, 256M or 1G")
	}
	suffix := strings.ToUpper(s[i:])
	if t, ok := strings.CutSuffix(suffix, "IB"); ok && t != "" {
		suffix = t
	} else if t, ok := strings.CutSuffix(suffix, "B"); ok {
		suffix = t
	}
	shift, ok := map[string]uint{"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[suffix]
	if !ok {
		return 0, errors.New("want a byte count like 268435456, 256M or 1G")
	}
	if n > math.MaxInt64>>shift {
		return 0, errors.New("too large")
	}
	return n << shift, nil
}

// defaultCacheDir follows the XDG base directory spec, which ignores a
// relative $XDG_CACHE_HOME.
func defaultCacheDir(in mountInputs) string {
	if d, ok := in.lookupEnv("XDG_CACHE_HOME"); ok && filepath.IsAbs(d) {
		return filepath.Join(d, "ftpfs")
	}
	if in.home == "" {
		return ""
	}
	return filepath.Join(in.home, ".cache", "ftpfs")
}

// serverURL is a parsed SERVER argument.
type serverURL struct {
	host        string // without brackets
	port        int
	implicitTLS bool   // ftps://
	user        string // "" when not given
	path        string // "" or a clean absolute path
}

// String is the form mount(8) and df show: no user, no password, the port
// only when it is not the default.
func (s serverURL) String() string {
	u := url.URL{Scheme: "ftp", Host: s.host, Path: s.path}
	def := 21
	if s.implicitTLS {
		u.Scheme, def = "ftps", 990
	}
	if s.port != def || strings.Contains(s.host, ":") {
		u.Host = net.JoinHostPort(s.host, strconv.Itoa(s.port))
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String()
}

var errBadServer = errors.New("SERVER must be host, host:port, ftp://[user@]host[:port][/path] or ftps://...")

// parseServer parses SERVER. Its errors never quote the argument, which
// might hold a password that url.Parse could not separate from the host.
func parseServer(s string) (serverURL, error) {
	if ip := net.ParseIP(s); ip != nil && strings.Contains(s, ":") {
		return serverURL{host: s, port: 21}, nil // a bare IPv6 address
	}
	raw := s
	if scheme, _, ok := strings.Cut(s, "://"); !ok {
		raw = "ftp://" + s
	} else if sc := strings.ToLower(scheme); sc != "ftp" && sc != "ftps" {
		if strings.ContainsAny(scheme, ":@/") {
			return serverURL{}, errBadServer
		}
		return serverURL{}, fmt.Errorf("unsupported scheme %q: want ftp:// or ftps://", scheme)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return serverURL{}, errBadServer
	}
	if _, has := u.User.Password(); has {
		return serverURL{}, fmt.Errorf("refusing a password in the URL (ps shows it to every local user): put it in $%s, --password-stdin or ~/.netrc", passwordEnv)
	}
	if u.Opaque != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return serverURL{}, errBadServer
	}
	srv := serverURL{host: u.Hostname(), port: 21, implicitTLS: u.Scheme == "ftps", user: u.User.Username()}
	if srv.host == "" {
		return serverURL{}, errors.New("SERVER has no host")
	}
	if srv.implicitTLS {
		srv.port = 990
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return serverURL{}, errors.New("SERVER: port must be 1 to 65535")
		}
		srv.port = n
	}
	if u.Path != "" && u.Path != "/" {
		srv.path = path.Clean("/" + u.Path)
	}
	return srv, nil
}

// configureTLS sets the TLS mode and configuration from ftps:// and the
// --tls flags.
func configureTLS(c *mountConfig, f *mountFlags) error {
	cc := &c.opts.Conn
	explicit := f.tls || f.tlsInsecure || f.tlsCA != "" || f.tlsPin != ""
	verifiers := 0
	for _, set := range []bool{f.tlsInsecure, f.tlsCA != "", f.tlsPin != ""} {
		if set {
			verifiers++
		}
	}
	switch {
	case c.server.implicitTLS && f.tls:
		return errors.New("--tls is explicit TLS (AUTH TLS) and ftps:// is implicit TLS: use one of them")
	case verifiers > 1:
		return errors.New("--tls-insecure, --tls-ca and --tls-fingerprint each say how the certificate is checked: use one of them")
	case c.server.implicitTLS:
		cc.TLS = conn.TLSImplicit
	case explicit:
		cc.TLS = conn.TLSExplicit
	default:
		return nil
	}
	cc.TLSConfig = &tls.Config{ServerName: c.server.host, MinVersion: tls.VersionTLS12}
	if f.tlsCA != "" {
		pem, err := os.ReadFile(f.tlsCA)
		if err != nil {
			return fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--tls-ca %s: no PEM certificate in it", f.tlsCA)
		}
		cc.TLSConfig.RootCAs = pool
	}
	if f.tlsPin != "" {
		pin, err := parseFingerprint(f.tlsPin)
		if err != nil {
			return err
		}
		pinCertificate(cc.TLSConfig, pin)
	}
	if f.tlsInsecure {
		cc.TLSConfig.InsecureSkipVerify = true
		c.warnings = append(c.warnings, "--tls-insecure: the server's certificate is not checked; anyone on the path can read the password and the data")
	}
	return nil
}

// parseFingerprint reads sha256:HEX, with or without colons between the
// bytes (openssl x509 -fingerprint -sha256 prints them so).
func parseFingerprint(s string) ([]byte, error) {
	v, ok := strings.CutPrefix(strings.ToLower(s), "sha256:")
	if !ok {
		v = strings.ToLower(s)
		if algo, _, found := strings.Cut(v, "="); found {
			return nil, fmt.Errorf("--tls-fingerprint: %s is not SHA-256: give sha256:HEX", algo)
		}
	}
	pin, err := hex.DecodeString(strings.ReplaceAll(v, ":", ""))
	if err != nil || len(pin) != sha256.Size {
		return nil, fmt.Errorf("--tls-fingerprint %q: want sha256: and 64 hex digits", s)
	}
	return pin, nil
}

// pinCertificate makes t accept exactly the server certificate whose
// SHA-256 is pin, whoever signed it: for a server with a self-signed
// certificate. Every connection checks it, data connections included.
func pinCertificate(t *tls.Config, pin []byte) {
	t.InsecureSkipVerify = true // the chain is not checked, the pin is
	t.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the server sent no certificate")
		}
		got := sha256.Sum256(cs.PeerCertificates[0].Raw)
		if subtle.ConstantTimeCompare(got[:], pin) != 1 {
			return fmt.Errorf("the server's certificate has SHA-256 %x, not the one --tls-fingerprint names", got)
		}
		return nil
	}
}

// resolveCredentials finds the user, when none was named, and the
// password. The user comes from SERVER or --user, else from ~/.netrc,
// else anonymous. The password comes from $FTPFS_PASSWORD, then
// --password-stdin, then ~/.netrc, then a prompt on the terminal.
func resolveCredentials(c *mountConfig, in mountInputs) error {
	cc := &c.opts.Conn
	envPW, _ := in.lookupEnv(passwordEnv)
	needNetrc := cc.User == "" || (envPW == "" && !c.passwordStdin)
	var entry *netrcEntry
	if needNetrc {
		n, err := readNetrc(in.lookupEnv, in.home)
		if err != nil {
			return err
		}
		if n != nil {
			if e, ok := n.lookup(c.server.host, cc.User); ok {
				entry = &e
			}
		}
	}
	if cc.User == "" && entry != nil {
		cc.User = entry.login
	}
	c.server.user = cc.User

	if cc.User == "" { // anonymous: conn supplies the conventional password
		if c.passwordStdin {
			return errors.New("--password-stdin: no user to log in as: give ftp://USER@host or --user")
		}
		if envPW != "" {
			c.warnings = append(c.warnings, fmt.Sprintf("$%s is set but no user is named: logging in anonymously", passwordEnv))
		}
		if entry != nil {
			cc.Password = entry.password
		}
		return nil
	}

	switch {
	case envPW != "":
		cc.Password = envPW
	case c.passwordStdin:
		pw, err := readPasswordLine(in.stdin)
		if err != nil {
			return err
		}
		cc.Password = pw
	case entry != nil && entry.password != "":
		cc.Password = entry.password
	default:
		var err error = errNoTerminal
		var pw string
		if in.prompt != nil {
			pw, err = in.prompt(fmt.Sprintf("Password for %s@%s: ", cc.User, c.server.host))
		}
		switch {
		case errors.Is(err, errNoTerminal):
			return fmt.Errorf("no password for user %q and no terminal to ask on: set $%s, use --password-stdin or add it to ~/.netrc", cc.User, passwordEnv)
		case err != nil:
			return fmt.Errorf("password prompt: %w", err)
		case pw == "":
			return errors.New("empty password")
		}
		cc.Password = pw
	}
	return nil
}

// readPasswordLine reads the first line of r, without its line ending.
func readPasswordLine(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("--password-stdin: no stdin")
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("--password-stdin: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("--password-stdin: the first line of stdin is empty")
	}
	return line, nil
}

// plainTextWarning is the warning for a password sent in clear beyond
// this machine; "" when there is nothing to warn about.
func plainTextWarning(c *mountConfig) string {
	cc := &c.opts.Conn
	if cc.TLS != conn.TLSNone || cc.User == "" || cc.User == "anonymous" || cc.User == "ftp" {
		return ""
	}
	if ip := net.ParseIP(c.server.host); c.server.host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return ""
	}
	return "plain FTP: the password and the data cross the network unencrypted (use --tls or ftps:// if the server offers it)"
}

// runMount is the "mount" subcommand.
func runMount(ctx context.Context, args []string, stderr io.Writer) int {
	if fd, ok := os.LookupEnv(daemonEnv); ok {
		return runDaemonChild(ctx, args, fd, stderr)
	}
	in := hostInputs()
	in.stdin = os.Stdin
	in.prompt = func(msg string) (string, error) { return promptPassword(ctx, msg) }
	c, err := parseMountArgs(args, in)
	if errors.Is(err, flag.ErrHelp) {
		mountUsage(stderr)
		return 0
	}
	if err != nil && ctx.Err() != nil { // Ctrl-C at the password prompt
		fmt.Fprintln(stderr, "ftpfs mount: interrupted")
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "ftpfs mount: %s (see ftpfs mount -h)\n", oneLine(err))
		return 2
	}
	if w := plainTextWarning(c); w != "" {
		c.warnings = append(c.warnings, w)
	}
	for _, w := range c.warnings {
		fmt.Fprintf(stderr, "ftpfs mount: warning: %s\n", w)
	}
	if err := checkMountpoint(c.mountpoint); err != nil {
		fmt.Fprintf(stderr, "ftpfs mount: %s\n", oneLine(err))
		return 1
	}
	if c.opts.AllowOther && os.Geteuid() != 0 {
		conf, _ := os.ReadFile("/etc/fuse.conf")
		if !fuseConfAllowsOther(string(conf)) {
			fmt.Fprintln(stderr, "ftpfs mount: -o allow_other needs a line user_allow_other in /etc/fuse.conf (or root)")
			return 1
		}
	}
	// Private (0700, this user's, no symlink): the cache holds file
	// contents, the log holds paths, and another user must not choose
	// where they go.
	if err := private.MkdirAll(c.opts.CacheDir); err != nil {
		fmt.Fprintf(stderr, "ftpfs mount: cache dir: %s\n", oneLine(err))
		return 1
	}
	if c.foreground {
		return mountForeground(ctx, c, stderr)
	}
	p, err := startDaemon(ctx, args, c)
	if err != nil {
		fmt.Fprintf(stderr, "ftpfs mount: %s\n", oneLine(err))
		return 1
	}
	p.Release()
	return 0
}

// hostInputs are the mountInputs of this process, without stdin or prompt.
func hostInputs() mountInputs {
	home, _ := os.UserHomeDir()
	return mountInputs{lookupEnv: os.LookupEnv, home: home, uid: uint32(os.Getuid()), gid: uint32(os.Getgid())}
}

// oneLine flattens an error message: the parent relays the child's reason
// in one line, and every message of this command is one line. What the
// server put in it cannot drive the terminal: controls are escaped.
func oneLine(err error) string {
	return escapeControl(strings.Join(strings.Fields(err.Error()), " "))
}

// fuseConfAllowsOther reports whether /etc/fuse.conf lets users mount with
// allow_other; fusermount3 would otherwise fail with a vaguer message.
func fuseConfAllowsOther(conf string) bool {
	for _, l := range strings.Split(conf, "\n") {
		if strings.TrimSpace(l) == "user_allow_other" {
			return true
		}
	}
	return false
}

// newMountLogger logs to w, at debug level when a debug flag asks for it.
func newMountLogger(w io.Writer, c *mountConfig) *slog.Logger {
	level := slog.LevelInfo
	if c.debugFTP || c.opts.Debug {
		level = slog.LevelDebug
	}
	return slog.New(newSafeTextHandler(w, level)).With("mountpoint", c.mountpoint)
}

// withLogging points the mount's logs, and the FTP trace when asked, at w.
func withLogging(c *mountConfig, w io.Writer) *slog.Logger {
	logger := newMountLogger(w, c)
	c.opts.Logger = logger
	c.opts.Conn.Logger = logger
	if c.debugFTP {
		c.opts.Conn.Trace = traceWriter{w}
	}
	return logger
}

// mountForeground mounts in this process and serves until a signal or an
// unmount from outside.
func mountForeground(ctx context.Context, c *mountConfig, stderr io.Writer) int {
	w := &syncWriter{w: stderr}
	logger := withLogging(c, w)
	m, err := mountFS(ctx, c.mountpoint, c.opts)
	if err != nil {
		fmt.Fprintf(w, "ftpfs mount: %s\n", oneLine(err))
		return 1
	}
	logger.Info("mounted", "server", c.opts.FsName)
	return serveMount(ctx, m, logger)
}

// serveMount waits until the mount goes away: unmounted from outside, or
// ctx cancelled (SIGINT, SIGTERM), which unmounts. An unmount that fails
// (EBUSY) keeps serving: exiting would leave a dead mount behind.
func serveMount(ctx context.Context, m mountHandle, logger *slog.Logger) int {
	done := make(chan struct{})
	go func() {
		m.Wait()
		close(done)
	}()
	select {
	case <-done: // Wait has closed the FTP connections too
		logger.Info("unmounted from outside")
		return 0
	case <-ctx.Done():
	}
	for {
		logger.Info("signal: unmounting")
		err := m.Unmount()
		if err == nil {
			<-done
			return 0
		}
		logger.Error("unmount failed; still mounted: close the files open there, or use ftpfs unmount --lazy", "err", err)
		select {
		case <-done:
			return 0
		case <-time.After(5 * time.Second):
		}
	}
}

// daemonHello is what the parent sends its background child: the
// credentials it resolved (perhaps by prompting), which argv must never
// carry.
type daemonHello struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// daemonWait bounds how long the parent waits for the child's answer:
// connecting and logging in take a few exchanges, each bounded by timeout.
func daemonWait(timeout time.Duration) time.Duration { return 2*timeout + 10*time.Second }

// startDaemon starts this program again as the background mount and waits
// for its answer. On success the child serves the mount and its process is
// returned; on failure the child is gone, nothing is mounted, and the error
// is the child's one-line reason.
func startDaemon(ctx context.Context, args []string, c *mountConfig) (*os.Process, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	// Non-blocking, so that the runtime poller honours read deadlines.
	syscall.SetNonblock(fds[0], true)
	ours := os.NewFile(uintptr(fds[0]), "ftpfs-daemon")
	theirs := os.NewFile(uintptr(fds[1]), "ftpfs-daemon")
	defer ours.Close()

	logPath := filepath.Join(c.opts.CacheDir, daemonLog)
	// Never through a symlink, nor into a file that is not ours alone.
	logf, err := private.OpenAppend(logPath)
	if err != nil {
		theirs.Close()
		return nil, fmt.Errorf("log: %w", err)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		theirs.Close()
		logf.Close()
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:   exe,
		Args:   append([]string{os.Args[0], "mount"}, args...),
		Env:    daemonEnviron(os.Environ()),
		Stdin:  devnull,
		Stdout: logf,
		Stderr: logf,
		// ExtraFiles[0] is fd 3 in the child.
		ExtraFiles: []*os.File{theirs},
		// A new session: no controlling terminal, no SIGINT or SIGHUP from
		// the shell that started it.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	markInheritedCloseOnExec()
	err = cmd.Start()
	theirs.Close()
	logf.Close()
	devnull.Close()
	if err != nil {
		return nil, fmt.Errorf("start the mount process: %w", err)
	}

	hello, _ := json.Marshal(daemonHello{User: c.opts.Conn.User, Password: c.opts.Conn.Password})
	ours.SetDeadline(time.Now().Add(daemonWait(c.opts.Conn.Timeout)))
	stop := context.AfterFunc(ctx, func() { ours.SetDeadline(time.Now()) })
	defer stop()
	var line string
	if _, err = ours.Write(append(hello, '\n')); err == nil {
		line, err = bufio.NewReader(ours).ReadString('\n')
	}

	switch reason, isErr := strings.CutPrefix(line, "error: "); {
	case line == "ok\n":
		return cmd.Process, nil
	case isErr && err == nil:
		reapChild(cmd)
		return nil, errors.New(strings.TrimSpace(reason))
	case errors.Is(err, os.ErrDeadlineExceeded):
		cmd.Process.Signal(syscall.SIGTERM) // the child unmounts if it got that far
		reapChild(cmd)
		// The child may have mounted after all, just before it died.
		if ok, _ := isMountPoint(c.mountpoint); ok {
			unmountPath(c.mountpoint, true)
		}
		if ctx.Err() != nil {
			return nil, errors.New("interrupted")
		}
		return nil, fmt.Errorf("no answer from the mount process within %v (log: %s)", daemonWait(c.opts.Conn.Timeout), logPath)
	default:
		state := reapChild(cmd)
		return nil, fmt.Errorf("the mount process ended (%v) before mounting (log: %s)", state, logPath)
	}
}

// markInheritedCloseOnExec sets close-on-exec on every descriptor above
// stderr. Descriptors this process inherited lack it, and exec would pass
// them on to the daemon, which would hold, say, the pipe of a script that
// waits for EOF, for the mount's whole life.
func markInheritedCloseOnExec() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// daemonEnviron is the child's environment: the parent's, minus the
// password (the socket carries it, and /proc/PID/environ would keep it for
// the mount's lifetime), plus the marker.
func daemonEnviron(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if strings.HasPrefix(kv, passwordEnv+"=") || strings.HasPrefix(kv, daemonEnv+"=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, daemonEnv+"=3")
}

// reapChild waits for the child to exit, asking it with SIGTERM (it then
// unmounts) and insisting with SIGKILL if it does not.
func reapChild(cmd *exec.Cmd) string {
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	for _, sig := range []syscall.Signal{0, syscall.SIGTERM, syscall.SIGKILL} {
		if sig != 0 {
			cmd.Process.Signal(sig)
		}
		select {
		case <-done:
			return cmd.ProcessState.String()
		case <-time.After(5 * time.Second):
		}
	}
	<-done
	return cmd.ProcessState.String()
}

// runDaemonChild is the background mount: it gets the credentials from
// its parent, mounts, answers "ok" or "error: REASON", and serves.
func runDaemonChild(ctx context.Context, args []string, fdStr string, stderr io.Writer) int {
	fd, err := strconv.Atoi(fdStr)
	if err != nil || fd < 3 {
		fmt.Fprintf(stderr, "ftpfs mount: bad %s\n", daemonEnv)
		return 2
	}
	// Not inherited by fusermount3 or anything else this process starts.
	syscall.CloseOnExec(fd)
	parent := os.NewFile(uintptr(fd), "ftpfs-daemon")
	defer parent.Close()
	w := &syncWriter{w: stderr}
	fail := func(err error) int {
		fmt.Fprintf(parent, "error: %s\n", oneLine(err))
		fmt.Fprintf(w, "ftpfs mount: %s\n", oneLine(err))
		return 1
	}

	var hello daemonHello
	line, err := bufio.NewReader(parent).ReadString('\n')
	if err != nil {
		return fail(fmt.Errorf("reading from the parent: %w", err))
	}
	if err := json.Unmarshal([]byte(line), &hello); err != nil {
		return fail(fmt.Errorf("reading from the parent: %w", err))
	}
	c, err := parseMountFlags(args, hostInputs())
	if err != nil {
		return fail(err)
	}
	c.opts.Conn.User, c.opts.Conn.Password = hello.User, hello.Password
	// Hold no directory busy: the mount may outlive any working directory.
	os.Chdir("/")

	logger := withLogging(c, w)
	m, err := mountFS(ctx, c.mountpoint, c.opts)
	if err != nil {
		return fail(err)
	}
	if _, err := io.WriteString(parent, "ok\n"); err != nil {
		// The parent gave up and told the user the mount failed: make it so.
		logger.Error("parent gone after mounting; unmounting", "err", err)
		m.Unmount()
		return 1
	}
	parent.Close()
	logger.Info("mounted", "server", c.opts.FsName, "pid", os.Getpid())
	return serveMount(ctx, m, logger)
}

// checkMountpoint gives the one-line reason why mp cannot be mounted on.
func checkMountpoint(mp string) error {
	st, err := os.Stat(mp)
	switch {
	case errors.Is(err, syscall.ENOTCONN):
		return fmt.Errorf("mountpoint busy: %s holds a dead mount (run ftpfs unmount %s)", mp, mp)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("mountpoint missing: %s does not exist", mp)
	case err != nil:
		return fmt.Errorf("mountpoint: %w", err)
	case !st.IsDir():
		return fmt.Errorf("mountpoint %s is not a directory", mp)
	}
	if busy, err := isMountPoint(mp); err != nil {
		return fmt.Errorf("mountpoint: %w", err)
	} else if busy {
		return fmt.Errorf("mountpoint busy: something is mounted on %s already", mp)
	}
	return nil
}

// isMountPoint reports whether something is mounted on p: a device that
// differs from the parent's catches most mounts, /proc/self/mountinfo the
// bind mounts of the same filesystem.
func isMountPoint(p string) (bool, error) {
	var st, parent syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		return false, err
	}
	if err := syscall.Stat(filepath.Join(p, ".."), &parent); err == nil && (st.Dev != parent.Dev || st.Ino == parent.Ino) {
		return true, nil
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return false, err
	}
	return inMountinfo(real)
}

// mountinfoPath is read by inMountinfo; a variable for tests.
var mountinfoPath = mountinfo.Self

// inMountinfo reports whether p (absolute, clean) is a mount point listed
// in this process's mount table.
func inMountinfo(p string) (bool, error) {
	ms, err := mountinfo.ReadFile(mountinfoPath)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(ms, func(m mountinfo.Mount) bool { return m.Point == p }), nil
}

// promptPassword asks on the terminal with echo off, as ssh does: on
// /dev/tty, so that it works whatever stdin is. Ctrl-C cancels ctx, and
// the terminal is restored before returning.
func promptPassword(ctx context.Context, msg string) (string, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", errNoTerminal
	}
	defer tty.Close()
	var saved syscall.Termios
	if err := termios(tty, syscall.TCGETS, &saved); err != nil {
		return "", errNoTerminal
	}
	quiet := saved
	quiet.Lflag &^= syscall.ECHO
	quiet.Lflag |= syscall.ECHONL // the newline still shows
	if err := termios(tty, syscall.TCSETS, &quiet); err != nil {
		return "", err
	}
	defer termios(tty, syscall.TCSETS, &saved)
	fmt.Fprint(tty, msg)

	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(tty).ReadString('\n')
		ch <- result{line, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil && r.err != io.EOF {
			return "", r.err
		}
		return strings.TrimSuffix(strings.TrimSuffix(r.line, "\n"), "\r"), nil
	case <-ctx.Done():
		fmt.Fprintln(tty)
		return "", errors.New("interrupted")
	}
}

// termios runs the TCGETS or TCSETS ioctl on f through SyscallConn, which,
// unlike Fd, leaves the file in non-blocking mode (so Close interrupts a
// read).
func termios(f *os.File, req uintptr, t *syscall.Termios) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(unsafe.Pointer(t)))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// mountUsage prints the help text.
func mountUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: ftpfs mount [flags] SERVER MOUNTPOINT\n\n")
	fmt.Fprintf(w, "SERVER is host, host:port, [v6addr]:port, ftp://[user@]host[:port][/path],\n")
	fmt.Fprintf(w, "or ftps://... for implicit TLS (port 990). The password comes from $%s,\n", passwordEnv)
	fmt.Fprintf(w, "--password-stdin, ~/.netrc (or $NETRC) or a prompt, never from the command line.\n")
	fmt.Fprintf(w, "The mount runs in the background (log: CACHE_DIR/%s) until 'ftpfs unmount MOUNTPOINT'.\n\nflags:\n", daemonLog)
	var f mountFlags
	f.flagSet().VisitAll(func(fl *flag.Flag) {
		name := "--" + fl.Name
		switch fl.Name {
		case "f":
			return
		case "foreground":
			name = "-f, --foreground"
		case "o":
			name = "-o"
		}
		arg, help := flag.UnquoteUsage(fl)
		if arg != "" {
			arg = " " + arg
		}
		fmt.Fprintf(w, "  %s%s\n        %s", name, arg, help)
		switch fl.DefValue {
		case "", "0", "0s", "false":
		default:
			fmt.Fprintf(w, " (default %s)", fl.DefValue)
		}
		fmt.Fprintln(w)
	})
}
