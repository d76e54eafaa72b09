package cache

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Defaults for the zero fields of DirsOptions.
const (
	// DefaultMinFresh is long enough for one readdir and the lookups that
	// follow it (READDIRPLUS, ls -l) to be served by the listing the readdir
	// fetched, short enough that TTL 0 still means "look again next time".
	DefaultMinFresh = 500 * time.Millisecond
	// DefaultMaxListings bounds the number of directories cached.
	DefaultMaxListings = 1024
	// DefaultMaxEntries bounds the entries of all listings together. At a
	// few hundred bytes an entry this is a few hundred MiB at worst.
	DefaultMaxEntries = 1 << 20
)

// DirsOptions configures a Dirs. The zero value is usable: TTL 0 and the
// defaults above.
type DirsOptions struct {
	// TTL is how long a listing answers without asking the server again,
	// counted from when its fetch began (--dir-cache-ttl). Names changed by
	// other FTP clients may be this stale; local changes show at once.
	TTL time.Duration
	// MinFresh keeps a listing fresh for this long after its fetch ended,
	// whatever TTL says, so that one listing serves the lookups of the
	// readdir that fetched it. 0 means DefaultMinFresh; negative means none.
	MinFresh time.Duration
	// MaxListings bounds the number of listings kept, least recently used
	// first out. 0 means DefaultMaxListings.
	MaxListings int
	// MaxEntries bounds the total entries over all listings; 0 means
	// DefaultMaxEntries, negative means no bound. The listing just stored
	// is always kept, however large.
	MaxEntries int
	// Clock is SystemClock{} if nil.
	Clock Clock
	// FinishAbandoned lets a fetch whose callers all gave up run to its
	// end, stored and joinable, instead of cancelling it: for callers
	// that give up mostly to ask again at once (interrupted syscalls).
	// The fetch must then bound its own time.
	FinishAbandoned bool
}

// Dirs caches directory listings of entries of type E, keyed by the
// directory's path (clean, absolute, "/"-separated). It is safe for
// concurrent use. See the package documentation for the model.
type Dirs[E any] struct {
	name       func(E) string
	clock      Clock
	ttl        time.Duration
	minFresh   time.Duration
	maxEntries int
	finish     bool // DirsOptions.FinishAbandoned

	mu      sync.Mutex
	lru     *simplelru.LRU[string, *Listing[E]] // GUARDED_BY(mu)
	entries int                                 // sum of Len over lru; GUARDED_BY(mu)
	flights map[string]*flight[*Listing[E]]     // fetches in progress; GUARDED_BY(mu)

	counts counts // stats.go
}

// NewDirs returns an empty cache. name returns the name of an entry within
// its directory (one path component); it must not be nil.
func NewDirs[E any](name func(E) string, opts DirsOptions) *Dirs[E] {
	if name == nil {
		panic("cache.NewDirs: nil name function")
	}
	d := &Dirs[E]{
		name:       name,
		clock:      opts.Clock,
		ttl:        max(opts.TTL, 0),
		minFresh:   opts.MinFresh,
		maxEntries: opts.MaxEntries,
		finish:     opts.FinishAbandoned,
		flights:    make(map[string]*flight[*Listing[E]]),
	}
	if d.clock == nil {
		d.clock = SystemClock{}
	}
	switch {
	case d.minFresh == 0:
		d.minFresh = DefaultMinFresh
	case d.minFresh < 0:
		d.minFresh = 0
	}
	switch {
	case d.maxEntries == 0:
		d.maxEntries = DefaultMaxEntries
	case d.maxEntries < 0:
		d.maxEntries = math.MaxInt
	}
	maxListings := opts.MaxListings
	if maxListings <= 0 {
		maxListings = DefaultMaxListings
	}
	// The callback runs inside lru's methods, which we only call with mu
	// held: the entry count and the LRU change in one critical section.
	// (lru.Cache, the locked wrapper, runs callbacks after unlocking.)
	lru, err := simplelru.NewLRU(maxListings, func(_ string, l *Listing[E]) {
		d.entries -= l.Len()
	})
	if err != nil {
		panic(err) // unreachable: maxListings > 0
	}
	d.lru = lru
	return d
}

// fresh reports whether l may answer for a caller that accepts data up to
// maxAge old, at time now.
func (d *Dirs[E]) fresh(l *Listing[E], maxAge time.Duration, now time.Time) bool {
	return now.Before(l.fetched.Add(maxAge)) || now.Before(l.arrived.Add(d.minFresh))
}

// Get returns the cached listing of dir, if any, and whether it is fresh.
// A stale listing is still returned: when the server cannot be reached, an
// old answer may be better than none. That is the caller's choice.
func (d *Dirs[E]) Get(dir string) (l *Listing[E], fresh bool) {
	return d.GetMaxAge(dir, d.ttl)
}

// GetMaxAge returns the cached listing of dir, if any, and whether it
// would answer FetchMaxAge with maxAge without a fetch.
func (d *Dirs[E]) GetMaxAge(dir string, maxAge time.Duration) (l *Listing[E], fresh bool) {
	now := d.clock.Now()
	d.mu.Lock()
	l, ok := d.lru.Get(dir)
	d.mu.Unlock()
	if !ok {
		return nil, false
	}
	return l, d.fresh(l, maxAge, now)
}

// Fetch returns a fresh listing of dir: the cached one if it is younger
// than the TTL, otherwise the result of fetch, which it stores. See
// FetchMaxAge.
func (d *Dirs[E]) Fetch(ctx context.Context, dir string, fetch func(context.Context) ([]E, error)) (*Listing[E], error) {
	return d.FetchMaxAge(ctx, dir, d.ttl, fetch)
}

// FetchMaxAge returns a listing of dir that began no more than maxAge ago
// (or ended within MinFresh): the cached one if it qualifies, otherwise
// the result of fetch. Concurrent calls for the same dir share one call of
// fetch, if it began within max(maxAge, MinFresh). open() uses this with a
// short maxAge to revalidate attributes (close-to-open), and one listing
// then serves every file of the directory for that long.
//
// fetch runs on a goroutine of its own, with a context that carries ctx's
// values but is cancelled only when every caller waiting for it has given
// up (never, with FinishAbandoned). A caller whose ctx ends gets ctx.Err() at once. Errors are returned
// to every waiter and not cached: a failure (421, timeout) should not
// outlive the burst of lookups that shared it. A successful result is
// stored unless dir was invalidated or patched while fetch ran.
func (d *Dirs[E]) FetchMaxAge(ctx context.Context, dir string, maxAge time.Duration, fetch func(context.Context) ([]E, error)) (*Listing[E], error) {
	now := d.clock.Now()
	d.mu.Lock()
	if l, ok := d.lru.Get(dir); ok && d.fresh(l, maxAge, now) {
		d.mu.Unlock()
		d.counts.hits.Add(1)
		return l, nil
	}
	d.counts.misses.Add(1)
	f := d.flights[dir]
	if f == nil || !now.Before(f.started.Add(max(maxAge, d.minFresh))) {
		if err := ctx.Err(); err != nil {
			d.mu.Unlock()
			return nil, err // no point starting what nobody waits for
		}
		// Replacing an older flight detaches it: it would store data
		// older than ours.
		f = newFlight[*Listing[E]](ctx, now)
		d.flights[dir] = f
		d.counts.fetches.Add(1)
		go d.run(dir, f, fetch)
	} else {
		d.counts.shared.Add(1)
	}
	f.waiters++
	d.mu.Unlock()
	if d.finish {
		return f.wait(ctx, &d.mu, nil)
	}
	return f.wait(ctx, &d.mu, func() { d._detach(dir, f) })
}

// run is a flight's goroutine.
func (d *Dirs[E]) run(dir string, f *flight[*Listing[E]], fetch func(context.Context) ([]E, error)) {
	entries, err := call(f.ctx, fetch)
	var l *Listing[E]
	if err == nil {
		// Indexing 100,000 entries takes a while: not under mu.
		l = newListing(entries, d.name, f.started, d.clock.Now())
	}
	d.mu.Lock()
	if d.flights[dir] == f {
		delete(d.flights, dir)
		if err == nil {
			d._store(dir, l)
		}
	}
	d.mu.Unlock()
	f.finish(l, err)
}

// Put stores a listing of dir fetched just now, replacing any other, and
// returns it. Put cannot know when the data was read, so unlike Fetch it
// cannot refuse data that predates an invalidation: prefer Fetch.
func (d *Dirs[E]) Put(dir string, entries []E) *Listing[E] {
	now := d.clock.Now()
	l := newListing(entries, d.name, now, now)
	d.mu.Lock()
	defer d.mu.Unlock()
	d._detach(dir, nil)
	d._store(dir, l)
	return l
}

// Update patches the entry name of dir's cached listing after a local
// change the server acknowledged (create, write, setattr, rename, delete),
// so that it shows at once without a new fetch. fn gets the current entry
// (zero, false if there is none) and returns the new one, and whether name
// should exist. fn runs with the cache locked: it must not call Dirs.
// Update returns false if dir has no cached listing; there is nothing to
// patch then, and the next fetch will see the change. Either way a fetch
// of dir in progress is no longer stored, since it may predate the change.
// A patch leaves the listing's age as it was.
func (d *Dirs[E]) Update(dir, name string, fn func(e E, exists bool) (E, bool)) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d._detach(dir, nil)
	l, ok := d.lru.Peek(dir)
	if !ok {
		return false
	}
	old, exists := l.Lookup(name)
	e, keep := fn(old, exists)
	if !keep && !exists {
		return true
	}
	d._store(dir, l.with(name, e, keep))
	return true
}

// Set patches dir's cached listing so that name is e. See Update.
func (d *Dirs[E]) Set(dir, name string, e E) bool {
	return d.Update(dir, name, func(E, bool) (E, bool) { return e, true })
}

// Remove patches dir's cached listing so that name is absent. See Update.
func (d *Dirs[E]) Remove(dir, name string) bool {
	return d.Update(dir, name, func(e E, _ bool) (E, bool) { return e, false })
}

// InvalidateTree forgets the listings of prefix and of every directory
// below it, and the fetches of them in progress: after a rename or rmdir
// of prefix, they are listings of paths that no longer mean the same
// thing. The entry of prefix in its parent's listing is the caller's to
// patch. InvalidateTree("/") empties the cache.
func (d *Dirs[E]) InvalidateTree(prefix string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	// O(listings): renames of directories are rare next to lookups.
	for _, dir := range d.lru.Keys() {
		if inTree(dir, prefix) {
			d.lru.Remove(dir)
		}
	}
	for dir := range d.flights {
		if inTree(dir, prefix) {
			delete(d.flights, dir)
		}
	}
}

// _store makes l dir's listing and enforces the bounds. Call with mu held.
func (d *Dirs[E]) _store(dir string, l *Listing[E]) {
	// Add replaces an existing value without the evict callback.
	if old, ok := d.lru.Peek(dir); ok {
		d.entries -= old.Len()
	}
	d.lru.Add(dir, l) // may evict the oldest listing, through the callback
	d.entries += l.Len()
	// dir is now the newest, so it goes last.
	for d.entries > d.maxEntries && d.lru.Len() > 1 {
		d.lru.RemoveOldest()
	}
}

// _detach removes dir's flight from the map, so that its result is not
// stored and nobody new joins it. With f non-nil, only if it is f. Call
// with mu held.
func (d *Dirs[E]) _detach(dir string, f *flight[*Listing[E]]) {
	if cur, ok := d.flights[dir]; ok && (f == nil || cur == f) {
		delete(d.flights, dir)
	}
}
