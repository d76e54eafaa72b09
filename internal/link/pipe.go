package link

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// maxRead bounds one read from a sender, so that a fast stream is
// delivered in pieces rather than in one window-sized burst.
const maxRead = 64 << 10

// chunk is what one read brought, with the time it was read (the moment
// the sender sent it, on the emulated link) and its round.
type chunk struct {
	data  []byte
	at    time.Time
	round int
	eof   bool
	// reply, on the way to the server, is a reply the link gives the
	// client in the server's place once the command reached it and the
	// server's final reply number after was read.
	reply []byte
	after int
	// portLine marks a PORT or EPRT line, rewritten as it is delivered
	// (relay.openActive) for port, nil if it announces none.
	portLine bool
	port     *active
	// hold, on the way to the server, holds back what follows until the
	// server connected for the transfer command before it, or answered
	// it without connecting.
	hold *active
	// connected, on the way to the client, starts with a 1xx reply that
	// says the server connected for it: the chunk and what follows wait
	// for the connect to return.
	connected *active
	// linger, on the way to the client, starts with a final reply that
	// follows the server's lingering close of a data connection: the
	// chunk and what follows wait for that close to return.
	linger *dataEnd
}

// pipe is one direction of a relayed connection: a delay line with a
// window, read by one goroutine and written by another.
type pipe struct {
	r   *relay
	up  bool // client to server
	src net.Conn
	dst net.Conn // set before the writer starts

	mu       sync.Mutex
	queue    []chunk // read, not yet written
	inFlight int     // bytes read and not yet acknowledged
	acks     []ack   // written bytes whose ACK is on its way back, by time
	queued   chan struct{}
	acked    chan struct{}

	bucket *bucket // nil without a rate cap

	// The writer's alone: no chunk is delivered before floor + RTT/2,
	// nor with a round below floorRound (the server's connect returned).
	floor      time.Time
	floorRound int
}

type ack struct {
	at time.Time
	n  int
}

func newPipe(r *relay, up bool, src net.Conn) *pipe {
	p := &pipe{r: r, up: up, src: src, queued: make(chan struct{}, 1), acked: make(chan struct{}, 1)}
	if rate := r.l.opt.Rate; rate > 0 {
		p.bucket = newBucket(rate)
	}
	return p
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// push queues chunks for the writer.
func (p *pipe) push(cs ...chunk) {
	p.mu.Lock()
	for _, c := range cs {
		p.inFlight += len(c.data) + len(c.reply)
	}
	p.queue = append(p.queue, cs...)
	p.mu.Unlock()
	signal(p.queued)
}

// room waits until the window has room and returns how much. It waits
// for room for a full read (or half the window), as TCP avoids the silly
// window syndrome: else a small chunk's ACK would let a small read in,
// whose ACK would let another in, and so on.
func (p *pipe) room() (int, bool) {
	window := p.r.l.opt.Window
	enough := min(maxRead, max(window/2, 1))
	for {
		p.mu.Lock()
		now := time.Now()
		for len(p.acks) > 0 && !p.acks[0].at.After(now) {
			p.inFlight -= p.acks[0].n
			p.acks = p.acks[1:]
		}
		n := window - p.inFlight
		var next time.Time
		if len(p.acks) > 0 {
			next = p.acks[0].at
		}
		p.mu.Unlock()
		if n >= enough {
			return n, true
		}
		var wake <-chan time.Time
		var t *time.Timer
		if !next.IsZero() {
			t = time.NewTimer(time.Until(next))
			wake = t.C
		}
		select {
		case <-wake:
		case <-p.acked:
		case <-p.r.quit:
		}
		if t != nil {
			t.Stop()
		}
		if p.r.stopped() {
			return 0, false
		}
	}
}

// readLoop reads from the sender within the window and the rate, and
// queues what it reads with its time and round.
func (p *pipe) readLoop() {
	for {
		n, ok := p.room()
		if ok && p.bucket != nil {
			n, ok = p.bucket.take(n, p.r.quit)
		}
		if !ok {
			return
		}
		buf := make([]byte, min(n, maxRead))
		k, err := p.src.Read(buf)
		now := time.Now()
		if k > 0 {
			if p.bucket != nil {
				p.bucket.spend(k)
			}
			data := buf[:k]
			if k < len(buf)/2 {
				data = append([]byte(nil), data...) // do not pin a large buffer
			}
			p.r.arrived(p, data, now)
		}
		if err != nil {
			p.r.ended(p, now, errors.Is(err, io.EOF))
			return
		}
	}
}

// writeLoop delivers each chunk one way delay after it was read.
func (p *pipe) writeLoop() {
	oneWay := p.r.l.opt.RTT / 2
	for {
		p.mu.Lock()
		var c chunk
		ok := len(p.queue) > 0
		if ok {
			c = p.queue[0]
			p.queue[0] = chunk{}
			p.queue = p.queue[1:]
		}
		p.mu.Unlock()
		if !ok {
			select {
			case <-p.queued:
				continue
			case <-p.r.quit:
				return
			}
		}
		if c.connected != nil {
			t, connected, ok := p.r.released(c.connected)
			if !ok {
				return
			}
			if connected {
				if t.After(p.floor) {
					p.floor = t
				}
				p.floorRound = max(p.floorRound, c.connected.round)
			}
		}
		if c.linger != nil && !p.lingerFloor(c.linger) {
			return
		}
		if c.at.Before(p.floor) {
			c.at = p.floor
		}
		c.round = max(c.round, p.floorRound)
		if !p.r.sleepUntil(c.at.Add(oneWay)) {
			return
		}
		n := len(c.data) + len(c.reply)
		// Commands reach a server blocked in a lingering close when it
		// returned.
		if p.up && p.r.cmds != nil && c.reply == nil && c.hold == nil && !p.r.lingerHold() {
			return
		}
		switch {
		case c.reply != nil:
			p.r.l.meter.delivered(true, c.round, 0)
			p.r.answer(c)
		case c.hold != nil:
			if !p.r.hold(c.hold) {
				return
			}
		case c.eof:
			p.r.closeWrite(p.dst)
			return
		default:
			data := c.data
			if c.portLine {
				data = p.r.openActive(c.port, data)
			}
			p.r.delivering(p.up, c.round, len(data))
			if _, err := p.dst.Write(data); err != nil {
				p.r.fail()
				return
			}
		}
		p.mu.Lock()
		p.acks = append(p.acks, ack{time.Now().Add(oneWay), n})
		p.mu.Unlock()
		signal(p.acked)
	}
}

// bucket is a token bucket: rate bytes per second, bursts of 20 ms.
type bucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate int64) *bucket {
	burst := max(float64(rate)/50, 4096)
	return &bucket{rate: float64(rate), burst: burst, tokens: burst, last: time.Now()}
}

func (b *bucket) refill() {
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
}

// take waits for tokens and returns how many of n bytes may be read.
func (b *bucket) take(n int, quit <-chan struct{}) (int, bool) {
	b.refill()
	// Wait for a quarter of a burst, not for a byte: a read per byte
	// would cost more than the cap allows.
	if want := min(float64(n), b.burst/4); b.tokens < want {
		wait := time.Duration((want - b.tokens) / b.rate * float64(time.Second))
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-quit:
			return 0, false
		}
		b.refill()
	}
	return min(n, int(b.tokens)), true
}

func (b *bucket) spend(n int) { b.tokens -= float64(n) }
