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
// on a server that answers one command during a transfer.
func twiceLines(from string, arm bool) []string {
	lines := []string{"SIZE " + from, "SIZE " + from}
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
	n := 3 // the final reply and two SIZEs'
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
			epsv = &rs[3]
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
	if arm && 2 >= final {
		epsv = &cmds[2]
	}
	if size != nil {
		u.p.earlyMisses.Store(0)
	} else if u.p.earlyMisses.Add(1) == earlyMissLimit && !u.p.answersInTransfer.Swap(true) {
		u.p.cfg.Logger.Info("server answers commands during a transfer: an upload's SIZE waits for its final reply from now on", "uploads", earlyMissLimit)
	}
	return size, epsv, storReply(c, from, rs[final])
}
