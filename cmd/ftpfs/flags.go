package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"ftpfs/conn"
	"ftpfs/fs"
)

// mountConfig is a parsed "ftpfs mount" command line.
type mountConfig struct {
	server        serverURL
	mountpoint    string // absolute
	opts          fs.Options
	foreground    bool
	debugFTP      bool
	passwordStdin bool
	logLevel      slog.Level // the least severe records logged
	logSize       int64      // the background mount's log starts anew past this
	passwordFile  string
	metrics       string // --metrics: where to serve Prometheus text
	// warnings are printed by the parent, one line each.
	warnings []string
}

// mountFlags holds the flag values before they are checked. The flags of
// mount options write straight into opts, which starts as
// fs.DefaultOptions: a flag's default, the default its help shows and the
// library's are one value.
type mountFlags struct {
	opts             fs.Options
	tls, tlsInsecure bool
	tlsCA            string
	tlsPin           string // --tls-fingerprint
	proxy            string // --proxy
	tlsClient        tlsClientFlags
	user             string
	passwordStdin    bool
	passwordFile     string
	cacheDir         string
	debugFTP         bool
	foreground       bool
	logLevel         logLevel
	logSize          int64
	// localUser is the name of the user who mounts, optUser the last
	// -o user=NAME: when user is both, mount(8) may have written it
	// (see mountOptions).
	localUser, optUser string
	oErr               error // the first -o error
	metrics            string
}

func (f *mountFlags) flagSet() *flag.FlagSet {
	f.opts = fs.DefaultOptions()
	o, cc := &f.opts, &f.opts.Conn
	fset := flag.NewFlagSet("ftpfs mount", flag.ContinueOnError)
	fset.BoolVar(&f.tls, "tls", false, "explicit FTPS (AUTH TLS), verifying the server's certificate")
	fset.BoolVar(&f.tlsInsecure, "tls-insecure", false, "like --tls, but without verifying the certificate (warns)")
	fset.StringVar(&f.tlsCA, "tls-ca", "", "verify the server against the PEM CA bundle `FILE` (implies --tls)")
	fset.StringVar(&f.tlsPin, "tls-fingerprint", "", "accept only the certificate whose SHA-256 is `sha256:HEX` (implies --tls)")
	fset.Func("user", "log in as `NAME` (alternative to ftp://NAME@host)", func(s string) error {
		f.user, f.optUser = s, "" // named by hand: it never yields
		return nil
	})
	fset.BoolVar(&f.passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	fset.StringVar(&f.passwordFile, "password-file", "", "read the password from the first line of `FILE`, which must be yours alone (mode 0600 or 0400)")
	fset.DurationVar(&cc.Timeout, "timeout", cc.Timeout, "bound every FTP exchange to `DUR`")
	fset.IntVar(&cc.MaxConns, "connections", cc.MaxConns, "at most `N` FTP connections")
	fset.DurationVar(&o.DirCacheTTL, "dir-cache-ttl", o.DirCacheTTL, "trust a directory listing for `DUR`")
	fset.Var((*byteSize)(&o.CacheSize), "cache-size", "bound the block cache to `BYTES`; suffixes K, M, G, T for powers of 1024")
	fset.Var((*byteSize)(&o.StagingSize), "staging-size", "bound the files staged for upload in the cache dir to `BYTES`; beyond, writes get ENOSPC")
	fset.BoolVar(&o.NoAtomicUpload, "no-atomic-upload", o.NoAtomicUpload, "upload under the file's own name, for servers that refuse a rename over a file (a failed upload then leaves a partial file)")
	fset.BoolVar(&o.VerifyReads, "verify-reads", o.VerifyReads, "compare a file read whole, in order, with the server's digest of it (HASH, XSHA256...) at its end: EIO when they differ")
	fset.StringVar(&f.cacheDir, "cache-dir", "", "cache and log `DIR` (default $XDG_CACHE_HOME/ftpfs or ~/.cache/ftpfs)")
	fset.BoolVar(&cc.TrustPASVIP, "trust-pasv-ip", cc.TrustPASVIP, "connect to the address in PASV replies (some NATs need it)")
	f.dialFlags(fset)
	fset.BoolVar(&cc.NoPipelining, "no-pipelining", cc.NoPipelining, "send every FTP command alone and wait for its reply, for a server that chokes on commands sent together")
	fset.IntVar(&cc.MaxListingEntries, "max-listing-entries", cc.MaxListingEntries,
		fmt.Sprintf("fail (EIO) a directory listing of more than `N` lines, or more than N×%d bytes", conn.ListingBytesPerEntry))
	fset.Func("server-timezone", "read and set the server's LIST and MDTM times in `ZONE`, an IANA name (Asia/Tokyo) or a fixed offset (+09:00), for a server that gives local time (vsftpd use_localtime=YES)", func(s string) error {
		loc, err := conn.ParseZone(s)
		cc.ServerZone = loc
		return err
	})
	fset.Func("telnet-iac", "send and read a 0xFF byte of a name per `MODE`: auto (from the server's greeting; default), double (RFC 959) or raw", func(s string) error {
		m, err := conn.ParseTelnetIAC(s)
		cc.TelnetIAC = m
		return err
	})
	fset.Func("encoding", "the server's `CHARSET` for names (GBK, GB18030, Big5, Shift_JIS, EUC-JP, EUC-KR, windows-1251, ISO-8859-1...): shown in UTF-8, sent in CHARSET; a name CHARSET cannot hold gets EILSEQ", func(s string) error {
		cs, err := conn.ParseCharset(s)
		cc.Encoding = cs
		return err
	})
	fset.BoolVar(&f.debugFTP, "debug-ftp", false, "trace the FTP control connections (PASS masked)")
	fset.BoolVar(&o.Debug, "debug-fuse", o.Debug, "log every FUSE request")
	f.logLevel, f.logSize = logLevel(slog.LevelInfo), defaultLogSize
	fset.Var(&f.logLevel, "log-level", "log records of `LEVEL` and above: debug, info, warn or error (--debug-ftp and --debug-fuse imply debug)")
	fset.Var((*byteSize)(&f.logSize), "log-size", "start the background mount's log anew when it would pass `BYTES`, keeping the previous one as "+daemonLog+".1")
	fset.StringVar(&f.metrics, "metrics", "", "serve the figures of ftpfs stats in Prometheus text format at http://`HOST:PORT`/metrics (off by default)")
	fset.BoolVar(&f.foreground, "foreground", false, "stay in the foreground, log to stderr")
	fset.BoolVar(&f.foreground, "f", false, "same as --foreground")
	fset.Func("o", fmt.Sprintf("mount `OPTS`, comma-separated: every flag as NAME=VALUE or NAME, with _ for - (cache_dir=DIR, tls); ro, rw, noexec, exec, allow_other, uid=N, gid=N, umask=OCTAL (default %03o), chmod=ignore, symlinks=safe|raw; mount(8)'s and systemd's options are ignored", o.Umask), func(s string) error {
		// Applied in place, so that flags and -o options take effect in
		// the order given. The error waits for the end of the parse: the
		// flag package would quote the whole value, a password perhaps.
		if f.oErr == nil {
			f.oErr = f.applyOptions(fset, s)
		}
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
	// Defaults of -o uid= and gid=, and the name user= compares with.
	f.opts.UID, f.opts.GID, f.localUser = in.uid, in.gid, in.username
	fset.SetOutput(io.Discard) // errors are reported by the caller, in one line
	pos, err := parseInterspersed(fset, splitShortO(args))
	if err == nil {
		err = f.oErr
	}
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
	c := &mountConfig{server: srv, opts: f.opts, foreground: f.foreground, debugFTP: f.debugFTP, passwordStdin: f.passwordStdin,
		logLevel: slog.Level(f.logLevel), logSize: f.logSize, metrics: f.metrics}
	if c.mountpoint, err = filepath.Abs(pos[1]); err != nil {
		return nil, err
	}

	switch {
	case f.user != "" && srv.user != "" && f.user != srv.user && f.user == f.optUser && f.user == f.localUser:
		// mount(8)'s user=NAME of a user-mountable fstab line
	case f.user != "" && srv.user != "" && f.user != srv.user:
		return nil, errors.New("two different users: in SERVER and in --user")
	case f.user != "":
		c.server.user = f.user
	}
	c.passwordFile = f.passwordFile

	o := &c.opts
	switch {
	case o.Conn.Timeout <= 0:
		return nil, errors.New("--timeout must be positive")
	case o.Conn.MaxConns < 1:
		return nil, errors.New("--connections must be at least 1")
	case o.DirCacheTTL <= 0:
		// fs.Options reads 0 as "the default", so 0 cannot mean "no cache".
		return nil, errors.New("--dir-cache-ttl must be positive")
	case o.CacheSize <= 0:
		return nil, errors.New("--cache-size must be positive")
	case o.StagingSize <= 0:
		return nil, errors.New("--staging-size must be positive")
	case c.logSize <= 0:
		return nil, errors.New("--log-size must be positive")
	case o.Conn.MaxListingEntries < 1 || o.Conn.MaxListingEntries > maxListingEntries:
		return nil, fmt.Errorf("--max-listing-entries must be from 1 to %d", maxListingEntries)
	}

	o.Conn.Addr = net.JoinHostPort(srv.host, strconv.Itoa(srv.port))
	o.Conn.User = c.server.user
	o.Conn.MaxListingBytes = int64(o.Conn.MaxListingEntries) * conn.ListingBytesPerEntry
	if srv.path != "" {
		o.Root = srv.path
	}
	o.FsName = srv.String()

	if err := configureTLS(c, &f); err != nil {
		return nil, err
	}
	if err := configureProxy(c, f.proxy, in.lookupEnv); err != nil {
		return nil, err
	}

	o.CacheDir = f.cacheDir
	if o.CacheDir == "" {
		if o.CacheDir = fs.DefaultCacheDir(in.lookupEnv, in.home); o.CacheDir == "" {
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

// byteSize is a flag of a byte count, set as parseSize reads it and shown
// as formatSize writes it.
type byteSize int64

func (b *byteSize) String() string { return formatSize(int64(*b)) }

func (b *byteSize) Set(s string) error {
	n, err := parseSize(s)
	*b = byteSize(n)
	return err
}

// sizeUnit is a suffix of a byte count.
type sizeUnit struct {
	suffix string
	shift  uint
}

// sizeUnits are the suffixes, largest first.
var sizeUnits = []sizeUnit{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}, {"", 0}}

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
	i = slices.IndexFunc(sizeUnits, func(u sizeUnit) bool { return u.suffix == suffix })
	if i < 0 {
		return 0, errors.New("want a byte count like 268435456, 256M or 1G")
	}
	shift := sizeUnits[i].shift
	if n > math.MaxInt64>>shift {
		return 0, errors.New("too large")
	}
	return n << shift, nil
}

// formatSize writes n with the largest suffix that keeps it whole: 256M,
// 4G, 1536K.
func formatSize(n int64) string {
	for _, u := range sizeUnits {
		if n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
