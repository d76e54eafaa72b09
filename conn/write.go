package conn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Operations that change the server. None is retried on its own: after a
// connection broke in the middle, nobody knows whether a rename or an
// upload happened, and only the caller can check and decide.

// once runs fn on a connection of kind, without retries.
func (p *Pool) once(ctx context.Context, kind Kind, fn func(c *Conn) error) error {
	c, err := p.get(ctx, kind, true)
	if err != nil {
		return err
	}
	err = fn(c)
	p.put(c, kind)
	return err
}

// Upload is a STOR in progress: Write or SendFrom sends data, Commit ends
// the transfer, checks it and puts it in place; Abort drops it.
type Upload struct {
	p      *Pool
	c      *Conn
	t      *transfer
	n      int64
	closed bool
	ahead  bool     // it went on a data connection opened ahead
	sum    *summer  // the digest of the bytes sent (hash.go)
	rs     *resumer // its resumes so far (resume.go)
	// hashLines went with SIZE; hashReply is the last one's reply.
	hashLines int
	hashReply *reply
}

// StartUpload begins storing the whole of path (STOR from its start).
func (p *Pool) StartUpload(ctx context.Context, path string) (*Upload, error) {
	return p.startUpload(ctx, path, true, "STOR", 0)
}

// TryStartUpload is StartUpload that does not wait for a connection: it
// returns ErrBusy when none is free, for an upload that is only worth
// doing when it costs nobody a wait.
func (p *Pool) TryStartUpload(ctx context.Context, path string) (*Upload, error) {
	return p.startUpload(ctx, path, false, "STOR", 0)
}

// startUpload sends verb (STOR or APPE) for path, from off (REST).
func (p *Pool) startUpload(ctx context.Context, path string, wait bool, verb string, off int64) (*Upload, error) {
	for {
		c, err := p.get(ctx, Transfer, wait)
		if err != nil {
			return nil, err
		}
		ahead := c.ready.data != nil && time.Since(c.ready.at) <= readyAge
		// An APPE waits for its 150: a refusal then says the server
		// does not resume that way (resume.go).
		t, err := c.startTransfer(ctx, "stor", path, verb+" "+path, off, verb == "STOR")
		if err != nil {
			p.put(c, Transfer)
			if errors.Is(err, errPipelinedEPSV) {
				continue // that connection is dropped; the next one starts afresh
			}
			return nil, err
		}
		return &Upload{p: p, c: c, t: t, ahead: ahead, sum: newSummer(c.feat), n: off}, nil
	}
}

// Write sends b; ctx bounds this call only.
func (u *Upload) Write(ctx context.Context, b []byte) (int, error) {
	u.t.ctx = ctx
	n, err := u.t.Write(b)
	u.n += int64(n)
	u.sum.add(b[:n])
	if err != nil {
		// The server may have said why (552 on a full disk) before it
		// closed the data connection: that reply is the better error.
		if rerr := u.finish(ctx); rerr != nil {
			return n, rerr
		}
		return n, err
	}
	return n, nil
}

// Abort ends the upload without caring about its result.
func (u *Upload) Abort() {
	if u.closed {
		return
	}
	u.closed = true
	u.t.abort()
	u.p.put(u.c, Transfer)
}

func (u *Upload) finish(ctx context.Context) error {
	if u.closed {
		return errors.New("upload already ended")
	}
	u.closed = true
	u.t.ctx = ctx
	err := u.refusedAhead(u.t.finish())
	u.p.put(u.c, Transfer)
	return err
}

// refusedAhead passes err on, noting a 425 to an upload on a data
// connection opened ahead: the server dropped the port, and this
// connection opens none ahead from then on. (The server stored nothing:
// the caller may upload again.)
func (u *Upload) refusedAhead(err error) error {
	var fe *Error
	if u.ahead && errors.As(err, &fe) && fe.Code == 425 {
		u.c.ready.refused = true
	}
	return err
}

// Placement says how Commit puts a finished upload in place.
type Placement struct {
	Size     int64  // the bytes the server must hold
	Mode     uint32 // SITE CHMOD the upload to Mode before the rename
	HasMode  bool
	To       string // rename the upload to To; "" leaves it where it is
	DeleteTo bool   // DELE To before the rename
}

// Placed is what Commit did besides succeeding or failing.
type Placed struct {
	// ModeErr is a failed SITE CHMOD, which stops nothing: the content
	// is in place regardless.
	ModeErr error
	// Removed: the server refused to rename over the file at To, which
	// was deleted to make room. With an error, the upload under its own
	// name is then the only copy on the server.
	Removed bool
	// ModTime is the server's time of the file under its final name,
	// as its listings give it; zero when not told (commit_time.go).
	ModTime time.Time
	// ZoneAsked: the commit's MDTM was compared with the clock, as
	// LearnZone does, and ZoneChanged is what LearnZone would return.
	ZoneAsked, ZoneChanged bool
}

// Commit ends the upload, checks it and puts it in place on its own
// connection, in two round trips once the last byte is sent where the
// server has SIZE: SIZE goes with the end of the data, and its reply
// comes after the transfer's final one; then SITE CHMOD, RNFR and RNTO
// (DELE and RNFR before RNTO with DeleteTo) travel together. The rename
// goes out only once the transfer completed (2xx) and a SIZE answered
// after that final reply said Size: a wrong-sized upload never replaces
// anything. Otherwise nothing is renamed, and the upload stays under its
// name for the caller to remove. A server that refuses to rename over an
// existing file gets a DELE of it and the rename again (see
// Placed.Removed).
//
// Where the connection can open data connections ahead (canArm), the
// next transfer's EPSV goes with SIZE, and its data connection is opened
// while the rename travels: a next upload on this connection then starts
// with STOR alone, and costs two round trips in all. Without SIZE, the
// EPSV goes with the rename, and the connection comes back to the pool
// once its data connection is open, after Commit returned.
//
// Some servers answer commands that arrive during a transfer at once,
// before its final reply (proftpd with the size so far, pure-ftpd with
// 500): the order of the replies tells, and the size is then asked again
// after the final reply. One that answered with a size answers only one
// command during a transfer: SIZE goes twice from then on, and one of
// them is answered after the final reply (write_early.go; two round
// trips still). Otherwise, or should both be answered early on a few
// uploads in a row, the pool sends SIZE (and EPSV) after the final reply
// from then on (three round trips).
func (u *Upload) Commit(ctx context.Context, pl Placement) (Placed, error) {
	var done Placed
	if u.closed {
		return done, errors.New("upload already ended")
	}
	u.closed = true
	c, t, from := u.c, u.t, u.t.path
	var next ahead
	defer u.release(&next)
	t.ctx, t.done = ctx, true
	early := c.feat.Size && u.n == pl.Size && !u.p.answersInTransfer.Load() && u.p.Pipelining()
	// SIZE goes twice to a server that answered it during a transfer
	// with a size: it answers one command then (write_early.go).
	twice := early && u.p.sizeInTransfer.Load()
	arm := c.canArm() && u.p.Pipelining()
	// EPSV goes with the end of the data only to a server that answered
	// SIZE there after the final reply before, or that answers one
	// command during a transfer: one that refuses commands during a
	// transfer may drop it (pure-ftpd).
	armEarly := early && arm && (twice || u.p.answersInOrder.Load())
	if err := t.closeData(); err != nil {
		// A TLS close_notify that could not be sent: the server may not
		// have seen the end of the upload.
		c.broken = true
		return done, &Error{Op: "stor", Path: from, Err: err}
	}
	if early {
		lines := []string{"SIZE " + from}
		if twice {
			lines = twiceLines(from, u.hashTwice(from), armEarly)
		} else {
			lines = u.withHash(lines, from)
		}
		if !twice && armEarly {
			lines = append(lines, "EPSV")
		}
		if err := c.sendAll(ctx, lines...); err != nil {
			return done, &Error{Op: "size", Path: from, Err: err}
		}
	}
	var size, epsv *reply
	var err error
	if twice {
		size, epsv, err = u.endedTwice(ctx, armEarly)
	} else {
		size, epsv, err = u.ended(ctx, early, armEarly)
	}
	if epsv != nil {
		next.start(c, *epsv)
	}
	if err != nil {
		return done, u.refusedAhead(err)
	}
	if u.n != pl.Size {
		return done, &Error{Op: "stor", Path: from, Err: fmt.Errorf("short upload: %d bytes of %d", u.n, pl.Size)}
	}
	// An EPSV sent early whose reply was not used (it came during the
	// transfer, or nobody knows where) leaves the next one to SIZE's or
	// the rename's flight.
	arm = arm && next.ch == nil && c.canArm()
	if c.feat.Size && size == nil {
		r, epsv, err := u.sizeArming(ctx, from, arm)
		if epsv != nil {
			next.start(c, *epsv)
		}
		arm = false
		if err != nil {
			return done, err
		}
		size = &r
	}
	if size != nil {
		if err := checkSize(*size, from, pl.Size); err != nil {
			return done, err
		}
	}
	if err := u.verify(ctx, from); err != nil {
		return done, err
	}
	steps := placeSteps(from, pl)
	told := u.p.timeAsks(c, steps, from, pl)
	epsv, err = c.runSteps(ctx, steps, &done, arm && len(steps) > 0, told.asks...)
	if epsv != nil {
		next.start(c, *epsv)
	}
	if err == nil {
		u.p.place(told, &done)
	}
	if refusedOver(err) {
		done.Removed, err = c.replaceFile(ctx, from, pl.To)
	}
	return done, err
}

// ahead is the data connection of the next transfer, being opened while
// the commit goes on: the connect's round trip overlaps the rename's.
type ahead struct {
	ch chan net.Conn // the connection, or nil when the connect failed
}

// start opens the data connection of r, the reply to an EPSV sent ahead,
// on its own goroutine. A refusal, or a reply without a port, is dealt
// with at once, as armReply does.
func (a *ahead) start(c *Conn, r reply) {
	if a.ch != nil {
		return // one EPSV goes ahead per commit
	}
	if r.code != 229 {
		c.armReply(context.Background(), r) // no network: a refusal
		return
	}
	addr, err := c.epsvAddr(r)
	if err != nil {
		return // the connection is broken: the reply made no sense
	}
	a.ch = make(chan net.Conn, 1)
	deadline := time.Now().Add(min(c.cfg.Timeout, 5*time.Second))
	go func() {
		data, err := c.cfg.dialTCP(context.Background(), addr, deadline)
		if err != nil {
			data = nil
		}
		a.ch <- data
	}()
}

// keep makes data, the outcome of start, the connection's next data
// connection. Failing, it leaves nothing out of step: the port stays open
// on the server until the next EPSV replaces it.
func (a *ahead) keep(c *Conn, data net.Conn) {
	switch {
	case data == nil:
		c.ready.refused = true
	case c.broken || c.ready.refused || c.ready.data != nil:
		data.Close()
	default:
		c.ready.data, c.ready.at = data, time.Now()
	}
}

// release returns the upload's connection to the pool, with the next
// transfer's data connection when it is open. One still connecting,
// which the rename's round trip should have covered, is waited for off
// the caller's path: the connection comes back to the pool after that.
func (u *Upload) release(a *ahead) {
	c := u.c
	if a.ch == nil {
		u.p.put(c, Transfer)
		return
	}
	select {
	case data := <-a.ch:
		a.keep(c, data)
		u.p.put(c, Transfer)
	case <-time.After(max(c.rtt/2, time.Millisecond)):
		u.p.putAfter(c, Transfer, func() { a.keep(c, <-a.ch) })
	}
}

// storReply is the error of an upload's final reply, nil for a 2xx.
func storReply(c *Conn, from string, r reply) error {
	if r.code >= 200 && r.code <= 299 {
		return nil
	}
	if r.code == 421 {
		c.broken = true
	}
	c.cfg.stats.failed(classifyReply(r.code, r.msg))
	return &Error{Op: "stor", Path: from, Code: r.code, Msg: firstLine(r.msg)}
}

// checkSize compares SIZE's reply for from with the bytes sent.
func checkSize(r reply, from string, want int64) error {
	if r.code != 213 {
		return &Error{Op: "size", Path: from, Code: r.code, Msg: firstLine(r.msg)}
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(r.msg), 10, 64); err != nil || n != want {
		return &Error{Op: "size", Path: from, Err: fmt.Errorf("the server holds %q bytes, %d were sent", r.msg, want)}
	}
	return nil
}

// step is one command of a flight and the replies that mean success
// (nil: any reply).
type step struct {
	op, path, line string
	codes          []int
}

// placeSteps are the commands that put a checked upload in place.
func placeSteps(from string, pl Placement) []step {
	var steps []step
	if pl.HasMode {
		steps = append(steps, step{"chmod", from, fmt.Sprintf("SITE CHMOD %04o %s", pl.Mode&0o7777, from), []int{200, 250}})
	}
	if pl.To == "" {
		return steps
	}
	if pl.DeleteTo {
		steps = append(steps, step{"delete", pl.To, "DELE " + pl.To, nil})
	}
	// A refused RNFR makes the server refuse the RNTO too (503): the
	// two travel together, and the RNFR's reply is the error.
	return append(steps, step{"rename", from, "RNFR " + from, []int{350}},
		step{"rename", pl.To, "RNTO " + pl.To, []int{250, 200}})
}

// runSteps sends steps together and reads their replies. The first
// failure but a chmod's is returned once every reply is read, so that
// the connection stays in step; a chmod's goes to done.ModeErr.
//
// Asks go behind the steps (see commit_time.go), and the EPSV behind
// them: with arm, its reply is returned for the next transfer; a failure
// to read it breaks the connection and nothing else: the steps' replies
// are in.
func (c *Conn) runSteps(ctx context.Context, steps []step, done *Placed, arm bool, asks ...ask) (*reply, error) {
	if len(steps) == 0 {
		return nil, nil
	}
	lines := make([]string, len(steps), len(steps)+len(asks)+1)
	for i, s := range steps {
		lines[i] = s.line
	}
	for _, a := range asks {
		lines = append(lines, a.line)
	}
	if arm {
		lines = append(lines, "EPSV")
	}
	if err := c.sendAll(ctx, lines...); err != nil {
		return nil, &Error{Op: steps[0].op, Path: steps[0].path, Err: err}
	}
	var failed error
	for _, s := range steps {
		r, err := c.readReply(ctx)
		if err != nil {
			return nil, &Error{Op: s.op, Path: s.path, Err: err}
		}
		if r.code == 421 {
			c.broken = true
		}
		if s.codes == nil || slices.Contains(s.codes, r.code) {
			continue
		}
		serr := &Error{Op: s.op, Path: s.path, Code: r.code, Msg: firstLine(r.msg)}
		if s.op == "chmod" {
			done.ModeErr = serr
		} else if failed == nil {
			failed = serr
		}
	}
	readAsks(ctx, c, asks)
	if !arm || c.broken {
		return nil, failed
	}
	r, err := c.readReply(ctx)
	if err != nil {
		return nil, failed // broken by readReply
	}
	return &r, failed
}

// refusedOver says whether a rename failed because its target exists:
// the reply to RNTO of a server that does not replace files.
func refusedOver(err error) bool {
	var fe *Error
	return errors.As(err, &fe) && fe.Op == "rename" && Classify(err) == ClassExists
}

// replaceFile deletes the file to, then renames from to it, for a server
// that refused to rename over it. removed says whether to was deleted;
// the error is the DELE's, said to follow a refusal, when it fails.
func (c *Conn) replaceFile(ctx context.Context, from, to string) (removed bool, err error) {
	if err := c.delete(ctx, to); err != nil {
		return false, fmt.Errorf("rename over an existing file refused, and it could not be removed: %w", err)
	}
	return true, c.rename(ctx, from, to)
}

// rename renames from to to (RNFR, RNTO) on a connection of its own.
// Most servers replace an existing file at to; RenameOver also deals with
// those that do not.
func (p *Pool) rename(ctx context.Context, from, to string) error {
	return p.once(ctx, Metadata, func(c *Conn) error { return c.rename(ctx, from, to) })
}

func (c *Conn) rename(ctx context.Context, from, to string) error {
	// Both at once, one round trip: a refused RNFR makes the server
	// refuse the RNTO too (503), and its reply is the error.
	if err := c.sendAll(ctx, "RNFR "+from, "RNTO "+to); err != nil {
		return &Error{Op: "rename", Path: from, Err: err}
	}
	return c.renamed(ctx, from, to)
}

// renamed reads the replies to RNFR and RNTO.
func (c *Conn) renamed(ctx context.Context, from, to string) error {
	_, ferr := c.check(ctx, "rename", from, []int{350})
	if c.broken && ferr != nil {
		return ferr
	}
	_, terr := c.check(ctx, "rename", to, []int{250, 200})
	if ferr != nil {
		return ferr
	}
	return terr
}

// RenameOver renames from to to, replacing what to names as rename(2)
// does. A server that refuses to replace an existing file (its reply
// says the target exists) gets a DELE of the target and the rename
// again. Anything but a file (file unset) replaces only an empty
// directory: RMD, which fails on a full one, then the rename. removed
// says whether the file at to was deleted: with an error, from is then
// the only copy of either.
func (p *Pool) RenameOver(ctx context.Context, from, to string, file bool) (removed bool, err error) {
	err = p.renameBehindTrail(ctx, from, to)
	if !refusedOver(err) {
		return false, err
	}
	if !file {
		if rerr := p.Rmdir(ctx, to); rerr != nil {
			if Classify(rerr) == ClassNotEmpty {
				return false, rerr
			}
			return false, err
		}
		return false, p.rename(ctx, from, to)
	}
	err = p.once(ctx, Metadata, func(c *Conn) error {
		var rerr error
		removed, rerr = c.replaceFile(ctx, from, to)
		return rerr
	})
	return removed, err
}

// Delete removes a file (DELE).
func (p *Pool) Delete(ctx context.Context, path string) error {
	return p.once(ctx, Metadata, func(c *Conn) error { return c.delete(ctx, path) })
}

func (c *Conn) delete(ctx context.Context, path string) error {
	_, err := c.expect(ctx, "delete", path, []int{250, 200}, "DELE "+path)
	return err
}

// Mkdir creates a directory (MKD).
func (p *Pool) Mkdir(ctx context.Context, path string) error {
	return p.once(ctx, Metadata, func(c *Conn) error {
		_, err := c.expect(ctx, "mkdir", path, []int{257, 250}, "MKD "+path)
		return err
	})
}

// Rmdir removes an empty directory (RMD).
func (p *Pool) Rmdir(ctx context.Context, path string) error {
	return p.once(ctx, Metadata, func(c *Conn) error {
		_, err := c.expect(ctx, "rmdir", path, []int{250, 200}, "RMD "+path)
		return err
	})
}

// ErrNoSetTime says the server has no way to set a modification time.
var ErrNoSetTime = errors.New("server cannot set modification times (no MFMT, no MDTM set form)")

// SetTime sets a file's modification time: MFMT where offered, else the
// "MDTM time path" form of vsftpd and others. It is idempotent.
func (p *Pool) SetTime(ctx context.Context, path string, t time.Time) error {
	ts := p.toServer(t)
	return p.do(ctx, Metadata, func(c *Conn) error {
		if c.feat.MFMT {
			_, err := c.expect(ctx, "mfmt", path, []int{213, 250, 200}, "MFMT "+ts+" "+path)
			return err
		}
		r, err := c.expect(ctx, "mdtm", path, []int{213, 250, 200}, "MDTM "+ts+" "+path)
		if err != nil && (r.code == 500 || r.code == 501 || r.code == 502 || r.code == 504) {
			return &Error{Op: "mdtm", Path: path, Code: r.code, Msg: firstLine(r.msg), Err: ErrNoSetTime}
		}
		return err
	})
}

// Chmod sets permission bits with SITE CHMOD. It is idempotent.
// mode holds chmod(2)'s bits (0o7777).
func (p *Pool) Chmod(ctx context.Context, path string, mode uint32) error {
	return p.do(ctx, Metadata, func(c *Conn) error {
		_, err := c.expect(ctx, "chmod", path, []int{200, 250}, fmt.Sprintf("SITE CHMOD %04o %s", mode&0o7777, path))
		return err
	})
}
