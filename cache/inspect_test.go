package cache

// What the tests look at and production never asks: the counters, a
// lookup that says whether the answer came from a fresh listing, and a
// clock that moves when told to.

import (
	"sync"
	"time"
)

// Len returns the number of blocks cached.
func (b *Blocks) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lru.Len()
}

// Bytes returns the number of bytes of data cached.
func (b *Blocks) Bytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bytes
}

// Len returns the number of listings cached.
func (d *Dirs[E]) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lru.Len()
}

// Entries returns the number of entries over all cached listings.
func (d *Dirs[E]) Entries() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.entries
}

// Lookup answers "is there an entry name in dir" from a fresh listing, as
// fs does with Get and Listing.Lookup. known is false when there is none:
// the caller must fetch. found is false with known true when the answer is
// a definite no.
func (d *Dirs[E]) Lookup(dir, name string) (e E, found, known bool) {
	l, fresh := d.Get(dir)
	if !fresh {
		return e, false, false
	}
	e, found = l.Lookup(name)
	return e, found, true
}

// FakeClock is a Clock that moves only when told to. It is safe for
// concurrent use.
type FakeClock struct {
	mu  sync.Mutex
	now time.Time // GUARDED_BY(mu)
}

// NewFakeClock returns a FakeClock that reads start until moved.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start}
}

// Now returns the clock's current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t, forwards or backwards.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock forwards by d and returns the new time.
func (c *FakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}
