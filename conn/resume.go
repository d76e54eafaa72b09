package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Resumable uploads: an upload whose data connection drops goes on where
// the server's copy ends (its SIZE), on the same name: REST and STOR,
// else APPE, and only where neither works from byte 0 again, a bounded
// number of times. The name is the caller's temporary one, renamed by
// Commit only once the whole is there, so a partial file never shows
// under the real name.

const (
	// resumeStalls is how many attempts in a row may leave the server's
	// copy where it was before the upload gives up.
	resumeStalls = 3
	// resumeRestarts is how many times an upload starts again from
	// byte 0 on a server that resumes neither way.
	resumeRestarts = 2
)

// resumeHow is the way the next attempt continues an upload.
type resumeHow int

const (
	viaRest  resumeHow = iota // REST n, then STOR
	viaAppe                   // APPE
	viaStart                  // STOR from byte 0
)

// errSource marks a failure to read what is uploaded: not the server's
// doing, and no reason to try again.
var errSource = errors.New("upload: reading the source")

// SendFrom sends the bytes of r from the upload's position up to size.
// When the transfer fails in a way that may pass (the data connection
// dropped, 426, a broken control connection), the upload goes on from
// the server's size on another connection, and the digest of the bytes
// sent follows (hash.go). On failure the upload has ended and its
// connection is back in the pool; the caller still owns what the server
// may hold under the name.
func (u *Upload) SendFrom(ctx context.Context, r io.ReaderAt, size int64) error {
	err := u.sendRange(ctx, r, size)
	if err == nil {
		return nil
	}
	u.Abort()
	return u.resume(ctx, r, size, err)
}

// Resume goes on with an upload whose transfer failed with cause (a
// Write's error), as SendFrom does after one: from the server's size of
// its name, with r's bytes up to size. The bytes sent before must be r's.
func (u *Upload) Resume(ctx context.Context, r io.ReaderAt, size int64, cause error) error {
	u.Abort()
	return u.resume(ctx, r, size, cause)
}

// CommitFrom is Commit for an upload of r's bytes: when the transfer's
// final reply says it failed in a way that may pass (the data connection
// dropped after the last byte was written, before the server had them
// all), the upload goes on from the server's size as SendFrom's does,
// and is committed again, within the same bounds.
func (u *Upload) CommitFrom(ctx context.Context, pl Placement, r io.ReaderAt) (Placed, error) {
	for {
		placed, err := u.Commit(ctx, pl)
		var fe *Error
		if err == nil || !errors.As(err, &fe) || fe.Op != "stor" || !Retriable(err) {
			return placed, err
		}
		if err := u.resume(ctx, r, pl.Size, err); err != nil {
			return placed, err
		}
	}
}

// resumer is the course of an upload's resumes, kept across its
// transfers.
type resumer struct {
	how              resumeHow
	stalls, restarts int
	resumes          int
	held             int64 // the server's copy when the last attempt started
}

// resume goes on with an upload that failed with err, until all of r up
// to size is sent, the server's copy stops growing, or a way that does
// not resume has started from byte 0 too often.
func (u *Upload) resume(ctx context.Context, r io.ReaderAt, size int64, err error) error {
	rs := u.rs
	if rs == nil {
		rs = &resumer{held: -1}
	}
	path := u.t.path
	for {
		next, off, err := u.restart(ctx, rs, size, err)
		if err != nil {
			return err
		}
		if err := next.followOn(u, r, off); err != nil {
			next.Abort()
			return err
		}
		*u = *next
		u.rs = rs
		rs.resumes++
		if err = u.sendRange(ctx, r, size); err == nil {
			u.p.cfg.Logger.Info("upload went on after its data connection broke", "path", path, "resumes", rs.resumes, "restarts", rs.restarts)
			return nil
		}
		u.Abort()
	}
}

// restart starts the transfer that continues u after err, and says
// where it starts.
func (u *Upload) restart(ctx context.Context, rs *resumer, size int64, err error) (*Upload, int64, error) {
	path := u.t.path
	for {
		if errors.Is(err, errSource) || !Retriable(err) || ctx.Err() != nil {
			return nil, 0, err
		}
		off, serr := u.p.Size(ctx, path)
		if unreached(serr) {
			// The pool tried its connections already: another attempt
			// would wait as long, and the caller's syscall waits. (A
			// server back a moment later is not waited for: the
			// caller's upload of its staged copy comes next.)
			return nil, 0, serr
		}
		if serr != nil || off > u.n || off > size {
			// The server's copy is unknown, or not ours: from byte 0.
			off, rs.how = 0, viaStart
		}
		if off > rs.held {
			rs.stalls = 0
		} else if rs.stalls++; rs.stalls >= resumeStalls {
			return nil, 0, err
		} else if rs.how < viaStart {
			rs.how++ // that way moved nothing: the next one
		}
		rs.held = off
		u.p.cfg.Logger.Debug("upload broke; going on", "path", path, "at", off, "how", rs.how, "err", err)
		for {
			if rs.how == viaStart {
				off, rs.held = 0, 0
				if rs.restarts++; rs.restarts > resumeRestarts {
					return nil, 0, err
				}
			}
			var next *Upload
			next, err = u.p.startAt(ctx, path, off, rs.how)
			if err == nil {
				return next, off, nil
			}
			if rs.how == viaStart || !refused(err) {
				break
			}
			// Refused this way (proftpd: 451 "Append/Restart not
			// permitted"): the next one.
			rs.how++
		}
	}
}

// unreached says whether err came without a reply from the server: the
// pool's retries of a connection ran out.
func unreached(err error) bool {
	if err == nil {
		return false
	}
	var fe *Error
	return !errors.As(err, &fe) || fe.Code == 0
}

// refused says whether err is a reply to the command that would have
// continued an upload: the server does not resume that way.
func refused(err error) bool {
	var fe *Error
	return errors.As(err, &fe) && fe.Code >= 400
}

// startAt starts an upload of path that continues at off, as how says.
func (p *Pool) startAt(ctx context.Context, path string, off int64, how resumeHow) (*Upload, error) {
	switch {
	case off == 0 || how == viaStart:
		return p.startUpload(ctx, path, true, "STOR", 0)
	case how == viaAppe:
		u, err := p.startUpload(ctx, path, true, "APPE", 0)
		if err == nil {
			u.n = off
		}
		return u, err
	}
	return p.startUpload(ctx, path, true, "STOR", off)
}

// followOn makes next, which continues prev at off, carry prev's digest
// of the bytes up to off.
func (next *Upload) followOn(prev *Upload, r io.ReaderAt, off int64) error {
	if prev.sum == nil || next.sum == nil {
		return nil
	}
	next.sum = prev.sum
	if err := next.sum.rewind(off, r); err != nil {
		return fmt.Errorf("%w: %w", errSource, err)
	}
	return nil
}

// sendRange writes r's bytes from u.n to size.
func (u *Upload) sendRange(ctx context.Context, r io.ReaderAt, size int64) error {
	u.t.live.sizeOf(io.NewSectionReader(r, 0, size)) // for ftpfs stats: the whole upload
	buf := make([]byte, 256<<10)
	for u.n < size {
		n, rerr := r.ReadAt(buf[:min(int64(len(buf)), size-u.n)], u.n)
		if n > 0 {
			if _, err := u.Write(ctx, buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF && u.n < size {
			rerr = io.ErrUnexpectedEOF
		}
		if rerr != nil && rerr != io.EOF {
			return fmt.Errorf("%w: %w", errSource, rerr)
		}
	}
	return nil
}

// Size asks SIZE for a file's size.
func (p *Pool) Size(ctx context.Context, path string) (int64, error) {
	var n int64
	err := p.do(ctx, Metadata, func(c *Conn) error {
		r, err := c.expect(ctx, "size", path, []int{213}, "SIZE "+path)
		if err != nil {
			return err
		}
		n, err = strconv.ParseInt(strings.TrimSpace(r.msg), 10, 64)
		if err != nil || n < 0 {
			return &Error{Op: "size", Path: path, Code: r.code, Msg: r.msg}
		}
		return nil
	})
	return n, err
}
