package conn

// What the tests ask of a pool and production does not: a whole upload in
// one call, SIZE, and the connection counters.

import (
	"context"
	"io"
)

// Store uploads all of r to path and returns the bytes sent.
func (p *Pool) Store(ctx context.Context, path string, r io.Reader) (int64, error) {
	u, err := p.StartUpload(ctx, path)
	if err != nil {
		return 0, err
	}
	// Plain writes, without SendFrom's resumes: a failure shows.
	buf := make([]byte, 256<<10)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := u.Write(ctx, buf[:n]); err != nil {
				return u.n, err
			}
		}
		if rerr == io.EOF {
			return u.n, u.finish(ctx)
		}
		if rerr != nil {
			u.Abort()
			return u.n, rerr
		}
	}
}

// Stats counts connections, the loans to riders and the riders that
// waited for one.
type Stats struct{ Open, Idle, Dials, Ceiling, Lent, RideWaits int }

func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{Open: p.total, Idle: len(p.idle), Dials: p.dials, Ceiling: p.ceiling, Lent: p.lent, RideWaits: p.rideWaits}
}

// openSegmented starts a segmented read of path, of size bytes, at off,
// in segments of segSize at most, over up to n connections at once. Each
// segment but the last ends with an abort, which costs the bytes in flight
// then and two round trips of its connection: segSize should dwarf both.
func (p *Pool) openSegmented(ctx context.Context, path string, off, size, segSize int64, n int) *Segmented {
	s := p.segmented(ctx, path, off, size, segSize, n)
	s.more()
	return s
}
