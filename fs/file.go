package fs

import (
	"context"
	"fmt"
	"path"
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

// handle is an open file. Sequential reads are answered by a RETR stream
// (stream.go); random reads, and reads the stream cannot serve, from the
// block cache, filled by a REST+RETR of one block.
type handle struct {
	// Set at open, never changed.
	m       *mount
	rel     string
	remote  string
	entry   conn.Entry
	version string

	// Held while a stream opens (network I/O), never while it is read.
	mu      sync.Mutex
	s       *stream    // the sequential stream, if any; GUARDED_BY(mu)
	ver     *readCheck // with --verify-reads; set at open
	lastEnd int64      // where the last read ended, for sequential detection; GUARDED_BY(mu)

	// Its own lock: a stream's skip takes it, and mu may be held
	// across a stream's opening.
	skippedMu sync.Mutex
	skipped   []piece // see keepSkipped; GUARDED_BY(skippedMu)
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

// listedVersion is the version of rel's content as its parent's cached
// listing names it, which is what the sibling prefetch keys its blocks by.
// e is rel's entry with, on LIST-only servers, its time made exact by
// MDTM: keyed by that, a read would miss the block prefetched under the
// listing's minutes and fetch the file a second time. The exact time adds
// nothing to tell contents apart: it is looked up by the listing line.
func (m *mount) listedVersion(rel string, e conn.Entry) string {
	if e.Precision == conn.PrecisionSecond {
		if l, _ := m.dirs.Get(m.remotePath(parent(rel))); l != nil {
			if le, ok := l.Lookup(path.Base(rel)); ok && le.Type == e.Type && le.Size == e.Size && le.Unique == e.Unique {
				return version(le)
			}
		}
	}
	return version(e)
}

func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	write := flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0
	if write {
		if errno := n.m.writable(); errno != 0 {
			return nil, 0, errno
		}
	}
	ctx, cancel := n.m.opCtx(ctx)
	defer cancel()
	rel := n.rel()
	maxAge := revalidateAfter
	if flags&syscall.O_TRUNC != 0 {
		// The content is replaced whatever it is now: the cached entry
		// is enough, and an editor's save costs no listing.
		maxAge = 0
	}
	if n.m.uploadedWithin(rel, maxAge) {
		maxAge = 0 // our own upload, just acknowledged (fresh.go)
	}
	e, err := n.m.entryMaxAge(ctx, rel, maxAge)
	if err != nil {
		return nil, 0, toErrno(n.m.log, "open", rel, err)
	}
	if e.Type == conn.TypeDir {
		return nil, 0, syscall.EISDIR
	}
	if write {
		w, errno := n.openWrite(ctx, rel, flags, &e)
		if errno != 0 {
			return nil, 0, errno
		}
		return w, writeOpenFlags(flags), 0
	}
	h := &handle{m: n.m, rel: rel, remote: n.m.remotePath(rel), entry: e, version: n.m.listedVersion(rel, e), lastEnd: -1}
	h.ver = n.m.newReadCheck(ctx, e.Size)
	// A read-only handle has nothing to flush: spare the close its
	// round trip to this process.
	fl := uint32(fuse.FOPEN_NOFLUSH)
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

// read answers a read; Read checks what it answers (verify.go).
func (h *handle) read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	// One timeout, not the two other operations get: after a failed
	// read-ahead the kernel reads the page again, and the read(2) that
	// waits for it must still end within two.
	ctx, cancel := context.WithTimeout(ctx, h.m.o.Conn.Timeout)
	defer cancel()
	size := h.entry.Size
	if off >= size || len(dest) == 0 {
		return fuse.ReadResultData(nil), 0
	}
	bs := int64(h.m.blocks.BlockSize())
	end := min(off+int64(len(dest)), size)
	if size > bs {
		n, err := h.readStream(ctx, dest[:end-off], off)
		if err == nil {
			return fuse.ReadResultData(dest[:n]), 0
		}
		if err != errStreamGone {
			return nil, toErrno(h.m.log, "read", h.rel, err)
		}
		if h.fromSkipped(dest[:end-off], off) {
			return fuse.ReadResultData(dest[:end-off]), 0
		}
	}
	if b := off / bs; (end-1)/bs == b {
		// Within one block, as the kernel's aligned reads are: reply
		// with the cached block itself, which is never modified, and
		// save a copy.
		data, err := h.block(ctx, b)
		if err != nil {
			return nil, toErrno(h.m.log, "read", h.rel, err)
		}
		in := off - b*bs
		if in >= int64(len(data)) {
			return fuse.ReadResultData(nil), 0
		}
		return fuse.ReadResultData(data[in:min(int64(len(data)), end-b*bs)]), 0
	}
	n := 0
	for pos := off; pos < end; {
		b := pos / bs
		data, err := h.block(ctx, b)
		if err != nil {
			// Not the bytes read so far: the kernel would take a short
			// reply for the end of the file.
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

// readStream serves a sequential read from the handle's stream, starting
// one when the read continues the last one (or starts the file).
// errStreamGone sends the caller to the block cache: a random read, or a
// stream that failed, gave way or moved past off.
func (h *handle) readStream(ctx context.Context, buf []byte, off int64) (int, error) {
	h.mu.Lock()
	s := h.s
	if s == nil || !s.serves(off) {
		// The first reads of a file reach us in any order: a first
		// read within the kernel's read-ahead window starts the stream
		// at 0, and waits there for the reads before it.
		start := off
		if h.lastEnd < 0 && off < readAheadKB<<10 {
			start = 0
		}
		sequential := start == 0 || off == h.lastEnd
		if !sequential {
			h.lastEnd = off + int64(len(buf))
			h.mu.Unlock()
			return 0, errStreamGone
		}
		if s != nil {
			s.close()
		}
		var err error
		if s, err = h.openStream(ctx, start); err != nil {
			h.s = nil
			h.mu.Unlock()
			h.m.log.Debug("read stream not opened", "path", h.rel, "off", off, "err", err)
			return 0, errStreamGone // the block path retries
		}
		h.s = s
	}
	h.lastEnd = max(h.lastEnd, off+int64(len(buf)))
	h.mu.Unlock()
	return s.readAt(ctx, buf, off)
}

// block returns block b of this version of the file: from the cache, or
// by a RETR of that block alone.
func (h *handle) block(ctx context.Context, b int64) ([]byte, error) {
	if data, ok := h.m.blocks.Get(h.remote, h.version, b); ok {
		if b == 0 {
			h.m.prefetchSiblings(h.rel, h.entry)
		}
		return data, nil
	}
	if h.entry.Size <= int64(h.m.blocks.BlockSize()) {
		// A file of one block: one RETR, shared with a prefetch of the
		// same file that may be under way. The files after it start
		// coming now, beside it, not once it is in.
		h.m.prefetchSiblings(h.rel, h.entry)
	}
	return h.fetchBlock(ctx, b)
}

// fetchBlock reads one block with REST+RETR.
func (h *handle) fetchBlock(ctx context.Context, b int64) ([]byte, error) {
	return h.m.fetchBlock(ctx, h.remote, h.version, h.entry.Size, b)
}

// fetchBlock reads block b of one version of a file with REST+RETR,
// coalesced with any other fetch of the same block.
func (m *mount) fetchBlock(ctx context.Context, remote, version string, size, b int64) ([]byte, error) {
	bs := int64(m.blocks.BlockSize())
	off := b * bs
	if off >= size {
		return nil, nil
	}
	return m.blocks.Fetch(ctx, remote, version, b, func(ctx context.Context) ([]byte, error) {
		buf := make([]byte, min(bs, size-off))
		n, err := m.pool.ReadAt(ctx, remote, buf, off, size)
		return buf[:n], err
	})
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.s != nil {
		h.s.close()
		h.s = nil
	}
	h.skippedMu.Lock()
	h.skipped = nil
	h.skippedMu.Unlock()
	return 0
}
