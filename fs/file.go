package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"ftpfs/conn"
)

// revalidateAfter is how old cached attributes may be at open() before
// they are fetched again (close-to-open consistency, as NFS does).
const revalidateAfter = time.Second

// streamAhead is how far ahead of the stream a read may be and still be
// served by reading the stream forward rather than by a new RETR: the
// kernel's read-ahead arrives out of order.
const streamAhead = 16

// streamIdle is how long an unused stream keeps its connection.
const streamIdle = 2 * time.Second

// yieldAfter is how many blocks a stream reads before it gives its
// connection up to a reader that waits for one.
const yieldAfter = 32

// handle is an open file. Reads are answered from the block cache, which
// a sequential RETR stream fills ahead of the reader, or a REST+RETR of
// one block for random reads.
type handle struct {
	m       *mount
	rel     string
	remote  string
	entry   conn.Entry
	version string

	mu         sync.Mutex // guards the fields below
	stream     *conn.Stream
	next       int64 // the block the stream yields next
	pulled     int   // blocks read from the stream since it opened
	last       int64 // the last block read, for sequential detection
	idle       *time.Timer
	lastStream time.Time
}

var (
	_ = (gofs.FileReader)((*handle)(nil))
	_ = (gofs.FileReleaser)((*handle)(nil))
	_ = (gofs.FileGetattrer)((*handle)(nil))
)

// version names one version of a file's content, for the block cache.
func version(e conn.Entry) string {
	return fmt.Sprintf("%d/%d/%s", e.Size, e.ModTime.UnixNano(), e.Unique)
}

func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		if n.m.o.ReadOnly {
			return nil, 0, syscall.EROFS
		}
		// Writing arrives with the write path.
		return nil, 0, syscall.EROFS
	}
	ctx, cancel := n.m.opCtx(ctx)
	defer cancel()
	rel := n.rel()
	e, err := n.m.entryMaxAge(ctx, rel, revalidateAfter)
	if err != nil {
		return nil, 0, toErrno(n.m.log, "open", rel, err)
	}
	if e.Type == conn.TypeDir {
		return nil, 0, syscall.EISDIR
	}
	h := &handle{m: n.m, rel: rel, remote: n.m.remotePath(rel), entry: e, version: version(e), last: -2}
	var fl uint32
	if n.m.keepCache(rel, h.version) {
		fl |= fuse.FOPEN_KEEP_CACHE
	}
	return h, fl, 0
}

func (h *handle) fillAttr(a *fuse.Attr) { h.m.fillAttr(h.entry, h.rel, a) }

func (h *handle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	h.fillAttr(&out.Attr)
	return 0
}

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	ctx, cancel := h.m.opCtx(ctx)
	defer cancel()
	size := h.entry.Size
	if off >= size || len(dest) == 0 {
		return fuse.ReadResultData(nil), 0
	}
	bs := int64(h.m.blocks.BlockSize())
	end := min(off+int64(len(dest)), size)
	n := 0
	for pos := off; pos < end; {
		b := pos / bs
		data, err := h.block(ctx, b)
		if err != nil {
			if n > 0 {
				break
			}
			return nil, toErrno(h.m.log, "read", h.rel, err)
		}
		in := pos - b*bs
		if in >= int64(len(data)) {
			break // the file is shorter than its listing said
		}
		c := copy(dest[n:], data[in:min(int64(len(data)), end-b*bs)])
		n += c
		pos += int64(c)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// block returns block b of this version of the file.
func (h *handle) block(ctx context.Context, b int64) ([]byte, error) {
	bc := h.m.blocks
	if data, ok := bc.Get(h.remote, h.version, b); ok {
		h.mu.Lock()
		h.last = b
		h.mu.Unlock()
		return data, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	defer func() { h.last = b }()
	if data, ok := bc.Get(h.remote, h.version, b); ok {
		return data, nil // another reader fetched it meanwhile
	}
	if h.stream != nil && b >= h.next && b-h.next < streamAhead {
		return h._pullTo(ctx, b)
	}
	if b == 0 || b == h.last+1 || b == h.next {
		// Sequential: read ahead with one RETR rather than a block at
		// a time.
		h._closeStream()
		return h._pullTo(ctx, b)
	}
	return h.fetchBlock(ctx, b)
}

// fetchBlock reads one block with REST+RETR.
func (h *handle) fetchBlock(ctx context.Context, b int64) ([]byte, error) {
	bs := int64(h.m.blocks.BlockSize())
	off := b * bs
	buf := make([]byte, min(bs, h.entry.Size-off))
	n, err := h.m.pool.ReadAt(ctx, h.remote, buf, off, h.entry.Size)
	if err != nil {
		return nil, err
	}
	buf = buf[:n]
	h.m.blocks.Add(h.remote, h.version, b, buf)
	return buf, nil
}

// _pullTo reads the stream forward to block b, caching every block on the
// way, opening the stream at b when there is none. Call with mu held.
func (h *handle) _pullTo(ctx context.Context, b int64) ([]byte, error) {
	bs := int64(h.m.blocks.BlockSize())
	retried := false
	for {
		if h.stream == nil {
			st, err := h.m.pool.OpenStream(ctx, h.remote, b*bs)
			if err != nil {
				return nil, err
			}
			h.stream, h.next, h.pulled = st, b, 0
		}
		data, err := h._pullOne(ctx)
		if err != nil {
			h._closeStream()
			// A stream that broke (server restart, dropped data
			// connection) is reopened once where it stopped.
			if !retried && conn.Retriable(err) && ctx.Err() == nil {
				retried = true
				b = max(b, h.next)
				continue
			}
			return nil, err
		}
		if h.next-1 == b {
			h._afterPull()
			return data, nil
		}
	}
}

// _pullOne reads the stream's next block into the cache.
func (h *handle) _pullOne(ctx context.Context) ([]byte, error) {
	bs := int64(h.m.blocks.BlockSize())
	off := h.next * bs
	if off >= h.entry.Size {
		return nil, io.ErrUnexpectedEOF
	}
	buf := make([]byte, min(bs, h.entry.Size-off))
	n, err := readFull(ctx, h.stream, buf)
	if err != nil && !(errors.Is(err, io.ErrUnexpectedEOF) && n > 0) {
		return nil, err
	}
	buf = buf[:n]
	h.m.blocks.Add(h.remote, h.version, h.next, buf)
	h.next++
	h.pulled++
	h.lastStream = time.Now()
	if h.next*bs >= h.entry.Size {
		// The last block: see the server's EOF, so that closing the
		// stream ends the RETR cleanly instead of aborting it.
		var probe [1]byte
		if m, err := h.stream.Read(ctx, probe[:]); m == 0 && err == io.EOF {
			h._closeStream()
		}
	}
	return buf, nil
}

func readFull(ctx context.Context, s *conn.Stream, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := s.Read(ctx, buf[n:])
		n += m
		if err == io.EOF {
			if n < len(buf) {
				return n, io.ErrUnexpectedEOF
			}
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// _afterPull gives the connection up when others wait for one, and arms
// the idle timer that closes a stream nobody reads.
func (h *handle) _afterPull() {
	if h.pulled >= yieldAfter && h.m.pool.Waiting(conn.Transfer) {
		h._closeStream()
		return
	}
	if h.idle == nil {
		h.idle = time.AfterFunc(streamIdle, h.closeIdle)
	} else {
		h.idle.Reset(streamIdle)
	}
}

func (h *handle) closeIdle() {
	if !h.mu.TryLock() {
		return // in use right now
	}
	defer h.mu.Unlock()
	if time.Since(h.lastStream) >= streamIdle {
		h._closeStream()
	}
}

func (h *handle) _closeStream() {
	if h.stream == nil {
		return
	}
	if err := h.stream.Close(); err != nil {
		h.m.log.Debug("stream close", "path", h.rel, "err", err)
	}
	h.stream = nil
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.idle != nil {
		h.idle.Stop()
	}
	h._closeStream()
	return 0
}
