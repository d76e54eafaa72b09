package fs

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"ftpfs/conn"
)

// A sequential reader is served by one RETR stream read straight into the
// kernel's request buffers: one copy from the socket to the reply, no
// allocation per request (a large file, by segments read over several
// connections, copied from their buffers). The kernel's read-ahead keeps several requests
// in flight and the socket's receive buffer keeps the server sending, so
// the stream runs ahead of the reader without a buffer of ours. Random
// reads go through the block cache instead (file.go).

const (
	// streamReach is how far ahead of the stream a read may start and
	// still be served by it: the kernel sends read-ahead requests in
	// parallel, and they reach us out of order.
	streamReach = 16 << 20
	// gapWait is how long a read ahead of the stream waits for the
	// requests before it to arrive; after that it skips their bytes (the
	// page cache had them, or they come late and find them in the block
	// cache and the handle's skipped pieces).
	gapWait = 20 * time.Millisecond
	// streamIdle is how long a stream nobody reads keeps its connection.
	streamIdle = 2 * time.Second
	// yieldAfter is how many bytes a stream reads before it gives its
	// connection up to a reader that waits for one, so that eight
	// readers share four connections instead of queueing.
	yieldAfter = 8 << 20
)

// errStreamGone says a read could not be served by the stream (it ended,
// or moved past the offset): the caller reads through the block cache.
var errStreamGone = errors.New("stream ended")

// A stream slower than slowStream while the reader waits for it, over
// probeBytes read after its first probeAfter, goes on in ranged segments
// over all the pool's connections (conn.Segmented, the metadata slot's
// lent while nobody needs it), its RETR the first, where three or more
// are allowed and the server is more than linkRTT away: servers that cap
// each data connection's rate (and links one stream cannot fill) give
// several streams what they refuse one. A fast one stays one RETR. The
// probe is short: its bytes come at one connection's rate. segmentSize is
// big beside the bytes an abort wastes and its round trips, small enough
// that a few in memory are affordable.
const (
	probeAfter  = 1 << 20 // the transfer's start is not its rate
	probeBytes  = 2 << 20
	slowStream  = 32 << 20 // bytes per second
	segmentSize = 16 << 20
	// linkRTT is the round trip below which the server is taken to be
	// near: there, a slow stream is a busy machine, which more streams
	// would not help.
	linkRTT = 2 * time.Millisecond
)

// seqReader is what a stream reads: one RETR, or ranged RETRs over several
// connections delivered in order.
type seqReader interface {
	Read(ctx context.Context, b []byte) (int, error)
	Close() error
	Interrupt()
}

// stream is one sequential read from some offset of one open file.
type stream struct {
	// Set at open, never changed. st is read by the busy reader alone,
	// and closed by whoever ends the stream once nobody reads it.
	h  *handle
	st seqReader

	// Never held across network I/O.
	mu      sync.Mutex
	pos     int64         // the offset the stream yields next; GUARDED_BY(mu)
	busy    bool          // a reader is reading the stream; GUARDED_BY(mu)
	ended   bool          // no more reads: failed, gave way or closed; GUARDED_BY(mu)
	closed  bool          // st was closed, or its closing started; GUARDED_BY(mu)
	changed chan struct{} // closed and replaced at each change; GUARDED_BY(mu)
	pulled  int64         // bytes read since the stream opened; GUARDED_BY(mu)
	lastUse time.Time     // GUARDED_BY(mu)
	probing bool          // one RETR, its rate not judged yet; GUARDED_BY(mu)
	// segmented: st is a segmented read, whose workers give their
	// connections to waiting transfers between segments: it does not
	// end for them. GUARDED_BY(mu)
	segmented bool
	probeN    int64         // bytes read while probing, after probeAfter; GUARDED_BY(mu)
	probeT    time.Duration // time waited for them; GUARDED_BY(mu)
	idle      *time.Timer   // set at open, never changed
}

// openStream starts a RETR at off; ctx bounds the start.
func (h *handle) openStream(ctx context.Context, off int64) (*stream, error) {
	st, err := h.m.pool.OpenStream(ctx, h.remote, off)
	if err != nil {
		return nil, err
	}
	s := &stream{h: h, st: st, pos: off, changed: make(chan struct{}), lastUse: time.Now(),
		probing: h.m.o.Conn.MaxConns > 2 && h.entry.Size-off >= 4*segmentSize+probeAfter+probeBytes}
	s.idle = time.AfterFunc(streamIdle, s.closeIfIdle)
	return s, nil
}

// _signal wakes the readers waiting for a change. Call with mu held.
func (s *stream) _signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// serves says whether a read at off should wait for this stream: it is
// ahead of the stream and within reach.
func (s *stream) serves(off int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.ended && off >= s.pos && off-s.pos < streamReach
}

// readAt reads len(buf) bytes at off from the stream, or fewer at the end
// of the file. It waits for the reads before off to take their turn, for
// gapWait at most, then skips their bytes. errStreamGone means the stream
// cannot serve off.
func (s *stream) readAt(ctx context.Context, buf []byte, off int64) (int, error) {
	s.mu.Lock()
	for {
		if s.ended || off < s.pos {
			s.mu.Unlock()
			return 0, errStreamGone
		}
		if !s.busy && s.pos == off {
			break
		}
		changed, busy := s.changed, s.busy
		s.mu.Unlock()
		// While nobody reads the stream, the reads before off get
		// gapWait to come; a busy reader is waited for.
		var gap <-chan time.Time
		var timer *time.Timer
		if !busy {
			timer = time.NewTimer(gapWait)
			gap = timer.C
		}
		skip := false
		select {
		case <-changed:
		case <-gap:
			skip = true
		case <-ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		s.mu.Lock()
		if skip && !s.busy && !s.ended && off > s.pos {
			break
		}
	}
	s.busy = true
	s.lastUse = time.Now()
	from := s.pos
	s.mu.Unlock()

	var n int
	start := time.Now()
	err := s.skip(ctx, from, off)
	if err == nil {
		n, err = readFull(ctx, s.st, buf)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			// The data ended before the listed size. The final reply
			// tells a file that got shorter (226: a short read says
			// where it ends now) from a transfer cut short (426: the
			// kernel would take a short read for the end of the file).
			s.mu.Lock()
			s.closed = true
			s.mu.Unlock()
			s.idle.Stop()
			if cerr := s.st.Close(); cerr != nil {
				err = cerr
			} else if n > 0 {
				err = nil
			}
		}
	}
	atEnd := err == nil && off+int64(n) >= s.h.entry.Size
	if atEnd {
		// See the server's EOF, so that closing ends the RETR cleanly
		// instead of aborting it.
		var probe [1]byte
		s.st.Read(ctx, probe[:])
	}

	s.mu.Lock()
	s.busy = false
	s.lastUse = time.Now()
	s.pos = off + int64(n)
	if s.probing && s.pulled >= probeAfter {
		s.probeN += off - from + int64(n)
		s.probeT += time.Since(start)
	}
	s.pulled += off - from + int64(n)
	if s.ended || err != nil || atEnd || n < len(buf) ||
		s.pulled >= yieldAfter && !s.segmented && s.h.m.pool.Waiting(conn.Transfer) {
		s._end()
	} else if s.probing && s.probeN >= probeBytes {
		s._judge(ctx)
	}
	s._signal()
	s.mu.Unlock()
	if err != nil {
		// Even with some bytes read: a short reply would tell the
		// kernel the file ends there. The block path reads it all.
		s.h.m.log.Debug("read stream ended", "path", s.h.rel, "off", off, "err", err)
		return 0, errStreamGone
	}
	return n, nil
}

// _judge ends the probe: a slow stream goes on in segments from where it
// is, its RETR the first. Call with mu held, by the reader that was busy.
func (s *stream) _judge(ctx context.Context) {
	s.probing = false
	one, ok := s.st.(*conn.Stream)
	if !ok || float64(s.probeN) >= slowStream*s.probeT.Seconds() || one.RTT() < linkRTT {
		return
	}
	h := s.h
	s.st, s.segmented = one.Segmented(ctx, s.pos, h.entry.Size, segmentSize, h.m.o.Conn.MaxConns), true
	h.m.log.Debug("slow read stream: going on in segments", "path", h.rel, "off", s.pos,
		"rate", int64(float64(s.probeN)/s.probeT.Seconds()))
}

// skip reads the stream up to off: the requests for those bytes came
// from the page cache, come late, or never come. Whole blocks go to the
// block cache, the rest to the handle's skipped pieces: a late request finds
// them there.
func (s *stream) skip(ctx context.Context, from, to int64) error {
	h := s.h
	bs := int64(h.m.blocks.BlockSize())
	for pos := from; pos < to; {
		b := pos / bs
		bend := min((b+1)*bs, h.entry.Size)
		if pos == b*bs && bend <= to {
			buf := make([]byte, bend-pos)
			if _, err := readFull(ctx, s.st, buf); err != nil {
				return err
			}
			h.m.blocks.Add(h.remote, h.version, b, buf)
			pos = bend
			continue
		}
		buf := make([]byte, min(to, bend)-pos)
		if _, err := readFull(ctx, s.st, buf); err != nil {
			return err
		}
		h.keepSkipped(pos, buf)
		pos += int64(len(buf))
	}
	return nil
}

// piece is skipped bytes no whole block holds, at off.
type piece struct {
	off int64
	b   []byte
}

// keptPieces bounds a handle's skipped pieces: a skip leaves two at most
// (its first and last partial blocks), and a late request is late by a
// few requests, not by several skips.
const keptPieces = 4

// keepSkipped keeps the bytes at off that a skip read but no whole block
// holds: a request the kernel sent before the skip may reach us after it
// (a loaded machine delays requests past gapWait), and without them it
// costs a RETR of its block.
func (h *handle) keepSkipped(off int64, b []byte) {
	h.skippedMu.Lock()
	defer h.skippedMu.Unlock()
	kept := h.skipped
	if len(kept) == keptPieces {
		kept = kept[1:]
	}
	// A new array each time: fromSkipped reads the old one unlocked.
	h.skipped = append(kept[:len(kept):len(kept)], piece{off, b})
}

// fromSkipped fills buf, at off, from the skipped pieces and the cached
// blocks, and says whether it could: a late request of a skipped range.
func (h *handle) fromSkipped(buf []byte, off int64) bool {
	h.skippedMu.Lock()
	pieces := h.skipped
	h.skippedMu.Unlock()
	if len(pieces) == 0 {
		return false
	}
	bs := int64(h.m.blocks.BlockSize())
	for n := 0; n < len(buf); {
		pos := off + int64(n)
		var src []byte
		for _, p := range pieces {
			if pos >= p.off && pos < p.off+int64(len(p.b)) {
				src = p.b[pos-p.off:]
				break
			}
		}
		if src == nil {
			b := pos / bs
			data, ok := h.m.blocks.Get(h.remote, h.version, b)
			if !ok || pos-b*bs >= int64(len(data)) {
				return false
			}
			src = data[pos-b*bs:]
		}
		n += copy(buf[n:], src)
	}
	return true
}

// _end marks the stream ended and closes it unless a reader is busy with
// it (that reader ends it when done). The close may wait on the network,
// so it runs on its own goroutine. Call with mu held.
func (s *stream) _end() {
	s.ended = true
	if s.busy || s.closed {
		return
	}
	s.closed = true
	s.idle.Stop()
	go func() {
		if err := s.st.Close(); err != nil {
			s.h.m.log.Debug("stream close", "path", s.h.rel, "err", err)
		}
	}()
}

// close ends the stream; a read blocked on the network returns at once.
func (s *stream) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy {
		s.st.Interrupt()
	}
	s._end()
	s._signal()
}

// closeIfIdle ends a stream nobody read for streamIdle, to give its
// connection back.
func (s *stream) closeIfIdle() {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	idle := time.Since(s.lastUse)
	if s.busy || idle < streamIdle {
		s.idle.Reset(streamIdle - idle)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.close()
}

func readFull(ctx context.Context, s seqReader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := s.Read(ctx, buf[n:])
		n += m
		if err == io.EOF {
			if n < len(buf) {
				return n, io.ErrUnexpectedEOF
			}
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
