package fs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"ftpfs/conn"
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
	size   int64
	dirty  bool // the stage differs from the server's copy
	failed bool // the last upload failed: keep the stage file
}

var (
	_ = (gofs.FileReader)((*writeHandle)(nil))
	_ = (gofs.FileWriter)((*writeHandle)(nil))
	_ = (gofs.FileFlusher)((*writeHandle)(nil))
	_ = (gofs.FileFsyncer)((*writeHandle)(nil))
	_ = (gofs.FileReleaser)((*writeHandle)(nil))
	_ = (gofs.FileGetattrer)((*writeHandle)(nil))
)

func (m *mount) stagingDir() (string, error) {
	dir := m.o.CacheDir
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "ftpfs")
	}
	dir = filepath.Join(dir, "staging")
	return dir, os.MkdirAll(dir, 0o700)
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
	switch {
	case e == nil:
		w.dirty = true // created: it must reach the server even if empty
	case flags&syscall.O_TRUNC != 0:
		w.dirty = e.Size != 0
	default:
		if err := m.download(ctx, rel, *e, st); err != nil {
			w.discard()
			return nil, toErrno(m.log, "open", rel, err)
		}
		w.size = e.Size
	}
	n.setWriter(w)
	return w, 0
}

// download copies the server's file into f.
func (m *mount) download(ctx context.Context, rel string, e conn.Entry, f *os.File) error {
	if e.Size == 0 {
		return nil
	}
	s, err := m.pool.OpenStream(ctx, m.remotePath(rel), 0)
	if err != nil {
		return err
	}
	buf := make([]byte, 256<<10)
	var off int64
	for {
		k, rerr := s.Read(ctx, buf)
		if k > 0 {
			if _, err := f.WriteAt(buf[:k], off); err != nil {
				s.Close()
				return err
			}
			off += int64(k)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			s.Close()
			return rerr
		}
	}
	return s.Close()
}

func (w *writeHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k, err := w.stage.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		return nil, syscall.EIO
	}
	return fuse.ReadResultData(dest[:k]), 0
}

func (w *writeHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.append {
		off = w.size
	}
	k, err := w.stage.WriteAt(data, off)
	if err != nil {
		w.m.log.Error("staging write", "path", w.rel, "err", err)
		if errors.Is(err, syscall.ENOSPC) {
			return uint32(k), syscall.ENOSPC
		}
		return uint32(k), syscall.EIO
	}
	w.size = max(w.size, off+int64(k))
	w.dirty = true
	return uint32(k), 0
}

// truncate sets the staged size.
func (w *writeHandle) truncate(size int64) syscall.Errno {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.stage.Truncate(size); err != nil {
		return syscall.EIO
	}
	if size != w.size {
		w.size, w.dirty = size, true
	}
	return 0
}

func (w *writeHandle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fillAttr(&out.Attr)
	return 0
}

// fillAttr shows the staged size and, while it differs from the server's
// copy, the current time. Call with mu held.
func (w *writeHandle) fillAttr(a *fuse.Attr) {
	e := conn.Entry{Name: path.Base(w.rel), Type: conn.TypeFile, Size: w.size, ModTime: time.Now(), Mode: w.m.modeOf(w.rel), HasMode: true}
	if o, ok := w.m.cachedEntry(w.rel); ok && !w.dirty {
		e.ModTime = o.ModTime
	}
	w.m.fillAttr(e, w.rel, a)
}

func (w *writeHandle) Flush(ctx context.Context) syscall.Errno { return w.sync(ctx) }

func (w *writeHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno { return w.sync(ctx) }

// sync uploads the stage when it changed. It returns 0 only when the
// server acknowledged all of it under the file's name.
func (w *writeHandle) sync(ctx context.Context) syscall.Errno {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.dirty {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, w.m.uploadTimeout(w.size))
	defer cancel()
	if err := w.m.upload(ctx, w.rel, w.stage, w.size); err != nil {
		w.failed = true
		w.m.log.Error("upload failed; the data stays staged", "path", w.rel, "staged", w.stage.Name(), "err", err)
		return toErrno(w.m.log, "upload", w.rel, err)
	}
	w.dirty, w.failed = false, false
	return 0
}

// uploadTimeout bounds one upload: the exchange timeout for the commands,
// plus time for the bytes at a modest 1 MiB/s; each read or write of the
// data connection has the exchange timeout of its own anyway.
func (m *mount) uploadTimeout(size int64) time.Duration {
	return 4*m.o.Conn.Timeout + time.Duration(size>>20)*time.Second
}

// upload stores size bytes of f under rel: to a hidden temporary name,
// checked with SIZE where the server has it, then renamed over rel.
func (m *mount) upload(ctx context.Context, rel string, f *os.File, size int64) error {
	dir, name := path.Split(rel)
	tmp := path.Join(dir, tmpPrefix+randomName()+"-"+name)
	remoteTmp, remote := m.remotePath(tmp), m.remotePath(rel)
	n, err := m.pool.Store(ctx, remoteTmp, io.NewSectionReader(f, 0, size))
	if err == nil && n != size {
		err = errors.New("short upload")
	}
	if err == nil && m.feat.Size {
		var got int64
		if got, err = m.pool.Size(ctx, remoteTmp); err == nil && got != size {
			err = errors.New("the server holds another size than was sent")
		}
	}
	if err == nil {
		err = m.pool.Rename(ctx, remoteTmp, remote)
		if err != nil && conn.Classify(err) != conn.ClassTimeout && conn.Classify(err) != conn.ClassUnavailable {
			// Servers that refuse to rename over a file: remove it
			// first. Only now, with the new bytes safely uploaded.
			if derr := m.pool.Delete(ctx, remote); derr == nil {
				err = m.pool.Rename(ctx, remoteTmp, remote)
			}
		}
	}
	if err != nil {
		// Best effort: never leave a temporary name behind.
		cctx, cancel := context.WithTimeout(context.Background(), m.o.Conn.Timeout)
		m.pool.Delete(cctx, remoteTmp)
		cancel()
		return err
	}
	m.dirs.Set(m.remotePath(path.Dir("/"+rel)), path.Base(rel), conn.Entry{
		Name: path.Base(rel), Type: conn.TypeFile, Size: size,
		ModTime: time.Now().UTC().Truncate(time.Second), Precision: conn.PrecisionSecond,
		Mode: m.modeOf(rel), HasMode: true,
	})
	m.blocks.InvalidatePath(remote)
	return nil
}

// cachedEntry is rel's entry in its parent's cached listing, fresh or not.
func (m *mount) cachedEntry(rel string) (conn.Entry, bool) {
	if l, _ := m.dirs.Get(m.remotePath(path.Dir("/" + rel))); l != nil {
		return l.Lookup(path.Base(rel))
	}
	return conn.Entry{}, false
}

// modeOf is the cached mode of rel, or 0644 less the umask.
func (m *mount) modeOf(rel string) os.FileMode {
	if e, ok := m.cachedEntry(rel); ok && e.HasMode {
		return e.Mode
	}
	return 0o644 &^ os.FileMode(m.o.Umask)
}

func (w *writeHandle) Release(ctx context.Context) syscall.Errno {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n.clearWriter(w)
	if w.dirty || w.failed {
		// Flush reported the failure; the bytes stay for a retry.
		w.m.log.Error("closed with an upload not done; staged copy kept", "path", w.rel, "staged", w.stage.Name())
		w.stage.Close()
		return 0
	}
	w.discard()
	return 0
}

func (w *writeHandle) discard() {
	name := w.stage.Name()
	w.stage.Close()
	os.Remove(name)
}
