package conn

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Copies on the server: proftpd's mod_copy (in Debian's proftpd-core)
// copies a file with SITE CPFR and SITE CPTO, so that a copy within the
// mount moves no byte over the network. Servers do not all say that
// they have it (mod_copy adds "SITE COPY" to FEAT; others may not), so
// the first copy asks, and a refusal as an unknown command is
// remembered: from then on the mount copies through its own reads and
// writes.

// ErrNoCopy is a server without SITE CPFR and CPTO.
var ErrNoCopy = &Error{Op: "copy", Err: fmt.Errorf("the server has no SITE CPFR/CPTO: %w", ClassUnsupported)}

// CanCopy says whether Copy may work here: false once the server refused
// SITE CPFR as a command it lacks.
func (p *Pool) CanCopy() bool { return !p.noCopy.Load() }

// Copy copies the file from to tmp on the server (SITE CPFR, SITE CPTO),
// checks that tmp holds pl.Size bytes (SIZE) and, where the server
// tells digests, the source's, and puts it in place as
// Upload.Commit does (SITE CHMOD, DELE, RNFR and RNTO per pl): a copy of
// the wrong size never replaces anything. On failure tmp may exist, as
// an upload's temporary name does: the caller removes it (unless
// Placed.Removed says it is the only copy left), but after ErrNoCopy,
// when nothing was made.
func (p *Pool) Copy(ctx context.Context, from, tmp string, pl Placement) (Placed, error) {
	var done Placed
	if p.noCopy.Load() {
		return done, ErrNoCopy
	}
	err := p.once(ctx, Metadata, func(c *Conn) error {
		if err := c.copyTo(ctx, from, tmp, pl.Size); err != nil {
			return err
		}
		_, err := c.runSteps(ctx, placeSteps(tmp, pl), &done, false)
		if refusedOver(err) {
			done.Removed, err = c.replaceFile(ctx, tmp, pl.To)
		}
		return err
	})
	if errors.Is(err, ErrNoCopy) {
		p.noCopy.Store(true)
	}
	return done, err
}

// copyTo makes the copy of from at tmp and checks its size.
func (c *Conn) copyTo(ctx context.Context, from, tmp string, size int64) error {
	if _, err := c.expect(ctx, "copy", from, []int{350}, "SITE CPFR "+from); err != nil {
		var fe *Error
		if errors.As(err, &fe) && fe.Code != 0 && Classify(err) == ClassUnsupported {
			return ErrNoCopy
		}
		return err
	}
	if err := c.send(ctx, "SITE CPTO "+tmp); err != nil {
		return &Error{Op: "copy", Path: tmp, Err: err}
	}
	// The server copies before it answers: time for the bytes, at a
	// modest 16 MiB/s on its disks, on top of the exchange's.
	r, err := c.readReplyBy(ctx, c.deadline(ctx).Add(time.Duration(size>>24)*time.Second))
	if err != nil {
		return &Error{Op: "copy", Path: tmp, Err: err}
	}
	if r.code != 250 && r.code != 200 {
		if r.code == 421 {
			c.broken = true
		}
		c.cfg.stats.failed(classifyReply(r.code, r.msg))
		return &Error{Op: "copy", Path: tmp, Code: r.code, Msg: firstLine(r.msg)}
	}
	if !c.feat.Size {
		return nil
	}
	r, err = c.expect(ctx, "size", tmp, []int{213}, "SIZE "+tmp)
	if err != nil {
		return err
	}
	if err := checkSize(r, tmp, size); err != nil {
		return err
	}
	return c.sameDigest(ctx, from, tmp, size)
}

// sameDigest compares the server's digests of from and of its copy tmp
// where it tells them (HASH, else the X commands; see hash.go), as an
// upload's is compared with the bytes sent.
func (c *Conn) sameDigest(ctx context.Context, from, tmp string, size int64) error {
	how, ok := hashVerbOf(c.feat)
	if !ok || !hashable(c.cfg, size) {
		return nil
	}
	want, ok, err := c.serverDigest(ctx, how, from, false)
	if err != nil || !ok {
		return err
	}
	got, ok, err := c.serverDigest(ctx, how, tmp, false)
	if err != nil || !ok {
		return err
	}
	if got != want {
		return &Error{Op: "hash", Path: tmp, Err: fmt.Errorf("%w (%s: the copy's %s, the source's %s)", ErrHashMismatch, how.alg, got, want)}
	}
	return nil
}
