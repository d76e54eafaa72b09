package fs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"ftpfs/conn"
)

// Copies within the mount: cp (coreutils 9) tries copy_file_range
// first, and the kernel sends it here when both files are on this
// mount. A whole file copied into an empty file that is open for
// writing is copied on the server (SITE CPFR/CPTO, conn/copy.go) to a
// temporary name, checked by its size and renamed into place, as an
// upload is: no byte crosses the network. Anything else, and any copy
// the server refuses, gets EOPNOTSUPP: the kernel (5.19 and later) then
// copies through our read and write, and an older one hands the error
// to cp, which reads and writes itself. Not ENOSYS: the kernel would
// never ask again on this mount.

var _ = (gofs.NodeCopyFileRanger)((*node)(nil))

func (n *node) CopyFileRange(ctx context.Context, fhIn gofs.FileHandle, offIn uint64, out *gofs.Inode, fhOut gofs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	m := n.m
	in, ok := fhIn.(*handle)
	w, wok := fhOut.(*writeHandle)
	// The source read-only and not being written by another handle:
	// then the server's copy is what the program reads.
	if !ok || !wok || offIn != 0 || offOut != 0 || flags != 0 || !m.pool.CanCopy() || n.currentWriter() != nil {
		return 0, syscall.EOPNOTSUPP
	}
	size := in.entry.Size
	if size == 0 || size > math.MaxUint32 || length < uint64(size) {
		return 0, syscall.EOPNOTSUPP
	}
	return w.copyFrom(ctx, in.rel, size)
}

// copyFrom makes the handle's file a copy of src (size bytes) on the
// server, when the handle holds nothing yet.
func (w *writeHandle) copyFrom(ctx context.Context, src string, size int64) (uint32, syscall.Errno) {
	m := w.m
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.settle(); err != nil {
		return 0, stageErrno(err)
	}
	if w.size != 0 || w.up != nil || w.unstaged {
		return 0, syscall.EOPNOTSUPP
	}
	if rel := w.n.rel(); rel != "" {
		w.rel = rel
	}
	how := viaTemp
	if w.placed {
		how = overPlaceholder
	}
	c := &commit{m: m, rel: w.rel, size: size, how: how, mode: w.mode}
	tmp := m.uploadName(w.rel)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.uploadTimeout(size))
	defer cancel()
	placed, err := m.pool.Copy(ctx, m.remotePath(src), m.remotePath(tmp), c.placement(tmp))
	if err != nil {
		if c.keptTmp(placed, tmp, err) {
			// Our placeholder is gone, and the copy is under tmp: the
			// handle still has nothing, and close uploads that.
			w.placed = false
			return 0, toErrno(m.log, "copy", w.rel, err)
		}
		if !errors.Is(err, conn.ErrNoCopy) {
			m.log.Info("copy on the server failed; copying through the mount", "from", src, "to", w.rel, "err", err)
			m.removeTmp(tmp)
		}
		return 0, syscall.EOPNOTSUPP
	}
	c.done(placed) // a copy's time is not told: guessed
	m.log.Debug("copied on the server", "from", src, "to", w.rel, "bytes", size)
	// The handle's file now has the copy, which the stage does not
	// hold: it is fetched if the program reads or writes it (restage).
	w.size, w.unstaged = size, true
	w.dirty, w.failed, w.placed, w.uploaded = false, false, false, true
	w.mode, w.base = nil, nil
	w.publish()
	return uint32(size), 0
}

// restage downloads a copy made on the server into the empty stage, for
// a read or write of the handle after it. Call with mu held.
func (w *writeHandle) restage(ctx context.Context) syscall.Errno {
	if !w.unstaged {
		return 0
	}
	m := w.m
	if !w.stage.count(w.size) {
		return syscall.ENOSPC
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.uploadTimeout(w.size))
	defer cancel()
	got, err := w.stage.download(dctx, m.remotePath(w.rel), conn.Entry{Size: w.size})
	if err == nil && got != w.size {
		err = fmt.Errorf("downloaded %d bytes of %d: the file changed meanwhile", got, w.size)
	}
	if err != nil {
		w.stage.truncate(0)
		return toErrno(m.log, "read back a copy", w.rel, err)
	}
	w.unstaged = false
	return 0
}
