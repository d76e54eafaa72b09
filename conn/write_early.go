package conn

import "context"

// A server that answers commands during a transfer (proftpd) answers the
// first of those that arrive together at once, SIZE with the size so far,
// and the others after the transfer's final reply: it reads the control
// connection once while the data flows, and what came with that command
// waits in its buffer. So an upload's end goes with SIZE twice: one of
// the two is answered after the final reply, and tells the size the
// rename may rest on, in the round trip the single SIZE needed (proftpd
// answers the first during the transfer when its end came while it
// waited for data, most uploads through FUSE, whose flush comes apart
// from the last write). The EPSV behind them is answered after the final
// reply as well (proftpd refuses one during a transfer: 450).

// earlyMissLimit is how many uploads in a row may have both SIZEs
// answered before the final reply before SIZE waits for the final reply
// for good: a server that answers them all during a transfer would only
// be sent commands for nothing.
const earlyMissLimit = 4

// twiceLines are the commands that go with the end of an upload to from
// on a server that answers one command during a transfer: two SIZEs,
// then hash (the digest's commands, answered after the final reply as
// well), then the EPSV.
func twiceLines(from string, hash []string, arm bool) []string {
	lines := append([]string{"SIZE " + from, "SIZE " + from}, hash...)
	if arm {
		lines = append(lines, "EPSV")
	}
	return lines
}

// endedTwice reads the final reply of an upload whose end went with
// twiceLines, and the replies to those, in whatever order the server
// put them: each command gets one reply, and the final one may come
// before any of them. It returns the reply of a SIZE answered after the
// final reply (nil when there is none: the size is to be asked again),
// and the EPSV's when it too came after the final reply (one answered
// during the transfer is not used, nor a refusal then).
func (u *Upload) endedTwice(ctx context.Context, arm bool) (size, epsv *reply, err error) {
	c, t, from := u.c, u.t, u.t.path
	h := u.hashLines
	n := 3 + h // the final reply, two SIZEs' and the digest's
	if arm {
		n++
	}
	accepted := !t.prelim
	var rs []reply
	for len(rs) < n {
		r, err := c.readReply(ctx)
		if err != nil {
			return nil, nil, &Error{Op: "stor", Path: from, Err: err}
		}
		if !accepted && len(rs) == 0 && r.code < 200 {
			accepted = true // the 150: the server took the upload
			continue
		}
		if r.code == 421 {
			c.broken = true
		}
		rs = append(rs, r)
	}
	t.prelim = false
	if !accepted {
		// A refusal is the first reply; the commands' follow.
		if arm && !c.broken {
			epsv = &rs[3+h]
		}
		return nil, epsv, storReply(c, from, rs[0])
	}
	// A transfer ends with a 2xx but 213 and 229 (SIZE's and EPSV's); no
	// reply to SIZE or EPSV is one of those.
	final := -1
	for i, r := range rs {
		if r.code >= 200 && r.code <= 299 && r.code != 213 && r.code != 229 {
			if final >= 0 {
				c.broken = true // two final replies: out of step
				return nil, nil, storReply(c, from, r)
			}
			final = i
		}
	}
	if final < 0 {
		// The transfer failed: its reply is the first that no SIZE or
		// EPSV gets (500-504 call a command unknown or malformed).
		for _, r := range rs {
			if r.code != 213 && r.code != 229 && (r.code < 500 || r.code > 504) {
				return nil, nil, storReply(c, from, r)
			}
		}
		c.broken = true
		return nil, nil, storReply(c, from, rs[0])
	}
	// The commands' replies in order, the final one left out: the j-th
	// came after the final reply when j >= final.
	cmds := append(rs[:final:final], rs[final+1:]...)
	for j := range 2 {
		if j >= final {
			size = &cmds[j]
			break
		}
	}
	if h > 0 && 2+h-1 >= final {
		u.hashReply = &cmds[2+h-1] // HASH's, after the final reply
	}
	if arm && 2+h >= final {
		epsv = &cmds[2+h]
	}
	if size != nil {
		u.p.earlyMisses.Store(0)
	} else if u.p.earlyMisses.Add(1) == earlyMissLimit && !u.p.answersInTransfer.Swap(true) {
		u.p.cfg.Logger.Info("server answers commands during a transfer: an upload's SIZE waits for its final reply from now on", "uploads", earlyMissLimit)
	}
	return size, epsv, storReply(c, from, rs[final])
}

// ended reads the transfer's final reply and, when SIZE went out with
// the end of the data (early), SIZE's reply too, and with arm the reply
// to the EPSV behind it. It returns SIZE's reply when it came after the
// final one; nil when the server answered SIZE first, when it may have
// told the size of part of the upload. The EPSV's reply comes back when
// its place among the replies is certain.
func (u *Upload) ended(ctx context.Context, early, arm bool) (size, epsv *reply, err error) {
	c, t, from := u.c, u.t, u.t.path
	// As t.final, knowing whether the server took the upload (its 150):
	// a refusal instead comes before SIZE's reply in any case.
	accepted := !t.prelim
	a, err := c.readReply(ctx)
	if err == nil && t.prelim && a.code < 200 {
		accepted = true
		a, err = c.readReply(ctx)
	}
	t.prelim = false
	if err != nil {
		return nil, nil, &Error{Op: "stor", Path: from, Err: err}
	}
	if !early {
		return nil, nil, storReply(c, from, a)
	}
	b, err := c.readReply(ctx)
	if err != nil {
		return nil, nil, &Error{Op: "size", Path: from, Err: err}
	}
	if b.code == 421 {
		c.broken = true
	}
	// A transfer under way never ends with 213 or 229 (SIZE's and EPSV's
	// successes), nor with a reply that calls its command unknown or
	// malformed (500-504): SIZE's reply is one of those, or an error
	// followed by the transfer's success, or by EPSV's 229 (in order,
	// SIZE's reply comes between the final reply and EPSV's).
	success := func(r reply) bool { return r.code >= 200 && r.code <= 299 && r.code != 213 && r.code != 229 }
	if !accepted || !(a.code == 213 || a.code == 229 || a.code >= 500 && a.code <= 504 || a.code >= 400 && (success(b) || arm && b.code == 229)) {
		// In order: the final reply, SIZE's, HASH's, EPSV's.
		if err := u.readHash(ctx, from); err != nil {
			return nil, nil, err
		}
		if arm && !c.broken {
			e, err := c.readReply(ctx)
			if err != nil {
				return nil, nil, &Error{Op: "epsv", Path: from, Err: err}
			}
			epsv = &e
		}
		if accepted && unknownVerb(b) {
			// A server whose FEAT lists SIZE calls it unknown: it came
			// during the transfer, and was refused after it (pure-ftpd).
			// SIZE is asked again, and waits for the final reply from
			// now on.
			if !u.p.answersInTransfer.Swap(true) {
				u.p.cfg.Logger.Info("server refuses commands during a transfer, after it: an upload's SIZE waits for its final reply from now on", "reply", firstLine(b.msg))
			}
			u.p.answersInOrder.Store(false)
			if epsv != nil && unknownVerb(*epsv) {
				// Refused for the same reason: not a sign that EPSV
				// fails on this connection.
				epsv = nil
			}
			return nil, epsv, storReply(c, from, a)
		}
		if accepted {
			u.p.answersInOrder.Store(true)
		}
		return &b, epsv, storReply(c, from, a)
	}
	// Where the replies to HASH went among those, nobody knows.
	c.broken = c.broken || u.hashLines > 0
	if a.code == 213 {
		// The size so far: such a server answers one command during a
		// transfer, and SIZE goes twice from now on.
		if !u.p.sizeInTransfer.Swap(true) {
			u.p.cfg.Logger.Info("server answers a command during a transfer: an upload's SIZE goes twice with its end from now on", "reply", firstLine(a.msg))
		}
	} else if !u.p.answersInTransfer.Swap(true) {
		u.p.cfg.Logger.Info("server answers commands during a transfer: an upload's SIZE waits for its final reply from now on", "reply", firstLine(a.msg))
	}
	if !arm {
		return nil, nil, storReply(c, from, b)
	}
	return nil, nil, u.endedEarly(ctx, b, success(b))
}

// endedEarly ends an upload whose SIZE the server answered during the
// transfer, with an EPSV sent behind it, which such a server may answer
// before the final reply, after it, or not at all (pure-ftpd drops a
// command that comes with another during a transfer). b is the reply
// after SIZE's; ok says it is the final reply's success. It returns the
// upload's result; the EPSV's reply is not used.
func (u *Upload) endedEarly(ctx context.Context, b reply, ok bool) error {
	c, from := u.c, u.t.path
	switch {
	case b.code == 229 || b.code >= 500 && b.code <= 504:
		// EPSV's reply, answered early (no transfer ends with either):
		// the final reply is next.
		f, err := c.readReply(ctx)
		if err != nil {
			return &Error{Op: "stor", Path: from, Err: err}
		}
		return storReply(c, from, f)
	case !ok:
		// The final reply's error, or EPSV's (425, 450) with the final
		// reply still to come: where the next reply is, nobody knows.
		c.broken = true
		return storReply(c, from, b)
	}
	// The transfer is over: a NOOP is answered after whatever the EPSV
	// gets, and everything before its 200 is drained.
	if err := c.sendAll(ctx, "NOOP"); err != nil {
		return nil // broken; the upload succeeded
	}
	for range 2 {
		r, err := c.readReply(ctx)
		if err != nil {
			return nil // broken by readReply
		}
		if r.code == 200 {
			return nil
		}
	}
	c.broken = true
	return nil
}

// unknownVerb says whether r calls its command unknown or not
// implemented (500, 502); 501 refuses its argument.
func unknownVerb(r reply) bool { return r.code == 500 || r.code == 502 }
