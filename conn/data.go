package conn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"
)

var (
	epsvRE = regexp.MustCompile(`\(([!-~])([!-~])([!-~])(\d+)([!-~])\)`)
	pasvRE = regexp.MustCompile(`(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)`)
)

// dataAddr asks for a passive data port: EPSV, or PASV where EPSV failed.
// The host is the control connection's peer unless TrustPASVIP: a PASV
// reply naming another host is how FTP bounce attacks start.
func (c *Conn) dataAddr(ctx context.Context) (string, error) {
	if !c.noEPSV {
		sent := time.Now()
		r, err := c.exchange(ctx, "EPSV")
		if err != nil {
			return "", &Error{Op: "epsv", Err: err}
		}
		c.observeRTT(sent)
		if r.code == 229 {
			return c.epsvAddr(r)
		}
		if r.code != 500 && r.code != 502 && r.code != 504 && r.code != 522 {
			// A passing failure (421, 425, 450): not a reason to give
			// EPSV up for good.
			if r.code == 421 {
				c.broken = true
			}
			return "", &Error{Op: "epsv", Code: r.code, Msg: firstLine(r.msg)}
		}
		c.noEPSV = true
	}
	r, err := c.expect(ctx, "pasv", "", []int{227}, "PASV")
	if err != nil {
		return "", err
	}
	m := pasvRE.FindStringSubmatch(r.msg)
	if m == nil {
		return "", &Error{Op: "pasv", Code: r.code, Msg: firstLine(r.msg)}
	}
	var n [6]int
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
		if n[i] > 255 {
			return "", &Error{Op: "pasv", Code: r.code, Msg: firstLine(r.msg)}
		}
	}
	host := c.dataHost()
	if c.cfg.TrustPASVIP {
		host = fmt.Sprintf("%d.%d.%d.%d", n[0], n[1], n[2], n[3])
	}
	return net.JoinHostPort(host, strconv.Itoa(n[4]<<8|n[5])), nil
}

// epsvAddr is the data address of a 229 reply: its port on the control
// connection's peer.
func (c *Conn) epsvAddr(r reply) (string, error) {
	m := epsvRE.FindStringSubmatch(r.msg)
	port, perr := 0, errors.New("no port")
	if m != nil {
		port, perr = strconv.Atoi(m[4])
	}
	if perr != nil || port <= 0 || port > 65535 {
		c.broken = true
		return "", &Error{Op: "epsv", Code: r.code, Msg: firstLine(r.msg)}
	}
	c.epsvOK = true
	return net.JoinHostPort(c.dataHost(), strconv.Itoa(port)), nil
}

// pipelineRefusal reads the replies to the REST and the command that
// followed a pipelined EPSV whose port could not be reached. A refusal of
// the command comes back as its error, with the connection still in step;
// nil means there was none, and the connection is out of step.
func (c *Conn) pipelineRefusal(ctx context.Context, op, path string, rest bool) error {
	if rest {
		if r, err := c.readReply(ctx); err != nil || r.code != 350 {
			return nil
		}
	}
	r, err := c.readReply(ctx)
	if err != nil || r.code < 400 || r.code == 421 {
		return nil
	}
	return &Error{Op: op, Path: path, Code: r.code, Msg: firstLine(r.msg)}
}

// errPipelinedEPSV is an EPSV refused on a connection where it had worked:
// nothing of the transfer happened, and a fresh connection may do it.
var errPipelinedEPSV = errors.New("pipelined EPSV refused")

// transfer is one data connection in use: a RETR, STOR or listing. Its
// reads and writes each have the connection's timeout.
type transfer struct {
	c      *Conn
	ctx    context.Context
	data   net.Conn
	op     string
	path   string
	done   bool  // the final reply was read
	eof    bool  // the server closed the data connection
	prelim bool  // the 150 is still to be read (a lazy start)
	sent   int64 // bytes written to the data connection

	armPending bool // an EPSV went behind the command (Conn.start)

	live *liveTransfer // its entry among the transfers under way (stats.go)

	interrupted atomic.Bool // Stream.Interrupt was called: Read fails
}

// startTransfer opens a data connection, sends cmd (after REST off when off
// > 0) and waits for the 150 that says data will flow.
//
// With lazy (an upload from offset 0 over a plain data connection), the
// 150 is not waited for: the bytes go out at once, and the reply is read
// with the final one, which saves a round trip per upload. A refusal then
// shows as the final reply, or as a failed write of the data connection.
//
// Where EPSV (and REST) worked before on this connection, EPSV goes out
// together with REST and cmd, and the data connection is opened once its
// 229 is read: a round trip less per transfer. Should EPSV or REST fail
// after all, the replies to what followed are not read, and the
// connection is dropped. Where a data connection was opened ahead
// (armData), REST and cmd go out alone on it.
func (c *Conn) startTransfer(ctx context.Context, op, path, cmd string, off int64, lazy bool) (*transfer, error) {
	return c.start(ctx, op, path, cmd, off, lazy, false)
}

// start is startTransfer that, with armNext, sends EPSV behind cmd, for a
// transfer that will run to its end: the server answers it after the
// final reply (or while the transfer runs), finish reads that answer,
// and armData, called once the connection is back, opens the next
// transfer's data connection with it.
func (c *Conn) start(ctx context.Context, op, path, cmd string, off int64, lazy, armNext bool) (*transfer, error) {
	if c.cfg.Active {
		return c.startActive(ctx, op, path, cmd, off)
	}
	data := c.takeReady(off)
	preopened := data != nil
	pipelined := preopened || c.epsvOK && !c.noEPSV && (off == 0 || c.restOK)
	var lines []string
	if off > 0 && pipelined {
		lines = append(lines, "REST "+strconv.FormatInt(off, 10))
	}
	after := []string{cmd}
	// late: EPSV is to be proven by this transfer's own, alone; once it
	// is, the next one goes behind cmd all the same (open).
	late := armNext && !pipelined && !lazy && off == 0 && c.feat.EPSV && !c.noEPSV && !c.ready.refused && !c.protP
	if armNext = armNext && pipelined && !lazy && c.canArm(); armNext {
		after = append(after, "EPSV")
	}
	t, err := c.open(ctx, op, path, after, off, lazy, data, pipelined, lines, late)
	if err != nil {
		var fe *Error
		if armNext && !c.broken && errors.As(err, &fe) && fe.Code > 0 {
			// The server refused cmd, and answered the EPSV behind it
			// (or will): that reply keeps the connection in step.
			if r, rerr := c.readReply(ctx); rerr == nil {
				c.armReply(ctx, r)
			}
		} else if armNext {
			c.broken = true // where the EPSV's reply is, nobody knows
		}
		return nil, err
	}
	t.armPending = armNext || t.armPending
	return t, nil
}

// open is the rest of start: after are cmd and what goes behind it; with
// late, an EPSV goes behind cmd too once the EPSV sent alone worked.
func (c *Conn) open(ctx context.Context, op, path string, after []string, off int64, lazy bool, data net.Conn, pipelined bool, lines []string, late bool) (*transfer, error) {
	preopened := data != nil
	cmd := after[0]
	if data != nil {
		// The data connection is there: REST and cmd are all it takes.
		if err := c.sendAll(ctx, append(lines, after...)...); err != nil {
			data.Close()
			return nil, &Error{Op: op, Path: path, Err: err}
		}
	} else {
		var addr string
		var err error
		if pipelined {
			sent := time.Now()
			if err := c.sendAll(ctx, append(append([]string{"EPSV"}, lines...), after...)...); err != nil {
				return nil, &Error{Op: op, Path: path, Err: err}
			}
			r, err := c.readReply(ctx)
			if err != nil {
				return nil, &Error{Op: "epsv", Err: err}
			}
			c.observeRTT(sent)
			if r.code != 229 {
				// Out of step now, and worth a retry: a fresh connection
				// tries EPSV alone, then PASV.
				c.broken = true
				return nil, &Error{Op: "epsv", Err: fmt.Errorf("%w: %d %s", errPipelinedEPSV, r.code, clip(firstLine(r.msg)))}
			}
			if addr, err = c.epsvAddr(r); err != nil {
				return nil, err
			}
		} else if addr, err = c.dataAddr(ctx); err != nil {
			return nil, err
		}
		if data, err = c.dialData(ctx, addr); err != nil {
			if pipelined {
				// The server may have refused cmd already and closed
				// its port (proftpd does): its reply says why.
				if rerr := c.pipelineRefusal(ctx, op, path, off > 0); rerr != nil {
					return nil, rerr
				}
			}
			// The server still waits for our connection; it will give up
			// on its own, and the next command tells us where we are.
			c.broken = true
			return nil, &Error{Op: op, Path: path, Err: fmt.Errorf("data connection: %w", err)}
		}
		c.cfg.stats.connect()
	}
	if op == "retr" && !c.protP {
		halfClose(data)
	}
	if lazy && off == 0 && !c.protP {
		if !pipelined {
			if err := c.send(ctx, cmd); err != nil {
				data.Close()
				return nil, &Error{Op: op, Path: path, Err: err}
			}
		}
		data, live := c.track(data, op, path, off, "")
		return &transfer{c: c, ctx: ctx, data: data, op: op, path: path, prelim: true, live: live}, nil
	}
	if off > 0 {
		var err error
		if pipelined {
			_, err = c.check(ctx, op, path, []int{350})
		} else {
			_, err = c.expect(ctx, op, path, []int{350}, "REST "+strconv.FormatInt(off, 10))
		}
		c.restOK = c.restOK || err == nil
		if err != nil {
			if pipelined {
				c.broken = true // cmd's reply is still to come
			}
			data.Close()
			return nil, err
		}
	}
	var opening reply
	var err error
	armLate := late && !preopened && c.epsvOK && !c.noEPSV
	switch {
	case pipelined:
		opening, err = c.check(ctx, op, path, []int{125, 150})
	case armLate:
		opening, err = c.startArming(ctx, op, path, cmd)
	default:
		opening, err = c.expect(ctx, op, path, []int{125, 150}, cmd)
	}
	if err != nil {
		var fe *Error
		if preopened && errors.As(err, &fe) && fe.Code == 425 {
			// The server dropped the port we opened ahead: so much for
			// opening ahead on this connection.
			c.ready.refused = true
		}
		data.Close()
		return nil, err
	}
	data, live := c.track(data, op, path, off, opening.msg)
	return c.dataTLS(ctx, op, path, data, live, armLate)
}

// dataTLS starts TLS on a data connection where PROT P is on, and makes
// the transfer of it. We are the TLS client whoever opened the TCP
// connection (RFC 4217 section 7: in active mode too).
func (c *Conn) dataTLS(ctx context.Context, op, path string, data net.Conn, live *liveTransfer, armLate bool) (*transfer, error) {
	if c.protP {
		tc := tls.Client(data, c.tlsConf)
		hctx, cancel := context.WithDeadline(ctx, c.deadline(ctx))
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			data.Close()
			c.broken = true
			return nil, &Error{Op: op, Path: path, Err: fmt.Errorf("data TLS handshake: %w", err)}
		}
		data = tc
	}
	return &transfer{c: c, ctx: ctx, data: data, op: op, path: path, live: live, armPending: armLate}, nil
}

// startArming sends cmd with an EPSV behind, on a connection whose EPSV
// just worked alone, and reads cmd's 150. A refusal of cmd leaves the
// connection in step once the EPSV's reply is read (and used).
func (c *Conn) startArming(ctx context.Context, op, path, cmd string) (reply, error) {
	if err := c.sendAll(ctx, cmd, "EPSV"); err != nil {
		return reply{}, &Error{Op: op, Path: path, Err: err}
	}
	opening, err := c.check(ctx, op, path, []int{125, 150})
	var fe *Error
	if err != nil && !c.broken && errors.As(err, &fe) && fe.Code > 0 {
		if r, rerr := c.readReply(ctx); rerr == nil {
			c.armReply(ctx, r)
		}
	} else if err != nil {
		c.broken = true // where the EPSV's reply is, nobody knows
	}
	return opening, err
}

func (t *transfer) Read(p []byte) (int, error) {
	if t.eof {
		return 0, io.EOF
	}
	if t.interrupted.Load() {
		return 0, &Error{Op: t.op, Path: t.path, Err: context.Canceled}
	}
	t.data.SetReadDeadline(t.c.deadline(t.ctx))
	stop := context.AfterFunc(t.ctx, func() { t.data.SetReadDeadline(time.Now()) })
	defer stop()
	n, err := t.data.Read(p)
	if err == io.EOF {
		t.eof = true
	} else if err != nil {
		err = &Error{Op: t.op, Path: t.path, Err: t.c.ioErr(t.ctx, err)}
	}
	return n, err
}

// lazyBytes is how much of an upload goes out before its 150 is read.
// The data connection's buffers take that much even when the server
// refused the command and never reads (vsftpd keeps the port open), so
// a refusal cannot leave a write blocked; a small file costs no extra
// round trip, and a large one waits for the 150 once, early.
const lazyBytes = 64 << 10

func (t *transfer) Write(p []byte) (int, error) {
	if !t.prelim || t.sent+int64(len(p)) <= lazyBytes {
		n, err := t.write(p)
		t.sent += int64(n)
		return n, err
	}
	n := 0
	if k := lazyBytes - t.sent; k > 0 {
		var err error
		n, err = t.write(p[:k])
		t.sent += int64(n)
		if err != nil {
			return n, err
		}
	}
	if err := t.awaitPrelim(); err != nil {
		return n, err
	}
	m, err := t.write(p[n:])
	t.sent += int64(m)
	return n + m, err
}

// awaitPrelim reads the 150 of a lazy start; a refusal ends the transfer.
func (t *transfer) awaitPrelim() error {
	t.prelim = false
	r, err := t.c.readReply(t.ctx)
	if err != nil {
		return &Error{Op: t.op, Path: t.path, Err: err}
	}
	if r.code >= 200 {
		t.done = true
		t.data.Close()
		if r.code == 421 {
			t.c.broken = true
		}
		t.c.cfg.stats.failed(classifyReply(r.code, r.msg))
		return &Error{Op: t.op, Path: t.path, Code: r.code, Msg: firstLine(r.msg)}
	}
	return nil
}

func (t *transfer) write(p []byte) (int, error) {
	t.data.SetWriteDeadline(t.c.deadline(t.ctx))
	stop := context.AfterFunc(t.ctx, func() { t.data.SetWriteDeadline(time.Now()) })
	defer stop()
	n, err := t.data.Write(p)
	if err != nil {
		err = &Error{Op: t.op, Path: t.path, Err: t.c.ioErr(t.ctx, err)}
	}
	return n, err
}

// closeData ends the data connection after a complete transfer. An
// upload over TLS is closed gracefully: close_notify and a half-close,
// then whatever the server still sends (TLS 1.3 session tickets, which an
// upload never reads) until it closes. Closing with those unread would
// make the kernel reset the connection, and the server could lose the end
// of the upload (vsftpd answers 426).
func (t *transfer) closeData() error {
	if tc, ok := t.data.(*tls.Conn); ok && t.op == "stor" {
		tc.SetDeadline(t.c.deadline(t.ctx))
		if err := tc.CloseWrite(); err != nil {
			tc.Close()
			return err
		}
		io.Copy(io.Discard, tc)
	}
	return t.data.Close()
}

// finish closes the data connection after a complete transfer and reads
// the final reply: only a 2xx means the server has it all.
func (t *transfer) finish() error {
	if t.done {
		return nil
	}
	t.done = true
	if err := t.closeData(); err != nil {
		// A TLS close_notify that could not be sent: the server may not
		// have seen the end of an upload.
		t.c.broken = true
		return &Error{Op: t.op, Path: t.path, Err: err}
	}
	r, err := t.final(t.ctx)
	if err == nil && t.armPending {
		err = t.armed(&r)
	}
	if err != nil {
		return &Error{Op: t.op, Path: t.path, Err: err}
	}
	if r.code < 200 || r.code > 299 {
		if r.code == 421 {
			t.c.broken = true
		}
		t.c.cfg.stats.failed(classifyReply(r.code, r.msg))
		return &Error{Op: t.op, Path: t.path, Code: r.code, Msg: firstLine(r.msg)}
	}
	return nil
}

// armed reads the reply to the EPSV that went behind the command, before
// or after the final one (*r, which it replaces if it was the EPSV's), and
// keeps it for armData, which opens the next transfer's data connection
// once the caller has what it asked for.
func (t *transfer) armed(r *reply) error {
	t.armPending = false
	epsv := *r
	if r.code == 229 { // answered while the transfer ran
		final, err := t.c.readReply(t.ctx)
		if err != nil {
			return err
		}
		*r = final
	} else {
		var err error
		if epsv, err = t.c.readReply(t.ctx); err != nil {
			return err
		}
	}
	t.c.ready.epsv = &epsv
	return nil
}

// final reads the transfer's final reply, after the 150 of a lazy start
// (unless the server refused the command: that reply is the final one).
func (t *transfer) final(ctx context.Context) (reply, error) {
	r, err := t.c.readReply(ctx)
	if err != nil || !t.prelim {
		return r, err
	}
	t.prelim = false
	if r.code >= 200 {
		return r, nil
	}
	return t.c.readReply(ctx)
}

// abort ends a transfer early. Closing the data connection makes the
// server answer 426, or 226 if it had sent everything already; some
// servers add a second reply. A NOOP then shows where the replies are:
// whatever comes before its 200 is drained. A connection that does not
// get there in time is broken and will not be reused.
func (t *transfer) abort() { t.abortThen(false) }

// abortThen is abort that, with arm, sends EPSV together with the NOOP
// and opens the next transfer's data connection ahead (armData).
func (t *transfer) abortThen(arm bool) {
	if t.done {
		return
	}
	t.done = true
	t.data.Close()
	c := t.c
	if t.armPending {
		// The EPSV behind the command may be answered before or after
		// the final reply, and a second one may follow: too many
		// orders to sort out for a case this rare.
		c.broken = true
	}
	if c.broken {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(c.cfg.Timeout, 5*time.Second))
	defer cancel()
	if _, err := t.final(ctx); err != nil {
		return
	}
	cmds := []string{"NOOP"}
	arm = arm && c.canArm()
	if arm {
		cmds = append(cmds, "EPSV")
	}
	if err := c.sendAll(ctx, cmds...); err != nil {
		return
	}
	for range 3 {
		r, err := c.readReply(ctx)
		if err != nil {
			return
		}
		if r.code == 200 {
			if arm {
				c.armWith(ctx)
			}
			return
		}
	}
	c.broken = true
}
