package fs

import (
	"context"
	"errors"
	"path"
	"sort"
	"sync"

	"ftpfs/conn"
)

// Small files read ahead: cp -r, tar, grep -r and rsync read a directory's
// files in order, and over a network each file costs round trips (a RETR
// and the connect of the next data connection, two per file on one
// connection) that one reader alone would pay one after another. The files
// after the one being read are fetched into the block cache over every
// connection of the pool, each once.

// siblingsAhead is how many small files after the one being read are
// fetched ahead, in the directory's order: two per connection keep every
// connection busy while the reader goes through the ones that came in.
const siblingsAhead = 8

// fileJob is a small file to read ahead into the block cache.
type fileJob struct {
	remote, version string
	size            int64
}

// aheadFiles is the queue of small files to read ahead, and the files
// queued or being fetched, which are not queued again: a worker waiting
// for a fetch another one makes is a connection left idle.
type aheadFiles struct {
	jobs chan fileJob

	mu     sync.Mutex
	queued map[fileJob]struct{} // GUARDED_BY(mu)
}

// add queues j unless it is queued or being fetched already. It says
// whether j is (or was already) on its way; false means the queue is full.
func (a *aheadFiles) add(j fileJob) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.queued[j]; ok {
		return true
	}
	select {
	case a.jobs <- j:
		a.queued[j] = struct{}{}
		return true
	default:
		return false
	}
}

// done says j was fetched, or failed: a later read may queue it again.
func (a *aheadFiles) done(j fileJob) {
	a.mu.Lock()
	delete(a.queued, j)
	a.mu.Unlock()
}

// batchAhead is how many queued files a worker reads as one batch where
// the pool reads batches (conn.Pool.ReadFiles, active mode): four per
// connection share the files queued ahead by name and by inode among
// every connection, where larger batches would leave some idle, and a
// batch of four costs five round trips instead of eight.
const batchAhead = 4

// queuedBehind is first and what q holds behind it, up to n in all,
// without waiting: a batch of what is queued now.
func queuedBehind[T any](first T, q <-chan T, n int) []T {
	all := []T{first}
	for len(all) < n {
		select {
		case v := <-q:
			all = append(all, v)
		default:
			return all
		}
	}
	return all
}

// fetchBatch reads jobs into the block cache as one batch. Each file's
// block is claimed first (Blocks.Start), as fetchBlock's Fetch would: a
// reader asking for it meanwhile waits for the batch's bytes, and a file
// cached or being fetched already is left out. A file the batch did not
// read (ErrNotBatched), or that met a passing failure, is read alone, in
// its flight, as fetchBlock reads it.
func (m *mount) fetchBatch(jobs []fileJob) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*m.o.Conn.Timeout)
	defer cancel()
	var mine []fileJob // those claimed, files[i]'s
	var files []conn.BatchFile
	var results []chan batchResult
	var finished []chan struct{}
	for _, j := range jobs {
		res, fin := make(chan batchResult, 1), make(chan struct{})
		claimed := m.blocks.Start(ctx, j.remote, j.version, 0, func(fctx context.Context) ([]byte, error) {
			defer close(fin)
			var r batchResult
			select {
			case r = <-res:
			case <-fctx.Done():
				return nil, fctx.Err()
			}
			if r.err == nil || !errors.Is(r.err, conn.ErrNotBatched) && !conn.Retriable(r.err) {
				return r.data, r.err
			}
			rctx, cancel := context.WithTimeout(fctx, 2*m.o.Conn.Timeout)
			defer cancel()
			buf := make([]byte, j.size)
			n, err := m.pool.ReadAt(rctx, j.remote, buf, 0, j.size)
			return buf[:n], err
		})
		if !claimed {
			m.files.done(j)
			continue
		}
		mine, files = append(mine, j), append(files, conn.BatchFile{Path: j.remote, Size: j.size})
		results, finished = append(results, res), append(finished, fin)
	}
	if len(files) == 0 {
		return
	}
	m.pool.ReadFiles(ctx, files, func(i int, data []byte, err error) {
		if err != nil {
			m.log.Debug("prefetch batch", "path", files[i].Path, "err", err)
		}
		results[i] <- batchResult{data, err}
	})
	// Done once each block is in (or failed), as a fetchBlock returns.
	for i, j := range mine {
		<-finished[i]
		m.files.done(j)
	}
}

// batchResult is what a batch read of one file gave.
type batchResult struct {
	data []byte
	err  error
}

// startFilePrefetch starts the workers of prefetchSiblings, one per
// connection: a small file's fetch may take the connection kept for
// metadata while nobody waits for it (conn.Ahead).
func (m *mount) startFilePrefetch() {
	m.files = &aheadFiles{jobs: make(chan fileJob, 4*siblingsAhead), queued: map[fileJob]struct{}{}}
	for range max(1, m.o.Conn.MaxConns) {
		go func() {
			for {
				select {
				case j := <-m.files.jobs:
					if m.pool.Batching() {
						m.fetchBatch(queuedBehind(j, m.files.jobs, batchAhead))
						continue
					}
					ctx, cancel := context.WithTimeout(context.Background(), 2*m.o.Conn.Timeout)
					if _, err := m.fetchBlock(ctx, j.remote, j.version, j.size, 0); err != nil {
						m.log.Debug("prefetch", "path", j.remote, "err", err)
					}
					cancel()
					m.files.done(j)
				case <-m.prefetchDone:
					return
				}
			}
		}()
	}
}

// prefetchSiblings reads ahead the small files that follow rel in its
// directory, in parallel over the pool. Readers go through a directory in
// one of two orders: by name (tar, rsync, grep -r, as readdir gives them),
// or by inode number (cp -r: coreutils sorts a directory's entries by
// inode to read them faster); the files next in both are taken. Only
// files of one block are, so a wrong guess costs little.
func (m *mount) prefetchSiblings(rel string, e conn.Entry) {
	bs := int64(m.blocks.BlockSize())
	if e.Size > bs {
		return
	}
	dir, name := parent(rel), path.Base(rel)
	l, fresh := m.dirs.Get(m.remotePath(dir))
	if l == nil || !fresh {
		return
	}
	small := func(n string) (conn.Entry, bool) {
		s, ok := l.Lookup(n)
		return s, ok && s.Type == conn.TypeFile && s.Size > 0 && s.Size <= bs
	}
	names := l.Names()
	start := sort.SearchStrings(names, name)
	if start < len(names) && names[start] == name {
		start++
	}
	var next []string
	// After the last name come the first: a reader that started in the
	// middle (cp -r goes by inode) reads those last, and would wait for
	// each of them.
	for k := 0; k < len(names) && len(next) < siblingsAhead; k++ {
		n := names[(start+k)%len(names)]
		if _, ok := small(n); ok && n != name {
			next = append(next, n)
		}
	}
	if len(names) <= byInodeMax {
		next = append(next, nextByInode(dir, name, names, small)...)
	}
	for _, n := range next {
		s, _ := small(n)
		remote, version := m.remotePath(path.Join(dir, n)), version(s)
		if _, ok := m.blocks.Get(remote, version, 0); ok {
			continue
		}
		if !m.files.add(fileJob{remote, version, s.Size}) {
			return
		}
	}
}

// byInodeMax bounds the directories whose files are also taken in inode
// order: that costs a hash per entry at every file read.
const byInodeMax = 4096

// nextByInode is the siblingsAhead small files of dir whose inode numbers
// (inoFor) follow name's, in that order.
func nextByInode(dir, name string, names []string, small func(string) (conn.Entry, bool)) []string {
	type file struct {
		name string
		ino  uint64
	}
	cur := inoFor(path.Join(dir, name), conn.TypeFile)
	var after []file
	for _, n := range names {
		if _, ok := small(n); !ok {
			continue
		}
		if ino := inoFor(path.Join(dir, n), conn.TypeFile); ino > cur {
			after = append(after, file{n, ino})
		}
	}
	sort.Slice(after, func(i, j int) bool { return after[i].ino < after[j].ino })
	out := make([]string, 0, siblingsAhead)
	for _, f := range after[:min(len(after), siblingsAhead)] {
		out = append(out, f.name)
	}
	return out
}
