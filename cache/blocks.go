package cache

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Defaults for the zero fields of BlocksOptions.
const (
	// DefaultBlockSize is the unit of caching and of ranged reads. A random
	// 4 KiB pread that misses costs one REST+RETR of one aligned block, and
	// the data connection (PASV, connect, RETR: two or three round trips)
	// costs the same whatever the block size. 256 KiB takes about as long
	// to transfer as that setup on a WAN (20 ms at 100 Mbit/s against
	// round trips of tens of ms), so a random read pays at most about twice
	// the unavoidable latency; 1 MiB would quadruple the transfer, for
	// bytes mostly not wanted, and fill the cache four times as fast with
	// them. It is also a multiple of the 128 KiB requests the kernel sends
	// for read-ahead, so a sequential reader uses every byte fetched.
	DefaultBlockSize = 256 << 10
	// DefaultBlockCacheBytes bounds the data cached: 1024 blocks of the
	// default size. The mount's --cache-size defaults to it.
	DefaultBlockCacheBytes = 256 << 20
)

// minBlockCharge is what a block counts against MaxBytes at least, so that
// a crowd of tiny files cannot pile up bookkeeping behind a small byte count:
// it bounds the number of blocks to MaxBytes/4 KiB.
const minBlockCharge = 4 << 10

// BlocksOptions configures a Blocks. The zero value gives the defaults.
type BlocksOptions struct {
	// BlockSize is the size of every block but a file's last. 0 means
	// DefaultBlockSize.
	BlockSize int
	// MaxBytes bounds the data cached; each block counts at least 4 KiB.
	// 0 means DefaultBlockCacheBytes; negative disables caching (Fetch
	// still coalesces).
	MaxBytes int64
}

// blockKey names one block of one version of one file.
type blockKey struct {
	path    string
	version string
	idx     int64
}

// Blocks caches file content in aligned blocks, keyed by path, version
// and block index, least recently used first out. It is safe for
// concurrent use. See the package documentation for the model.
type Blocks struct {
	blockSize int
	maxBytes  int64

	mu      sync.Mutex
	lru     *simplelru.LRU[blockKey, []byte] // GUARDED_BY(mu)
	byPath  map[string]map[blockKey]struct{} // the keys of lru by path; GUARDED_BY(mu)
	bytes   int64                            // sum of len over lru; GUARDED_BY(mu)
	charged int64                            // sum of charge over lru; GUARDED_BY(mu)
	flights map[blockKey]*flight[[]byte]     // GUARDED_BY(mu)

	counts counts // stats.go
}

// NewBlocks returns an empty block cache.
func NewBlocks(opts BlocksOptions) *Blocks {
	b := &Blocks{
		blockSize: opts.BlockSize,
		maxBytes:  opts.MaxBytes,
		byPath:    make(map[string]map[blockKey]struct{}),
		flights:   make(map[blockKey]*flight[[]byte]),
	}
	if b.blockSize <= 0 {
		b.blockSize = DefaultBlockSize
	}
	if b.maxBytes == 0 {
		b.maxBytes = DefaultBlockCacheBytes
	}
	// The byte bound does the evicting; the count bound of simplelru is
	// never reached. The callback runs inside lru's methods, with mu held,
	// so the index and the LRU never disagree outside the critical section.
	lru, err := simplelru.NewLRU(math.MaxInt, func(k blockKey, data []byte) {
		b.bytes -= int64(len(data))
		b.charged -= charge(data)
		keys := b.byPath[k.path]
		delete(keys, k)
		if len(keys) == 0 {
			delete(b.byPath, k.path)
		}
	})
	if err != nil {
		panic(err) // unreachable: the size is positive
	}
	b.lru = lru
	return b
}

func charge(data []byte) int64 { return int64(max(len(data), minBlockCharge)) }

// BlockSize returns the block size: block idx of a file holds bytes
// [idx*BlockSize, (idx+1)*BlockSize), fewer for the last block.
func (b *Blocks) BlockSize() int { return b.blockSize }

// Get returns block idx of version of path, if cached. The slice is
// shared: do not modify it.
func (b *Blocks) Get(path, version string, idx int64) ([]byte, bool) {
	b.mu.Lock()
	data, ok := b.lru.Get(blockKey{path, version, idx})
	b.mu.Unlock()
	if ok {
		b.counts.hits.Add(1)
	} else {
		b.counts.misses.Add(1)
	}
	return data, ok
}

// Add caches data as block idx of version of path. The cache keeps data:
// do not modify it afterwards. The caller vouches that data is that
// version's content (see the package documentation). A block longer than
// BlockSize is not cached.
func (b *Blocks) Add(path, version string, idx int64, data []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b._add(blockKey{path, version, idx}, data)
}

// Fetch returns block idx of version of path: the cached one, or the
// result of fetch, which it caches. Concurrent calls for the same block
// share one call of fetch (the kernel's read-ahead and a reader often ask
// for the same block at once), with the same rules as Dirs.FetchMaxAge:
// fetch runs on its own goroutine with ctx's values and is cancelled when
// every waiter has given up; errors are not cached; a result is not cached
// if the path was invalidated while fetch ran.
func (b *Blocks) Fetch(ctx context.Context, path, version string, idx int64, fetch func(context.Context) ([]byte, error)) ([]byte, error) {
	k := blockKey{path, version, idx}
	b.mu.Lock()
	if data, ok := b.lru.Get(k); ok {
		b.mu.Unlock()
		b.counts.hits.Add(1)
		return data, nil
	}
	f := b.flights[k]
	if f == nil {
		if err := ctx.Err(); err != nil {
			b.mu.Unlock()
			return nil, err
		}
		f = newFlight[[]byte](ctx, time.Time{}) // blocks do not age: versions replace TTLs
		b.flights[k] = f
		b.counts.fetches.Add(1)
		go b.run(k, f, fetch)
	} else {
		b.counts.shared.Add(1)
	}
	f.waiters++
	b.mu.Unlock()
	return f.wait(ctx, &b.mu, func() {
		if b.flights[k] == f {
			delete(b.flights, k)
		}
	})
}

// Start is Fetch that does not wait: it starts fetch unless the block
// is cached or being fetched already, and says whether it did. A caller
// that fetches several blocks together (a batch of small files) claims
// each this way first, so that a reader asking for one meanwhile shares
// its flight, and no block is fetched twice.
func (b *Blocks) Start(ctx context.Context, path, version string, idx int64, fetch func(context.Context) ([]byte, error)) bool {
	k := blockKey{path, version, idx}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lru.Contains(k) || b.flights[k] != nil || ctx.Err() != nil {
		return false
	}
	f := newFlight[[]byte](ctx, time.Time{})
	b.flights[k] = f
	b.counts.fetches.Add(1)
	go b.run(k, f, fetch)
	return true
}

// run is a flight's goroutine.
func (b *Blocks) run(k blockKey, f *flight[[]byte], fetch func(context.Context) ([]byte, error)) {
	data, err := call(f.ctx, fetch)
	b.mu.Lock()
	if b.flights[k] == f {
		delete(b.flights, k)
		if err == nil {
			b._add(k, data)
		}
	}
	b.mu.Unlock()
	f.finish(data, err)
}

// InvalidatePath drops every block of path, of every version, and keeps
// fetches of path in progress from being cached. Its cost is the number
// of blocks of path, not the size of the cache.
func (b *Blocks) InvalidatePath(path string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b._dropPath(path)
	for k := range b.flights {
		if k.path == path {
			delete(b.flights, k)
		}
	}
}

// _add caches data under k and evicts down to the bound. Call with mu held.
func (b *Blocks) _add(k blockKey, data []byte) {
	if len(data) > b.blockSize || charge(data) > b.maxBytes {
		return
	}
	// Add replaces an existing value without the evict callback.
	if old, ok := b.lru.Peek(k); ok {
		b.bytes -= int64(len(old))
		b.charged -= charge(old)
	}
	b.lru.Add(k, data)
	keys := b.byPath[k.path]
	if keys == nil {
		keys = make(map[blockKey]struct{})
		b.byPath[k.path] = keys
	}
	keys[k] = struct{}{}
	b.bytes += int64(len(data))
	b.charged += charge(data)
	// k is the newest and fits alone, so it is never the one evicted.
	for b.charged > b.maxBytes {
		b.lru.RemoveOldest()
	}
}

// _dropPath removes every block of path. Call with mu held.
func (b *Blocks) _dropPath(path string) {
	keys := b.byPath[path]
	// The callback edits keys (and byPath) as we go; ranging over a map
	// while deleting from it is allowed and visits each remaining key once.
	for k := range keys {
		b.lru.Remove(k)
	}
}
