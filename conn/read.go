package conn

import (
	"context"
	"io"
	"net"
	"time"
)

// ReadAt reads len(b) bytes at off with REST+RETR, or fewer at the end of
// the file: a short read, one block or a small file whole. size is the
// file's size, so that a read that ends near the end reads to EOF instead
// of aborting (an abort costs a round trip).
//
// A read that stops short of the end returns as soon as its bytes are in:
// the abort (the server's 426 or 226, and the NOOP that shows the replies
// are all read) finishes in the background, and the connection goes back
// to the pool only then. Being short, a read may take the connection kept
// for metadata while no metadata caller waits (Ahead): a directory's small
// files read ahead, or random reads, use every connection.
func (p *Pool) ReadAt(ctx context.Context, path string, b []byte, off, size int64) (int, error) {
	return p.readAt(ctx, Ahead, path, b, off, size)
}

func (p *Pool) readAt(ctx context.Context, kind Kind, path string, b []byte, off, size int64) (int, error) {
	p.mu.Lock()
	p.shortReads++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.shortReads--
		p.mu.Unlock()
	}()
	var n int
	var c *Conn
	var t *transfer
	err := p.doHold(ctx, kind, &c, func(c *Conn) error {
		p.spareIfLast()
		n = 0
		var err error
		// A read to the end carries the EPSV of the next transfer.
		t, err = c.start(ctx, "retr", path, "RETR "+path, off, false, off+int64(len(b)) >= size)
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
	// The connection comes back with the next transfer's data connection
	// open: a random read or a small file then costs one round trip.
	p.putAfter(c, kind, func() {
		if t.done {
			p.armLending(c)
		} else {
			t.abortThen(true)
		}
	})
	return n, nil
}

// halfClose ends our side of a download's data connection once its
// command is sent: nothing goes that way, and servers that close a data
// connection only after the client did (vsftpd, proftpd) then send the
// final reply as soon as the last byte is out, instead of a round trip
// later, once our close has crossed the link.
func halfClose(data net.Conn) {
	if tc, ok := data.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

// readyAge is how long a data connection opened ahead is used: servers
// close a passive port nobody uses (vsftpd after a minute, others sooner),
// and a transfer on a closed one fails.
const readyAge = 3 * time.Second

// readyData is a passive data connection opened ahead, on an idle control
// connection, for its next transfer.
type readyData struct {
	data    net.Conn
	at      time.Time
	refused bool // the server dropped one: never again on this connection
	// epsv is the 229 to an EPSV that went behind a transfer, read with
	// its final reply: armData connects to its port once the transfer's
	// caller has its bytes, instead of making it wait for the connect.
	epsv *reply
}

// canArm says whether an EPSV may be sent to open a data connection
// ahead: where EPSV is known to work on this connection, and none is open
// or answered yet.
func (c *Conn) canArm() bool {
	return !c.broken && c.ready.data == nil && c.ready.epsv == nil && !c.ready.refused && c.epsvOK && !c.noEPSV && !c.protP && !c.cfg.Active
}

// armable says whether armData would open a data connection.
func (c *Conn) armable() bool {
	return !c.broken && c.ready.epsv != nil || c.canArm()
}

// armData opens the data connection of the next transfer ahead: a connect
// to the port of the EPSV that went behind the last transfer, or else an
// EPSV and a connect. Failing, it leaves things as they were, or the
// connection broken.
func (c *Conn) armData() {
	if r := c.ready.epsv; r != nil {
		c.ready.epsv = nil
		if c.broken {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), min(c.cfg.Timeout, 5*time.Second))
		defer cancel()
		c.armReply(ctx, *r)
		return
	}
	if c.canArm() {
		c.armEPSV()
	}
}

// warm opens a fresh connection's first data connection ahead, where the
// server offers EPSV: its reply proves EPSV here, and a REST 0 before it
// proves REST, so that the connection's first transfer, from any offset,
// is one command too. With pipeline, REST 0 and EPSV go together.
func (c *Conn) warm(pipeline bool) {
	if c.broken || c.ready.data != nil || c.ready.refused || !c.feat.EPSV || c.noEPSV || c.protP || c.cfg.Active {
		return
	}
	if c.feat.RestStream && !c.restOK {
		ctx, cancel := context.WithTimeout(context.Background(), min(c.cfg.Timeout, 5*time.Second))
		defer cancel()
		if pipeline {
			sent := time.Now()
			if err := c.sendAll(ctx, "REST 0", "EPSV"); err != nil {
				return
			}
			r, err := c.readReply(ctx)
			if err != nil {
				return // broken by readReply
			}
			c.restOK = r.code == 350
			if r, err = c.readReply(ctx); err != nil {
				return
			}
			c.observeRTT(sent)
			c.armReply(ctx, r)
			return
		}
		r, err := c.exchange(ctx, "REST 0")
		if err != nil {
			return
		}
		c.restOK = r.code == 350
	}
	c.armEPSV()
}

// armEPSV is armData once it is decided.
func (c *Conn) armEPSV() {
	ctx, cancel := context.WithTimeout(context.Background(), min(c.cfg.Timeout, 5*time.Second))
	defer cancel()
	sent := time.Now()
	if err := c.send(ctx, "EPSV"); err != nil {
		return
	}
	r, err := c.readReply(ctx)
	if err != nil {
		return // broken by readReply
	}
	c.observeRTT(sent)
	c.armReply(ctx, r)
}

// observeRTT keeps the shortest exchange seen, sent at sent, as the
// connection's round-trip time: an EPSV's reply costs the server nothing.
func (c *Conn) observeRTT(sent time.Time) {
	if d := time.Since(sent); c.rtt == 0 || d < c.rtt {
		c.rtt = d
	}
}

// RTT is the shortest round trip an exchange on the pool's connections
// took, 0 before one was timed: what the link costs, whatever the load.
func (p *Pool) RTT() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rtt
}

// RTT is the shortest round trip timed on the pool's connections or on
// the stream's own, which the pool learns of only when the stream gives
// it back: a stream's may be the only exchange timed yet (a LIST-only
// server lists over the control connection, in exchanges not timed).
func (s *Stream) RTT() time.Duration {
	rtt := s.p.RTT()
	if r := s.c.rtt; r > 0 && (rtt == 0 || r < rtt) {
		rtt = r
	}
	return rtt
}

// armWith reads the reply to an EPSV sent to open a data connection
// ahead, and connects to its port.
func (c *Conn) armWith(ctx context.Context) {
	r, err := c.readReply(ctx)
	if err != nil {
		return // broken by readReply
	}
	c.armReply(ctx, r)
}

// armReply connects to the port of r, the reply to an EPSV sent to open a
// data connection ahead.
func (c *Conn) armReply(ctx context.Context, r reply) {
	addr, ok := c.armAddr(r)
	if !ok {
		return
	}
	data, err := c.dialData(ctx, addr)
	c.setReady(data, err)
}

// armAddr is the port of r, the reply to an EPSV sent to open a data
// connection ahead; false where there is none to connect to.
func (c *Conn) armAddr(r reply) (string, bool) {
	if r.code != 229 {
		c.ready.refused = true
		c.broken = r.code == 421
		return "", false
	}
	addr, err := c.epsvAddr(r)
	return addr, err == nil
}

// setReady keeps the data connection connected ahead, data, or notes
// that the connect failed (err).
func (c *Conn) setReady(data net.Conn, err error) {
	if err != nil {
		// The port stays open on the server until the next EPSV
		// replaces it; nothing is out of step.
		c.ready.refused = true
		return
	}
	c.cfg.stats.connect()
	c.ready.data, c.ready.at = data, time.Now()
}

// takeReady returns the data connection opened ahead, if there is one
// young enough for a transfer from off (REST must be known to work).
// Either way none is left.
func (c *Conn) takeReady(off int64) net.Conn {
	c.ready.epsv = nil // the transfer's own EPSV replaces that port
	d := c.ready.data
	if d == nil {
		return nil
	}
	c.ready.data = nil
	if time.Since(c.ready.at) > readyAge || off > 0 && !c.restOK {
		d.Close()
		return nil
	}
	return d
}

// dropReady closes the data connection opened ahead, if any.
func (c *Conn) dropReady() {
	c.ready.epsv = nil
	if c.ready.data != nil {
		c.ready.data.Close()
		c.ready.data = nil
	}
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
