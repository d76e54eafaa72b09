package fs

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"ftpfs/conn"
)

const (
	// aheadBlocks is how far the stream reads ahead of the furthest block
	// asked for; it also bounds how far ahead of the stream a read may
	// be and still wait for it (the kernel's read-ahead arrives out of
	// order) rather than start a RETR of its own.
	aheadBlocks = 16
	// streamIdle is how long a stream nobody reads keeps its connection.
	streamIdle = 2 * time.Second
	// waitReach is how far ahead of the stream a read may be and still
	// wait for it rather than fetch its block alone: the kernel's
	// read-ahead runs up to two windows ahead of the reader, and a
	// single-block fetch there costs more than the wait.
	waitReach = 64
	// yieldAfter is how many blocks a stream reads before it gives its
	// connection up to a reader that waits for one, so that eight
	// readers share four connections instead of queueing.
	yieldAfter = 32
)

// readAhead owns one RETR stream. Its goroutine reads the stream into the
// block cache up to aheadBlocks past the furthest block a reader waits
// for, so that network reads overlap the kernel's requests instead of
// following them.
type readAhead struct {
	h   *handle
	st  *conn.Stream
	end int64 // the number of blocks in the file

	mu      sync.Mutex
	cond    *sync.Cond
	next    int64 // the block the stream yields next; GUARDED_BY(mu)
	want    int64 // read up to, not including, this block; GUARDED_BY(mu)
	err     error // why the goroutine ended, if it failed; GUARDED_BY(mu)
	ended   bool  // the goroutine is done with the stream; GUARDED_BY(mu)
	stop    bool  // asked to end; GUARDED_BY(mu)
	lastUse time.Time
	idle    *time.Timer
}

// startAhead opens a stream at block b and starts its goroutine. The open
// uses the caller's ctx; the goroutine's reads have the pool's timeout.
func (h *handle) startAhead(ctx context.Context, b int64) (*readAhead, error) {
	bs := int64(h.m.blocks.BlockSize())
	st, err := h.m.pool.OpenStream(ctx, h.remote, b*bs)
	if err != nil {
		return nil, err
	}
	ra := &readAhead{
		h:       h,
		st:      st,
		end:     (h.entry.Size + bs - 1) / bs,
		next:    b,
		want:    b + aheadBlocks,
		lastUse: time.Now(),
	}
	ra.cond = sync.NewCond(&ra.mu)
	ra.idle = time.AfterFunc(streamIdle, ra.closeIfIdle)
	go ra.run()
	return ra, nil
}

// covers says whether a reader of block b should wait for this stream.
func (ra *readAhead) covers(b int64) bool {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	return !ra.ended && !ra.stop && b >= ra.next && b < ra.next+waitReach
}

// following says whether b continues where this stream ended, so that a
// new stream should take over.
func (ra *readAhead) following(b int64) bool {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	return b == ra.next
}

func (ra *readAhead) run() {
	bc := ra.h.m.blocks
	bs := int64(bc.BlockSize())
	pulled := 0
	var err error
	defer func() {
		ra.mu.Lock()
		ra.ended, ra.err = true, err
		ra.cond.Broadcast()
		ra.mu.Unlock()
		ra.idle.Stop()
		if cerr := ra.st.Close(); cerr != nil {
			ra.h.m.log.Debug("stream close", "path", ra.h.rel, "err", cerr)
		}
	}()
	ctx := context.Background()
	for {
		ra.mu.Lock()
		for !ra.stop && ra.next >= ra.want && ra.next < ra.end {
			ra.cond.Wait()
		}
		if ra.stop || ra.next >= ra.end {
			ra.mu.Unlock()
			return
		}
		b := ra.next
		ra.mu.Unlock()

		off := b * bs
		buf := make([]byte, min(bs, ra.h.entry.Size-off))
		var n int
		n, err = readFull(ctx, ra.st, buf)
		if err != nil && !(errors.Is(err, io.ErrUnexpectedEOF) && n > 0) {
			return
		}
		err = nil
		bc.Add(ra.h.remote, ra.h.version, b, buf[:n])
		pulled++
		if b+1 == ra.end {
			// See the server's EOF, so that closing ends the RETR
			// cleanly instead of aborting it.
			var probe [1]byte
			ra.st.Read(ctx, probe[:])
		}
		ra.mu.Lock()
		ra.next = b + 1
		ra.cond.Broadcast()
		ra.mu.Unlock()
		if n < len(buf) {
			return // shorter than listed: the file changed
		}
		if pulled >= yieldAfter && ra.h.m.pool.Waiting(conn.Transfer) {
			return
		}
	}
}

// wait returns block b once the stream has read it. A nil result without
// an error means the stream ended before b (gave way, or the file was
// shorter): the caller fetches b itself.
func (ra *readAhead) wait(ctx context.Context, b int64) ([]byte, error) {
	stop := context.AfterFunc(ctx, func() {
		ra.mu.Lock()
		ra.cond.Broadcast()
		ra.mu.Unlock()
	})
	defer stop()
	ra.mu.Lock()
	ra.lastUse = time.Now()
	if b+aheadBlocks > ra.want {
		ra.want = b + aheadBlocks
		ra.cond.Broadcast()
	}
	for ra.next <= b && !ra.ended && ctx.Err() == nil {
		ra.cond.Wait()
	}
	err := ra.err
	ra.mu.Unlock()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if data, ok := ra.h.m.blocks.Get(ra.h.remote, ra.h.version, b); ok {
		return data, nil
	}
	return nil, err
}

// close asks the goroutine to end; it closes the stream itself, so close
// does not wait on the network.
func (ra *readAhead) close() {
	ra.mu.Lock()
	ra.stop = true
	ra.cond.Broadcast()
	ended := ra.ended
	ra.mu.Unlock()
	if !ended {
		ra.st.Interrupt()
	}
}

// closeIfIdle ends a stream nobody read for streamIdle, to give its
// connection back.
func (ra *readAhead) closeIfIdle() {
	ra.mu.Lock()
	idle := time.Since(ra.lastUse)
	ra.mu.Unlock()
	if idle >= streamIdle {
		ra.close()
		return
	}
	ra.idle.Reset(streamIdle - idle)
}

func readFull(ctx context.Context, s *conn.Stream, buf []byte) (int, error) {
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
