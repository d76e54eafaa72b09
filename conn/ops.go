package conn

import (
	"context"
	"errors"
	"strings"
	"time"
)

// do runs fn on a connection of kind. When the exchange failed in a way a
// fresh connection may fix (the connection broke, 421, 4xx), it retries,
// at most twice, with a short backoff, while the caller's time allows.
// fn must be idempotent. A timeout is not retried: the caller has already
// waited for it once.
func (p *Pool) do(ctx context.Context, kind Kind, fn func(c *Conn) error) error {
	return p.doHold(ctx, kind, nil, fn)
}

// doHold is do that, when hold is set and fn succeeds, keeps the
// connection out of the pool and stores it in *hold.
func (p *Pool) doHold(ctx context.Context, kind Kind, hold **Conn, fn func(c *Conn) error) error {
	var err error
	// 50, 200 and 800 ms between tries: a passing 450 or 421 gets about
	// a second, and ctx bounds it all.
	backoff := 50 * time.Millisecond
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return err
			}
			backoff *= 4
		}
		var c *Conn
		c, err = p.get(ctx, kind, true)
		if err == nil {
			err = fn(c)
			if err == nil && hold != nil {
				*hold = c
				return nil
			}
			p.put(c, kind)
		}
		if err == nil || !Retriable(err) || ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return err
		}
		p.cfg.Logger.Debug("retrying", "err", err, "attempt", attempt+1)
	}
	return err
}

// list reads a directory with MLSD where the server has it, LIST
// otherwise, and hands each raw line to fn. long asks for LIST -a even
// where MLSD exists: some servers' MLSD says an entry is a symlink but not
// where it points (proftpd, pure-ftpd), or leaves dangling ones out
// (proftpd); their LIST says. Paths are absolute, so that LIST's options
// can never be mistaken for a name starting with '-'. reset, when set, is
// called before each attempt: a retry after a broken transfer starts the
// listing over, so that names seen by the failed attempt do not survive
// as ghosts.
//
// Where the server has no MLSD, the listing comes over the control
// connection (STAT, see listing_stat.go) while the server gives it there.
func (p *Pool) list(ctx context.Context, dir string, long bool, reset func(), fn func(line string, mlsd bool) error) error {
	var c *Conn
	overData := false
	err := p.doHold(ctx, Metadata, &c, func(c *Conn) error {
		overData = false
		if reset != nil {
			reset()
		}
		var stat statAnswer = statRefused
		// Without reset, lines a STAT handed on could not be taken back
		// when LIST must list after all.
		if !c.feat.MLSD && reset != nil && p.statListings() {
			var err error
			stat, err = p.statList(ctx, c, dir, func(l string) error { return fn(p.listingLine(dir, l), false) })
			if err != nil || stat == statListed {
				return err
			}
			if reset != nil {
				reset()
			}
		}
		lines := 0
		count := func(l string, mlsd bool) error {
			lines++
			return fn(l, mlsd)
		}
		overData = true
		if err := p.listData(ctx, c, dir, long, count); err != nil {
			return err
		}
		if stat == statFailed || stat == statEmpty && lines > 0 {
			p.statMisleads(dir, stat)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if overData && c.armable() {
		// The next data connection is opened once the caller has its
		// listing: with the EPSV that went behind it, or, where EPSV
		// was unproven before this listing, one sent now.
		p.putAfter(c, Metadata, c.armData)
	} else {
		p.put(c, Metadata)
	}
	return nil
}

// listData reads a listing over a data connection.
func (p *Pool) listData(ctx context.Context, c *Conn, dir string, long bool, fn func(line string, mlsd bool) error) error {
	mlsd := c.feat.MLSD && !long
	cmd := "MLSD " + dir
	if !mlsd {
		cmd = "LIST -a " + dir
	}
	// The EPSV behind opens the next listing's or transfer's data
	// connection ahead: a walk lists one directory after another.
	t, err := c.start(ctx, "list", dir, cmd, 0, false, true)
	if err != nil {
		return err
	}
	err = readListing(t, p.cfg.MaxListingBytes, p.cfg.MaxListingEntries, func(l string) error {
		return fn(p.listingLine(dir, l), mlsd)
	})
	if err != nil {
		if errors.Is(err, ErrListingTooLarge) {
			err = &Error{Op: "list", Path: dir, Err: err}
		}
		t.abort()
		return err
	}
	return t.finish()
}

// ModTime asks MDTM for a file's modification time, to the second, read
// in the server's zone (timezone.go).
func (p *Pool) ModTime(ctx context.Context, path string) (time.Time, error) {
	var t time.Time
	err := p.do(ctx, Metadata, func(c *Conn) error {
		var err error
		t, err = c.modTime(ctx, path)
		return err
	})
	return p.fromServer(t), err
}

// Stat asks MLST for one entry. A server without it cannot tell one
// entry alone: that is an error of ClassUnsupported, and no command.
func (p *Pool) Stat(ctx context.Context, path string) (Entry, error) {
	var e Entry
	f, err := p.features(ctx)
	if err != nil {
		return e, err
	}
	if !f.MLSD {
		return e, &Error{Op: "mlst", Path: path, Err: ClassUnsupported}
	}
	err = p.do(ctx, Metadata, func(c *Conn) error {
		r, err := c.expect(ctx, "mlst", path, []int{250}, "MLST "+path)
		if err != nil {
			return err
		}
		lines := strings.Split(r.msg, "\n")
		if len(lines) < 2 {
			return &Error{Op: "mlst", Path: path, Code: r.code, Msg: "no facts in reply"}
		}
		if e, err = ParseMLST(lines[1]); err != nil {
			return &Error{Op: "mlst", Path: path, Code: r.code, Msg: err.Error()}
		}
		return nil
	})
	return e, err
}
