package conn

import (
	"context"
	"errors"
	"io"
	"sync"
)

// Segmented is a sequential read of a file from an offset to its end, as
// ranged RETRs (REST+RETR) of a fixed size read over several connections at
// once and delivered in order: servers that cap each data connection's
// rate (and links where one stream cannot fill the pipe) give several
// streams what they refuse one. It holds n+1 segments in memory at most
// (n the connections it may use): the one being read, and those behind
// it, each read on a connection of its own or waiting for its turn.
// Connections beyond the first are taken only when one is free: a caller
// waiting for a connection stops it from taking more. The last may be the
// slot kept for metadata, lent while nobody waits for metadata: the
// worker on it gives it back on its next bytes once somebody does, and
// its segment's rest goes to the next worker free (the read lends no
// more).
type Segmented struct {
	p    *Pool
	path string
	size int64
	max  int   // connections used at most, a lent one counted
	seg  int64 // the segments' size, but the last's

	ctx    context.Context // the workers'; cancelled by Close
	cancel context.CancelFunc

	mu          sync.Mutex
	segs        []*segment    // started, not yet read to their end, in order; GUARDED_BY(mu)
	next        int64         // where the next segment starts; GUARDED_BY(mu)
	pos         int64         // where Read continues; GUARDED_BY(mu)
	workers     int           // GUARDED_BY(mu)
	changed     chan struct{} // closed and replaced at each change; GUARDED_BY(mu)
	closed      bool          // GUARDED_BY(mu)
	interrupted bool          // GUARDED_BY(mu)
	err         error         // no connection for the first worker; GUARDED_BY(mu)
	gaveBack    bool          // a lent connection went back: lend no more; GUARDED_BY(mu)
}

// segment is one ranged RETR's bytes, [off, off+len(buf)).
type segment struct {
	off  int64
	buf  []byte
	fill int   // bytes arrived; GUARDED_BY(Segmented.mu)
	busy bool  // a worker reads it; GUARDED_BY(Segmented.mu)
	eof  bool  // the file ended at off+fill; GUARDED_BY(Segmented.mu)
	err  error // GUARDED_BY(Segmented.mu)
}

// Segmented goes on with the stream, which is at off, as a segmented read
// (see segmented): its RETR is the first segment, read on to the
// segment's end, its connection the first worker's. The reader gets bytes
// while the other connections log in, and the stream's abort and restart
// are saved. The stream is the read's from then on: neither read nor
// close it.
func (st *Stream) Segmented(ctx context.Context, off, size, segSize int64, n int) *Segmented {
	s := st.p.segmented(ctx, st.path, off, size, segSize, n)
	s.mu.Lock()
	s.workers++
	sg := s._add()
	s.mu.Unlock()
	st.t.ctx = s.ctx
	go s.work(st.c, false, sg, st.t)
	s.more()
	return s
}

// segmented makes a segmented read of path, of size bytes, from off, in
// segments of segSize at most, over up to n connections at once; nothing
// starts yet. Each segment but the last ends with an abort, which costs
// the bytes in flight then and two round trips of its connection:
// segSize should dwarf both.
func (p *Pool) segmented(ctx context.Context, path string, off, size, segSize int64, n int) *Segmented {
	n = max(1, n)
	// Equal segments, as many as a multiple of n: the connections end
	// together.
	k := max(1, ceilDiv(size-off, max(1, segSize)))
	k = ceilDiv(k, int64(n)) * int64(n)
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &Segmented{p: p, path: path, size: size, max: n, seg: max(1, ceilDiv(size-off, k)), ctx: wctx, cancel: cancel,
		next: off, pos: off, changed: make(chan struct{})}
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// _signal wakes Read. Call with mu held.
func (s *Segmented) _signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// more starts workers while segments may be added: the first waits for a
// connection as any transfer does, the others take one only if it is
// free now and nobody waits for one, the metadata slot's last.
func (s *Segmented) more() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.closed && s.workers < s.max {
		if left, fresh := s._work(); left == nil && !fresh {
			return
		}
		wait := s.workers == 0
		if !wait && s.p.Waiting(Transfer) {
			return
		}
		s.workers++
		go func() {
			c, err := s.p.get(s.ctx, Transfer, wait)
			lent := false
			if errors.Is(err, ErrBusy) && s.mayLend() {
				c, err = s.p.lend(s.ctx)
				lent = err == nil
			}
			if err != nil {
				s.mu.Lock()
				s.workers--
				if wait && s.err == nil {
					s.err = err
				}
				s._signal()
				s.mu.Unlock()
				return
			}
			if !wait {
				s.more() // the next, now that this one has its connection
			}
			s.work(c, lent, nil, nil)
		}()
		if !wait {
			return // one at a time: get says whether there is one
		}
	}
}

func (s *Segmented) mayLend() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.gaveBack && !s.closed
}

// _work says what a worker free now would read: the first segment left
// unfinished by a connection given back, or else (fresh) a new one where
// there is room: one more than the connections are held, so that a
// connection done with its segment goes on with the next while the
// reader is still on an earlier one. Call with mu held.
func (s *Segmented) _work() (left *segment, fresh bool) {
	for _, sg := range s.segs {
		if !sg.busy && sg.fill < len(sg.buf) && sg.err == nil && !sg.eof {
			return sg, false
		}
	}
	return nil, s.next < s.size && len(s.segs) < s.max+1
}

// _add adds a new segment, busy. Call with mu held.
func (s *Segmented) _add() *segment {
	end := min(s.size, s.next+s.seg)
	sg := &segment{off: s.next, buf: make([]byte, end-s.next), busy: true}
	s.next = end
	s.segs = append(s.segs, sg)
	return sg
}

// work reads segments on c until there is none to start, or c was lent
// and goes back, then gives c back. The first is sg if not nil, busy
// already, on t if not nil.
func (s *Segmented) work(c *Conn, lent bool, sg *segment, t *transfer) {
	if sg != nil && !s.fetch(c, sg, lent, t) {
		s.giveBack(c, sg)
		return
	}
	for {
		s.mu.Lock()
		sg, fresh := s._work()
		if s.closed || c.broken || sg == nil && !fresh {
			s.workers--
			s.mu.Unlock()
			s.p.put(c, Transfer)
			return
		}
		if lent && s.p.reclaim() {
			s.mu.Unlock()
			s.giveBack(c, nil)
			return
		}
		if fresh && s.workers > 1 && s.p.Waiting(Transfer) {
			// Another transfer waits for a connection (a block read
			// the kernel sent late, another file): this one goes to
			// it between segments, and the read goes on with the
			// others rather than ending.
			s.workers--
			s.mu.Unlock()
			s.p.put(c, Transfer)
			return
		}
		if fresh {
			sg = s._add()
		}
		sg.busy = true
		s.mu.Unlock()
		if !s.fetch(c, sg, lent, nil) {
			s.giveBack(c, sg)
			return
		}
	}
}

// giveBack returns the lent c to the pool, for the metadata caller that
// waits: the read lends no more, and the rest of sg, if any, waits for
// the next worker free.
func (s *Segmented) giveBack(c *Conn, sg *segment) {
	s.mu.Lock()
	if sg != nil {
		sg.busy = false
	}
	s.gaveBack = true
	s.workers--
	s._signal()
	s.mu.Unlock()
	s.p.put(c, Transfer)
}

// fetch reads the rest of seg on c, publishing its bytes as they arrive,
// on t if not nil (at the segment's start), else on a RETR of its own. On
// a lent c it returns false, c in step, once a metadata caller waits for
// its slot.
func (s *Segmented) fetch(c *Conn, seg *segment, lent bool, t *transfer) bool {
	s.mu.Lock()
	fill := seg.fill
	s.mu.Unlock()
	if t == nil {
		var err error
		// Close cancels s.ctx: the start's exchange runs to its end
		// regardless (within the timeout), so that Close in its middle
		// aborts a transfer in step instead of breaking the connection.
		t, err = c.startTransfer(context.WithoutCancel(s.ctx), "retr", s.path, "RETR "+s.path, seg.off+int64(fill), false)
		if err != nil {
			s.failed(seg, err)
			return true
		}
		t.ctx = s.ctx
	}
	for fill < len(seg.buf) {
		n, err := t.Read(seg.buf[fill:])
		fill += n
		s.mu.Lock()
		seg.fill = fill
		s._signal()
		s.mu.Unlock()
		if lent && err == nil && fill < len(seg.buf) && s.p.reclaim() {
			t.abort()
			return false
		}
		if err == io.EOF {
			// The file is shorter than its listing said: it ends here.
			err = t.finish()
			s.mu.Lock()
			seg.eof, seg.err = true, err
			s.next = s.size // nothing after it
			s._signal()
			s.mu.Unlock()
			return true
		}
		if err != nil {
			t.abort()
			s.failed(seg, err)
			return true
		}
	}
	if seg.off+int64(len(seg.buf)) >= s.size {
		var probe [1]byte
		if n, err := t.Read(probe[:]); n == 0 && err == io.EOF {
			if err := t.finish(); err != nil {
				s.failed(seg, err)
			}
			return true
		}
	}
	// The next segment, if any, goes on this connection with its data
	// connection opened ahead.
	t.abortThen(true)
	return true
}

func (s *Segmented) failed(seg *segment, err error) {
	s.mu.Lock()
	seg.err = err
	s._signal()
	s.mu.Unlock()
}

// errInterrupted is what Read returns after Interrupt.
var errInterrupted = errors.New("segmented read interrupted")

// Read reads the next bytes in order; ctx bounds this call only.
func (s *Segmented) Read(ctx context.Context, b []byte) (int, error) {
	s.mu.Lock()
	for {
		if s.interrupted || s.closed {
			s.mu.Unlock()
			return 0, &Error{Op: "retr", Path: s.path, Err: errInterrupted}
		}
		if s.pos >= s.size {
			s.mu.Unlock()
			return 0, io.EOF
		}
		var seg *segment
		if len(s.segs) > 0 {
			seg = s.segs[0]
		}
		// Nobody fetches what comes next: the first segment, or the rest
		// of one a lent connection left.
		stalled := s.workers == 0 && (seg == nil || !seg.busy && seg.err == nil && !seg.eof && int(s.pos-seg.off) >= seg.fill)
		switch {
		case stalled && s.err != nil:
			err := s.err
			s.mu.Unlock()
			return 0, err
		case stalled:
			s.mu.Unlock()
			s.more()
			s.mu.Lock()
			continue
		case seg != nil && int(s.pos-seg.off) < seg.fill:
			n := copy(b, seg.buf[s.pos-seg.off:seg.fill])
			s.pos += int64(n)
			if int(s.pos-seg.off) == len(seg.buf) {
				s.segs = s.segs[1:]
			}
			s.mu.Unlock()
			s.more()
			return n, nil
		case seg != nil && seg.err != nil:
			err := seg.err
			s.mu.Unlock()
			return 0, err
		case seg != nil && seg.eof:
			s.mu.Unlock()
			return 0, io.EOF
		}
		// Nothing to read yet: wait for the workers.
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, &Error{Op: "retr", Path: s.path, Err: ctx.Err()}
		}
		s.mu.Lock()
	}
}

// Interrupt makes a blocked Read return now; it may be called from any
// goroutine. The read must still be closed.
func (s *Segmented) Interrupt() {
	s.mu.Lock()
	s.interrupted = true
	s._signal()
	s.mu.Unlock()
}

// Close ends the read: the transfers still running are aborted in the
// background, and their connections go back to the pool. The error is
// that of a segment the read ended on, if any.
func (s *Segmented) Close() error {
	s.mu.Lock()
	var err error
	if len(s.segs) > 0 && s.pos >= s.segs[0].off+int64(s.segs[0].fill) {
		err = s.segs[0].err
	}
	s.closed = true
	s.segs = nil
	s._signal()
	s.mu.Unlock()
	s.cancel()
	return err
}
