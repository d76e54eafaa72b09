package fs

import (
	"log/slog"
	"time"

	"ftpfs/conn"
)

// Options configure a mount. Conn is the server and login; the rest are
// filesystem semantics.
type Options struct {
	Conn conn.Config
	// Root is the server directory mounted ("/" by default).
	Root string
	// FsName is what mount(8) and df show, e.g. "ftp://host/path"; never
	// with a password.
	FsName string

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
	// CacheDir holds staged writes, under staging/; required. Both must
	// be private to this user (package private), or Mount refuses.
	CacheDir string
	// StagingSize bounds the bytes staged for upload by open files
	// together (default 4 GiB); a write beyond it gets ENOSPC.
	StagingSize int64
	// NoAtomicUpload uploads under the file's own name instead of a
	// temporary name renamed over it, for servers that forbid that; a
	// failed upload then leaves a partial file (removed if possible).
	NoAtomicUpload bool
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
