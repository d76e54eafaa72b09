package cache

import (
	"slices"
	"testing"
	"time"
)

// ent stands for the caller's entry type (conn.Entry in ftpfs).
type ent struct {
	name string
	size int64
}

func entName(e ent) string { return e.name }

func ents(names ...string) []ent {
	out := make([]ent, len(names))
	for i, n := range names {
		out[i] = ent{name: n}
	}
	return out
}

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func newTestDirs(opts DirsOptions) (*Dirs[ent], *FakeClock) {
	clk := NewFakeClock(t0)
	opts.Clock = clk
	return NewDirs(entName, opts), clk
}

// names returns the names of l, or nil for no listing.
func names(l *Listing[ent]) []string {
	if l == nil {
		return nil
	}
	return slices.Clone(l.Names())
}

// checkListing verifies a listing's internal consistency.
func checkListing(t *testing.T, l *Listing[ent]) {
	t.Helper()
	ns := l.Names()
	if len(ns) != l.Len() {
		t.Fatalf("len(Names()) = %d, Len() = %d", len(ns), l.Len())
	}
	if !slices.IsSorted(ns) {
		t.Fatalf("Names() not sorted: %q", ns)
	}
	for i, n := range ns {
		if i > 0 && ns[i-1] == n {
			t.Fatalf("Names() repeats %q", n)
		}
		if e, ok := l.Lookup(n); !ok || e.name != n {
			t.Fatalf("Lookup(%q) = %v, %v", n, e, ok)
		}
	}
}

// checkDirs verifies the invariants of d's bookkeeping.
func checkDirs(t *testing.T, d *Dirs[ent]) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	sum := 0
	for _, l := range d.lru.Values() {
		checkListing(t, l)
		sum += l.Len()
	}
	if sum != d.entries {
		t.Fatalf("entries = %d, listings hold %d", d.entries, sum)
	}
	if d.entries > d.maxEntries && d.lru.Len() > 1 {
		t.Fatalf("entries %d > max %d with %d listings", d.entries, d.maxEntries, d.lru.Len())
	}
}

// checkBlocks verifies that b's path index, counters and LRU agree.
func checkBlocks(t *testing.T, b *Blocks) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var bytes, charged int64
	for _, k := range b.lru.Keys() {
		data, _ := b.lru.Peek(k)
		bytes += int64(len(data))
		charged += charge(data)
		if _, ok := b.byPath[k.path][k]; !ok {
			t.Fatalf("key %v missing from the path index", k)
		}
	}
	indexed := 0
	for p, keys := range b.byPath {
		if len(keys) == 0 {
			t.Fatalf("empty index set for %q", p)
		}
		indexed += len(keys)
	}
	if indexed != b.lru.Len() {
		t.Fatalf("index holds %d keys, lru %d", indexed, b.lru.Len())
	}
	if bytes != b.bytes || charged != b.charged {
		t.Fatalf("bytes %d charged %d, counters say %d %d", bytes, charged, b.bytes, b.charged)
	}
	if b.maxBytes > 0 && b.charged > b.maxBytes {
		t.Fatalf("charged %d > max %d", b.charged, b.maxBytes)
	}
}
