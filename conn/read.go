package conn

import (
	"context"
	"io"
	"time"
)

// ReadAt reads len(b) bytes at off with REST+RETR, or fewer at the end of
// the file. size is the file's size, so that a read that ends near the end
// reads to EOF instead of aborting (an abort costs a round trip).
//
// A read that stops short of the end returns as soon as its bytes are in:
// the abort (the server's 426 or 226, and the NOOP that shows the replies
// are all read) finishes in the background, and the connection goes back
// to the pool only then.
func (p *Pool) ReadAt(ctx context.Context, path string, b []byte, off, size int64) (int, error) {
	var n int
	var c *Conn
	var t *transfer
	err := p.doHold(ctx, Transfer, &c, func(c *Conn) error {
		n = 0
		var err error
		t, err = c.startTransfer(ctx, "retr", path, "RETR "+path, off, false)
		if err != nil {
			return err
		}
		n, err = io.ReadFull(t, b)
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return t.finish()
		}
		if err != nil {
			t.abort()
			return err
		}
		if off+int64(n) >= size-smallTail {
			// Drain the little that is left and end cleanly.
			if _, err := io.Copy(io.Discard, io.LimitReader(t, smallTail+1)); err != nil {
				t.abort()
				return err
			}
			if t.eof {
				return t.finish()
			}
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	if t.done {
		p.put(c, Transfer)
	} else {
		p.putAfter(c, Transfer, t.abort)
	}
	return n, nil
}

// smallTail is how much of a file's end is read rather than aborted.
const smallTail = 64 << 10

// Stream is a sequential RETR from an offset, holding one connection until
// Close.
type Stream struct {
	p    *Pool
	c    *Conn
	t    *transfer
	path string
}

// OpenStream starts a RETR at off.
func (p *Pool) OpenStream(ctx context.Context, path string, off int64) (*Stream, error) {
	var t *transfer
	var c *Conn
	err := p.doHold(ctx, Transfer, &c, func(c *Conn) error {
		var err error
		t, err = c.startTransfer(ctx, "retr", path, "RETR "+path, off, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Stream{p: p, c: c, t: t, path: path}, nil
}

// Read reads the next bytes of the stream; ctx bounds this call only.
func (s *Stream) Read(ctx context.Context, b []byte) (int, error) {
	s.t.ctx = ctx
	n, err := s.t.Read(b)
	return n, err
}

// Close ends the stream: cleanly at EOF, with an abort before it.
func (s *Stream) Close() error {
	var err error
	if s.t.eof {
		s.t.ctx = context.Background()
		err = s.t.finish()
	} else {
		s.t.abort()
	}
	s.p.put(s.c, Transfer)
	return err
}

// Interrupt makes a Read blocked on the data connection return now; it may
// be called from any goroutine. The stream must still be closed.
func (s *Stream) Interrupt() {
	s.t.interrupted.Store(true)
	s.t.data.SetReadDeadline(time.Unix(1, 0))
}
