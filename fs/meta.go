package fs

import (
	"context"
	"math"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"ftpfs/cache"
	"ftpfs/conn"
)

// Metadata: every name and attribute comes from the cached listing of its
// parent directory, so a stat costs no FTP command while the listing is
// fresh, and a missing name is answered from the same listing.

// remotePath is the server path of a path below the mount root.
func (m *mount) remotePath(rel string) string {
	return path.Join("/", m.o.Root, rel)
}

// parent is the directory that holds rel, both below the mount root: ""
// for the names in the root. Every parent in fs is computed here.
func parent(rel string) string {
	return strings.TrimPrefix(path.Dir("/"+rel), "/")
}

// The cached entry of a path below the root lives in its parent's
// listing, under its last name.

// cachedEntry is rel's entry in its parent's cached listing, fresh or not.
func (m *mount) cachedEntry(rel string) (conn.Entry, bool) {
	if l, _ := m.dirs.Get(m.remotePath(parent(rel))); l != nil {
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

// setEntry shows e under rel in its parent's cached listing.
func (m *mount) setEntry(rel string, e conn.Entry) {
	m.dirs.Set(m.remotePath(parent(rel)), path.Base(rel), e)
}

// dropEntry removes rel from its parent's cached listing.
func (m *mount) dropEntry(rel string) {
	m.dirs.Remove(m.remotePath(parent(rel)), path.Base(rel))
}

// updateEntry changes rel's entry in its parent's cached listing.
func (m *mount) updateEntry(rel string, fn func(e conn.Entry, ok bool) (conn.Entry, bool)) {
	m.dirs.Update(m.remotePath(parent(rel)), path.Base(rel), fn)
}

// listing returns the listing of dir (below the root), fetching it when
// it is older than maxAge (the TTL when maxAge is 0). A fetch runs to its
// end, within twice the timeout, even when its callers gave up (the
// cache's FinishAbandoned): they are mostly interrupted, not gone (the
// kernel turns a signal to the calling thread, the Go runtime's
// preemption among them, into an interrupt), and ask again at once. Cut,
// the listing would cost its connection and a new login, and be fetched
// again.
func (m *mount) listing(ctx context.Context, dir string, maxAge time.Duration) (*cache.Listing[conn.Entry], error) {
	remote := m.remotePath(dir)
	fetch := func(ctx context.Context) ([]conn.Entry, error) {
		ctx, cancel := context.WithTimeout(ctx, 2*m.o.Conn.Timeout)
		defer cancel()
		return m.fetch(ctx, remote)
	}
	if maxAge > 0 {
		return m.dirs.FetchMaxAge(ctx, remote, maxAge, fetch)
	}
	return m.dirs.Fetch(ctx, remote, fetch)
}

// fetch reads one listing. Uploads in progress, ours or another
// mount's, are not files yet, and the name links out of the tree point
// into must not exist: both are left out.
func (m *mount) fetch(ctx context.Context, remote string) ([]conn.Entry, error) {
	es, err := m.pool.ReadDirKnown(ctx, remote, m.known(remote))
	if err != nil {
		return nil, err
	}
	m.warmFor(es)
	return visible(es), nil
}

// visible leaves out of a listing what fetch leaves out.
func visible(es []conn.Entry) []conn.Entry {
	entries := es[:0]
	for _, e := range es {
		if !strings.HasPrefix(e.Name, tmpPrefix) && e.Name != outsideName {
			entries = append(entries, e)
		}
	}
	return entries
}

// list returns the entries of dir sorted by name: readdir output must not
// depend on the server's order.
func (m *mount) list(ctx context.Context, dir string) ([]conn.Entry, error) {
	l, err := m.listing(ctx, dir, 0)
	if err != nil {
		return nil, err
	}
	names := l.Names()
	out := make([]conn.Entry, 0, len(names))
	for _, n := range names {
		if e, ok := l.Lookup(n); ok {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// entry returns the entry of rel from its parent's listing, ENOENT when
// the listing does not have it.
func (m *mount) entry(ctx context.Context, rel string) (conn.Entry, error) {
	return m.entryMaxAge(ctx, rel, 0)
}

func (m *mount) entryMaxAge(ctx context.Context, rel string, maxAge time.Duration) (conn.Entry, error) {
	l, err := m.listing(ctx, parent(rel), maxAge)
	if err != nil {
		return conn.Entry{}, err
	}
	e, ok := l.Lookup(path.Base(rel))
	if !ok {
		return conn.Entry{}, syscall.ENOENT
	}
	if e.Type == conn.TypeFile && e.Precision != conn.PrecisionSecond && m.times.Asked {
		e = m.precise(ctx, rel, e)
		if err := ctx.Err(); err != nil {
			// Interrupted: the caller asks again (EINTR), rather than
			// keep a coarse time in the kernel's cache.
			return conn.Entry{}, err
		}
	}
	return e, nil
}

// precise fills in a file's modification time to the second on servers
// whose listings only give minutes or days, but which tell one file's
// exactly when asked: rsync and make compare seconds. Times are cached
// per path and version of the listing line. The first stat in a
// directory asks for all its files at once, their commands pipelined
// (one round trip for the lot); in a directory of more than preciseBatch
// files, or where commands go one at a time, the first stat asks for its
// file alone and the next for all.
func (m *mount) precise(ctx context.Context, rel string, e conn.Entry) conn.Entry {
	key := preciseKey{rel, e.Size, e.ModTime}
	if t, ok := m.mtimes.Get(key); ok {
		e.ModTime, e.Precision = t, conn.PrecisionSecond
		return e
	}
	dir := parent(rel)
	m.mtimeMu.Lock()
	asks, _ := m.mtimeAsks.Get(dir)
	m.mtimeAsks.Add(dir, asks+1)
	busy := m.timesBusy[dir]
	var mine chan struct{}
	if busy == nil {
		// This stat asks; one in the same directory meanwhile waits
		// for its batch.
		mine = make(chan struct{})
		m.timesBusy[dir] = mine
	}
	m.mtimeMu.Unlock()
	if busy != nil {
		// Being asked ahead, with its siblings, or by another stat.
		select {
		case <-busy:
		case <-ctx.Done():
		}
	} else {
		limit := 0 // one at a time, a first stat asks for its file alone
		if m.pool.Pipelining() {
			limit = preciseBatch
			if asks == 0 {
				m.walkAhead(dir)
			}
		}
		if asks > 0 {
			limit = math.MaxInt
		}
		m.shared(ctx, func(ctx context.Context) {
			m.preciseDir(ctx, dir, limit)
			m.mtimeMu.Lock()
			delete(m.timesBusy, dir)
			m.mtimeMu.Unlock()
			close(mine)
		})
	}
	if t, ok := m.mtimes.Get(key); ok {
		e.ModTime, e.Precision = t, conn.PrecisionSecond
		return e
	}
	if ctx.Err() != nil {
		// Interrupted: an MDTM now would only cut an idle connection.
		return e
	}
	t, err := m.pool.ModTime(ctx, m.remotePath(rel))
	if err != nil {
		// The listing's time is still a time: keep it, say why.
		m.log.Debug("exact time not told; keeping the listing's time", "path", rel, "err", err)
		return e
	}
	m.mtimes.Add(key, t)
	e.ModTime, e.Precision = t, conn.PrecisionSecond
	return e
}

// shared runs work whose result is cached for every caller (a
// directory's exact times) under a context that this caller's interrupt
// does not end: the Go runtime's preemption signals interrupt a Go
// program's FUSE requests, and a pipelined batch cut short costs the
// connection it was on and is asked again by the next stat. The caller
// stops waiting when its own ctx ends.
func (m *mount) shared(ctx context.Context, work func(context.Context)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*m.o.Conn.Timeout)
		defer cancel()
		work(ctx)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// preciseBatch is the most files whose times a first stat in their
// directory asks for; it bounds the commands one stat of a huge
// directory costs. preciseChunk is the most asked for in one batch.
const (
	preciseBatch = 1024
	preciseChunk = 4096
)

type preciseKey struct {
	rel  string
	size int64
	list time.Time
}

// preciseDir asks the exact time of every file of dir not yet known,
// unless there are more than limit of them.
func (m *mount) preciseDir(ctx context.Context, dir string, limit int) {
	l, err := m.listing(ctx, dir, 0)
	if err != nil {
		return
	}
	keys := m.unknownTimes(dir, l)
	if len(keys) > limit {
		return
	}
	m.askTimes(ctx, dir, keys)
}

// unknownTimes are the files of dir's listing l whose exact time is not
// known yet.
func (m *mount) unknownTimes(dir string, l *cache.Listing[conn.Entry]) []preciseKey {
	var keys []preciseKey
	for name, e := range l.All() {
		if e.Type != conn.TypeFile || e.Precision == conn.PrecisionSecond {
			continue
		}
		k := preciseKey{path.Join(dir, name), e.Size, e.ModTime}
		if _, ok := m.mtimes.Get(k); !ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// askTimes asks the exact times of keys, of files in dir, in pipelined
// batches, and caches them.
func (m *mount) askTimes(ctx context.Context, dir string, keys []preciseKey) {
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), preciseChunk)]
		keys = keys[len(chunk):]
		paths := make([]string, len(chunk))
		for i, k := range chunk {
			paths[i] = m.remotePath(k.rel)
		}
		times, err := m.pool.ModTimes(ctx, paths)
		for i, t := range times {
			if !t.IsZero() {
				m.mtimes.Add(chunk[i], t)
			}
		}
		if err != nil {
			m.log.Debug("exact times not told", "path", dir, "err", err)
			return
		}
	}
}

// aheadJob is a batch of askAhead: the directories claimed, and done,
// closed when their times are known (or not to be).
type aheadJob struct {
	dir     string
	claimed []string
	done    chan struct{}
}

// siblings returns the names of dir's parent from a fresh listing of it,
// where dir's name is or would be (i), and which of them are directories;
// nil without such a listing, and for the root.
func (m *mount) siblings(dir string) (names []string, i int, isDir func(string) bool) {
	if dir == "" {
		return nil, 0, nil
	}
	up, fresh := m.dirs.Get(m.remotePath(parent(dir)))
	if up == nil || !fresh {
		return nil, 0, nil
	}
	names = up.Names()
	return names, sort.SearchStrings(names, path.Base(dir)), func(name string) bool {
		e, ok := up.Lookup(name)
		return ok && e.Type == conn.TypeDir
	}
}

// walkAhead is called at the first stat asking exact times in dir. Once a
// walk shows, that is when a sibling before dir had its times asked
// already (ls -lR, rsync, du stat the files of one directory after
// another, and would wait a round trip in each), it claims the times of
// the subdirectories that follow dir in its parent, up to prefetchBatch
// of them whose listings are in the cache (the listing prefetch brings
// them), and queues them to be asked ahead in one pipelined batch. A stat
// in a claimed directory waits for the batch rather than asking again.
// Claims are made here, before the stat returns, so that the walker never
// overtakes them.
func (m *mount) walkAhead(dir string) {
	names, i, isDir := m.siblings(dir)
	if names == nil {
		return
	}
	walk := false
	for j := i - 1; j >= max(0, i-prefetchBatch) && !walk; j-- {
		asks, _ := m.mtimeAsks.Peek(path.Join(parent(dir), names[j]))
		walk = asks > 0 && isDir(names[j])
	}
	if !walk {
		return
	}
	job := aheadJob{dir: dir, done: make(chan struct{})}
	m.mtimeMu.Lock()
	for _, name := range names[min(i+1, len(names)):] {
		if len(job.claimed) == prefetchBatch {
			break
		}
		sub := path.Join(parent(dir), name)
		if !isDir(name) || m.timesBusy[sub] != nil {
			continue
		}
		l, fresh := m.dirs.Get(m.remotePath(sub))
		if asks, _ := m.mtimeAsks.Get(sub); l != nil && fresh && asks == 0 {
			m.timesBusy[sub] = job.done
			m.mtimeAsks.Add(sub, 1)
			job.claimed = append(job.claimed, sub)
		}
	}
	m.mtimeMu.Unlock()
	if len(job.claimed) == 0 {
		return
	}
	select {
	case m.walkTimes <- job:
	default:
		m.release(job) // the worker is busy: each asks for itself
	}
}

// askAhead asks the times of a job's directories, up to preciseChunk
// files, in one pipelined batch.
func (m *mount) askAhead(ctx context.Context, job aheadJob) {
	defer m.release(job)
	var keys []preciseKey
	for _, sub := range job.claimed {
		if l, _ := m.dirs.Get(m.remotePath(sub)); l != nil {
			if k := m.unknownTimes(sub, l); len(keys)+len(k) <= preciseChunk {
				keys = append(keys, k...)
			}
		}
	}
	m.askTimes(ctx, job.dir, keys)
}

// release ends a job's claims.
func (m *mount) release(job aheadJob) {
	m.mtimeMu.Lock()
	for _, sub := range job.claimed {
		delete(m.timesBusy, sub)
	}
	m.mtimeMu.Unlock()
	close(job.done)
}

// keepCache says whether the kernel may keep the pages of rel: only when
// the version did not change since the last open (close-to-open).
func (m *mount) keepCache(rel, version string) bool {
	prev, ok := m.opened.Get(rel)
	m.opened.Add(rel, version)
	return ok && prev == version
}

func newMtimeCache() *lru.Cache[preciseKey, time.Time] {
	c, _ := lru.New[preciseKey, time.Time](1 << 17)
	return c
}
