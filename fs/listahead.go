package fs

// Listings ahead: the subdirectories of a directory being read, and the
// directory a walk comes to next, listed while the reader is busy.

import (
	"context"
	"path"
	"sync"

	"ftpfs/conn"
)

// prefetchQueue bounds the subdirectory listings waiting to be prefetched;
// more are simply not prefetched.
const prefetchQueue = 1024

// prefetchBatch bounds the listings one worker asks for together.
const prefetchBatch = 64

// startPrefetch starts the workers that list subdirectories ahead of a
// recursive reader (ls -lR, find, cp -r): on a network where each listing
// costs round trips, reading the next directories in parallel while the
// reader is busy with this one hides most of them. They leave one
// connection free for the reader's own requests. Where the pool lists
// several directories in one round trip, a worker takes what is queued,
// up to prefetchBatch, and lists it together.
func (m *mount) startPrefetch() {
	m.prefetch = make(chan string, prefetchQueue)
	m.prefetchDone = make(chan struct{})
	m.timesBusy = map[string]chan struct{}{}
	m.walkTimes = make(chan aheadJob, 1)
	go func() {
		for {
			select {
			case job := <-m.walkTimes:
				ctx, cancel := context.WithTimeout(context.Background(), 2*m.o.Conn.Timeout)
				m.askAhead(ctx, job)
				cancel()
			case <-m.prefetchDone:
				return
			}
		}
	}()
	for range max(1, m.o.Conn.MaxConns-1) {
		go func() {
			for {
				select {
				case dir := <-m.prefetch:
					ctx, cancel := context.WithTimeout(context.Background(), 2*m.o.Conn.Timeout)
					if m.pool.ListsTogether(ctx) {
						m.listTogether(ctx, m.queued(dir))
					} else if _, err := m.listing(ctx, dir, 0); err != nil {
						m.log.Debug("prefetch", "path", dir, "err", err)
					}
					cancel()
				case <-m.prefetchDone:
					return
				}
			}
		}()
	}
}

// queued is dir and the directories queued after it, up to
// prefetchBatch.
func (m *mount) queued(dir string) []string {
	return queuedBehind(dir, m.prefetch, prefetchBatch)
}

// listTogether lists dirs (below the root) in one batch (Pool.ReadDirs),
// each through the listing cache as a fetch of its own: a reader asking
// for one of them meanwhile waits for the batch instead of listing it
// again, a change made meanwhile keeps the batch's listing out of the
// cache, and a directory fresh in the cache, or being listed already, is
// left out of the batch.
func (m *mount) listTogether(ctx context.Context, dirs []string) {
	type result struct {
		es  []conn.Entry
		err error
	}
	type fetch struct {
		started, joined chan struct{}
		res             chan result
	}
	var (
		wg      sync.WaitGroup
		batch   []string
		results []chan result
	)
	fetches := make([]fetch, len(dirs))
	for i, dir := range dirs {
		f := fetch{make(chan struct{}), make(chan struct{}), make(chan result, 1)}
		fetches[i] = f
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(f.joined)
			m.dirs.Fetch(ctx, m.remotePath(dir), func(context.Context) ([]conn.Entry, error) {
				close(f.started)
				r := <-f.res // ReadDirs answers every directory of the batch
				return r.es, r.err
			})
		}()
	}
	for i, f := range fetches {
		select {
		case <-f.started:
			batch = append(batch, m.remotePath(dirs[i]))
			results = append(results, f.res)
		case <-f.joined:
		}
	}
	m.pool.ReadDirs(ctx, batch, func(i int, es []conn.Entry, err error) {
		if err != nil {
			m.log.Debug("prefetch", "path", batch[i], "err", err)
		}
		results[i] <- result{visible(es), err}
	})
	wg.Wait()
}

func (m *mount) stopPrefetch() { close(m.prefetchDone) }

// prefetchSubdirs queues the subdirectories of dir whose listings are not
// cached, one level deep: a directory that is read queues its children.
func (m *mount) prefetchSubdirs(dir string, entries []conn.Entry) {
	for _, e := range entries {
		if e.Type != conn.TypeDir {
			continue
		}
		sub := path.Join(dir, e.Name)
		if _, fresh := m.dirs.Get(m.remotePath(sub)); fresh {
			continue
		}
		select {
		case m.prefetch <- sub:
		default:
			return
		}
	}
}

// prefetchNextDirs lists ahead the directory that follows dir in its
// parent once a walk shows, that is when the directory before dir was
// listed too: cp -r, tar or rsync of one directory after another, like
// ls -lR, come to it next. On a LIST-only server its exact times are
// claimed now and asked once it is listed, so that its first stat neither
// asks them nor waits for a listing. One ahead only: a listing older than
// revalidateAfter when its files are opened is fetched again (open's
// close-to-open check), so listing further ahead would list twice.
func (m *mount) prefetchNextDirs(dir string) {
	names, i, isDir := m.siblings(dir)
	if names == nil {
		return
	}
	walk := false
	for j := i - 1; j >= 0; j-- {
		if isDir(names[j]) {
			l, _ := m.dirs.Get(m.remotePath(path.Join(parent(dir), names[j])))
			walk = l != nil
			break
		}
	}
	if !walk {
		return
	}
	var sub string
	for _, n := range names[min(i+1, len(names)):] {
		if isDir(n) {
			sub = path.Join(parent(dir), n)
			break
		}
	}
	if sub == "" {
		return
	}
	if _, fresh := m.dirs.Get(m.remotePath(sub)); fresh {
		return
	}
	job := aheadJob{dir: sub, done: make(chan struct{})}
	if m.times.Asked && !m.times.Listed && m.pool.Pipelining() {
		m.mtimeMu.Lock()
		if asks, _ := m.mtimeAsks.Get(sub); asks == 0 && m.timesBusy[sub] == nil {
			m.timesBusy[sub] = job.done
			m.mtimeAsks.Add(sub, 1)
			job.claimed = []string{sub}
		}
		m.mtimeMu.Unlock()
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*m.o.Conn.Timeout)
		defer cancel()
		// Ahead of need: it may wait for the round trips the reads
		// of dir's files leave free (conn.Riding).
		ctx = conn.Riding(ctx)
		_, err := m.listing(ctx, sub, 0)
		if err != nil {
			m.log.Debug("prefetch", "path", sub, "err", err)
		}
		switch {
		case len(job.claimed) == 0:
		case err != nil:
			m.release(job)
		default:
			m.askAhead(ctx, job)
		}
	}()
}
