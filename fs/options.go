package fs

import (
	"log/slog"
	"path"
	"path/filepath"
	"time"

	"ftpfs/cache"
	"ftpfs/conn"
)

// Options configure a mount. Conn is the server and login; the rest are
// filesystem semantics. A number left zero takes its value from
// DefaultOptions, except Umask, UID and GID, where zero is a value.
type Options struct {
	Conn conn.Config
	// Root is the server directory mounted ("/" by default).
	Root string
	// FsName is what mount(8) and df show, e.g. "ftp://host/path"; never
	// with a password.
	FsName string
	// NoExec mounts noexec. The mount is always nosuid and nodev: a
	// server's files must not become setuid programs or devices here.
	NoExec bool

	ReadOnly   bool
	AllowOther bool // implies default_permissions
	UID, GID   uint32
	// Umask is applied to the modes the server reports (or to 0777/0666
	// when it reports none).
	Umask uint32

	// DirCacheTTL is how long a listing answers lookups and stats.
	DirCacheTTL time.Duration
	// CacheSize bounds the block cache in bytes.
	CacheSize int64
	// CacheDir holds staged writes, under staging/; required (see
	// DefaultCacheDir). Both must be private to this user (package
	// private), or Mount refuses.
	CacheDir string
	// StagingSize bounds the bytes staged for upload by open files
	// together; a write beyond it gets ENOSPC.
	StagingSize int64
	// NoAtomicUpload uploads under the file's own name instead of a
	// temporary name renamed over it, for servers that forbid that; a
	// failed upload then leaves a partial file (removed if possible).
	NoAtomicUpload bool
	// VerifyReads compares a file read whole, in order, with the server's
	// digest of it (HASH and the like) at its end: a read that differs
	// gets EIO, and the file's cached blocks are dropped.
	VerifyReads bool
	// ChmodIgnore makes chmod succeed without SITE CHMOD.
	ChmodIgnore bool
	// RawSymlinks shows symlink targets exactly as the server sends them,
	// as sshfs does: the kernel then resolves absolute ones, and relative
	// ones that climb out of the mount, against this machine's files.
	// By default those show as dangling links inside the mount.
	RawSymlinks bool

	// Debug logs every FUSE request.
	Debug  bool
	Logger *slog.Logger
}

// DefaultOptions are the defaults of a mount, the one set that ftpfs
// mount's flags, their help text and Mount's zero fields all read: conn's
// for the connections, cache's for the block cache, fs's for the rest.
// What only the caller knows is left empty: the server and login, CacheDir,
// UID and GID.
func DefaultOptions() Options {
	return Options{
		Conn:        conn.DefaultConfig(),
		Root:        "/",
		Umask:       0o022,
		DirCacheTTL: 10 * time.Second,
		CacheSize:   cache.DefaultBlockCacheBytes,
		StagingSize: 4 << 30,
	}
}

// fill gives the zero fields of o their defaults.
func (o *Options) fill() {
	d := DefaultOptions()
	if o.Root == "" {
		o.Root = d.Root
	}
	o.Root = path.Clean("/" + o.Root)
	if o.DirCacheTTL == 0 {
		o.DirCacheTTL = d.DirCacheTTL
	}
	if o.CacheSize == 0 {
		o.CacheSize = d.CacheSize
	}
	if o.StagingSize <= 0 {
		o.StagingSize = d.StagingSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Conn.Logger == nil {
		o.Conn.Logger = o.Logger
	}
	// Mount bounds its first exchanges by these before conn fills the rest.
	if o.Conn.Timeout <= 0 {
		o.Conn.Timeout = d.Conn.Timeout
	}
	if o.Conn.MaxConns <= 0 {
		o.Conn.MaxConns = d.Conn.MaxConns
	}
}

// DefaultCacheDir is the cache directory of a user with home directory home
// (may be "") and environment lookupEnv, as the XDG base directory spec
// says: $XDG_CACHE_HOME/ftpfs when that is absolute (the spec ignores a
// relative one), else ~/.cache/ftpfs; "" when neither is known. There is
// no shared fallback under /tmp: another user could create it first.
func DefaultCacheDir(lookupEnv func(string) (string, bool), home string) string {
	if d, ok := lookupEnv("XDG_CACHE_HOME"); ok && filepath.IsAbs(d) {
		return filepath.Join(d, "ftpfs")
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".cache", "ftpfs")
}

// stagingPath is where a mount whose cache directory is cacheDir stages
// writes, and where the staged copies of failed uploads stay.
func stagingPath(cacheDir string) string { return filepath.Join(cacheDir, "staging") }
