package cache

import "sync/atomic"

// Stats counts how a cache answered since it was made, for ftpfs stats.
// For listings, every Fetch is a hit (a fresh listing in the cache) or a
// miss, and a miss either started a fetch or joined one under way
// (Shared). For blocks, a lookup (Get, or Fetch finding the block) is a
// hit or a miss; Fetches counts the reads of a block started and Shared
// those that joined one under way.
type Stats struct {
	Hits    int64 `json:"hits"`
	Misses  int64 `json:"misses"`
	Fetches int64 `json:"fetches"`
	Shared  int64 `json:"shared"`
}

// HitRate is the share of lookups answered from the cache, 0 without
// lookups.
func (s Stats) HitRate() float64 {
	if n := s.Hits + s.Misses; n > 0 {
		return float64(s.Hits) / float64(n)
	}
	return 0
}

// counts are the atomics behind Stats: counting takes no lock.
type counts struct{ hits, misses, fetches, shared atomic.Int64 }

func (c *counts) snapshot() Stats {
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Fetches: c.fetches.Load(), Shared: c.shared.Load()}
}

// Stats returns the block cache's counts.
func (b *Blocks) Stats() Stats { return b.counts.snapshot() }

// Stats returns the listing cache's counts.
func (d *Dirs[E]) Stats() Stats { return d.counts.snapshot() }
