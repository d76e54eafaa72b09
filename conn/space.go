package conn

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SpaceTTL is how long Pool.Available reuses the server's answer: df, file
// managers and some copy tools ask statfs several times a second, and each
// answer costs a round trip on the metadata connection.
const SpaceTTL = 5 * time.Second

// Available asks the server how many bytes the user may still write under
// dir, with AVBL (draft-peterson-streamlined-ftp-command-extensions),
// where FEAT offers it. known is false when the server cannot tell: no
// AVBL in FEAT, or a server that refused it once as an unknown command
// (never asked again). An answer, or an error, is reused for SpaceTTL;
// the exchange is bounded by Config.Timeout like any other.
func (p *Pool) Available(ctx context.Context, dir string) (avail uint64, known bool, err error) {
	f, err := p.features(ctx)
	if err != nil {
		return 0, false, err
	}
	if !hasFeature(f, "AVBL") || p.space.refused.Load() {
		return 0, false, nil
	}
	avail, err = p.space.get(ctx, dir, func() (uint64, error) {
		var n uint64
		err := p.do(ctx, Metadata, func(c *Conn) error {
			r, err := c.expect(ctx, "avbl", dir, []int{213}, "AVBL "+dir)
			if err != nil {
				return err
			}
			if n, err = parseAVBL(r.msg); err != nil {
				return &Error{Op: "avbl", Path: dir, Code: r.code, Msg: firstLine(r.msg)}
			}
			return nil
		})
		return n, err
	})
	if Classify(err) == ClassUnsupported {
		// FEAT promised what the server does not do.
		p.space.refused.Store(true)
		return 0, false, nil
	}
	return avail, err == nil, err
}

// hasFeature says whether FEAT listed the extension name.
func hasFeature(f Features, name string) bool {
	for _, l := range f.Raw {
		if word, _, _ := strings.Cut(l, " "); strings.EqualFold(word, name) {
			return true
		}
	}
	return false
}

// parseAVBL reads the text of AVBL's 213 reply: a byte count, alone or
// followed by words.
func parseAVBL(msg string) (uint64, error) {
	word, _, _ := strings.Cut(strings.TrimSpace(msg), " ")
	return strconv.ParseUint(word, 10, 64)
}

// spaceCache holds the last answer to AVBL (T uint64) or SITE QUOTA (T
// Quota), and makes callers who come while one is asked wait for it
// rather than ask again. Its zero value is ready.
type spaceCache[T any] struct {
	refused atomic.Bool      // the command was refused: never asked again
	now     func() time.Time // the clock; time.Now when nil (tests set it)

	mu    sync.Mutex
	busy  chan struct{} // closed when the exchange in flight ends; GUARDED_BY(mu)
	valid bool          // GUARDED_BY(mu), with the fields below
	dir   string
	at    time.Time
	avail T
	err   error
}

func (s *spaceCache[T]) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// get returns the answer for dir younger than SpaceTTL, or fetches one.
func (s *spaceCache[T]) get(ctx context.Context, dir string, fetch func() (T, error)) (T, error) {
	for {
		s.mu.Lock()
		if s.valid && s.dir == dir && s.clock().Sub(s.at) < SpaceTTL {
			avail, err := s.avail, s.err
			s.mu.Unlock()
			return avail, err
		}
		if wait := s.busy; wait != nil {
			s.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				var zero T
				return zero, ctx.Err()
			}
		}
		done := make(chan struct{})
		s.busy = done
		s.mu.Unlock()

		avail, err := fetch()

		s.mu.Lock()
		s.busy = nil
		// An exchange cut short by this caller's interrupt says nothing
		// about the server: the next caller asks again.
		if ctx.Err() == nil {
			s.valid, s.dir, s.at, s.avail, s.err = true, dir, s.clock(), avail, err
		}
		s.mu.Unlock()
		close(done)
		return avail, err
	}
}
