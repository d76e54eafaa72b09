package fs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"ftpfs/conn"
	"ftpfs/internal/private"
)

// Writing: a file open for writing is staged in a local file in the cache
// directory; flush and fsync upload it to a hidden temporary name in the
// same directory and rename that over the target once the server has
// acknowledged every byte. So close() returns 0 only when the bytes are on
// the server, a failed upload leaves the old content (or nothing) under
// the name, and the staged copy survives the failure for a retry.

// tmpPrefix starts the hidden names of uploads in progress; listings never
// show them.
const tmpPrefix = ".ftpfs-upload-"

// writeHandle is a file open for writing (and maybe reading).
type writeHandle struct {
	n      *node
	m      *mount
	append bool

	mu     sync.Mutex // guards the fields below
	rel    string     // may change with a rename while open
	stage  *os.File
	q      *writeQueue // writes on their way to the stage and the stream
	size   int64
	dirty  bool // the stage differs from the server's copy
	failed bool // the last upload failed: keep the stage file

	// created: the file did not exist when this handle made it. placed:
	// a flush before any write put it on the server empty (a shell's
	// redirection and dd close a duplicate of the new file first); the
	// next upload deletes that placeholder rather than renaming over an
	// existing file, which some server filesystems (ext4) pay for by
	// writing the whole upload out at once.
	created, placed bool
	uploaded        bool // an upload of this handle succeeded

	// mode is a chmod made while the handle had data to upload: it goes
	// with the upload, set on the temporary name before the rename.
	mode *uint32

	// A file written from offset 0 onwards is also streamed to the
	// server while the program writes, so that close() waits for the
	// last bytes only. Any other write or truncate drops the stream, and
	// the stage is uploaded whole at flush.
	up      *conn.Upload
	upTmp   string // the stream's temporary name, below the root
	noRetry bool   // streaming failed once for this handle: stage only

	// base is the server's version of the file when it was opened and
	// downloaded, for the two-writers check at the first upload; nil for
	// a new or truncated file.
	base *conn.Entry

	// attrs is size and dirty as of the last change, for stat: an upload
	// holds mu for as long as it takes, and stat must not wait for it.
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

func (m *mount) stagingDir() (string, error) { return stagingDir(m.o.CacheDir) }

// stagingDir makes, or checks, cacheDir and its staging directory: both
// private to this user (package private), or another local user could
// read the staged bytes or redirect them.
func stagingDir(cacheDir string) (string, error) {
	if cacheDir == "" {
		// No shared fallback under /tmp: another user could create it first.
		return "", errors.New("no cache directory given")
	}
	dir := filepath.Join(cacheDir, "staging")
	if err := private.MkdirAll(cacheDir); err != nil {
		return "", err
	}
	return dir, private.MkdirAll(dir)
}

func randomName() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newStage creates an empty staging file.
func (m *mount) newStage(rel string) (*os.File, error) {
	dir, err := m.stagingDir()
	if err != nil {
		return nil, err
	}
	return os.OpenFile(filepath.Join(dir, randomName()+"-"+path.Base(rel)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}

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
		if !m.reserve(e.Size) {
			w.discard()
			return nil, syscall.ENOSPC
		}
		w.size = e.Size // reserved: discard returns it
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.uploadTimeout(e.Size))
		got, err := m.download(dctx, rel, *e, st)
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

// download copies the server's file into f and returns its length.
func (m *mount) download(ctx context.Context, rel string, e conn.Entry, f *os.File) (int64, error) {
	if e.Size == 0 {
		return 0, nil
	}
	s, err := m.pool.OpenStream(ctx, m.remotePath(rel), 0)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 256<<10)
	var off int64
	for {
		k, rerr := s.Read(ctx, buf)
		if k > 0 {
			if _, err := f.WriteAt(buf[:k], off); err != nil {
				s.Close()
				return off, err
			}
			off += int64(k)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			s.Close()
			return off, rerr
		}
	}
	return off, s.Close()
}

func (w *writeHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.settle(); err != nil {
		return nil, stageErrno(err)
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
	if w.append {
		off = w.size
	}
	grow := max(0, off+int64(len(data))-w.size)
	if grow > 0 && !w.m.reserve(grow) {
		w.m.log.Warn("staging full (--staging-size)", "path", w.rel)
		return 0, syscall.ENOSPC
	}
	// Before the size moves: the stream continues from it.
	w.q.add(data, off, w.streamFor(ctx, off))
	w.size, w.dirty = max(w.size, off+int64(len(data))), true
	w.publish()
	return uint32(len(data)), 0
}

// settle waits for the queued writes. Call with mu held. A stream that
// failed is dropped (the stage has its bytes); a stage write that failed
// is returned, now and from then on: the stage is not what the program
// wrote.
func (w *writeHandle) settle() error {
	stageErr, upErr := w.q.settle()
	if upErr != nil {
		w.m.log.Debug("streaming upload broke; the stage will be uploaded", "path", w.rel, "err", upErr)
		w.dropStream()
	}
	if stageErr != nil {
		w.m.log.Error("staging write failed", "path", w.rel, "staged", w.stage.Name(), "err", stageErr)
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

// reserve counts n more staged bytes, unless that passes the limit.
func (m *mount) reserve(n int64) bool {
	if m.staged.Add(n) > m.o.StagingSize {
		m.staged.Add(-n)
		return false
	}
	return true
}

// streamFor returns the upload that takes a write at off: the stream,
// which it starts for a write at offset 0, when the write continues it;
// otherwise nil, and the stream is dropped. Call with mu held. Failures
// only end the stream: the stage has every byte, and flush uploads it.
func (w *writeHandle) streamFor(ctx context.Context, off int64) *conn.Upload {
	// A stream holds its connection until the file is flushed: it gives
	// it up as soon as anybody waits for one, and never waits itself.
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
	if size > w.size && !w.m.reserve(size-w.size) {
		return syscall.ENOSPC
	}
	if err := w.stage.Truncate(size); err != nil {
		if size > w.size {
			w.m.staged.Add(w.size - size)
		}
		return syscall.EIO
	}
	if size < w.size {
		w.m.staged.Add(size - w.size)
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
	return w.forgetIfNeverUploaded(w.sync(ctx))
}

func (w *writeHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return w.forgetIfNeverUploaded(w.sync(ctx))
}

// forgetIfNeverUploaded tells the kernel to forget the name of a file
// this handle created when its upload failed and none ever succeeded:
// the server has no such file, and a cached name would send the next
// open(O_CREAT) of it to Open, not Create. Only from Flush and Fsync,
// outside mu: a rename, which holds the kernel's lock on the directory,
// also uploads, and a notification from there would wait for it forever.
func (w *writeHandle) forgetIfNeverUploaded(errno syscall.Errno) syscall.Errno {
	if errno == 0 {
		return 0
	}
	w.mu.Lock()
	forget := w.created && !w.uploaded
	w.mu.Unlock()
	if forget {
		if name, parent := w.n.Parent(); parent != nil {
			parent.NotifyEntry(name)
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
	var err error
	if w.up != nil {
		up, tmp := w.up, w.upTmp
		w.up = nil
		w.m.streams.Delete(w)
		err = w.m.commit(ctx, up, tmp, target, w.size, how, w.mode)
		if err != nil && !serverFull(err) {
			// The stream failed at its end: one more try from the stage.
			w.m.log.Debug("streamed upload failed; uploading the stage", "path", w.rel, "err", err)
			err = w.m.upload(ctx, target, w.stage, w.size, how, w.mode)
		}
	} else {
		err = w.m.upload(ctx, target, w.stage, w.size, how, w.mode)
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
		w.m.log.Error("upload failed; the data stays staged", "path", w.rel, "staged", w.stage.Name(), "err", err)
		return toErrno(w.m.log, "upload", w.rel, err)
	}
	w.dirty, w.failed = false, false
	w.publish()
	return 0
}

// serverFull says whether an upload failed because the server has no
// room for it: uploading it again cannot help.
func serverFull(err error) bool {
	return errors.Is(err, conn.ClassNoSpace) || errors.Is(err, conn.ClassQuota)
}

// uploadTimeout bounds one upload: the exchange timeout for the commands,
// plus time for the bytes at a modest 1 MiB/s; each read or write of the
// data connection has the exchange timeout of its own anyway.
func (m *mount) uploadTimeout(size int64) time.Duration {
	return 4*m.o.Conn.Timeout + time.Duration(size>>20)*time.Second
}

// replace is how an upload takes the place of its target.
type replace int

const (
	// viaTemp: a hidden temporary name, renamed over the target.
	viaTemp replace = iota
	// direct: the target itself; for a new, empty file, which has no old
	// content to keep and cannot be left half uploaded.
	direct
	// overPlaceholder: a temporary name; the target is the empty file
	// this handle put there, deleted before the rename.
	overPlaceholder
)

// upload stores size bytes of f under rel: to a hidden temporary name,
// then put in place by commit (unless how is direct).
func (m *mount) upload(ctx context.Context, rel string, f *os.File, size int64, how replace, mode *uint32) error {
	tmp := m.uploadName(rel)
	if how == direct {
		tmp = rel
	}
	up, err := m.pool.TryStartUpload(ctx, m.remotePath(tmp))
	if errors.Is(err, conn.ErrBusy) {
		// Streams of files still open hold the connections: they give
		// them up, their data is staged anyway.
		m.yieldStreams()
		up, err = m.pool.StartUpload(ctx, m.remotePath(tmp), 0, false)
	}
	if err != nil {
		return err
	}
	if err := up.CopyFrom(ctx, io.NewSectionReader(f, 0, size)); err != nil {
		m.removeTmp(tmp)
		return err
	}
	return m.commit(ctx, up, tmp, rel, size, how, mode)
}

// changedSince tells whether the server's copy of rel differs from base
// (size or modification time). For a new file, or on a server that
// cannot tell one file's entry alone, it cannot tell and says no.
func (m *mount) changedSince(ctx context.Context, rel string, base *conn.Entry) bool {
	if base == nil {
		return false
	}
	now, err := m.pool.Stat(ctx, m.remotePath(rel))
	if err != nil {
		return false // gone or unknown: nothing to overwrite by mistake
	}
	if base.Unique == guessedTime {
		return now.Size != base.Size
	}
	return now.Size != base.Size || !now.ModTime.Equal(base.ModTime)
}

// guessedTime marks an entry whose time this mount guessed after its own
// upload: the two-writers check then compares sizes only.
const guessedTime = "ftpfs:guessed-time"

// conflictName is where a version that lost a two-writers race goes.
func conflictName(rel string) string {
	return rel + ".conflict-" + time.Now().UTC().Format("20060102-150405")
}

// uploadName is where an upload of rel goes before it is renamed over
// rel: a hidden name in the same directory, or rel itself with
// NoAtomicUpload.
func (m *mount) uploadName(rel string) string {
	if m.o.NoAtomicUpload {
		return rel
	}
	return path.Join(parent(rel), tmpPrefix+randomName()+"-"+path.Base(rel))
}

// commit ends an upload to tmp, which conn checks, chmods when a mode
// goes with it, and renames over rel, pipelined on the upload's
// connection. Whatever fails, tmp does not stay behind, unless it has
// become the only copy on the server.
func (m *mount) commit(ctx context.Context, up *conn.Upload, tmp, rel string, size int64, how replace, mode *uint32) error {
	remote := m.remotePath(rel)
	pl := conn.Placement{Size: size}
	if mode != nil {
		pl.Mode, pl.HasMode = *mode, true
	}
	if tmp != rel {
		// Our own empty placeholder is deleted first: nothing is lost if
		// the rename then fails (the stage has the content).
		pl.To, pl.DeleteTo = remote, how == overPlaceholder
	}
	placed, err := up.Commit(ctx, pl)
	if placed.ModeErr != nil {
		m.log.Warn("chmod of an upload failed; the content is in place", "path", rel, "err", placed.ModeErr)
		if errors.Is(placed.ModeErr, conn.ClassUnsupported) || errors.Is(placed.ModeErr, conn.ClassPermission) {
			m.chmodRefused.Store(true) // new files keep the server's mode from now on
		}
	}
	if err != nil && placed.Removed {
		// The server refused to rename over the old content, which is
		// gone now: the upload under its temporary name is the only
		// copy on the server. Keep it.
		m.log.Error("rename over the target failed after removing it; the new content is on the server under a temporary name", "path", rel, "temporary", tmp, "err", err)
		m.dropEntry(rel)
		return err
	}
	if err != nil {
		m.removeTmp(tmp)
		return err
	}
	m.setEntry(rel, conn.Entry{
		Name: path.Base(rel), Type: conn.TypeFile, Size: size,
		// The server set the time; asking would cost a command per
		// upload. A guess, marked as one until the next listing.
		ModTime: time.Now().UTC().Truncate(time.Second), Precision: conn.PrecisionSecond,
		Mode: m.modeOf(rel), HasMode: true, Unique: guessedTime,
	})
	m.blocks.InvalidatePath(remote)
	return nil
}

// removeTmp deletes a temporary upload name, best effort.
func (m *mount) removeTmp(tmp string) {
	ctx, cancel := context.WithTimeout(context.Background(), m.o.Conn.Timeout)
	defer cancel()
	if err := m.pool.Delete(ctx, m.remotePath(tmp)); err != nil && !errors.Is(err, conn.ClassNotFound) {
		m.log.Warn("temporary upload not removed", "path", tmp, "err", err)
	}
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
		w.m.log.Error("closed with an upload not done; staged copy kept", "path", w.rel, "staged", w.stage.Name())
		w.m.keepStaged(w.stage.Name(), w.rel, w.size)
		w.m.staged.Add(-w.size)
		w.stage.Close()
		return 0
	}
	w.discard()
	return 0
}

func (w *writeHandle) discard() {
	w.m.staged.Add(-w.size)
	w.size = 0
	name := w.stage.Name()
	w.stage.Close()
	os.Remove(name)
}
