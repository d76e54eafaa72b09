package conn

// The listings of a ReadDirs batch over the control connection.
//
// On a LIST-only server a batch is one pipeline of STATs on one
// connection: one round trip, and STAT costs the server little. On a
// server with MLSD each entry then needs an MLST, and the server's time
// for those (about 0.1 ms each at proftpd, 2,000 for a walk of 50
// directories of 40) is what a batch waits for, not round trips. So there
// the batch is cut in chunks, and up to MaxConns-1 connections (one is
// left for the reader's own requests, as the prefetch does) take chunk
// after chunk until none is left: a connection that comes free or logs
// in late takes what the others have not. Each connection streams its
// chunks: when a chunk's STATs are answered, the next chunk's STATs and
// this chunk's MLSTs go out together, the STATs first, so that the next
// MLSTs can leave while the server still answers these: the server does
// not wait a round trip between chunks, and a connection costs one round
// trip per chunk and one more. Each chunk's listings are handed on as
// soon as its MLSTs are in.

import (
	"context"
	"errors"
	"path"
	"slices"
	"sync"
)

// dirsTogether is one ReadDirs batch.
type dirsTogether struct {
	p        *Pool
	dirs     []string
	batch    []int // indexes into dirs of those listed together, in order
	facts    bool  // the entries' facts come from MLST (a server with MLSD)
	listings []*Listing
	// settled[i] is closed once dirs[i] of the batch is done with here:
	// listings[i] is then its listing, or nil to list it alone.
	settled []chan struct{}

	mu      sync.Mutex // guards the fields below and the writes above
	next    int        // batch[next:] are not taken yet
	again   []int      // taken by a way that failed: to take again first
	chunk   int        // directories per chunk
	isDone  []bool     // settled[i] closed
	drained func()     // ends the waits for connections once all is taken
}

// factsChunks is how many chunks a batch with MLSTs is cut in per
// connection that may take part: enough for a connection that comes late
// to find work, few enough that the round trip each chunk costs stays
// small beside the server's time for it.
const factsChunks = 2

// minFactsChunk is the fewest directories a chunk of MLSTs holds.
const minFactsChunk = 4

// list lists the batch and settles every directory of it.
func (t *dirsTogether) list(ctx context.Context) {
	t.isDone = make([]bool, len(t.dirs))
	if len(t.batch) == 0 {
		return
	}
	ways := 1
	t.chunk = len(t.batch)
	if t.facts && t.p.cfg.MaxConns > 2 {
		ways = t.p.cfg.MaxConns - 1
		t.chunk = max(minFactsChunk, (len(t.batch)+factsChunks*ways-1)/(factsChunks*ways))
		ways = min(ways, (len(t.batch)+t.chunk-1)/t.chunk)
	}
	getCtx, drained := context.WithCancel(ctx)
	defer drained()
	t.drained = drained
	var wg sync.WaitGroup
	for range ways {
		wg.Go(func() {
			// A connection that breaks gives its chunks back, and the
			// way goes on with another, as do retries elsewhere.
			for attempt := 0; attempt < 4; attempt++ {
				// An idle connection, or a new one: a login once
				// started is finished, for later if not for this
				// batch, even when the caller is gone by then. Else
				// the first to come free, unless the chunks run out
				// before.
				c, err := t.p.get(context.WithoutCancel(ctx), Metadata, false)
				if errors.Is(err, ErrBusy) {
					c, err = t.p.get(getCtx, Metadata, true)
				}
				if err != nil {
					return
				}
				lost, err := t.way(ctx, c)
				t.p.put(c, Metadata)
				if err == nil {
					return
				}
				if ctx.Err() == nil {
					t.p.pipelineFailed(ctx, "stat", err)
				}
				t.giveBack(lost)
				if !Retriable(err) || ctx.Err() != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	// What no way listed, ReadDir lists alone.
	t.mu.Lock()
	for _, i := range t.batch {
		t._settle(i, nil)
	}
	t.mu.Unlock()
}

// take returns the next chunk, none once all is taken or listings
// together stopped (pipelining or STAT failed).
func (t *dirsTogether) take() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.p.Pipelining() || !t.p.statListings() {
		t.drained()
		return nil
	}
	var chunk []int
	if len(t.again) > 0 {
		n := min(len(t.again), t.chunk)
		chunk, t.again = t.again[:n:n], t.again[n:]
	} else {
		end := min(len(t.batch), t.next+t.chunk)
		chunk = t.batch[t.next:end]
		t.next = end
	}
	if t.next == len(t.batch) && len(t.again) == 0 {
		t.drained()
	}
	return chunk
}

// giveBack puts the directories of a failed way that are not settled
// back to be taken first.
func (t *dirsTogether) giveBack(dirs []int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, i := range dirs {
		if !t.isDone[i] {
			t.again = append(t.again, i)
		}
	}
	slices.Sort(t.again) // the earliest first: results go in order
}

// way lists chunk after chunk on c, in one stream: once the STATs of a
// chunk are answered, the STATs of the next go out, then the MLSTs of
// the entries just listed. The server answers the next STATs first, so
// that their MLSTs can follow while it still works on these. An error
// returns the directories it took (lost), those it did not settle to be
// taken again.
func (t *dirsTogether) way(ctx context.Context, c *Conn) (lost []int, err error) {
	type chunk struct {
		dirs     []int
		listings []*Listing
		owed     int // MLST replies still to read
	}
	// expect[n] is what the reply to the stream's command n is for: the
	// STAT of chunk's dirs[k], or the MLST of its listing k's entry j.
	type reply struct {
		ch   *chunk
		k, j int
		stat bool
	}
	var expect []reply
	statNext := func() []string {
		dirs := t.take()
		lost = append(lost, dirs...)
		ch := &chunk{dirs: dirs, listings: make([]*Listing, len(dirs))}
		var lines []string
		for k, i := range dirs {
			lines = append(lines, statCommand(t.dirs[i]))
			expect = append(expect, reply{ch: ch, k: k, stat: true})
		}
		return lines
	}
	// listed sends, for a chunk whose STATs are in, the next chunk's
	// STATs and this one's MLSTs, and settles what needs no MLST.
	listed := func(ch *chunk) []string {
		more := statNext()
		t.mu.Lock()
		defer t.mu.Unlock()
		for k, l := range ch.listings {
			if l == nil || !t.facts || len(l.Entries) == 0 {
				t._settle(ch.dirs[k], l)
				continue
			}
			for j, e := range l.Entries {
				more = append(more, "MLST "+path.Join(t.dirs[ch.dirs[k]], e.Name))
				expect = append(expect, reply{ch: ch, k: k, j: j})
				ch.owed++
			}
		}
		return more
	}
	first := statNext()
	if len(first) == 0 {
		return nil, nil
	}
	err = c.stream(ctx, first, func(n int) ([]string, error) {
		r := expect[n]
		dir := t.dirs[r.ch.dirs[r.k]]
		if r.stat {
			l, err := t.p.readStatInto(ctx, c, dir)
			if err != nil {
				return nil, err
			}
			r.ch.listings[r.k] = l
			if r.k < len(r.ch.dirs)-1 {
				return nil, nil
			}
			return listed(r.ch), nil
		}
		l := r.ch.listings[r.k]
		e := &l.Entries[r.j]
		if err := c.readFacts(ctx, path.Join(dir, e.Name), e); err != nil {
			return nil, err
		}
		if r.ch.owed--; r.ch.owed == 0 {
			t.mu.Lock()
			for k, i := range r.ch.dirs {
				t._settle(i, r.ch.listings[k])
			}
			t.mu.Unlock()
		}
		return nil, nil
	})
	return lost, err
}

// _settle gives dirs[i] its listing (nil: ReadDir lists it alone), once.
// Call with mu held.
func (t *dirsTogether) _settle(i int, l *Listing) {
	if t.isDone[i] {
		return
	}
	t.isDone[i] = true
	t.listings[i] = l
	close(t.settled[i])
}
