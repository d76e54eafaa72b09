package conn

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is what a connection is taken for. Transfers may hold all
// connections but one, which stays for metadata (or is lent: pool_lend.go).
type Kind int

const (
	Metadata Kind = iota
	Transfer
	// Ahead is a short transfer (a small file, one block): it may take
	// the metadata connection too while no metadata caller waits, since
	// it gives it back within a round trip or two.
	Ahead
)

// ErrClosed is returned by a pool after Close.
var ErrClosed = errors.New("connection pool closed")

// Pool is a bounded set of logged-in control connections to one server.
type Pool struct {
	cfg Config

	mu        sync.Mutex // guards the fields below
	idle      []*Conn    // most recently used last
	total     int        // connections open or being dialled
	transfers int        // connections held for transfers
	ceiling   int        // lowered when the server says 421 "too many"
	nextID    int
	feat      *Features
	wake      chan struct{} // closed and replaced when a slot frees
	closed    bool
	reaper    *time.Timer
	dials     int           // connections ever opened, which tests count
	waiting   [3]int        // callers waiting in get, by kind
	finishing int           // connections ending a transfer (putAfter)
	rtt       time.Duration // the shortest of the connections' (Conn.rtt)

	// Rides (pool_ride.go).
	riders     []*rider  // metadata callers waiting for a ride
	armedAt    time.Time // when a short read last opened its next data connection
	shortReads int       // readAt calls under way: the reads that lend
	lent       int       // connections lent to riders, for the tests
	rideWaits  int       // riders that waited for a loan, for the tests

	lowered    time.Time     // when a 421 last lowered the ceiling
	loweredBy  string        // that 421, for Snapshot
	raiseAfter time.Duration // then, one more connection is tried again

	noPipeline atomic.Bool // a pipelined batch failed: one command at a time
	noStat     atomic.Bool // STAT does not list here: LIST
	noBatch    atomic.Bool // an active port was refused in a batch (active_batch.go)
	batchOK    atomic.Bool // a batch's server connected to us: no more probing
	noEPRT     atomic.Bool // a batch's EPRT was unknown: PORT
	// rawNamesOnce logs the first listing line that is not UTF-8.
	rawNamesOnce sync.Once
	// answersInTransfer: the server answered a command sent with the end
	// of an upload before the upload's final reply (write.go).
	answersInTransfer atomic.Bool
	// answersInOrder: an upload's SIZE sent with the end of its data was
	// answered after the final reply; the next EPSV may then go with it
	// (write.go).
	answersInOrder atomic.Bool
	// sizeInTransfer: the server answered such a SIZE during the
	// transfer, with a size: SIZE goes twice from then on, and earlyMisses
	// counts the uploads in a row that had neither answered after the
	// final reply (write_early.go).
	sizeInTransfer atomic.Bool
	earlyMisses    atomic.Int32
	// trail holds replies still to read (write.go); setTimeOK and
	// chmodOK say that a command of the kind succeeded; soonOff, that
	// replies owed did not come in time: every command waits for its own.
	trail                       trail
	tz                          serverZone // timezone.go
	setTimeOK, chmodOK, soonOff atomic.Bool

	space  spaceCache[uint64] // the last AVBL answer (space.go)
	quota  spaceCache[Quota]  // the last SITE QUOTA answer (quota.go)
	noCopy atomic.Bool        // SITE CPFR is unknown here (copy.go)
}

// NewPool checks nothing on the network: the first operation dials.
func NewPool(cfg Config) *Pool {
	cfg.fill()
	cfg.stats = newCounters()
	return &Pool{cfg: cfg, ceiling: cfg.MaxConns, wake: make(chan struct{}), raiseAfter: time.Minute}
}

// features are the server's FEAT answer, after the first connection.
func (p *Pool) features(ctx context.Context) (Features, error) {
	p.mu.Lock()
	f := p.feat
	p.mu.Unlock()
	if f != nil {
		return *f, nil
	}
	c, err := p.get(ctx, Metadata, true)
	if err != nil {
		return Features{}, err
	}
	f = c.feat
	p.put(c, Metadata)
	return *f, nil
}

// Times says how exact the server's modification times are.
type Times struct {
	Listed bool // listings give them to the second (else minutes, or days for old files)
	Asked  bool // ModTime gives one file's to the second, a command per file
}

// Times is what the server offers for modification times, known once a
// connection has logged in (one is made when none has yet).
func (p *Pool) Times(ctx context.Context) (Times, error) {
	f, err := p.features(ctx)
	return Times{Listed: f.MLSD, Asked: f.MDTM}, err
}

// logTimes says, once per pool, how exact times will be when listings do
// not give seconds.
func (p *Pool) logTimes(f *Features) {
	switch {
	case f.MLSD:
	case f.MDTM:
		p.cfg.Logger.Info("server has no MLSD: listings give minutes; exact times come from MDTM for files whose attributes are asked for")
	default:
		p.cfg.Logger.Warn("server has neither MLSD nor MDTM: modification times are only as precise as its listings (minutes, or days for old files)")
	}
}

func (p *Pool) broadcast() {
	close(p.wake)
	p.wake = make(chan struct{})
}

// ErrBusy is what a pool that was not to wait says when every connection
// is in use.
var ErrBusy = errors.New("every connection is in use")

// get returns a connection for kind, reusing an idle one (checked with
// NOOP after an idle spell), dialling a new one while below the ceiling,
// or, with wait, waiting for one to come back (else ErrBusy).
func (p *Pool) get(ctx context.Context, kind Kind, wait bool) (*Conn, error) {
	p.settleTrail() // nothing overtakes commands sent without waiting
	if kind == Metadata && wait && riding(ctx) {
		if c := p.waitRide(ctx); c != nil {
			return c, nil
		}
	}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		if p.ceiling < p.cfg.MaxConns && time.Since(p.lowered) >= p.raiseAfter {
			// The server's limit may have been other clients: try one
			// more connection now and then.
			p.ceiling++
			p.lowered = time.Now()
		}
		limit := p.ceiling
		if kind != Metadata && limit > 1 && p.transfers >= limit-1 && (kind == Transfer || p.waiting[Metadata] > 0) {
			limit = 0 // wait: the last slot is metadata's
		}
		if limit > 0 && len(p.idle) > 0 {
			c := p.pick(kind)
			p.take(kind)
			p.mu.Unlock()
			if time.Since(c.used) > p.cfg.CheckAfter && !p.check(ctx, c) {
				p.discard(c, kind)
				continue
			}
			return c, nil
		}
		if wait && limit > 0 && p.total < p.ceiling && p.finishing > 0 {
			// A connection comes back within a round trip or two, a
			// login takes several: wait for it, and dial one beside.
			// A metadata caller too: a listing's connection opening its
			// next data connection is back as soon.
			p.spare()
			limit = 0
		}
		if limit > 0 && p.total < p.ceiling {
			p.total++
			p.dials++
			p.nextID++
			id, feat := p.nextID, p.feat
			p.take(kind)
			p.mu.Unlock()
			c, err := p.dial(ctx, id, feat, false)
			if err != nil {
				p.mu.Lock()
				p.total--
				p.release(kind)
				tooMany := errors.Is(err, errTooMany) && p.total > 0
				if tooMany {
					// Live with what we have rather than fail the caller.
					p.ceiling = max(1, p.total)
					p.lowered, p.loweredBy = time.Now(), refusal(err)
					p.cfg.Logger.Info("server refused another connection; pool ceiling lowered", "ceiling", p.ceiling)
				}
				p.broadcast()
				p.mu.Unlock()
				if tooMany {
					continue
				}
				return nil, err
			}
			p.mu.Lock()
			if p.feat == nil {
				// The pool's first connection: the others reach the
				// same server and decide the same.
				p.feat = c.feat
				p.logTimes(c.feat)
				if p.cfg.TelnetIAC == IACAuto {
					p.cfg.Logger.Info("telnet IAC mode chosen", "mode", c.iac.mode(), "why", c.iac.why)
				}
			}
			p.mu.Unlock()
			return c, nil
		}
		if !wait {
			p.mu.Unlock()
			return nil, ErrBusy
		}
		wake := p.wake
		p.waiting[kind]++
		p.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
		}
		p.mu.Lock()
		p.waiting[kind]--
		p.mu.Unlock()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// dial opens and logs in a connection, its login pipelined where the
// pool pipelines; a pipelined login that timed out or came back out of
// step turns pipelining off, and the next dial logs in one command at a
// time.
//
// own says ctx is the pool's, not a caller's: its deadline is the
// timeout, and running out of it says the server did not answer.
func (p *Pool) dial(ctx context.Context, id int, feat *Features, own bool) (*Conn, error) {
	pipelined := p.Pipelining()
	// A spare (own) opens its first data connection with its login.
	c, err := dialArmed(ctx, &p.cfg, id, feat, pipelined, own)
	if err != nil && pipelined {
		if own {
			ctx = context.WithoutCancel(ctx)
		}
		p.pipelineFailed(ctx, "login", err)
	}
	return c, err
}

func (p *Pool) take(kind Kind) {
	if kind != Metadata {
		p.transfers++
	}
}

func (p *Pool) release(kind Kind) {
	if kind != Metadata {
		p.transfers--
	}
}

// pick takes an idle connection for kind that suits it: for metadata,
// the most recently used one without a data connection opened ahead,
// which it would leave unused; for a transfer, the one with a data
// connection opened ahead that has waited longest, so that reads go round
// the connections instead of following the one that just came back, and
// no data connection opened ahead grows too old to use (readyAge). Call
// with mu held.
func (p *Pool) pick(kind Kind) *Conn {
	i := len(p.idle) - 1
	if kind == Metadata {
		for j := i; j >= 0; j-- {
			if p.idle[j].ready.data == nil {
				i = j
				break
			}
		}
	} else {
		for j := range p.idle {
			if p.idle[j].ready.data != nil {
				i = j
				break
			}
		}
	}
	c := p.idle[i]
	p.idle = append(p.idle[:i], p.idle[i+1:]...)
	return c
}

// spareIfLast dials a spare (below) when no connection is idle: a read
// that took the last one calls it, since the next read would wait for a
// login.
func (p *Pool) spareIfLast() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) == 0 {
		p.spare()
	}
}

// spare dials a connection in the background while the pool is below its
// ceiling, logs it in and opens its first data connection ahead, so that
// a transfer finds it ready instead of paying a login. Call with mu held.
func (p *Pool) spare() {
	if p.closed || p.total >= p.ceiling || p.feat == nil {
		return
	}
	p.total++
	p.dials++
	p.nextID++
	id, feat := p.nextID, p.feat
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
		defer cancel()
		c, err := p.dial(ctx, id, feat, true)
		if err != nil {
			p.mu.Lock()
			p.total--
			if errors.Is(err, errTooMany) && p.total > 0 {
				p.ceiling = max(1, p.total)
				p.lowered, p.loweredBy = time.Now(), refusal(err)
				p.cfg.Logger.Info("server refused another connection; pool ceiling lowered", "ceiling", p.ceiling)
			} else {
				p.cfg.Logger.Debug("spare connection not opened", "err", err)
			}
			p.broadcast()
			p.mu.Unlock()
			return
		}
		c.warm(p.Pipelining())
		p.mu.Lock()
		p.transfers++ // put releases it
		p.mu.Unlock()
		p.put(c, Transfer)
	}()
}

// Waiting says whether a caller waits for a connection of kind: a long
// transfer then yields its connection. A short read (Ahead) waiting counts
// as a transfer.
func (p *Pool) Waiting(kind Kind) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if kind == Transfer {
		return p.waiting[Transfer]+p.waiting[Ahead] > 0
	}
	return p.waiting[kind] > 0
}

// check sends NOOP on a connection that sat idle: servers close idle
// sessions, and finding out now costs a round trip instead of a failure.
func (p *Pool) check(ctx context.Context, c *Conn) bool {
	ctx, cancel := context.WithTimeout(ctx, min(p.cfg.Timeout, 5*time.Second))
	defer cancel()
	r, err := c.exchange(ctx, "NOOP")
	return err == nil && r.code == 200
}

// put returns a connection taken for kind. A broken one is closed.
func (p *Pool) put(c *Conn, kind Kind) {
	if c.giveBack() {
		return
	}
	if c.broken {
		p.discard(c, kind)
		return
	}
	c.used = time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.learnRTT(c)
	p.release(kind)
	if p.closed {
		p.total--
		go c.close()
		return
	}
	p.idle = append(p.idle, c)
	p.armReaper()
	p.broadcast()
}

// putAfter returns a connection taken for kind once finish, run on its
// own goroutine, is done with it.
func (p *Pool) putAfter(c *Conn, kind Kind, finish func()) {
	p.mu.Lock()
	p.finishing++
	p.learnRTT(c) // now: a caller may ask before finish is done
	p.mu.Unlock()
	go func() {
		finish()
		p.mu.Lock()
		p.finishing--
		p.mu.Unlock()
		p.put(c, kind)
	}()
}

// learnRTT keeps c's round-trip time if it is the shortest yet. Call
// with mu held, by c's owner.
func (p *Pool) learnRTT(c *Conn) {
	if c.rtt > 0 && (p.rtt == 0 || c.rtt < p.rtt) {
		p.rtt = c.rtt
	}
}

// discard closes a connection that must not be reused.
func (p *Pool) discard(c *Conn, kind Kind) {
	c.broken = true
	if c.giveBack() {
		return // its lender discards it
	}
	c.raw.Close()
	c.dropReady()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total--
	p.release(kind)
	p.broadcast()
}

// armReaper schedules closing connections idle for IdleTimeout. Call with
// mu held.
func (p *Pool) armReaper() {
	if p.reaper != nil {
		return
	}
	p.reaper = time.AfterFunc(p.cfg.IdleTimeout/2, p.reap)
}

func (p *Pool) reap() {
	p.mu.Lock()
	p.reaper = nil
	var old []*Conn
	keep := p.idle[:0]
	for _, c := range p.idle {
		if time.Since(c.used) >= p.cfg.IdleTimeout {
			old = append(old, c)
			p.total--
		} else {
			keep = append(keep, c)
		}
	}
	p.idle = keep
	if len(p.idle) > 0 && !p.closed {
		p.armReaper()
	}
	if len(old) > 0 {
		p.broadcast()
	}
	p.mu.Unlock()
	for _, c := range old {
		c.close()
	}
}

// Close sends QUIT on idle connections and closes them; connections in
// use are closed when they come back. It waits for no server longer than
// a few seconds.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	// Its replies are read on the way out, not waited for.
	go p.settleTrail()
	idle := p.idle
	p.idle = nil
	p.total -= len(idle)
	if p.reaper != nil {
		p.reaper.Stop()
		p.reaper = nil
	}
	p.broadcast()
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range idle {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.close()
		}()
	}
	wg.Wait()
}
