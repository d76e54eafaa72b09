package ftpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	errDropped  = errors.New("data connection dropped (injected)")
	errStorFull = errors.New("storage full (injected)")
)

// transfer is one use of a data connection.
type transfer struct {
	s       *session
	ctx     context.Context // ends on ABOR and with the session
	cancel  context.CancelFunc
	conn    net.Conn // the data connection, TLS or not
	faults  Faults   // as they were when the transfer started
	upload  bool
	n       atomic.Int64 // bytes moved so far, for STAT
	aborted atomic.Bool
	// announced is closed once the 150 is out. With a reply delay the
	// 150 waits on its own goroutine while the data flows, as over a
	// network, and the final reply waits for it.
	announced chan struct{}
}

type result struct {
	code int
	msg  string
	at   time.Time // when the transfer ended
}

// runTransfer opens the prepared data connection, announces it with 150,
// runs fn in a goroutine, and sends fn's final reply. Meanwhile it keeps
// reading the control connection: ABOR ends the transfer (426, then 226),
// STAT and NOOP are answered once the 150 is out, anything else waits for
// the transfer's end.
func (s *session) runTransfer(opening string, upload bool, fn func(x *transfer) (int, string)) {
	x := &transfer{s: s, faults: s.srv.currentFaults(), upload: upload, announced: make(chan struct{})}
	x.ctx, x.cancel = context.WithCancel(s.ctx)
	defer x.cancel()
	done := make(chan result, 1)
	s.srv.wg.Add(1)
	go func() {
		defer s.srv.wg.Done()
		code, msg := x.run(opening, fn)
		done <- result{code, msg, time.Now()}
	}()
	defer s.endTransfer()
	for {
		// A client that piles up commands during a transfer is no longer
		// read from: it waits in its socket buffers, and memory stays
		// bounded. The pile is executed after the transfer.
		lines := s.lines
		if len(s.pending) < maxPending {
			s.request()
		} else if !s.requested {
			lines = nil
		}
		select {
		case r := <-done:
			<-x.announced
			if upload {
				// The client's end of an upload reaches the server
				// half a round trip after it closed, and the reply
				// takes the other half: a round trip, as for a command.
				s.delayReply(r.at)
			}
			s.reply(r.code, r.msg)
			if r.code == 426 && s.srv.currentFaults().TwoAbortReplies {
				s.reply(226, "Abort complete.")
			}
			return
		case lr := <-lines:
			s.requested = false
			if lr.err != nil && !refused(lr.err) {
				// The control connection is gone: so is the transfer.
				s.abortTransfer(x)
				<-done
				<-x.announced
				s.pending = append(s.pending, lr)
				return
			}
			if refused(lr.err) {
				s.pending = append(s.pending, lr)
				continue
			}
			verb, arg, ok := s.begin(lr)
			if !ok {
				s.abortTransfer(x)
				<-done
				<-x.announced
				return
			}
			// STAT and NOOP are answered at once only once the 150 is
			// out: before, their replies would come ahead of it.
			started := false
			select {
			case <-x.announced:
				started = true
			default:
			}
			switch verb {
			case "ABOR":
				s.abortTransfer(x)
				r := <-done
				<-x.announced
				if r.code == 226 && !x.aborted.Load() {
					s.reply(r.code, r.msg) // it had finished already
				} else {
					s.reply(426, "Connection closed; transfer aborted.")
				}
				s.reply(226, "ABOR command successful.")
				return
			case "STAT":
				if arg == "" && started {
					s.reply(213, fmt.Sprintf("Status: %d bytes transferred.", x.n.Load()))
					continue
				}
			case "NOOP":
				if started {
					s.reply(200, "NOOP ok.")
					continue
				}
			}
			// Executed after the transfer, already logged and counted.
			s.pending = append(s.pending, lineResult{line: lr.line, err: errLogged, at: lr.at})
		}
	}
}

// maxPending bounds the commands held back during one transfer.
const maxPending = 32

// errLogged marks a held-back line that was logged when it arrived.
var errLogged = errors.New("already logged")

func (x *transfer) run(opening string, fn func(x *transfer) (int, string)) (int, string) {
	c, err := x.s.openData(x)
	if err != nil {
		close(x.announced)
		if x.ctx.Err() == nil {
			x.s.srv.log.Debug("data connection", "session", x.s.id, "err", err)
		}
		return 425, "Cannot open data connection."
	}
	defer c.Close()
	if x.faults.ReplyDelay > 0 {
		go func() {
			x.s.reply(150, opening)
			close(x.announced)
		}()
	} else {
		x.s.reply(150, opening)
		close(x.announced)
	}
	if x.s.protP {
		if c, err = x.s.startDataTLS(x, c); err != nil {
			x.s.srv.log.Debug("data connection", "session", x.s.id, "err", err)
			return 425, "TLS handshake on the data connection failed."
		}
		defer c.Close()
	}
	x.conn = c
	return fn(x)
}

// abortTransfer ends x at once: its data connection closes and its context
// ends, which also wakes a stalled or rate-limited copy.
func (s *session) abortTransfer(x *transfer) {
	x.aborted.Store(true)
	x.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data != nil {
		s.data.Close()
	}
	if s.pasv != nil {
		s.pasv.Close()
		s.pasv = nil
	}
}

// endTransfer forgets the data connection of the transfer that ended.
func (s *session) endTransfer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data != nil {
		s.data.Close()
		s.data = nil
	}
}

// failure maps a transfer error to its final reply.
func (x *transfer) failure(err error) (int, string) {
	var errno syscall.Errno
	errors.As(err, &errno)
	var pe *fs.PathError
	switch {
	case x.aborted.Load():
		return 426, "Connection closed; transfer aborted."
	case errors.Is(err, errStorFull):
		return 552, "Requested file action aborted: exceeded storage allocation."
	case errors.Is(err, errDropped):
		return 426, "Connection closed; transfer aborted."
	case errno == syscall.ENOSPC:
		return 452, "Insufficient storage space."
	case errno == syscall.EDQUOT:
		return 552, "Quota exceeded."
	case errors.As(err, &pe):
		x.s.srv.log.Warn("transfer: local error", "session", x.s.id, "err", err)
		return 451, "Local error in processing."
	default:
		x.s.srv.log.Debug("transfer: network error", "session", x.s.id, "err", err)
		return 426, "Connection closed; transfer aborted."
	}
}

// deadlineWriter writes to the data connection, each write bounded by the
// data timeout.
func (x *transfer) deadlineWriter() io.Writer { return deadlineWriter{x} }

type deadlineWriter struct{ x *transfer }

func (w deadlineWriter) Write(p []byte) (int, error) {
	w.x.conn.SetWriteDeadline(time.Now().Add(w.x.s.srv.cfg.DataTimeout))
	n, err := w.x.conn.Write(p)
	w.x.n.Add(int64(n))
	return n, err
}

// fastChunk is how much the kernel copies between two deadline renewals.
const fastChunk = 1 << 20

// bufPool holds the copy loop's buffers; 256 KiB keeps system calls few.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// pump copies src to dst until src ends, with the data timeout renewed as
// bytes move and the transfer's faults applied.
func (x *transfer) pump(dst io.Writer, src io.Reader) error {
	f := x.faults
	_, plainTCP := x.conn.(*net.TCPConn)
	if plainTCP && !x.upload && f.DataRate <= 0 && f.DropDataAfter <= 0 && !f.Stall {
		// io.CopyN from *os.File to *net.TCPConn is sendfile. Uploads take
		// the loop below: splice from a socket measured 0.65x vsftpd's
		// upload rate on loopback, read/write with 256 KiB 1.1x.
		for {
			x.conn.SetDeadline(time.Now().Add(x.s.srv.cfg.DataTimeout))
			n, err := io.CopyN(dst, src, fastChunk)
			x.n.Add(n)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	if f.DataRate > 0 {
		// Small steps, so that the rate holds over short spans too.
		buf = buf[:max(1, min(int64(len(buf)), f.DataRate/20))]
	}
	start := time.Now()
	var total int64
	for {
		want := int64(len(buf))
		event, limit := x.nextEvent()
		if event != nil {
			if total >= limit && event == errDropped {
				// A drop after the last byte drops nothing: the
				// transfer ends whole when the source has no more.
				if n, err := src.Read(buf[:1]); n == 0 && err == io.EOF {
					return nil
				}
			}
			if total >= limit {
				return x.fire(event)
			}
			want = min(want, limit-total)
		}
		x.conn.SetDeadline(time.Now().Add(x.s.srv.cfg.DataTimeout))
		n, rerr := src.Read(buf[:want])
		if n > 0 {
			w, werr := dst.Write(buf[:n])
			total += int64(w)
			x.n.Add(int64(w))
			if werr != nil {
				return werr
			}
			if f.DataRate > 0 {
				due := time.Duration(float64(total) / float64(f.DataRate) * float64(time.Second))
				if err := sleepCtx(x.ctx, due-time.Since(start)); err != nil {
					return err
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// nextEvent is the first data fault to fire in this transfer, and after how
// many bytes.
func (x *transfer) nextEvent() (error, int64) {
	f := x.faults
	var ev error
	var at int64
	consider := func(on bool, n int64, e error) {
		if on && (ev == nil || n < at) {
			ev, at = e, n
		}
	}
	consider(f.Stall, f.StallAfter, context.DeadlineExceeded)
	consider(f.DropDataAfter > 0, f.DropDataAfter, errDropped)
	consider(x.upload && f.StorFullAfter > 0, f.StorFullAfter, errStorFull)
	consider(x.upload && f.QuotaAfter > 0, f.QuotaAfter, syscall.EDQUOT)
	consider(x.upload && x.s.srv.cfg.Quota > 0, x.s.srv.quotaLeft(), syscall.EDQUOT)
	return ev, at
}

func (x *transfer) fire(ev error) error {
	switch ev {
	case context.DeadlineExceeded:
		x.s.srv.log.Debug("fault: stalling transfer", "session", x.s.id)
		<-x.ctx.Done()
		return x.ctx.Err()
	case errDropped:
		x.conn.Close()
	}
	return ev
}

// takeRest returns and clears the REST offset.
func (s *session) takeRest() int64 {
	r := s.rest
	s.rest = 0
	return r
}

func (s *session) cmdREST(arg string) {
	n, err := strconv.ParseInt(strings.TrimSpace(arg), 10, 64)
	if err != nil || n < 0 {
		s.reply(501, "Bad REST offset.")
		return
	}
	s.rest = n
	s.reply(350, fmt.Sprintf("Restart position accepted (%d).", n))
}

func (s *session) cmdABOR(string) {
	s.closeDataSetup()
	s.reply(225, "No transfer to abort.")
}

// needData answers 425 when no data connection was prepared.
func (s *session) needData() bool {
	if s.hasDataSetup() {
		return true
	}
	s.reply(425, "Use PORT, PASV, EPRT or EPSV first.")
	return false
}

func (s *session) mode() string {
	if s.binary {
		return "BINARY"
	}
	return "ASCII"
}

func (s *session) cmdRETR(arg string) {
	offset := s.takeRest()
	_, rel, err := s.resolve(arg)
	var f *os.File
	var fi fs.FileInfo
	if err == nil {
		f, err = s.openRegular(rel, os.O_RDONLY)
	}
	if err == nil {
		defer f.Close()
		fi, err = f.Stat()
	}
	if err == nil && offset > fi.Size() {
		s.closeDataSetup()
		s.reply(554, fmt.Sprintf("Restart position %d is beyond the end of the file.", offset))
		return
	}
	if err == nil && offset > 0 {
		_, err = f.Seek(offset, io.SeekStart)
	}
	if err != nil {
		s.closeDataSetup()
		s.replyErr(err, arg)
		return
	}
	if !s.needData() {
		return
	}
	opening := fmt.Sprintf("Opening %s mode data connection for %s (%d bytes).", s.mode(), arg, fi.Size())
	s.runTransfer(opening, false, func(x *transfer) (int, string) {
		if err := x.pump(x.conn, f); err != nil {
			return x.failure(err)
		}
		return 226, "Transfer complete."
	})
}

func (s *session) cmdSTOR(arg string) {
	offset := s.takeRest()
	flags := os.O_WRONLY | os.O_CREATE
	if offset == 0 {
		flags |= os.O_TRUNC
	}
	s.store(arg, flags, offset, "")
}

func (s *session) cmdAPPE(arg string) {
	s.takeRest()
	s.store(arg, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0, "")
}

// cmdSTOU stores under a new unique name in the current directory, or next
// to the name given, and tells the client the name (RFC 1123 4.1.2.9).
func (s *session) cmdSTOU(arg string) {
	s.takeRest()
	base := "ftpd"
	if arg != "" {
		base = arg
	}
	v, _, err := s.resolve(base)
	if err != nil {
		s.closeDataSetup()
		s.replyErr(err, base)
		return
	}
	for range 100 {
		name := v + "." + strconv.Itoa(100000+rand.IntN(900000))
		if _, err := s.srv.root.Lstat(strings.TrimPrefix(name, "/")); errors.Is(err, fs.ErrNotExist) {
			s.store(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0, "FILE: "+path.Base(name))
			return
		}
	}
	s.closeDataSetup()
	s.reply(450, "No unique name found.")
}

// store receives a file. opening, when set, replaces the 150 text.
func (s *session) store(arg string, flags int, offset int64, opening string) {
	if !s.needData() {
		return
	}
	_, rel, err := s.resolve(arg)
	var f *os.File
	if err == nil && rel == "." {
		err = errIsDir
	}
	if err == nil {
		f, err = s.openRegular(rel, flags)
	}
	if err == nil {
		defer f.Close()
		if offset > 0 {
			var fi fs.FileInfo
			if fi, err = f.Stat(); err == nil && offset > fi.Size() {
				s.closeDataSetup()
				s.reply(554, fmt.Sprintf("Restart position %d is beyond the end of the file.", offset))
				return
			}
		}
		if err == nil && offset > 0 {
			if err = f.Truncate(offset); err == nil {
				_, err = f.Seek(offset, io.SeekStart)
			}
		}
	}
	if err != nil {
		s.closeDataSetup()
		s.replyErr(err, arg)
		return
	}
	if opening == "" {
		opening = fmt.Sprintf("Ok to send data for %s.", arg)
	}
	s.runTransfer(opening, true, func(x *transfer) (int, string) {
		err := x.pump(f, x.conn)
		s.srv.stored.Add(x.n.Load()) // what Config.Quota counts
		end, _ := f.Seek(0, io.SeekCurrent)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return x.failure(err)
		}
		if x.faults.CorruptStor && end > 0 {
			s.corrupt(rel, end-1)
		}
		return 226, "Transfer complete."
	})
}

// openRegular opens a regular file for a transfer without ever blocking
// or touching anything else: open(2) of a FIFO waits for its other end (a
// RETR would hang with its session, and shutdown with it), and the open
// of a device may act on it. So a stat through the root first refuses
// what is no regular file, unopened; as the name can be swapped after the
// stat, the open also takes O_NONBLOCK, so that it returns at once, and
// fstat of what was opened decides; then the descriptor goes back to
// blocking I/O.
func (s *session) openRegular(rel string, flags int) (*os.File, error) {
	fi, err := s.srv.root.Stat(rel)
	switch {
	case errors.Is(err, fs.ErrNotExist) && flags&os.O_CREATE != 0:
	case err != nil:
		return nil, err
	default:
		if err := regular(fi); err != nil {
			return nil, err
		}
	}
	f, err := s.srv.root.OpenFile(rel, flags|syscall.O_NONBLOCK, 0o644)
	if errors.Is(err, syscall.ENXIO) {
		return nil, errNotRegular // a FIFO without a reader
	}
	if err != nil {
		return nil, err
	}
	if fi, err = f.Stat(); err == nil {
		err = regular(fi)
	}
	if err == nil {
		err = setBlocking(f)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// regular refuses what a transfer must not open.
func regular(fi fs.FileInfo) error {
	switch {
	case fi.IsDir():
		return errIsDir
	case !fi.Mode().IsRegular():
		return errNotRegular
	}
	return nil
}

func setBlocking(f *os.File) error {
	return onFd(f, func(fd int) error { return syscall.SetNonblock(fd, false) })
}

// onFd runs fn on f's descriptor, which stays open meanwhile.
func onFd(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
