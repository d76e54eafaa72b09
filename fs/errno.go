package fs

import (
	"errors"
	"log/slog"
	"syscall"

	"ftpfs/conn"
)

// Errors: every errno a program sees for a failed exchange with the
// server is decided here, from the class conn gives the error
// (conn.Classify) and the operation, so that the answers stay one policy.
// go-fuse would turn anything it does not know into ENOTSUP ("Operation
// not supported"), which hides what happened.

// classErrno is the errno of each class for most operations. A class not
// here (ClassOther, ClassUnavailable after conn's retries, ClassTooLarge)
// is EIO, logged.
var classErrno = map[conn.Class]syscall.Errno{
	conn.ClassNotFound:    syscall.ENOENT,
	conn.ClassPermission:  syscall.EACCES,
	conn.ClassNoSpace:     syscall.ENOSPC,
	conn.ClassQuota:       syscall.EDQUOT,
	conn.ClassExists:      syscall.EEXIST,
	conn.ClassInvalid:     syscall.EINVAL,
	conn.ClassTimeout:     syscall.ETIMEDOUT,
	conn.ClassInterrupted: syscall.EINTR,
	conn.ClassUnsupported: syscall.ENOTSUP,
	conn.ClassNotEmpty:    syscall.ENOTEMPTY,
	conn.ClassIllegalName: syscall.EILSEQ,
}

// opErrno holds the operations whose answer differs for some classes:
// for those it returns the errno and true, 0 meaning that the operation
// succeeds all the same; for the others, false, and classErrno applies.
var opErrno = map[string]func(conn.Class) (syscall.Errno, bool){
	// A server without SITE CHMOD: chmod(2) says EPERM for a change
	// that cannot be made.
	"chmod": func(c conn.Class) (syscall.Errno, bool) {
		return syscall.EPERM, c == conn.ClassUnsupported
	},
	// -o chmod=ignore: whatever the server says, chmod succeeds.
	"chmod ignored": func(conn.Class) (syscall.Errno, bool) { return 0, true },
	// A server with no way to set times: the mount keeps the time until
	// the next listing, rather than fail rsync -a.
	"utimens": func(c conn.Class) (syscall.Errno, bool) {
		return 0, c == conn.ClassUnsupported
	},
	// Servers that set times on files only (vsftpd) refuse a
	// directory's in any words: kept the same way, unless the server
	// could not be reached at all.
	"utimens dir": func(c conn.Class) (syscall.Errno, bool) {
		return 0, c != conn.ClassTimeout && c != conn.ClassUnavailable
	},
}

// toErrno maps an error of op on path to the errno the caller sees. An
// errno already decided (ENOENT from a listing) passes through.
func toErrno(log *slog.Logger, op, path string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	c := conn.Classify(err)
	if rule, ok := opErrno[op]; ok {
		if errno, ok := rule(c); ok {
			return errno
		}
	}
	switch c {
	case conn.ClassTimeout:
		log.Warn("server timeout", "op", op, "path", path, "err", err)
	case conn.ClassTooLarge:
		log.Warn("listing refused: over its cap in lines or bytes (--max-listing-entries sets both)", "op", op, "path", path, "err", err)
		return syscall.EIO
	}
	if errno, ok := classErrno[c]; ok {
		return errno
	}
	log.Warn("server error", "op", op, "path", path, "err", err)
	return syscall.EIO
}

// stageErrno is what a program is told after a change to its local
// staging copy failed: ENOSPC for a full disk or the staging limit, EIO
// for anything else, since the copy is then not what the program wrote.
func stageErrno(err error) syscall.Errno {
	if errors.Is(err, syscall.ENOSPC) {
		return syscall.ENOSPC
	}
	return syscall.EIO
}
