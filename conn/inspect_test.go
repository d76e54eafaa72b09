package conn

// What the tests ask of a pool and production does not: a whole upload in
// one call, SIZE, and the connection counters.

import (
	"context"
	"io"
	"strconv"
	"strings"
)

// Store uploads all of r to path and returns the bytes sent.
func (p *Pool) Store(ctx context.Context, path string, r io.Reader) (int64, error) {
	u, err := p.StartUpload(ctx, path)
	if err != nil {
		return 0, err
	}
	if err := u.CopyFrom(ctx, r); err != nil {
		return u.n, err
	}
	return u.n, u.finish(ctx)
}

// Size asks SIZE for a file's size.
func (p *Pool) Size(ctx context.Context, path string) (int64, error) {
	var n int64
	err := p.do(ctx, Metadata, func(c *Conn) error {
		r, err := c.expect(ctx, "size", path, []int{213}, "SIZE "+path)
		if err != nil {
			return err
		}
		n, err = strconv.ParseInt(strings.TrimSpace(r.msg), 10, 64)
		if err != nil || n < 0 {
			return &Error{Op: "size", Path: path, Code: r.code, Msg: r.msg}
		}
		return nil
	})
	return n, err
}

// Stats counts connections.
type Stats struct{ Open, Idle, Dials, Ceiling int }

func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{Open: p.total, Idle: len(p.idle), Dials: p.dials, Ceiling: p.ceiling}
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
