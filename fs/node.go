package fs

import (
	"context"
	"hash/fnv"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"ftpfs/conn"
)

// node is a file, directory or symlink of the mount. Everything it knows
// about itself comes from its parent's cached listing, looked up by path.
type node struct {
	gofs.Inode
	m *mount

	wmu    sync.Mutex
	writer *writeHandle // the handle writing this file, if any; GUARDED_BY(wmu)

	// gone: unlinked, or replaced by a rename, while the kernel still
	// knows the node (an open file): its link count is 0, and its
	// attributes are the last ones its name had, if they were known.
	gone     atomic.Bool
	lastSeen atomic.Pointer[conn.Entry]
}

var (
	_ = (gofs.NodeLookuper)((*node)(nil))
	_ = (gofs.NodeReaddirer)((*node)(nil))
	_ = (gofs.NodeGetattrer)((*node)(nil))
	_ = (gofs.NodeOpener)((*node)(nil))
	_ = (gofs.NodeReadlinker)((*node)(nil))
	_ = (gofs.NodeStatfser)((*node)(nil))
)

// rel is the node's path below the mount root, "" for the root.
func (n *node) rel() string { return n.Path(n.Root()) }

// opCtx bounds one filesystem operation: twice the exchange timeout, so
// that an operation made of a few exchanges, or one retry, still ends.
func (m *mount) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 2*m.o.Conn.Timeout)
}

// changeCtx is opCtx for operations that change the server (create,
// setattr, unlink, mkdir, rmdir, rename): a signal to the caller does not
// interrupt them. Once the command is sent the server may have done it,
// and an EINTR would make the caller (Go's os.Rename, for one) try again
// against a tree that has already changed, and get ENOENT.
func (m *mount) changeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*m.o.Conn.Timeout)
}

// inoFor gives a path a stable inode number; the type is part of it, so
// that a file replaced by a directory of the same name is a new inode.
func inoFor(p string, t conn.Type) uint64 {
	h := fnv.New64a()
	h.Write([]byte(p))
	h.Write([]byte{byte(t)})
	ino := h.Sum64()
	if ino <= 1 {
		ino += 2 // 1 is the root
	}
	return ino
}

func modeType(t conn.Type) uint32 {
	switch t {
	case conn.TypeDir:
		return syscall.S_IFDIR
	case conn.TypeSymlink:
		return syscall.S_IFLNK
	}
	return syscall.S_IFREG
}

// fillAttr turns a listing entry into attributes.
func (m *mount) fillAttr(e conn.Entry, p string, a *fuse.Attr) {
	a.Ino = inoFor(p, e.Type)
	mode := uint32(0o777)
	if e.Type == conn.TypeFile {
		mode = 0o666
	}
	if e.HasMode {
		mode = uint32(e.Mode.Perm())
	}
	if e.Type != conn.TypeSymlink {
		mode &^= m.o.Umask
	}
	if m.o.ReadOnly {
		mode &^= 0o222
	}
	a.Mode = modeType(e.Type) | mode
	switch e.Type {
	case conn.TypeSymlink:
		a.Size = uint64(len(m.linkTarget(p, e.Target)))
	case conn.TypeDir:
		a.Size = 4096
	default:
		a.Size = uint64(max(e.Size, 0))
	}
	a.Blocks = (a.Size + 511) / 512
	a.Blksize = 4096
	t := e.ModTime
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	a.SetTimes(&t, &t, &t)
	a.Nlink = 1
	if e.Type == conn.TypeDir {
		a.Nlink = 2
	}
	a.Uid, a.Gid = m.o.UID, m.o.GID
}

func (m *mount) rootAttr(a *fuse.Attr) {
	m.fillAttr(conn.Entry{Type: conn.TypeDir, ModTime: m.started, Mode: 0o755, HasMode: true}, "", a)
	a.Ino = 1
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if name == outsideName {
		return nil, syscall.ENOENT
	}
	if errno := n.m.validName(name); errno != 0 {
		return nil, errno
	}
	ctx, cancel := n.m.opCtx(ctx)
	defer cancel()
	rel := path.Join(n.rel(), name)
	e, err := n.m.entry(ctx, rel)
	if err != nil {
		return nil, toErrno(n.m.log, "lookup", rel, err)
	}
	n.m.fillAttr(e, rel, &out.Attr)
	n.m.setTimeouts(out)
	if ch := n.GetChild(name); ch != nil {
		if c, ok := ch.Operations().(*node); ok {
			if w := c.currentWriter(); w != nil {
				// Being written: its size is the writer's, not the
				// listing's.
				w.fillAttr(&out.Attr)
			}
		}
	}
	return n.NewInode(ctx, &node{m: n.m}, gofs.StableAttr{Mode: modeType(e.Type), Ino: out.Attr.Ino}), 0
}

// setTimeouts says how long the kernel may keep a name and its
// attributes.
func (m *mount) setTimeouts(out *fuse.EntryOut) {
	out.SetEntryTimeout(m.o.DirCacheTTL)
	out.SetAttrTimeout(m.o.DirCacheTTL)
}

func (n *node) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	defer func() {
		if n.gone.Load() {
			out.Nlink = 0
		}
	}()
	rel := n.rel()
	if rel == "" {
		n.m.rootAttr(&out.Attr)
		out.SetTimeout(n.m.o.DirCacheTTL)
		return 0
	}
	if h, ok := f.(*handle); ok {
		// An open file answers from its handle: it knows its own size
		// better than a listing that may predate the open.
		h.fillAttr(&out.Attr)
		return 0
	}
	w, _ := f.(*writeHandle)
	if w == nil {
		w = n.currentWriter()
	}
	if w != nil {
		w.fillAttr(&out.Attr)
		return 0
	}
	if e := n.lastSeen.Load(); e != nil && n.gone.Load() {
		n.m.fillAttr(*e, rel, &out.Attr)
		return 0
	}
	ctx, cancel := n.m.opCtx(ctx)
	defer cancel()
	e, err := n.m.entry(ctx, rel)
	if err != nil {
		return toErrno(n.m.log, "getattr", rel, err)
	}
	n.m.fillAttr(e, rel, &out.Attr)
	out.SetTimeout(n.m.o.DirCacheTTL)
	return 0
}

func (n *node) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	ctx, cancel := n.m.opCtx(ctx)
	defer cancel()
	rel := n.rel()
	entries, err := n.m.list(ctx, rel)
	if err != nil {
		return nil, toErrno(n.m.log, "readdir", rel, err)
	}
	n.m.prefetchSubdirs(rel, entries)
	n.m.prefetchNextDirs(rel)
	out := make([]fuse.DirEntry, 0, len(entries)+2)
	out = append(out, fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR}, fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR})
	for _, e := range entries {
		out = append(out, fuse.DirEntry{
			Name: e.Name,
			Mode: modeType(e.Type),
			Ino:  inoFor(path.Join(rel, e.Name), e.Type),
		})
	}
	return gofs.NewListDirStream(out), 0
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	ctx, cancel := n.m.opCtx(ctx)
	defer cancel()
	rel := n.rel()
	e, err := n.m.entry(ctx, rel)
	if err != nil {
		return nil, toErrno(n.m.log, "readlink", rel, err)
	}
	if e.Type != conn.TypeSymlink {
		return nil, syscall.EINVAL
	}
	t := n.m.linkTarget(rel, e.Target)
	if t == "" {
		return nil, syscall.EIO
	}
	return []byte(t), 0
}

// Statfs reports the server's free space where it tells it (AVBL, asked
// at most once per conn.SpaceTTL), and plenty otherwise, so that programs
// which check before writing do not refuse; the server's 552 still
// reaches the writer as ENOSPC. AVBL tells what the user may still write
// and nothing of what is used (FTP has no figure for it short of walking
// the tree): the size is that free space, and df shows nothing used.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	const bsize = 4096
	free := uint64(syntheticFree / bsize)
	avail, known, err := n.m.pool.Available(ctx, n.m.o.Root)
	switch {
	case err != nil:
		n.m.log.Debug("statfs: the server's free space is unknown; reporting the synthetic figure", "err", err)
	case known:
		free = avail / bsize
	}
	out.Bsize, out.Frsize = bsize, bsize
	// At least one block: df hides a filesystem of none, and a full
	// disk then shows as 100% used.
	out.Blocks, out.Bfree, out.Bavail = max(free, 1), free, free
	out.Files, out.Ffree = 1<<20, 1<<20
	out.NameLen = 255
	return 0
}

// syntheticFree is the free space Statfs reports for a server that does
// not tell its own: 1 TiB.
const syntheticFree = 1 << 40

// fsMode converts chmod(2) bits to an fs.FileMode.
func fsMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	if m&syscall.S_ISUID != 0 {
		mode |= os.ModeSetuid
	}
	if m&syscall.S_ISGID != 0 {
		mode |= os.ModeSetgid
	}
	if m&syscall.S_ISVTX != 0 {
		mode |= os.ModeSticky
	}
	return mode
}
