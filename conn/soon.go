package conn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Attribute changes that do not wait: a program that sets a file's time
// and mode after writing it, then renames it (rsync, cp -p), would pay a
// round trip for each. SetTimeSoon and ChmodSoon send their command and
// return; the reply is read later, and a failure goes to the caller's
// failed function. The connection stays out of the pool, the trail, with
// its replies owed: a rename of the file travels behind them on it
// (RenameOver), and any other operation of the pool reads them first
// (get), so nothing overtakes them. They are only sent without waiting
// once the same command succeeded on this pool; until then, and where
// sending fails, they wait for their reply as SetTime and Chmod do.

// trail is the connection whose replies are still to be read.
type trail struct {
	mu   sync.Mutex // held while the trail is used, read or ended
	c    *Conn
	owed []owedReply
}

// owedReply is a command sent without waiting for its reply.
type owedReply struct {
	step
	failed func(error)
}

// trailSettleAfter is when an unused trail reads its replies by itself,
// so that a failure is known and the connection returns to the pool.
const trailSettleAfter = time.Second

// SetTimeSoon is SetTime whose reply need not be waited for; failed is
// then called with its error, if any, later and on another goroutine.
func (p *Pool) SetTimeSoon(ctx context.Context, path string, t time.Time, failed func(error)) error {
	if !p.setTimeOK.Load() || p.soonOff.Load() || !p.Pipelining() {
		err := p.SetTime(ctx, path, t)
		p.setTimeOK.Store(err == nil)
		return err
	}
	f, err := p.features(ctx)
	if err != nil {
		return err
	}
	ts := p.toServer(t)
	s := step{"mfmt", path, "MFMT " + ts + " " + path, []int{213, 250, 200}}
	if !f.MFMT {
		s = step{"mdtm", path, "MDTM " + ts + " " + path, []int{213, 250, 200}}
	}
	if p.sendSoon(ctx, s, failed) != nil {
		return p.SetTime(ctx, path, t) // a fresh connection, waiting
	}
	return nil
}

// ChmodSoon is Chmod whose reply need not be waited for, as SetTimeSoon.
func (p *Pool) ChmodSoon(ctx context.Context, path string, mode uint32, failed func(error)) error {
	if !p.chmodOK.Load() || p.soonOff.Load() || !p.Pipelining() {
		err := p.Chmod(ctx, path, mode)
		p.chmodOK.Store(err == nil)
		return err
	}
	if p.sendSoon(ctx, step{"chmod", path, fmt.Sprintf("SITE CHMOD %04o %s", mode&0o7777, path), []int{200, 250}}, failed) != nil {
		return p.Chmod(ctx, path, mode)
	}
	return nil
}

// sendSoon sends s on the trail, which it starts with a connection of
// the pool when there is none. Failing, it breaks the trail (the replies
// it owed fail), and the caller may send s again, waiting: the commands
// sent this way are idempotent.
func (p *Pool) sendSoon(ctx context.Context, s step, failed func(error)) error {
	tr := &p.trail
	tr.mu.Lock()
	if tr.c == nil {
		tr.mu.Unlock()
		// get reads any trail's replies first: none is held now.
		c, err := p.get(ctx, Metadata, true)
		if err != nil {
			return err
		}
		tr.mu.Lock()
		if tr.c != nil {
			p.put(c, Metadata) // another trail started meanwhile: join it
		} else {
			tr.c = c
			time.AfterFunc(trailSettleAfter, p.settleTrail)
		}
	}
	defer tr.mu.Unlock()
	c := tr.c
	if err := c.sendAll(ctx, s.line); err != nil {
		owed := tr.owed
		tr.c, tr.owed = nil, nil
		p.endTrail(c, owed)
		return &Error{Op: s.op, Path: s.path, Err: err}
	}
	tr.owed = append(tr.owed, owedReply{s, failed})
	return nil
}

// settleTrail reads the trail's replies, if there is one, and returns
// its connection to the pool. Other callers wait meanwhile, so that no
// command overtakes those of the trail.
func (p *Pool) settleTrail() {
	tr := &p.trail
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.c != nil {
		p.endTrail(tr.c, tr.owed)
		tr.c, tr.owed = nil, nil
	}
}

// endTrail reads owed replies on c and returns c to the pool. Call with
// trail.mu held.
func (p *Pool) endTrail(c *Conn, owed []owedReply) {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
	defer cancel()
	p.readOwed(ctx, c, owed)
	p.put(c, Metadata)
}

// readOwed reads the replies to owed commands on c and tells each
// failure. On a broken connection every reply still owed fails. A reply
// that does not come in time, or one that cannot be the command's (a
// success of another kind: a reply lost before it), may be a server that
// loses commands sent behind others: c is broken, and from then on none
// is sent without waiting.
func (p *Pool) readOwed(ctx context.Context, c *Conn, owed []owedReply) {
	for _, o := range owed {
		var err error
		if c.broken {
			err = &Error{Op: o.op, Path: o.path, Err: errors.New("connection broken before the reply")}
		} else if r, rerr := c.readReply(ctx); rerr != nil {
			err = &Error{Op: o.op, Path: o.path, Err: rerr}
			if Classify(err) == ClassTimeout {
				p.stopSoon(o.step, err)
			}
		} else if r.code < 400 && !slices.Contains(o.codes, r.code) {
			c.broken = true
			err = &Error{Op: o.op, Path: o.path, Err: fmt.Errorf("reply out of step: %d %s", r.code, clip(firstLine(r.msg)))}
			p.stopSoon(o.step, err)
		} else if !slices.Contains(o.codes, r.code) {
			if r.code == 421 {
				c.broken = true
			}
			err = &Error{Op: o.op, Path: o.path, Code: r.code, Msg: firstLine(r.msg)}
		}
		if err != nil && o.failed != nil {
			o.failed(err)
		}
	}
}

// stopSoon makes every later time and mode change wait for its reply.
func (p *Pool) stopSoon(s step, err error) {
	if !p.soonOff.Swap(true) {
		p.cfg.Logger.Warn("a command sent without waiting got no reply of its own; time and mode changes wait for their reply from now on", "op", s.op, "path", s.path, "err", err)
	}
}

// renameBehindTrail renames on the trail's connection, behind the
// commands whose replies it owes (the time and mode of the file it
// renames, as a rule), when there is a trail; otherwise as rename.
func (p *Pool) renameBehindTrail(ctx context.Context, from, to string) error {
	tr := &p.trail
	tr.mu.Lock()
	c, owed := tr.c, tr.owed
	if c == nil {
		tr.mu.Unlock()
		return p.rename(ctx, from, to)
	}
	// Held until the replies are read: others wait rather than overtake.
	defer tr.mu.Unlock()
	tr.c, tr.owed = nil, nil
	defer p.put(c, Metadata)
	serr := c.sendAll(ctx, "RNFR "+from, "RNTO "+to)
	p.readOwed(ctx, c, owed)
	if serr != nil {
		return &Error{Op: "rename", Path: from, Err: serr}
	}
	if c.broken {
		// Its replies cannot be told from others now: whether the server
		// renamed is unknown, as when a connection breaks.
		return &Error{Op: "rename", Path: from, Err: errors.New("replies out of step before the rename's")}
	}
	return c.renamed(ctx, from, to)
}
