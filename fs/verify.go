package fs

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"ftpfs/conn"
)

// Verified reads (--verify-reads): the bytes a handle answers are hashed
// in file order as they go out, and the read that completes the file
// compares the digest with the server's. The kernel's read-ahead sends
// reads a little out of order: those ahead of the digest wait in memory,
// up to checkAhead bytes; a handle that reads otherwise (seeks, holes)
// checks nothing, as nothing tells a whole file was read.

// checkAhead bounds the bytes kept for the digest ahead of it.
const checkAhead = 16 << 20

// readCheck is the digest of what a handle answered.
type readCheck struct {
	mu      sync.Mutex
	sum     *conn.Sum
	size    int64
	at      int64            // the bytes hashed, from 0; GUARDED_BY(mu)
	ahead   map[int64][]byte // answered past at; GUARDED_BY(mu)
	held    int64            // their bytes; GUARDED_BY(mu)
	stopped bool             // done, or given up; GUARDED_BY(mu)
	// differs: the file read differs from the server's. Every read of
	// the handle fails from then on: the kernel reads again a page whose
	// read-ahead failed, and that read must fail too.
	differs atomic.Bool
}

// newReadCheck is nil unless reads are verified and the server tells
// digests.
func (m *mount) newReadCheck(ctx context.Context, size int64) *readCheck {
	if !m.o.VerifyReads || size == 0 {
		return nil
	}
	sum := m.pool.NewSum(ctx)
	if sum == nil {
		return nil
	}
	return &readCheck{sum: sum, size: size, ahead: map[int64][]byte{}}
}

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if h.ver != nil && h.ver.differs.Load() {
		return nil, syscall.EIO
	}
	res, errno := h.read(ctx, dest, off)
	if errno != 0 || h.ver == nil || res == nil {
		return res, errno
	}
	data, st := res.Bytes(dest)
	if !st.Ok() {
		return res, errno
	}
	if !h.ver.saw(data, off) {
		return res, 0
	}
	if errno := h.checkRead(); errno != 0 {
		return nil, errno
	}
	return res, 0
}

// saw adds data, answered at off, and says whether the file is complete.
func (v *readCheck) saw(data []byte, off int64) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stopped {
		return false
	}
	if off > v.at {
		if v.held+int64(len(data)) > checkAhead {
			v.stopped, v.ahead = true, nil // not read in order
			return false
		}
		v.ahead[off] = append([]byte(nil), data...)
		v.held += int64(len(data))
		return false
	}
	v.add(data, off)
	for more := true; more; {
		more = false
		for k, b := range v.ahead {
			if k <= v.at {
				delete(v.ahead, k)
				v.held -= int64(len(b))
				v.add(b, k)
				more = true
			}
		}
	}
	if v.at >= v.size {
		v.stopped = true
		return true
	}
	return false
}

// add hashes what of data, answered at off <= at, lies past at.
func (v *readCheck) add(data []byte, off int64) {
	if skip := v.at - off; skip < int64(len(data)) {
		v.sum.Write(data[skip:])
		v.at += int64(len(data)) - skip
	}
}

// checkRead compares the digest of the whole file read with the server's.
func (h *handle) checkRead() syscall.Errno {
	// The server hashes the whole file: the exchange timeout, not the
	// read's.
	ctx, cancel := context.WithTimeout(context.Background(), h.m.o.Conn.Timeout)
	defer cancel()
	err := h.m.pool.CheckSum(ctx, h.remote, h.ver.sum)
	switch {
	case errors.Is(err, conn.ErrHashMismatch):
		h.m.log.Error("read differs from the server's file; its cached blocks dropped", "path", h.rel, "err", err)
		// The next open reads the server's file afresh: its entry asked
		// again, its blocks fetched again, the kernel's pages not kept.
		h.m.blocks.InvalidatePath(h.remote)
		h.m.dirs.InvalidateTree(h.m.remotePath(parent(h.rel)))
		h.m.opened.Remove(h.rel)
		h.ver.differs.Store(true)
		return syscall.EIO
	case err != nil:
		h.m.log.Warn("read not verified: the server's digest could not be had", "path", h.rel, "err", err)
	default:
		h.m.log.Debug("read verified", "path", h.rel)
	}
	return 0
}
