package fs

import (
	"context"
	"errors"
	"path"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"ftpfs/conn"
)

var (
	_ = (gofs.NodeCreater)((*node)(nil))
	_ = (gofs.NodeSetattrer)((*node)(nil))
	_ = (gofs.NodeUnlinker)((*node)(nil))
	_ = (gofs.NodeRmdirer)((*node)(nil))
	_ = (gofs.NodeMkdirer)((*node)(nil))
	_ = (gofs.NodeRenamer)((*node)(nil))
	_ = (gofs.NodeLinker)((*node)(nil))
	_ = (gofs.NodeSymlinker)((*node)(nil))
	_ = (gofs.NodeMknoder)((*node)(nil))
)

// setWriter records the handle writing this node, so that a stat
// without a handle shows the size being written.
func (n *node) setWriter(w *writeHandle) {
	n.wmu.Lock()
	n.writer = w
	n.wmu.Unlock()
}

func (n *node) clearWriter(w *writeHandle) {
	n.wmu.Lock()
	if n.writer == w {
		n.writer = nil
	}
	n.wmu.Unlock()
}

func (n *node) currentWriter() *writeHandle {
	n.wmu.Lock()
	defer n.wmu.Unlock()
	return n.writer
}

// writable refuses changes on a read-only mount.
func (m *mount) writable() syscall.Errno {
	if m.o.ReadOnly {
		return syscall.EROFS
	}
	return 0
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if errno := n.m.writable(); errno != 0 {
		return nil, nil, 0, errno
	}
	if errno := n.m.validName(name); errno != 0 {
		return nil, nil, 0, errno
	}
	ctx, cancel := n.m.changeCtx(ctx)
	defer cancel()
	rel := path.Join(n.rel(), name)
	// O_EXCL is checked against a fresh listing, or fresh names
	// (excl.go); FTP has no atomic create, so two mounts racing can
	// still both succeed.
	existing, err := n.m.createEntry(ctx, rel)
	var ep *conn.Entry
	switch {
	case err == nil && flags&syscall.O_EXCL != 0:
		return nil, nil, 0, syscall.EEXIST
	case err == nil && existing.Type == conn.TypeDir:
		return nil, nil, 0, syscall.EISDIR
	case err == nil:
		ep = &existing
	case !errors.Is(err, syscall.ENOENT):
		return nil, nil, 0, toErrno(n.m.log, "create", rel, err)
	}
	child := &node{m: n.m}
	// Without O_TRUNC, a file that another client created meanwhile
	// keeps its content: openWrite downloads it.
	w, errno := child.openWrite(ctx, rel, flags, ep)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	e := existing
	if ep == nil {
		// The new name shows through this mount at once; the server
		// has it once the first flush returns.
		perm := fsMode(mode) & 0o777 &^ fsMode(n.m.o.Umask)
		e = conn.Entry{Name: name, Type: conn.TypeFile, ModTime: time.Now().UTC().Truncate(time.Second), Precision: conn.PrecisionSecond,
			Mode: perm, HasMode: true}
		n.m.setEntry(rel, e)
		// Servers create files 0644: another mode (0755, mkstemp's 0600)
		// travels with the first upload, set before its rename.
		if perm != 0o644 && !n.m.o.ChmodIgnore && !n.m.chmodRefused.Load() {
			w.deferMode(uint32(perm))
		}
	}
	e.Size = w.size
	n.m.fillAttr(e, rel, &out.Attr)
	n.m.setTimeouts(out)
	inode := n.NewInode(ctx, child, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: out.Attr.Ino})
	return inode, w, writeOpenFlags(flags), 0
}

func (n *node) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if errno := n.m.writable(); errno != 0 {
		return errno
	}
	ctx, cancel := n.m.changeCtx(ctx)
	defer cancel()
	rel := n.rel()
	w, _ := f.(*writeHandle)
	if w == nil {
		w = n.currentWriter()
	}
	if uid, ok := in.GetUID(); ok && uid != n.m.o.UID {
		return syscall.EPERM
	}
	if gid, ok := in.GetGID(); ok && gid != n.m.o.GID {
		return syscall.EPERM
	}
	if size, ok := in.GetSize(); ok {
		if errno := n.truncate(ctx, rel, w, int64(size)); errno != 0 {
			return errno
		}
		if f == nil && w != nil {
			// truncate(2) by name while the file is open elsewhere (or
			// its release is still on the way): it must reach the
			// server now, not with that handle's next flush.
			if errno := w.sync(ctx); errno != 0 {
				return errno
			}
		}
	}
	if mode, ok := in.GetMode(); ok {
		if errno := n.chmod(ctx, rel, w, mode&0o7777); errno != 0 {
			return errno
		}
	}
	if mtime, ok := in.GetMTime(); ok {
		if errno := n.utimens(ctx, rel, w, mtime); errno != 0 {
			return errno
		}
	}
	if w != nil {
		w.fillAttr(&out.Attr)
		return 0
	}
	return n.Getattr(ctx, nil, out)
}

// truncate changes a file's size: in the open handle's stage, or by
// staging, truncating and uploading the file when none is open.
func (n *node) truncate(ctx context.Context, rel string, w *writeHandle, size int64) syscall.Errno {
	if w != nil {
		return w.truncate(size)
	}
	e, err := n.m.entryMaxAge(ctx, rel, revalidateAfter)
	if err != nil {
		return toErrno(n.m.log, "truncate", rel, err)
	}
	if e.Type == conn.TypeDir {
		return syscall.EISDIR
	}
	if e.Size == size {
		return 0
	}
	flags := uint32(syscall.O_WRONLY)
	if size == 0 {
		flags |= syscall.O_TRUNC
	}
	tw, errno := n.openWrite(ctx, rel, flags, &e)
	if errno != 0 {
		return errno
	}
	defer tw.Release(ctx)
	if errno := tw.truncate(size); errno != 0 {
		return errno
	}
	return tw.sync(ctx)
}

func (n *node) chmod(ctx context.Context, rel string, w *writeHandle, mode uint32) syscall.Errno {
	if n.m.o.ChmodIgnore && n.m.chmodRefused.Load() {
		// The server refuses SITE CHMOD, and chmod was to be ignored
		// then: nothing to send, and no upload first (rsync chmods each
		// file it writes: an anonymous vsftpd session paid a placeholder
		// upload and a refusal per file).
		return 0
	}
	if w != nil && n.m.chmodWorks.Load() && w.deferMode(mode) {
		// The upload to come carries the mode, set before its rename:
		// no upload now, no command now. Only once SITE CHMOD is known
		// to work here, since an error could not be reported later.
		n.m.setCachedMode(rel, mode)
		return 0
	}
	if w != nil {
		// An upload in flight would be renamed over the target and take
		// the mode of the new file: upload first.
		if errno := w.sync(ctx); errno != 0 {
			return errno
		}
	}
	var err error
	if n.m.justUploaded(rel) {
		err = n.m.pool.ChmodSoon(ctx, n.m.remotePath(rel), mode, n.attrLost("chmod", rel))
	} else {
		err = n.m.pool.Chmod(ctx, n.m.remotePath(rel), mode)
	}
	if err != nil {
		op := "chmod"
		if n.m.o.ChmodIgnore {
			op = "chmod ignored"
			if errors.Is(err, conn.ClassUnsupported) || errors.Is(err, conn.ClassPermission) {
				n.m.chmodRefused.Store(true)
			}
		}
		return toErrno(n.m.log, op, rel, err)
	}
	n.m.chmodWorks.Store(true)
	n.m.setCachedMode(rel, mode)
	return 0
}

// setCachedMode shows mode for rel in its parent's cached listing.
func (m *mount) setCachedMode(rel string, mode uint32) {
	m.updateEntry(rel, func(e conn.Entry, ok bool) (conn.Entry, bool) {
		e.Mode, e.HasMode = fsMode(mode), true
		return e, ok
	})
}

// Setting the time or mode of the file this mount has just uploaded does
// not wait for the server's reply (conn's SetTimeSoon and ChmodSoon),
// once the same command has worked on this server: rsync and cp -p set
// both right after closing a file, then rename it, and the three then
// cost one round trip instead of three. The call returns 0 with the
// command on its way, and this mount shows the new time or mode at once;
// nothing this mount sends afterwards overtakes it. The file exists and
// this mount wrote it a moment ago, so the server refusing is the
// exception (another client removed the file meanwhile, a failing disk):
// then the failure is logged with the path and the directory is listed
// again, so that the mount shows what the server has.

// attrLost is what a time or mode change sent without waiting does when
// the server refused it after all.
func (n *node) attrLost(op, rel string) func(error) {
	return func(err error) {
		n.m.log.Error(op+" refused by the server after the call returned; the mount shows the server's attributes again", "path", rel, "err", err)
		n.m.dirs.InvalidateTree(n.m.remotePath(parent(rel)))
		// The kernel forgets the attributes it was given (offset -1:
		// not the content), whatever the file is called by now. On a
		// goroutine: the caller may be inside another operation.
		go n.NotifyContent(-1, 0)
	}
}

// utimens sets the modification time on the server, after uploading
// what an open handle holds, since the upload would set the time anew.
func (n *node) utimens(ctx context.Context, rel string, w *writeHandle, t time.Time) syscall.Errno {
	if w != nil {
		if errno := w.sync(ctx); errno != 0 {
			return errno
		}
	}
	var err error
	if n.m.justUploaded(rel) {
		err = n.m.pool.SetTimeSoon(ctx, n.m.remotePath(rel), t, n.attrLost("utimens", rel))
	} else {
		err = n.m.pool.SetTime(ctx, n.m.remotePath(rel), t)
	}
	if err != nil {
		// A server that cannot set this time may leave it to the mount
		// (see errno.go), which keeps it until the next listing and says
		// so.
		op := "utimens"
		if e, eerr := n.m.entry(ctx, rel); eerr == nil && e.Type == conn.TypeDir {
			op = "utimens dir"
		}
		if errno := toErrno(n.m.log, op, rel, err); errno != 0 {
			return errno
		}
		n.m.log.Info("the server does not set this time; the mount keeps it until the next listing", "path", rel, "err", err)
	}
	n.m.updateEntry(rel, func(e conn.Entry, ok bool) (conn.Entry, bool) {
		e.ModTime, e.Precision = t.UTC().Truncate(time.Second), conn.PrecisionSecond
		switch {
		case err != nil:
			e.Unique = guessedTime // not the server's: no listing keeps it
		case e.Unique == guessedTime:
			e.Unique = "" // the time is known now
		}
		return e, ok
	})
	return 0
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	if errno := n.m.writable(); errno != 0 {
		return errno
	}
	ctx, cancel := n.m.changeCtx(ctx)
	defer cancel()
	rel := path.Join(n.rel(), name)
	last, known := n.m.cachedEntry(rel)
	n.m.forgetUpload(rel)
	if err := n.m.pool.Delete(ctx, n.m.remotePath(rel)); err != nil {
		return toErrno(n.m.log, "unlink", rel, err)
	}
	n.m.dropEntry(rel)
	n.m.blocks.InvalidatePath(n.m.remotePath(rel))
	markGone(&n.Inode, name, last, known)
	return 0
}

// markGone notes that the child name of parent, if the kernel knows it,
// no longer has a name: an fstat of it open says so, with the last
// attributes the name had (last, when known).
func markGone(parent *gofs.Inode, name string, last conn.Entry, known bool) {
	if ch := parent.GetChild(name); ch != nil {
		if c, ok := ch.Operations().(*node); ok {
			if known {
				c.lastSeen.Store(&last)
			}
			c.gone.Store(true)
		}
	}
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	if errno := n.m.writable(); errno != 0 {
		return errno
	}
	ctx, cancel := n.m.changeCtx(ctx)
	defer cancel()
	rel := path.Join(n.rel(), name)
	last, known := n.m.cachedEntry(rel)
	if err := n.m.pool.Rmdir(ctx, n.m.remotePath(rel)); err != nil {
		return toErrno(n.m.log, "rmdir", rel, err)
	}
	n.m.dropEntry(rel)
	n.m.dirs.InvalidateTree(n.m.remotePath(rel))
	markGone(&n.Inode, name, last, known)
	return 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if errno := n.m.writable(); errno != 0 {
		return nil, errno
	}
	if errno := n.m.validName(name); errno != 0 {
		return nil, errno
	}
	ctx, cancel := n.m.changeCtx(ctx)
	defer cancel()
	rel := path.Join(n.rel(), name)
	if err := n.m.pool.Mkdir(ctx, n.m.remotePath(rel)); err != nil {
		return nil, toErrno(n.m.log, "mkdir", rel, err)
	}
	e := conn.Entry{Name: name, Type: conn.TypeDir, ModTime: time.Now().UTC().Truncate(time.Second), Precision: conn.PrecisionSecond,
		Mode: (0o777 & fsMode(mode)) &^ fsMode(n.m.o.Umask), HasMode: true}
	n.m.setEntry(rel, e)
	// A new directory is empty: no need to ask.
	n.m.dirs.Put(n.m.remotePath(rel), nil)
	n.m.fillAttr(e, rel, &out.Attr)
	n.m.setTimeouts(out)
	return n.NewInode(ctx, &node{m: n.m}, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: out.Attr.Ino}), 0
}

func (n *node) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if errno := n.m.writable(); errno != 0 {
		return errno
	}
	if flags != 0 {
		return syscall.EINVAL // RENAME_NOREPLACE and RENAME_EXCHANGE: FTP has neither
	}
	if errno := n.m.validName(newName); errno != 0 {
		return errno
	}
	ctx, cancel := n.m.changeCtx(ctx)
	defer cancel()
	from := path.Join(n.rel(), name)
	to := path.Join(newParent.EmbeddedInode().Path(n.Root()), newName)
	e, err := n.m.entry(ctx, from)
	if err != nil {
		return toErrno(n.m.log, "rename", from, err)
	}
	// A file open for writing goes to the server before it moves there:
	// the rename must carry its latest content (and a file created but
	// not flushed yet exists on the server only then).
	if ch := n.GetChild(name); ch != nil {
		if c, ok := ch.Operations().(*node); ok {
			if w := c.currentWriter(); w != nil {
				if errno := w.sync(ctx); errno != 0 {
					return errno
				}
				if e, err = n.m.entry(ctx, from); err != nil {
					return toErrno(n.m.log, "rename", from, err)
				}
			}
		}
	}
	rf, rt := n.m.remotePath(from), n.m.remotePath(to)
	last, known := n.m.cachedEntry(to)
	n.m.forgetUpload(from)
	removed, err := n.m.pool.RenameOver(ctx, rf, rt, e.Type == conn.TypeFile)
	if err != nil {
		if removed {
			n.m.log.Error("rename failed after the target was removed; the file is still under its old name", "from", from, "to", to, "err", err)
			n.m.dropEntry(to)
		}
		return toErrno(n.m.log, "rename", from, err)
	}
	markGone(newParent.EmbeddedInode(), newName, last, known)
	n.m.dropEntry(from)
	e.Name = newName
	n.m.setEntry(to, e)
	n.m.blocks.InvalidatePath(rf)
	n.m.blocks.InvalidatePath(rt)
	if e.Type == conn.TypeDir {
		n.m.dirs.InvalidateTree(rf)
		n.m.dirs.InvalidateTree(rt)
	}
	return 0
}

// FTP has no hard links, device nodes or FIFOs, and no command to make a
// symlink: say so at once rather than pretend (after the checks every
// new name gets, as a local file system does).

func (n *node) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, n.m.notMade(name)
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, n.m.notMade(name)
}

func (n *node) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, n.m.notMade(name)
}
