package conn

// Small files in active mode, pipelined (Pool.ReadFiles). In passive mode
// each small file after a connection's first costs two round trips: the
// next port comes with the previous final reply, then we connect, and
// the server accepts half a round trip later. In active mode we pick the
// ports, so every file's EPRT and RETR can go out at once, each behind a
// listener opened before: the server, done with one file, finds the next
// commands in its buffer and connects at once, one round trip per file.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// BatchFile is a file to read whole in a batch: its path and its size
// from the listing.
type BatchFile struct {
	Path string
	Size int64
}

// MaxBatch bounds the files of one batch: the ports open at once, and
// the commands the server holds while a transfer runs (ftpd reads 32
// lines ahead, then leaves the rest in the socket buffers). All go out
// in one write, so that the server never waits for a command; a window
// refilled as files come in would have to cross the link in time. A
// batch holds its connection until its last file is in, about a round
// trip per file, so callers keep batches shorter where other work may
// wait for the connection.
const MaxBatch = 16

// ErrNotBatched says a file of a batch was not read, though the server
// did not refuse it: the connection broke, the server refused active
// mode, or batches are off. Read it alone (ReadAt).
var ErrNotBatched = errors.New("not read in a batch")

// errActiveRefused is a refused EPRT or PORT in a batch: the server does
// not take active data connections (or not from us), and batches stop.
var errActiveRefused = errors.New("active data connection refused")

// errNoEPRT is an EPRT the server does not know (500, 502, 504) for an
// IPv4 address: the batch ends, and the next ones say PORT.
var errNoEPRT = errors.New("EPRT unknown")

// batchOpts is what a batch learns from its pool: how long to wait for
// the server's first connection to us (probe, 0 once one came: batchProbe),
// what to call when one came, and whether EPRT is known not to work.
type batchOpts struct {
	probe  time.Duration
	proven func()
	noEPRT bool
}

// Batching says whether ReadFiles reads files together: in active mode
// (Config.Active) or with Config.ActiveBatches, where commands are
// pipelined, until a server refused an active port in a batch or never
// reached us.
func (p *Pool) Batching() bool {
	return (p.cfg.Active || p.cfg.ActiveBatches) && p.cfg.Proxy == nil && p.Pipelining() && !p.noBatch.Load()
}

// ReadFiles reads files (at most MaxBatch, each read whole) on one
// connection, their commands pipelined, and calls got with each file's
// bytes or error, in order, as each comes in. A file the server refuses
// fails alone; the files not read when the connection broke, or when
// batches are off, fail with ErrNotBatched. Nothing is retried here:
// the caller reads those alone.
func (p *Pool) ReadFiles(ctx context.Context, files []BatchFile, got func(i int, data []byte, err error)) {
	done := 0
	deliver := func(i int, data []byte, err error) {
		done = i + 1
		if err == nil {
			p.cfg.stats.batched.Add(1)
		}
		got(i, data, err)
	}
	var err error
	switch {
	case len(files) > MaxBatch:
		err = fmt.Errorf("%d files, more than %d", len(files), MaxBatch)
	case !p.Batching():
		err = errors.New("batches are off")
	default:
		var c *Conn
		if c, err = p.get(ctx, Ahead, true); err != nil {
			break
		}
		p.spareIfLast()
		// A batch that failed before its commands went out (a port
		// not opened) leaves the connection in step; the pipeline
		// breaks it otherwise.
		o := batchOpts{probe: p.batchProbe(), proven: func() { p.batchOK.Store(true) }, noEPRT: p.noEPRT.Load()}
		if err = c.readBatch(ctx, files, o, deliver); err != nil {
			p.batchFailed(ctx, err)
		}
		if c.ready.epsv != nil {
			p.putAfter(c, Ahead, c.armData)
		} else {
			p.put(c, Ahead)
		}
	}
	for ; done < len(files); done++ {
		got(done, nil, fmt.Errorf("%w: %w", ErrNotBatched, err))
	}
}

// batchFailed turns batches off for good after a refused active port,
// and pipelining after replies out of step.
func (p *Pool) batchFailed(ctx context.Context, err error) {
	if errors.Is(err, errNoEPRT) {
		p.noEPRT.Store(true) // the next batches name their ports with PORT
		return
	}
	if errors.Is(err, errActiveRefused) {
		if !p.noBatch.Swap(true) {
			p.cfg.Logger.Warn("active port refused in a batch; small files are read one at a time from now on", "err", err)
		}
		return
	}
	if errors.Is(err, errOutOfStep) {
		p.pipelineFailed(ctx, "retr", err)
	}
}

// readBatch sends a listener's EPRT (or PORT) and a RETR for each file,
// all together, and reads each file in turn: its port's 200, its 150,
// the server's connection, the bytes and the final reply. In a pool
// that is passive but for batches, the data connection opened ahead
// carries the first file (no port to name: a round trip less), and an
// EPSV behind the last RETR lets the connection come back with the next
// one opening. Until the server has connected to us once (o.probe > 0),
// its 150 and its connection are awaited only that long, and a 425 (it
// could not connect) counts as never. It returns an error only when the
// connection can no longer be used.
func (c *Conn) readBatch(ctx context.Context, files []BatchFile, o batchOpts, got func(i int, data []byte, err error)) error {
	probe := o.probe
	lns := make([]net.Listener, len(files))
	var first net.Conn
	if !c.cfg.Active {
		first = c.takeReady(0)
	}
	defer func() {
		for _, ln := range lns {
			if ln != nil {
				ln.Close()
			}
		}
		if first != nil {
			first.Close()
		}
	}()
	lines := make([]string, 0, 2*len(files)+1)
	for i, f := range files {
		if i > 0 || first == nil {
			ln, announce, err := c.activeListener()
			if err != nil {
				return err
			}
			lns[i] = ln
			eprt := !c.noEPRT && !o.noEPRT || announce.To4() == nil
			lines = append(lines, portLine(announce, ln.Addr().(*net.TCPAddr).Port, eprt))
		}
		lines = append(lines, "RETR "+f.Path)
	}
	arm := !c.cfg.Active && c.epsvOK && !c.noEPSV && !c.protP && !c.ready.refused
	if arm {
		lines = append(lines, "EPSV")
	}
	i := 0 // the file whose replies come next
	return c.pipeline(ctx, lines, func(k int) error {
		switch {
		case arm && k == len(lines)-1:
			r, err := c.readReply(ctx)
			if err == nil && r.code == 229 {
				c.ready.epsv = &r
			}
			c.broken = c.broken || r.code == 421
			return err
		case !strings.HasPrefix(lines[k], "RETR "):
			return c.portReply(ctx, lines[k])
		}
		active := lns[i] != nil
		wait, cancel := ctx, context.CancelFunc(func() {})
		if probe > 0 && active {
			wait, cancel = context.WithTimeout(ctx, probe)
		}
		var reached bool
		data, err := c.batchFile(ctx, wait, files[i], lns[i], first, &reached)
		// By the clock: the listener's deadline may fire before the
		// context's timer.
		dl, probing := wait.Deadline()
		timedOut := probing && wait != ctx && !time.Now().Before(dl) && ctx.Err() == nil
		cancel()
		if lns[i] != nil {
			lns[i].Close()
			lns[i] = nil
		}
		if first != nil {
			first.Close() // the transfer's own end closed it, unless refused
			first = nil
		}
		var fe *Error
		if probe > 0 && active && !reached && (c.broken && timedOut || errors.As(err, &fe) && fe.Code == 425) {
			// The server never reached us (a NAT, a firewall).
			return fmt.Errorf("%w: no connection from the server within %v: %w", errActiveRefused, probe, err)
		}
		if probe > 0 && active && reached {
			probe = 0 // whatever became of the bytes, the server came
			o.proven()
		}
		if c.broken {
			return err
		}
		got(i, data, err)
		i++
		return nil
	})
}

// batchProbe is how long a pool that reads batches though it is passive
// waits for the server's first connection to us: a server beyond a NAT
// or firewall never comes, and the files wait meanwhile. Ten round trips
// and at least a second leave a busy server time to come.
func (p *Pool) batchProbe() time.Duration {
	if p.cfg.Active || p.batchOK.Load() {
		return 0
	}
	return min(p.cfg.Timeout, max(time.Second, 10*p.RTT()))
}

// portReply reads the reply to an EPRT or PORT of a batch: 200, or the
// end of the batch.
func (c *Conn) portReply(ctx context.Context, line string) error {
	op := "eprt"
	if line[0] == 'P' {
		op = "port"
	}
	r, err := c.check(ctx, op, "", []int{200})
	c.portOK = c.portOK || err == nil
	var fe *Error
	if err == nil || !errors.As(err, &fe) || fe.Code == 0 {
		return err
	}
	unknown := fe.Code == 500 || fe.Code == 502 || fe.Code == 504
	if op == "eprt" && unknown && strings.HasPrefix(line, "EPRT |1|") {
		c.noEPRT = true
		fe.Err = errNoEPRT
	} else if fe.Code >= 400 && fe.Code != 421 {
		fe.Err = errActiveRefused
	} else if fe.Code < 400 {
		fe.Err = fmt.Errorf("%w: %d", errOutOfStep, r.code)
	}
	return fe
}

// batchFile reads one file of a batch once its port is named: the RETR's
// 150 and the server's connection (within wait), then the bytes to EOF
// and the final reply (within ctx); *reached says the data connection
// was there. A refusal of the file leaves the connection in step;
// anything else breaks it (c.broken).
func (c *Conn) batchFile(ctx, wait context.Context, f BatchFile, ln net.Listener, ready net.Conn, reached *bool) ([]byte, error) {
	opening, err := c.check(wait, "retr", f.Path, []int{125, 150})
	var fe *Error
	if err != nil {
		if !c.broken && errors.As(err, &fe) && fe.Code < 400 {
			c.broken = true
			fe.Err = fmt.Errorf("%w: %d", errOutOfStep, fe.Code)
		}
		return nil, err
	}
	data := ready
	if data == nil {
		if data, err = acceptFrom(wait, ln, c.serverIP(), c.deadline(wait), c.cfg.Logger); err != nil {
			c.broken = true
			return nil, &Error{Op: "retr", Path: f.Path, Err: fmt.Errorf("data connection: %w", err)}
		}
	}
	*reached = true
	if !c.protP {
		halfClose(data)
	}
	data, live := c.track(data, "retr", f.Path, 0, opening.msg)
	t, err := c.dataTLS(ctx, "retr", f.Path, data, live, false)
	if err != nil {
		return nil, err
	}
	// A file that grew since its listing is read to its end, within
	// reason, as ReadAt drains a short tail; the size listed is what the
	// caller asked for.
	b, err := io.ReadAll(io.LimitReader(t, f.Size+smallTail+1))
	if err == nil && int64(len(b)) > f.Size+smallTail {
		err = &Error{Op: "retr", Path: f.Path, Err: fmt.Errorf("more than %d bytes, listed %d", f.Size+smallTail, f.Size)}
	}
	if err != nil {
		t.data.Close()
		c.broken = true // its final reply is still to come
		return nil, err
	}
	if err := t.finish(); err != nil {
		return nil, err
	}
	return b[:min(int64(len(b)), f.Size)], nil
}
