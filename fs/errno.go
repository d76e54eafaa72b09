package fs

import (
	"errors"
	"log/slog"
	"syscall"

	"ftpfs/conn"
)

// toErrno maps an error from conn to the errno the caller sees. It is the
// only place that does: go-fuse would turn anything it does not know into
// ENOTSUP ("Operation not supported"), which hides what happened.
func toErrno(log *slog.Logger, op, path string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	switch conn.Classify(err) {
	case conn.ClassNotFound:
		return syscall.ENOENT
	case conn.ClassPermission:
		return syscall.EACCES
	case conn.ClassNoSpace:
		return syscall.ENOSPC
	case conn.ClassQuota:
		return syscall.EDQUOT
	case conn.ClassExists:
		return syscall.EEXIST
	case conn.ClassInvalid:
		return syscall.EINVAL
	case conn.ClassTimeout:
		log.Warn("server timeout", "op", op, "path", path, "err", err)
		return syscall.ETIMEDOUT
	case conn.ClassInterrupted:
		return syscall.EINTR
	case conn.ClassUnsupported:
		return syscall.ENOTSUP
	case conn.ClassNotEmpty:
		return syscall.ENOTEMPTY
	case conn.ClassTooLarge:
		log.Warn("listing refused: over its cap in lines or bytes (--max-listing-entries sets both)", "op", op, "path", path, "err", err)
		return syscall.EIO
	}
	log.Warn("server error", "op", op, "path", path, "err", err)
	return syscall.EIO
}
