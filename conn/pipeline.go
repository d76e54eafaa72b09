package conn

// Pipelining: commands that do not depend on each other travel together on
// one control connection, and their replies are read in order (RFC 959
// servers answer commands one after another, in the order received). N
// commands then cost one round trip instead of N.
//
// A server that loses or merges replies of pipelined commands would put
// every later reply out of step. So each reply is judged against its
// command: a reply that cannot be the command's, or none in time, breaks
// the connection, and the pool stops pipelining for good, doing the rest
// one command at a time (lftp's "sync mode"). Config.NoPipelining starts
// there.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// pipelineChunk bounds the bytes of one write of a pipeline: the writer
// goroutine sends chunk after chunk while replies are read, so a deep
// batch never waits for the socket buffers of both ends to fill.
const pipelineChunk = 16 << 10

// errOutOfStep is a reply that cannot answer the command it was read for.
var errOutOfStep = errors.New("reply out of step with its command")

// pipeline sends lines on c and, for each line in order, calls read(i),
// which reads and judges the reply to lines[i]. Lines are written by a
// goroutine of their own, chunk by chunk, while replies are read. read
// returns an error only when the connection is out of step or broken (a
// refusal of one command is an answer, not an error): the pipeline then
// ends, c is broken, and that error is returned.
func (c *Conn) pipeline(ctx context.Context, lines []string, read func(i int) error) error {
	return c.stream(ctx, lines, func(i int) ([]string, error) { return nil, read(i) })
}

// stream is pipeline where a reply may send more: the lines read(i)
// returns go out at once, behind all sent before, and their replies are
// read in turn, numbered on from the lines before them. A batch whose
// next commands depend on replies (an MLST per entry a STAT listed) thus
// keeps the server busy instead of waiting for a round trip between
// batches.
func (c *Conn) stream(ctx context.Context, lines []string, read func(i int) ([]string, error)) error {
	b, err := c.encode(lines)
	if err != nil {
		return err
	}
	w := &streamWriter{c: c, ctx: ctx, queue: []string{b}, more: make(chan struct{}, 1), done: make(chan error, 1)}
	go w.run()
	for i := 0; i < len(lines); i++ {
		var more []string
		if more, err = read(i); err != nil {
			break
		}
		if len(more) > 0 {
			if b, err = c.encode(more); err != nil {
				break
			}
			lines = append(lines, more...)
			w.send(b)
		}
	}
	w.send("") // the end
	if err != nil {
		// The writer may wait on a server that no longer reads.
		c.broken = true
		c.raw.Close()
	}
	if werr := <-w.done; werr != nil && err == nil {
		c.broken = true
		err = c.ioErr(ctx, werr)
	}
	return err
}

// streamWriter writes what stream queues, in order, chunk by chunk: a
// deep batch never waits for the socket buffers of both ends to fill,
// and the reader never waits for the writer.
type streamWriter struct {
	c     *Conn
	ctx   context.Context
	mu    sync.Mutex
	queue []string // "" ends the stream
	more  chan struct{}
	done  chan error
}

func (w *streamWriter) send(b string) {
	w.mu.Lock()
	w.queue = append(w.queue, b)
	w.mu.Unlock()
	select {
	case w.more <- struct{}{}:
	default:
	}
}

func (w *streamWriter) run() {
	for {
		w.mu.Lock()
		q := w.queue
		w.queue = nil
		w.mu.Unlock()
		for _, b := range q {
			if b == "" {
				w.done <- nil
				return
			}
			for len(b) > 0 {
				n := min(len(b), pipelineChunk)
				if err := w.c.write(w.ctx, b[:n]); err != nil {
					w.done <- err
					return
				}
				b = b[n:]
			}
		}
		<-w.more
	}
}

// Pipelining says whether commands are sent together on this pool.
func (p *Pool) Pipelining() bool {
	return !p.cfg.NoPipelining && !p.noPipeline.Load()
}

// pipelineFailed turns pipelining off for good after a batch that came
// back out of step or not in time. A lost connection, or the caller's own
// deadline, says nothing about how the server takes pipelines.
func (p *Pool) pipelineFailed(ctx context.Context, op string, err error) {
	if ctx.Err() != nil || !errors.Is(err, errOutOfStep) && Classify(err) != ClassTimeout {
		return
	}
	if !p.noPipeline.Swap(true) {
		p.cfg.Logger.Warn("pipelined commands failed; sending one at a time from now on", "op", op, "err", err)
	}
}

// ModTimes asks MDTM for the modification times of files, to the second
// and in the server's zone:
// times[i] is paths[i]'s, zero where the server did not tell (a
// directory, a file gone). The commands travel together on one
// connection; where pipelining is off or fails, the times still missing
// are asked one at a time, over all connections but one.
func (p *Pool) ModTimes(ctx context.Context, paths []string) ([]time.Time, error) {
	times := make([]time.Time, len(paths))
	if len(paths) == 0 {
		return times, nil
	}
	if p.Pipelining() {
		err := p.do(ctx, Metadata, func(c *Conn) error {
			lines := make([]string, len(paths))
			for i, path := range paths {
				lines[i] = "MDTM " + path
			}
			return c.pipeline(ctx, lines, func(i int) error {
				t, err := c.readModTime(ctx, paths[i])
				times[i] = p.fromServer(t)
				return err
			})
		})
		if err == nil || ctx.Err() != nil {
			return times, err
		}
		p.pipelineFailed(ctx, "mdtm", err)
	}
	return times, p.modTimesOneByOne(ctx, paths, times)
}

// readModTime reads the reply to MDTM of path: its time, zero for a
// refusal, or an error when the reply cannot be MDTM's.
func (c *Conn) readModTime(ctx context.Context, path string) (time.Time, error) {
	r, err := c.readReply(ctx)
	if err != nil {
		return time.Time{}, &Error{Op: "mdtm", Path: path, Err: err}
	}
	switch {
	case r.code == 213:
		// A time in a form not understood is not told, as a refusal.
		t, _ := parseTimeVal(strings.TrimSpace(firstLine(r.msg)))
		return t, nil
	case r.code == 421:
		c.broken = true
		return time.Time{}, &Error{Op: "mdtm", Path: path, Code: r.code, Msg: firstLine(r.msg)}
	case r.code >= 450:
		return time.Time{}, nil
	}
	return time.Time{}, &Error{Op: "mdtm", Path: path, Code: r.code, Msg: firstLine(r.msg),
		Err: fmt.Errorf("%w: %d", errOutOfStep, r.code)}
}

// modTimesOneByOne fills in the zero times with one MDTM per file, over
// up to MaxConns-1 connections at once.
func (p *Pool) modTimesOneByOne(ctx context.Context, paths []string, times []time.Time) error {
	work := make(chan int)
	var wg sync.WaitGroup
	for range max(1, p.cfg.MaxConns-1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if t, err := p.ModTime(ctx, paths[i]); err == nil {
					times[i] = t
				}
			}
		}()
	}
	for i := range paths {
		if !times[i].IsZero() {
			continue
		}
		select {
		case work <- i:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	return ctx.Err()
}
