package conn

import (
	"context"
	"net"
	"strings"
	"time"
)

// Rides. A connection that has just read a small file connects to the
// port of its next transfer; the server accepts that data connection
// half a round trip after the connect's round trip, so the next RETR,
// sent at once, waits for it anyway. An exchange of one round trip sent
// as the connect starts, and the RETR sent after its reply, get the file
// at the same moment: the control connection has one round trip to
// spare. A metadata caller that works ahead of need (Riding: a listing
// prefetched while a directory's files are read) waits for such a round
// trip, and the connection is lent to it for its exchange, instead of
// taking a connection away from the reads for the round trips of its
// listing and its exact times.

type rideKey struct{}

// Riding marks ctx as that of a metadata caller working ahead of need:
// while small reads keep the connections busy, its exchanges wait up to
// rideWait round trips for one of them to lend its spare round trip,
// instead of taking a connection from the reads.
func Riding(ctx context.Context) context.Context {
	return context.WithValue(ctx, rideKey{}, true)
}

func riding(ctx context.Context) bool {
	v, _ := ctx.Value(rideKey{}).(bool)
	return v
}

// rider is a metadata caller waiting for a ride; got gets the connection
// lent to it.
type rider struct{ got chan *Conn }

// rideWait is how long, in round trips, a rider waits for a ride before
// it takes a connection as any metadata caller: reads that start with it
// lend their first connection a round trip later. rideRecent is how
// recent, in round trips, a short read's arming must be for a ride to be
// worth waiting for when no read is under way (the next directory's
// reads start as its listing is asked for).
const (
	rideWait   = 3
	rideRecent = 4
)

// waitRide waits for a connection lent for one exchange, while rides
// are to be expected: small reads under way or just ended, every idle
// connection holding its next transfer's data connection. Nil: take one
// as any metadata caller.
func (p *Pool) waitRide(ctx context.Context) *Conn {
	p.mu.Lock()
	rtt := p.rtt
	// Only short reads lend: a stream or an upload under way gives
	// nothing to wait for.
	busy := p.shortReads > 0 || p.finishing > 0 || time.Since(p.armedAt) < rideRecent*rtt
	for _, c := range p.idle {
		// An idle connection with no data connection open costs the
		// reads nothing.
		busy = busy && c.ready.data != nil
	}
	if rtt == 0 || p.closed || !busy {
		p.mu.Unlock()
		return nil
	}
	r := &rider{got: make(chan *Conn, 1)}
	p.riders = append(p.riders, r)
	p.rideWaits++
	p.mu.Unlock()
	t := time.NewTimer(rideWait * rtt)
	defer t.Stop()
	select {
	case c := <-r.got:
		return c
	case <-t.C:
	case <-ctx.Done():
	}
	p.mu.Lock()
	waiting := false
	for i, o := range p.riders {
		if o == r {
			p.riders = append(p.riders[:i], p.riders[i+1:]...)
			waiting = true
			break
		}
	}
	p.mu.Unlock()
	if !waiting {
		c := <-r.got // lent meanwhile
		if ctx.Err() != nil {
			c.giveBack() // an exchange now would break the lender's connection
			return nil
		}
		return c
	}
	return nil
}

// armLending is c.armData after a short read, that lends c to a waiting
// rider for one exchange while the data connection connects; the data
// connection is kept once the rider is done, unless the rider asked for
// a port of its own (which closes the one connected to). While c is
// lent, the rider owns it: the connect touches nothing of c but its
// configuration, and c.ready is set once c is back.
func (p *Pool) armLending(c *Conn) {
	r := c.ready.epsv
	if r == nil || c.broken {
		c.armData()
		return
	}
	addr, ok := c.armAddr(*r)
	c.ready.epsv = nil
	if !ok {
		return
	}
	p.mu.Lock()
	p.armedAt = time.Now()
	var rd *rider
	if len(p.riders) > 0 {
		rd = p.riders[0]
		p.riders = p.riders[1:]
		p.lent++
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), min(c.cfg.Timeout, 5*time.Second))
	defer cancel()
	if rd == nil {
		c.setReady(c.dialData(ctx, addr))
		return
	}
	type dialled struct {
		data net.Conn
		err  error
	}
	ch := make(chan dialled, 1)
	go func() {
		d, err := c.dialData(ctx, addr)
		ch <- dialled{d, err}
	}()
	passives, back := c.passives, make(chan struct{})
	c.loan = back
	rd.got <- c
	<-back
	d := <-ch
	if c.broken || c.passives != passives || c.ready.data != nil {
		// The rider's port replaced ours: whether the connect got
		// through or not says nothing of this connection.
		if d.err == nil {
			d.data.Close()
		}
		return
	}
	c.setReady(d.data, d.err)
}

// giveBack ends a loan: a rider's put. It says whether c was lent.
func (c *Conn) giveBack() bool {
	if c.loan == nil {
		return false
	}
	back := c.loan
	c.loan = nil
	close(back)
	return true
}

// opensPort says whether a command line asks the server for a data port,
// which replaces the one asked before.
func opensPort(line string) bool {
	verb, _, _ := strings.Cut(line, " ")
	switch strings.ToUpper(verb) {
	case "EPSV", "PASV", "EPRT", "PORT":
		return true
	}
	return false
}
