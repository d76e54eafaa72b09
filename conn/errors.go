package conn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Class is what an error means to a caller that must pick an errno. A
// Class is an error itself, so that errors.Is(err, ClassNotFound) asks
// whether an *Error is of that class, and an *Error may wrap one to state
// its class where there was no reply to read it from.
type Class int

const (
	ClassOther       Class = iota // anything else: EIO
	ClassNotFound                 // 550 for a missing name: ENOENT
	ClassPermission               // 530, 532, 550 "permission": EACCES
	ClassNoSpace                  // 452, 552 "storage": ENOSPC
	ClassQuota                    // 552 "quota": EDQUOT
	ClassExists                   // EEXIST
	ClassInvalid                  // a name FTP cannot carry (CR, LF, NUL): EINVAL
	ClassTimeout                  // the server did not answer in time: ETIMEDOUT
	ClassUnavailable              // connection refused or lost, 421: EIO after retries
	ClassInterrupted              // the caller's context was cancelled: EINTR
	ClassUnsupported              // 500, 502, 504: the server lacks the command
	ClassNotEmpty                 // 550 "directory not empty": ENOTEMPTY
	ClassTooLarge                 // a listing over the caps: EIO, not retried
	ClassIllegalName              // a name the server's encoding cannot hold: EILSEQ
)

var classNames = [...]string{
	ClassOther:       "failed",
	ClassNotFound:    "not found",
	ClassPermission:  "permission denied",
	ClassNoSpace:     "no space left",
	ClassQuota:       "quota exceeded",
	ClassExists:      "already exists",
	ClassInvalid:     "invalid name",
	ClassTimeout:     "timed out",
	ClassUnavailable: "server unavailable",
	ClassInterrupted: "interrupted",
	ClassUnsupported: "not offered by the server",
	ClassNotEmpty:    "directory not empty",
	ClassTooLarge:    "listing too large",
	ClassIllegalName: "name not in the server's encoding",
}

func (c Class) Error() string {
	if c >= 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class %d", int(c))
}

// Error is a failed FTP exchange. It never carries credentials.
type Error struct {
	Op   string // "list", "retr", ...
	Path string
	Code int    // the reply code, 0 when there was no reply
	Msg  string // the reply text
	Err  error  // the transport error, when there was no reply
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Path != "" {
		fmt.Fprintf(&b, " %q", e.Path)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, ": %d %s", e.Code, e.Msg)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, class) true when the exchange failed in that
// class, as Classify tells it.
func (e *Error) Is(target error) bool {
	c, ok := target.(Class)
	return ok && Classify(e) == c
}

// ErrInvalidName is returned, before anything is sent, for a path that
// would break the command line it travels in.
var ErrInvalidName = errors.New("name contains CR, LF or NUL")

// ErrListingTooLarge ends a listing longer than Config.MaxListingEntries
// lines or Config.MaxListingBytes bytes.
var ErrListingTooLarge = errors.New("listing too large")

// errTooMany is a 421 that asks for fewer connections.
var errTooMany = errors.New("server refuses more connections")

// Classify says what err means, for errno mapping and retries. For an
// *Error, errors.Is(err, class) says the same.
func Classify(err error) Class {
	if err == nil {
		return ClassOther
	}
	switch {
	case errors.Is(err, context.Canceled):
		return ClassInterrupted
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, errTimeout):
		return ClassTimeout
	case errors.Is(err, ErrInvalidName):
		return ClassInvalid
	case errors.Is(err, ErrListingTooLarge):
		return ClassTooLarge
	case errors.Is(err, ErrUnencodable):
		return ClassIllegalName
	}
	var c Class
	if errors.As(err, &c) {
		return c
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ClassTimeout
	}
	var fe *Error
	if errors.As(err, &fe) && fe.Code != 0 {
		return classifyReply(fe.Code, fe.Msg)
	}
	return ClassUnavailable
}

func classifyReply(code int, msg string) Class {
	lower := strings.ToLower(msg)
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(lower, w) {
				return true
			}
		}
		return false
	}
	switch code {
	case 421, 425, 426:
		return ClassUnavailable
	case 450, 451:
		return ClassUnavailable
	case 452:
		return ClassNoSpace
	case 500, 502, 504:
		return ClassUnsupported
	case 530, 532:
		return ClassPermission
	case 550, 553:
		switch {
		case has("not empty"):
			return ClassNotEmpty
		case has("permission", "access", "denied", "not allowed", "forbidden", "outside", "not permitted"):
			return ClassPermission
		case has("exist") && !has("not exist", "no such", "doesn't exist", "does not exist"):
			return ClassExists
		case code == 553 && has("name", "invalid"):
			return ClassInvalid
		case code == 553:
			// "File name not allowed": vsftpd's "Could not create
			// file." for a directory it may not write.
			return ClassPermission
		}
		return ClassNotFound
	case 552:
		if has("quota") {
			return ClassQuota
		}
		return ClassNoSpace
	}
	return ClassOther
}

// Retriable says whether repeating the exchange on a fresh connection may
// succeed: the connection broke, or the server said "try again" (4xx).
func Retriable(err error) bool {
	switch Classify(err) {
	case ClassUnavailable:
		return true
	}
	return false
}
