package cache

import (
	"context"
	"testing"
	"time"
)

// TestStatsCountLookups: hits, misses, fetches and shared fetches of both
// caches, for a known sequence.
func TestStatsCountLookups(t *testing.T) {
	ctx := context.Background()
	d, clk := newTestDirs(DirsOptions{TTL: time.Minute, MinFresh: -1})
	release := make(chan struct{})
	fetch := func(context.Context) ([]ent, error) { <-release; return ents("a"), nil }
	done := make(chan struct{})
	go func() { d.Fetch(ctx, "/d", fetch); close(done) }()
	for d.Stats().Fetches == 0 {
		time.Sleep(time.Millisecond)
	}
	go func() { d.Fetch(ctx, "/d", fetch) }() // joins the first
	for d.Stats().Shared == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	<-done
	d.Fetch(ctx, "/d", fetch) // fresh: a hit
	d.Get("/d")               // a peek: not counted
	clk.Advance(2 * time.Minute)
	d.Fetch(ctx, "/d", fetch) // stale: a miss and a fetch
	if got, want := d.Stats(), (Stats{Hits: 1, Misses: 3, Fetches: 2, Shared: 1}); got != want {
		t.Errorf("listing stats %+v, want %+v", got, want)
	}

	b := NewBlocks(BlocksOptions{BlockSize: 4, MaxBytes: 1 << 20})
	b.Get("/f", "v", 0) // a miss
	b.Fetch(ctx, "/f", "v", 0, func(context.Context) ([]byte, error) { return []byte("abcd"), nil })
	b.Get("/f", "v", 0)                                                                   // a hit
	b.Fetch(ctx, "/f", "v", 0, func(context.Context) ([]byte, error) { panic("cached") }) // a hit
	got := b.Stats()
	if want := (Stats{Hits: 2, Misses: 1, Fetches: 1}); got != want {
		t.Errorf("block stats %+v, want %+v", got, want)
	}
	if r := got.HitRate(); r < 0.66 || r > 0.67 {
		t.Errorf("hit rate %v, want 2/3", r)
	}
}
