package link

import (
	"net"
	"slices"
	"sync"
	"time"
)

// Lingering close (Options.Linger). A server that closes a data
// connection with SO_LINGER, as vsftpd does, is blocked in close until
// the ACK of its FIN is back, R after the FIN over a real link, and only
// then sends its final reply and reads its next command. On loopback the
// link's kernel acknowledges at once (or after its 40 ms delayed ACK),
// which would hide that round trip. So the link follows the server's end
// of each data connection from the control connection's relay, and holds
// that connection as the blocked server would be held (see the package
// doc).

// dataEnd is the server's end of a data connection, as its control
// connection follows it from the announcement of its address on.
type dataEnd struct {
	conn net.Conn      // the server's side once known; GUARDED_BY(the control relay's ctl)
	done chan struct{} // closed once the server's stream ended, or the relay did
	once sync.Once
	// Set before done closes: whether the server closed (a FIN, not a
	// reset or the link's end); when its close returns; the round of the
	// FIN's ACK, one more than the FIN's.
	fin   bool
	until time.Time
	round int
}

// lingering is the control connection's part.
type lingering struct {
	ends  []*dataEnd // data connections announced whose end no final reply followed yet
	claim *dataEnd   // the end the final reply just read follows
	// until and round are those of the last FIN: the server reads no
	// command before until.
	until time.Time
	round int
}

// _followEnd registers a data connection about to be announced to the
// server or the client, before it can be used; nil without
// Options.Linger. ctl held.
func (r *relay) _followEnd() *dataEnd {
	if !r.l.opt.Linger {
		return nil
	}
	e := &dataEnd{done: make(chan struct{})}
	r.linger.ends = append(r.linger.ends, e)
	return e
}

// unfollow forgets e: its connection ended, or never came.
func (r *relay) unfollow(e *dataEnd) {
	if e == nil {
		return
	}
	e.once.Do(func() { close(e.done) })
	r.ctl.Lock()
	defer r.ctl.Unlock()
	r.linger.ends = slices.DeleteFunc(r.linger.ends, func(x *dataEnd) bool { return x == e })
}

// setEndConn records c, the server's side of e's connection.
func (r *relay) setEndConn(e *dataEnd, c net.Conn) {
	if e == nil {
		return
	}
	r.ctl.Lock()
	defer r.ctl.Unlock()
	e.conn = c
}

// endData notes the end of the server's stream on a data connection,
// read at now: a FIN if fin, else a reset or the relay's end. The
// server's close returns R after the FIN's model time, which on an
// active connection is no earlier than its connect's return; the ACK
// reaches the server then, a round after the FIN.
func (r *relay) endData(fin bool, now time.Time) {
	e := r.end
	if e == nil {
		return
	}
	first := false
	e.once.Do(func() {
		first = true
		if fin {
			e.fin = true
			if now.Before(r.lingerFrom) {
				now = r.lingerFrom
			}
			e.until = now.Add(r.l.opt.RTT)
			e.round = max(r.l.meter.serverSends(), r.minRound) + 1
		}
		close(e.done)
	})
	ctl := r.ctlRelay
	if !fin || !first {
		ctl.unfollow(e)
		return
	}
	ctl.ctl.Lock()
	if e.until.After(ctl.linger.until) {
		ctl.linger.until = e.until
	}
	ctl.linger.round = max(ctl.linger.round, e.round)
	ctl.ctl.Unlock()
	if r.sleepUntil(e.until) {
		r.l.meter.reachedServer(e.round)
	}
}

// _lingerClaim notes, at the end of a final reply, the data connection
// whose end it follows: a lingering server says a transfer completed
// (226) only once its close returned. That is the connection whose FIN
// the link read, or its kernel has (data before the FIN may wait for the
// window), else the newest one still open that the server opened, else
// the newest one announced: a server that does not linger may reply
// before its FIN left (a PORT sent behind may be announced already), and
// the link may not have accepted the server's connection yet. (250 is
// left alone: servers answer CWD or DELE with it while a data connection
// waits for its transfer.) ctl held.
func (r *relay) _lingerClaim() {
	if !r.l.opt.Linger || r.linger.claim != nil || r.replies.ended != "226" {
		return
	}
	ends := r.linger.ends
	pick, opened, announced := -1, -1, -1
	for i := len(ends) - 1; i >= 0 && pick < 0; i-- {
		select {
		case <-ends[i].done:
			if ends[i].fin {
				pick = i
			} // else a reset: no linger
		default:
			switch {
			case ends[i].conn == nil:
				announced = max(announced, i)
			case finArrived(ends[i].conn):
				pick = i
			default:
				opened = max(opened, i)
			}
		}
	}
	if pick < 0 {
		pick = opened
	}
	if pick < 0 {
		pick = announced
	}
	if pick >= 0 {
		r.linger.claim = ends[pick]
		r.linger.ends = slices.Delete(ends, pick, pick+1)
	}
}

// lingerFloor waits, in the control connection's down writer, for the
// server's end e of a data connection: if it closed, what it sent from
// its final reply on reaches the client no earlier than h after its
// close returned, with the ACK's round at least. False if the relay
// ended.
func (p *pipe) lingerFloor(e *dataEnd) bool {
	// A 226 without a transfer (after ABOR) may follow a data
	// connection announced but never opened: the server's connection
	// reaches the link at once if it comes at all.
	grace := time.NewTimer(claimGrace)
	defer grace.Stop()
	for wait := grace.C; ; {
		select {
		case <-e.done:
		case <-p.r.quit:
			return false
		case <-wait:
			p.r.ctl.Lock()
			opened := e.conn != nil
			p.r.ctl.Unlock()
			if opened {
				wait = nil
				continue
			}
			return true
		}
		break
	}
	if e.fin {
		if e.until.After(p.floor) {
			p.floor = e.until
		}
		p.floorRound = max(p.floorRound, e.round)
	}
	return true
}

// lingerHold waits, in the control connection's up writer, until the
// server's last lingering close returned: the client's bytes reach the
// server no earlier. False if the relay ended.
func (r *relay) lingerHold() bool {
	if !r.l.opt.Linger {
		return true
	}
	r.ctl.Lock()
	until, round := r.linger.until, r.linger.round
	r.ctl.Unlock()
	if until.IsZero() {
		return true
	}
	if !r.sleepUntil(until) {
		return false
	}
	// The ACK's round, before the server reacts to these bytes.
	r.l.meter.reachedServer(round)
	return true
}
