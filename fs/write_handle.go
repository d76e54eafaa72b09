package fs

import (
	"context"
	"fmt"
	"io"
	"path"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"ftpfs/conn"
)

// Writing: a file open for writing is staged in a local file in the cache
// directory (stage.go); flush and fsync commit it to the server
// (commit.go). So close() returns 0 only when the bytes are on the
// server, a failed upload leaves the old content (or nothing) under the
// name, and the staged copy survives the failure for a retry.

// writeHandle is a file open for writing (and maybe reading).
type writeHandle struct {
	n      *node
	m      *mount
	append bool

	// mu is held across network I/O: a whole commit, starting and
	// dropping a stream, waiting for the queue's writes (see doc.go,
	// Locks). stage and q are set at open and never replaced; the queue's
	// goroutine writes to the stage without mu, once queued under it.
	mu     sync.Mutex
	rel    string      // may change with a rename while open; GUARDED_BY(mu)
	stage  *stage      // GUARDED_BY(mu), but for the queue's writes
	q      *writeQueue // writes on their way to the stage and the stream
	size   int64       // the stage counts as many bytes; GUARDED_BY(mu)
	dirty  bool        // the stage differs from the server's copy; GUARDED_BY(mu)
	failed bool        // the last upload failed: keep the stage file; GUARDED_BY(mu)

	// created: the file did not exist when this handle made it. placed:
	// a flush before any write put it on the server empty (a shell's
	// redirection and dd close a duplicate of the new file first); the
	// next upload deletes that placeholder rather than renaming over an
	// existing file, which some server filesystems (ext4) pay for by
	// writing the whole upload out at once. GUARDED_BY(mu)
	created, placed bool
	uploaded        bool // an upload of this handle succeeded; GUARDED_BY(mu)
	// unstaged: the file's content is a copy made on the server, which
	// the stage does not hold; a read or write fetches it (copy.go).
	// GUARDED_BY(mu)
	unstaged bool

	// mode is a chmod made while the handle had data to upload: it goes
	// with the upload, set on the temporary name before the rename.
	// GUARDED_BY(mu)
	mode *uint32

	// A file written from offset 0 onwards is also streamed to the
	// server while the program writes, so that close() waits for the
	// last bytes only. Any other write or truncate drops the stream, and
	// the stage is uploaded whole at flush. GUARDED_BY(mu), all three.
	up      *conn.Upload
	upTmp   string // the stream's temporary name, below the root
	noRetry bool   // streaming failed once for this handle: stage only
	// broken is a stream whose transfer failed (brokenErr): its
	// temporary name holds what the server got, and the next sync goes
	// on from there with the stage's bytes, while the writes since were
	// appends. upTmp names it. GUARDED_BY(mu), both.
	broken    *conn.Upload
	brokenErr error

	// base is the server's version of the file when it was opened and
	// downloaded, for the two-writers check at the first upload; nil for
	// a new or truncated file. GUARDED_BY(mu)
	base *conn.Entry

	// attrs is size and dirty as of the last change, for stat: an upload
	// holds mu for as long as it takes, and stat must not wait for it.
	// Stored under mu (publish), loaded without it.
	attrs atomic.Pointer[writeAttrs]
}

type writeAttrs struct {
	size  int64
	dirty bool
}

// publish makes the current size and state visible to stat. Call with mu
// held after every change.
func (w *writeHandle) publish() {
	w.attrs.Store(&writeAttrs{w.size, w.dirty})
}

var (
	_ = (gofs.FileReader)((*writeHandle)(nil))
	_ = (gofs.FileWriter)((*writeHandle)(nil))
	_ = (gofs.FileFlusher)((*writeHandle)(nil))
	_ = (gofs.FileFsyncer)((*writeHandle)(nil))
	_ = (gofs.FileReleaser)((*writeHandle)(nil))
	_ = (gofs.FileGetattrer)((*writeHandle)(nil))
)

// deferMode keeps mode for the next upload when there is one to make,
// and says whether it did.
func (w *writeHandle) deferMode(mode uint32) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.dirty {
		return false
	}
	w.mode = &mode
	return true
}

// writeOpenFlags are the FOPEN flags of a handle opened with flags. A
// write-only handle bypasses the kernel's page cache: each write reaches
// us straight from the program's buffer, one copy instead of two, and
// nothing can map such a handle for reading anyway. A handle that reads
// too keeps the page cache, which mmap needs.
func writeOpenFlags(flags uint32) uint32 {
	if flags&syscall.O_ACCMODE == syscall.O_WRONLY {
		return fuse.FOPEN_DIRECT_IO
	}
	return 0
}

// openWrite opens rel for writing: empty when truncating or creating,
// otherwise with the server's current content downloaded into the stage.
func (n *node) openWrite(ctx context.Context, rel string, flags uint32, e *conn.Entry) (*writeHandle, syscall.Errno) {
	m := n.m
	st, err := m.newStage(rel)
	if err != nil {
		m.log.Error("staging file", "path", rel, "err", err)
		return nil, syscall.EIO
	}
	w := &writeHandle{n: n, m: m, rel: rel, stage: st, append: flags&syscall.O_APPEND != 0}
	if e != nil && flags&syscall.O_TRUNC == 0 {
		// What is uploaded builds on the content downloaded now; a
		// truncating writer replaces the file whatever it was, last
		// writer winning as on a local disk.
		w.base = e
	}
	switch {
	case e == nil:
		w.dirty, w.created = true, true // it must reach the server even if empty
	case flags&syscall.O_TRUNC != 0:
		// Even a file the cache says is empty: the cache may know it
		// from this mount alone (created, its upload failed).
		w.dirty = true
	default:
		// The download may take longer than one operation's bound: it
		// gets the time an upload of that size would.
		if !st.count(e.Size) {
			w.discard()
			return nil, syscall.ENOSPC
		}
		w.size = e.Size
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.uploadTimeout(e.Size))
		got, err := st.download(dctx, m.remotePath(rel), *e)
		cancel()
		if err == nil && got != e.Size {
			err = fmt.Errorf("downloaded %d bytes of %d: the file changed meanwhile", got, e.Size)
		}
		if err != nil {
			w.discard()
			return nil, toErrno(m.log, "open", rel, err)
		}
	}
	w.q = newWriteQueue(w)
	w.publish()
	n.setWriter(w)
	return w, 0
}

func (w *writeHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.settle(); err != nil {
		return nil, stageErrno(err)
	}
	if errno := w.restage(ctx); errno != 0 {
		return nil, errno
	}
	k, err := w.stage.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		return nil, syscall.EIO
	}
	return fuse.ReadResultData(dest[:k]), 0
}

func (w *writeHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.q.stageFailure(); err != nil {
		return 0, stageErrno(err)
	}
	if errno := w.restage(ctx); errno != 0 {
		return 0, errno
	}
	if w.append {
		off = w.size
	}
	end := max(w.size, off+int64(len(data)))
	if !w.stage.count(end) {
		w.m.log.Warn("staging full (--staging-size)", "path", w.rel)
		return 0, syscall.ENOSPC
	}
	// Before the size moves: the stream continues from it.
	w.q.add(data, off, w.streamFor(ctx, off))
	w.size, w.dirty = end, true
	w.publish()
	return uint32(len(data)), 0
}

// settle waits for the queued writes. Call with mu held. A stream that
// failed is dropped (the stage has its bytes); a stage write that failed
// is returned, now and from then on: the stage is not what the program
// wrote.
func (w *writeHandle) settle() error {
	stageErr, upErr := w.q.settle()
	if upErr != nil && w.up != nil {
		w.m.log.Debug("streaming upload broke; the next sync goes on from what the server got", "path", w.rel, "err", upErr)
		w.m.streams.Delete(w)
		w.broken, w.brokenErr, w.up = w.up, upErr, nil
		w.noRetry = true
	}
	if stageErr != nil {
		w.m.log.Error("staging write failed", "path", w.rel, "staged", w.stage.name(), "err", stageErr)
	}
	return stageErr
}

// yieldStreams makes the streaming uploads of open files that are not
// busy right now give their connections back. A busy one gives its own up
// at its next write, seeing that someone waits.
func (m *mount) yieldStreams() {
	m.streams.Range(func(k, _ any) bool {
		w := k.(*writeHandle)
		if w.mu.TryLock() {
			w.dropStream()
			w.mu.Unlock()
		}
		return true
	})
}

// streamFor returns the upload that takes a write at off: the stream,
// which it starts for a write at offset 0, when the write continues it;
// otherwise nil, and the stream is dropped. Call with mu held. Failures
// only end the stream: the stage has every byte, and flush uploads it.
func (w *writeHandle) streamFor(ctx context.Context, off int64) *conn.Upload {
	// A stream holds its connection until the file is flushed: it gives
	// it up as soon as anybody waits for one, and never waits itself.
	if w.broken != nil && off == w.size {
		return nil // an append: the broken stream can still go on
	}
	if w.noRetry || off != w.size || (w.up == nil && off != 0) || w.m.pool.Waiting(conn.Transfer) {
		w.dropStream()
		return nil
	}
	if w.up == nil {
		tmp := w.m.uploadName(w.rel)
		up, err := w.m.pool.TryStartUpload(ctx, w.m.remotePath(tmp))
		if err != nil {
			w.m.log.Debug("streaming upload not started", "path", w.rel, "err", err)
			w.noRetry = true // stage only, from now on
			return nil
		}
		w.up, w.upTmp = up, tmp
		w.m.streams.Store(w, struct{}{})
	}
	return w.up
}

// dropStream abandons the streamed upload and removes its temporary
// name. Call with mu held.
func (w *writeHandle) dropStream() {
	if w.broken != nil {
		w.broken = nil
		w.m.removeTmp(w.upTmp)
	}
	if w.up == nil {
		return
	}
	w.q.pending.Wait() // queued writes may still use it
	w.m.streams.Delete(w)
	w.up.Abort()
	w.up = nil
	w.noRetry = true
	w.m.removeTmp(w.upTmp)
}

// truncate sets the staged size.
func (w *writeHandle) truncate(size int64) syscall.Errno {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.settle(); err != nil {
		return stageErrno(err)
	}
	if size == 0 {
		w.unstaged = false // nothing of the copy is kept: the stage is right
	} else if errno := w.restage(context.Background()); errno != 0 {
		return errno
	}
	if err := w.stage.truncate(size); err != nil {
		return stageErrno(err)
	}
	if size != w.size {
		w.dropStream()
		w.size, w.dirty = size, true
		w.publish()
	}
	return 0
}

func (w *writeHandle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	w.fillAttr(&out.Attr)
	return 0
}

// fillAttr shows the size written so far and, while it differs from the
// server's copy, the current time. It takes no lock: it answers from the
// last published state.
func (w *writeHandle) fillAttr(a *fuse.Attr) {
	st := w.attrs.Load()
	rel := w.n.rel()
	e := conn.Entry{Name: path.Base(rel), Type: conn.TypeFile, Size: st.size, ModTime: time.Now().Truncate(time.Second), Mode: w.m.modeOf(rel), HasMode: true}
	if o, ok := w.m.cachedEntry(rel); ok && !st.dirty {
		e.ModTime = o.ModTime
	}
	w.m.fillAttr(e, rel, a)
}

func (w *writeHandle) Flush(ctx context.Context) syscall.Errno {
	return w.forgetIfNeverUploaded(w.sync(ctx), false)
}

func (w *writeHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	// The kernel holds the file's lock until this returns, and an unlink
	// or rename of the file waits for it holding the directory's, which
	// the notification needs: waiting for it here would wait forever.
	return w.forgetIfNeverUploaded(w.sync(ctx), true)
}

// forgetIfNeverUploaded tells the kernel to forget the name of a file
// this handle created when its upload failed and none ever succeeded:
// the server has no such file, and a cached name would send the next
// open(O_CREAT) of it to Open, not Create. Only from Flush (the kernel
// holds no lock during a FLUSH: the name is gone when close returns) and
// Fsync (which does not wait for the notification), outside mu: a rename,
// which holds the kernel's lock on the directory, also uploads, and a
// notification from there would wait for it forever.
func (w *writeHandle) forgetIfNeverUploaded(errno syscall.Errno, nowait bool) syscall.Errno {
	if errno == 0 {
		return 0
	}
	w.mu.Lock()
	forget := w.created && !w.uploaded
	w.mu.Unlock()
	if forget {
		if name, parent := w.n.Parent(); parent != nil {
			if nowait {
				go parent.NotifyEntry(name)
			} else {
				parent.NotifyEntry(name)
			}
		}
	}
	return errno
}

// sync uploads the stage when it changed. It returns 0 only when the
// server acknowledged all of it under the file's name.
func (w *writeHandle) sync(ctx context.Context) syscall.Errno {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.settle(); err != nil {
		return stageErrno(err)
	}
	if !w.dirty {
		return 0
	}
	if rel := w.n.rel(); rel != "" {
		w.rel = rel // the file may have been renamed while open
	}

	// A signal to the closing process (Go's runtime preempts with
	// SIGURG) makes the kernel interrupt the flush: the upload goes on
	// regardless, bounded by its own timeout, as NFS does on close.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.m.uploadTimeout(w.size))
	defer cancel()
	// Two writers: if the server's copy changed since this mount opened
	// the file, ours does not silently replace it; it goes next to it.
	target := w.rel
	conflict := w.m.changedSince(ctx, w.rel, w.base)
	if conflict {
		target = conflictName(w.rel)
	}
	how := viaTemp
	switch {
	case w.placed && !conflict:
		how = overPlaceholder
	case w.created && w.size == 0 && !conflict:
		how = direct
	}
	c := &commit{m: w.m, rel: target, size: w.size, how: how, mode: w.mode}
	var err error
	if w.up != nil {
		up, tmp := w.up, w.upTmp
		w.up = nil
		w.m.streams.Delete(w)
		err = c.finish(ctx, up, tmp, w.stage.reader(w.size))
		if err != nil && !serverFull(err) {
			// The stream failed at its end: one more try from the stage.
			w.m.log.Debug("streamed upload failed; uploading the stage", "path", w.rel, "err", err)
			err = c.upload(ctx, w.stage)
		}
	} else if w.broken != nil {
		err = c.resume(ctx, w.broken, w.upTmp, w.brokenErr, w.stage)
		w.broken = nil
	} else {
		err = c.upload(ctx, w.stage)
	}
	if err == nil {
		w.placed = how == direct
		w.mode = nil
		w.uploaded = true
	}
	if err == nil && conflict {
		w.m.log.Error("conflict: the file changed on the server since it was opened; this version was kept next to it", "path", w.rel, "kept as", target)
		w.base = nil
		w.dirty, w.failed = false, false
		w.publish()
		return syscall.EIO
	}
	if err == nil {
		w.base = nil // from now on the server's copy is ours
	}
	if err != nil {
		w.failed = true
		if w.created && !w.uploaded {
			// The server has no such file: nor does the mount, from
			// the moment close() says so.
			w.m.dropEntry(w.rel)
		}
		w.m.log.Error("upload failed; the data stays staged", "path", w.rel, "staged", w.stage.name(), "err", err)
		return toErrno(w.m.log, "upload", w.rel, err)
	}
	w.dirty, w.failed = false, false
	w.publish()
	return 0
}

func (w *writeHandle) Release(ctx context.Context) syscall.Errno {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n.clearWriter(w)
	stageErr := w.settle()
	w.dropStream()
	w.q.close()
	if stageErr != nil {
		// Flush reported it; the stage holds less than was written, so
		// it must not be uploaded later.
		w.m.log.Error("closed after a failed staging write; staged copy removed", "path", w.rel)
		w.discard()
		return 0
	}
	if w.created && !w.uploaded {
		// The name this handle made never reached the server: the
		// mount must not show it any longer.
		w.m.dropEntry(w.rel)
	}
	if w.dirty || w.failed {
		// Flush reported the failure; the bytes stay for a retry.
		w.m.log.Error("closed with an upload not done; staged copy kept", "path", w.rel, "staged", w.stage.name())
		w.stage.keep(w.rel)
		return 0
	}
	w.discard()
	return 0
}

func (w *writeHandle) discard() {
	w.stage.discard()
	w.size = 0
}
