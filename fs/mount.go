package fs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sys/unix"

	"ftpfs/cache"
	"ftpfs/conn"
	"ftpfs/internal/mountinfo"
)

// mount is the state shared by every node of one mount.
type mount struct {
	o       Options
	log     *slog.Logger
	pool    *conn.Pool
	times   conn.Times // how exact the server's modification times are
	dirs    *cache.Dirs[conn.Entry]
	blocks  *cache.Blocks
	started time.Time
	fsName  string // ftp://host/path, as mount(8) shows it

	// namesSeen: remote dir -> when STAT last found its names as
	// cached, which Create's check then trusts (excl.go).
	namesSeen sync.Map

	// The LRUs lock themselves; mtimeMu makes a directory's ask count one
	// read-and-bump. opened is read and then set without a lock: two
	// opens racing cost at most a dropped page cache.
	mtimes    *lru.Cache[preciseKey, time.Time] // precise times on LIST-only servers
	mtimeMu   sync.Mutex
	mtimeAsks *lru.Cache[string, int]      // GUARDED_BY(mtimeMu)
	timesBusy map[string]chan struct{}     // directories whose times are being asked; GUARDED_BY(mtimeMu)
	walkTimes chan aheadJob                // times to ask ahead of a walk
	opened    *lru.Cache[string, string]   // the version of each path at its last open
	linksOut  *lru.Cache[string, struct{}] // links out of the tree already logged

	// Shared without a lock of fs.
	staged       atomic.Int64             // bytes in staging files of open write handles
	chmodWorks   atomic.Bool              // a SITE CHMOD succeeded: later ones may be deferred
	chmodRefused atomic.Bool              // the server refused one: created files keep its mode
	streams      sync.Map                 // *writeHandle with a streaming upload → struct{}
	lastUpload   atomic.Pointer[uploaded] // the file this mount uploaded last
	// For Stats: stages open (files not yet on the server) and uploads
	// failed whose bytes were kept.
	stages, uploadsFailed atomic.Int64

	prefetch     chan string // subdirectories to list ahead of the reader
	files        *aheadFiles // small files to read ahead of the reader (ahead.go)
	prefetchDone chan struct{}
}

// Mounted is a live mount.
type Mounted struct {
	server *fuse.Server
	m      *mount
	once   sync.Once
	dev    string // the mount's device, "major:minor", as mountinfo shows it
	conn   uint64 // the kernel's number for the FUSE connection (fusectl)
}

// Mount connects (logging in once, so that a bad password or an
// unreachable host fails here, before anything is mounted), mounts at
// mountpoint and returns when the kernel answers requests.
func Mount(ctx context.Context, mountpoint string, o Options) (*Mounted, error) {
	o.fill()
	// Before any connection: a cache dir that is not private refuses the
	// mount rather than the first write.
	if _, err := stagingDir(o.CacheDir); err != nil {
		return nil, fmt.Errorf("cache dir: %w", err)
	}
	m := &mount{
		o:       o,
		log:     o.Logger,
		pool:    conn.NewPool(o.Conn),
		started: time.Now(),
		mtimes:  newMtimeCache(),
	}
	m.mtimeAsks, _ = lru.New[string, int](4096)
	m.opened, _ = lru.New[string, string](1 << 16)
	m.linksOut, _ = lru.New[string, struct{}](linksOutLogged)
	ctx, cancel := context.WithTimeout(ctx, 2*o.Conn.Timeout)
	defer cancel()
	times, err := m.pool.Times(ctx)
	if err != nil {
		m.pool.Close()
		return nil, fmt.Errorf("%s: %w", o.Conn.Addr, err)
	}
	m.times = times
	m.dirs = cache.NewDirs(func(e conn.Entry) string { return e.Name }, cache.DirsOptions{TTL: o.DirCacheTTL, FinishAbandoned: true})
	m.blocks = cache.NewBlocks(cache.BlocksOptions{MaxBytes: o.CacheSize})
	// Listing the root proves it exists, and the first ls is then free.
	if _, err := m.listing(ctx, "", 0); err != nil {
		m.pool.Close()
		return nil, fmt.Errorf("%s: %s: %w", o.Conn.Addr, o.Root, err)
	}

	fsName := o.FsName
	if fsName == "" {
		fsName = "ftp://" + o.Conn.Addr + o.Root
	}
	m.fsName = fsName
	m.reportStaged()
	ttl := o.DirCacheTTL
	opts := &gofs.Options{
		EntryTimeout:    &ttl,
		AttrTimeout:     &ttl,
		NegativeTimeout: &ttl,
		UID:             o.UID,
		GID:             o.GID,
		Logger:          nil,
		MountOptions: fuse.MountOptions{
			FsName:        fsName,
			Name:          "ftpfs",
			AllowOther:    o.AllowOther,
			MaxWrite:      1 << 20,
			MaxReadAhead:  1 << 20,
			MaxBackground: 64,
			DisableXAttrs: true,
			Debug:         o.Debug,
			// As root, mount without fusermount, which a fresh machine
			// may lack.
			DirectMount: os.Geteuid() == 0,
			// Where every attribute may cost a command of its own, let
			// plain readdir (ls, find) go without attributes.
			DisableReadDirPlus: !times.Listed && times.Asked,
			// open(O_TRUNC) arrives as one OPEN with the flag, not as a
			// separate truncate to size 0 that would have to reach the
			// server before the new content does.
			ExtraCapabilities: fuse.CAP_ATOMIC_O_TRUNC,
			// Splicing requests of MaxWrite bytes needs pipes larger
			// than the 1 MiB Linux allows by default.
			DisableSplice: true,
		},
	}
	if o.AllowOther {
		opts.MountOptions.Options = append(opts.MountOptions.Options, "default_permissions")
	}
	if o.ReadOnly {
		opts.MountOptions.Options = append(opts.MountOptions.Options, "ro")
	}
	if o.NoExec {
		opts.MountOptions.Options = append(opts.MountOptions.Options, "noexec")
	}
	root := &node{m: m}
	m.startPrefetch()
	m.startFilePrefetch()
	server, err := gofs.Mount(mountpoint, root, opts)
	if err != nil {
		m.stopPrefetch()
		m.pool.Close()
		return nil, fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	mt := &Mounted{server: server, m: m}
	var st syscall.Stat_t
	if err := syscall.Stat(mountpoint, &st); err == nil {
		major, minor := unix.Major(st.Dev), unix.Minor(st.Dev)
		mt.dev = fmt.Sprintf("%d:%d", major, minor)
		mt.conn = uint64(major)<<20 | uint64(minor)
		m.raiseReadAhead(major, minor)
	}
	return mt, nil
}

// readAheadKB is the kernel read-ahead asked for the mount. The kernel
// gives a FUSE mount 128 KiB, so a sequential reader costs one request
// per 128 KiB; larger requests cost less each, which is most of the cost
// of a large read on a fast link (cold cat: about 540 MiB/s at 128 KiB,
// 700 at 1 MiB, 770 at 4 MiB here).
const readAheadKB = 4096

// raiseReadAhead sets the mount's read-ahead through sysfs, which only
// root may write; otherwise the kernel's default stays.
func (m *mount) raiseReadAhead(major, minor uint32) {
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", major, minor)
	if err := os.WriteFile(p, []byte(fmt.Sprint(readAheadKB)), 0); err != nil {
		m.log.Debug("kernel read-ahead left at its default", "path", p, "err", err)
	}
}

// Wait blocks until the filesystem is unmounted (by Unmount, fusermount -u
// or umount), then closes the FTP connections.
func (mt *Mounted) Wait() {
	mt.server.Wait()
	mt.closePool()
}

func (mt *Mounted) closePool() {
	mt.once.Do(func() {
		mt.m.stopPrefetch()
		mt.m.pool.Close()
	})
}

// Unmount unmounts, waits for the FUSE server to end and closes the FTP
// connections (QUIT). It never waits on the server for long.
//
// Nor on other mount namespaces: one made while the mount was there (ip
// netns exec, unshare, a container) holds a copy of it, and where
// propagation is private the kernel keeps the FUSE connection for that
// copy after the unmount here, so the server would never end. Once the
// mount is gone from this namespace, the connection is aborted through
// fusectl: the copies fail with ENOTCONN, as they would once this process
// exits.
func (mt *Mounted) Unmount() error {
	done := make(chan error, 1)
	go func() { done <- mt.server.Unmount() }()
	aborted := false
	for {
		select {
		case err := <-done:
			if err == nil {
				mt.server.Wait()
			}
			mt.closePool()
			return err
		case <-time.After(unmountGrace):
		}
		switch {
		case aborted:
			return fmt.Errorf("unmounted, but the kernel keeps the FUSE connection for another mount namespace, and aborting it did not end it")
		case mt.dev != "" && !inMountinfo(mt.dev):
			aborted = true
			if err := abortConnection(mt.conn); err != nil {
				mt.m.log.Warn("the mount lives on in another mount namespace and its connection could not be aborted", "err", err)
			} else {
				mt.m.log.Info("the mount lived on in another mount namespace; its connection was aborted")
			}
		}
	}
}

// unmountGrace is how long an unmount may take before its cause is looked
// for.
const unmountGrace = 2 * time.Second

// inMountinfo says whether a mount of device dev ("major:minor") is in
// this process's mount namespace.
func inMountinfo(dev string) bool {
	ms, err := mountinfo.ReadFile(mountinfo.Self)
	if err != nil {
		return true // cannot tell: assume so, and abort nothing
	}
	return slices.ContainsFunc(ms, func(m mountinfo.Mount) bool { return m.Dev == dev })
}

// abortConnection ends FUSE connection n through fusectl, mounting it
// first where nobody has (root only).
func abortConnection(n uint64) error {
	const dir = "/sys/fs/fuse/connections"
	p := fmt.Sprintf("%s/%d/abort", dir, n)
	if _, err := os.Stat(path.Dir(p)); err != nil {
		if err := syscall.Mount("fusectl", dir, "fusectl", 0, ""); err != nil && !errors.Is(err, syscall.EBUSY) {
			return fmt.Errorf("mount fusectl: %w", err)
		}
	}
	return os.WriteFile(p, []byte("1"), 0)
}
