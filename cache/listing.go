package cache

import (
	"iter"
	"maps"
	"slices"
	"sync"
	"time"
)

// Listing is one directory's entries, by name, as of one fetch plus the
// local changes patched into it since. A Listing never changes once a Dirs
// has handed it out: Set, Remove and Update publish a new Listing. So a
// directory handle can keep the Listing it read and serve readdir and the
// READDIRPLUS lookups from it without locks, whatever happens to the cache.
//
// A patch must not copy 100,000 entries, or creating every file of a large
// directory would be quadratic. So a Listing is an immutable base (map and
// sorted names, shared between Listings) plus a small overlay of patched
// names, copied on each patch. When the overlay outgrows about the square
// root of the base, it is folded into a new base: the copying then costs
// O(sqrt n) per patch, amortized.
type Listing[E any] struct {
	base    *base[E]
	overlay map[string]patch[E] // nil when there are no patches
	n       int                 // number of names

	fetched time.Time // when the fetch began: the data is at least this new
	arrived time.Time // when the fetch ended

	namesOnce sync.Once
	names     []string // base.names merged with overlay, built on demand
}

// base is the part of a listing shared between its patched versions. It
// is never written after construction.
type base[E any] struct {
	entries map[string]E
	names   []string // the keys of entries, sorted
}

// patch is one local change over a base: a new or replaced entry, or,
// with gone set, a removed one.
type patch[E any] struct {
	e    E
	gone bool
}

// newListing indexes entries by name. If two entries have the same name,
// the later one wins.
func newListing[E any](entries []E, name func(E) string, fetched, arrived time.Time) *Listing[E] {
	m := make(map[string]E, len(entries))
	for _, e := range entries {
		m[name(e)] = e
	}
	b := &base[E]{entries: m, names: slices.Sorted(maps.Keys(m))}
	return &Listing[E]{base: b, n: len(m), fetched: fetched, arrived: arrived}
}

// Lookup returns the entry called name, and whether there is one.
func (l *Listing[E]) Lookup(name string) (E, bool) {
	if p, ok := l.overlay[name]; ok {
		if p.gone {
			var zero E
			return zero, false
		}
		return p.e, true
	}
	e, ok := l.base.entries[name]
	return e, ok
}

// Fetched is when the fetch of the listing began: every entry, fetched
// or patched in since, was known then or later.
func (l *Listing[E]) Fetched() time.Time { return l.fetched }

// Len returns the number of entries.
func (l *Listing[E]) Len() int { return l.n }

// Names returns the names in byte-wise sorted order, so that readdir is
// deterministic. The slice is shared: do not modify it.
func (l *Listing[E]) Names() []string {
	if len(l.overlay) == 0 {
		return l.base.names
	}
	l.namesOnce.Do(func() { l.names = l.mergedNames() })
	return l.names
}

// All yields the entries in the order of Names.
func (l *Listing[E]) All() iter.Seq2[string, E] {
	return func(yield func(string, E) bool) {
		for _, name := range l.Names() {
			e, _ := l.Lookup(name)
			if !yield(name, e) {
				return
			}
		}
	}
}

// mergedNames merges the sorted base names, minus the removed ones, with
// the sorted names the overlay adds.
func (l *Listing[E]) mergedNames() []string {
	var added []string
	for name, p := range l.overlay {
		if _, inBase := l.base.entries[name]; !inBase && !p.gone {
			added = append(added, name)
		}
	}
	slices.Sort(added)
	out := make([]string, 0, l.n)
	i := 0
	for _, name := range l.base.names {
		if p, ok := l.overlay[name]; ok && p.gone {
			continue
		}
		for i < len(added) && added[i] < name {
			out = append(out, added[i])
			i++
		}
		out = append(out, name)
	}
	return append(out, added[i:]...)
}

// with returns a copy of l in which name is e (keep) or absent (!keep).
func (l *Listing[E]) with(name string, e E, keep bool) *Listing[E] {
	_, existed := l.Lookup(name)
	overlay := make(map[string]patch[E], len(l.overlay)+1)
	maps.Copy(overlay, l.overlay)
	_, inBase := l.base.entries[name]
	switch {
	case keep:
		overlay[name] = patch[E]{e: e}
	case inBase:
		overlay[name] = patch[E]{gone: true}
	default:
		// A tombstone over nothing would only waste room.
		delete(overlay, name)
	}
	nl := &Listing[E]{base: l.base, overlay: overlay, n: l.n, fetched: l.fetched, arrived: l.arrived}
	if existed {
		nl.n--
	}
	if keep {
		nl.n++
	}
	if len(overlay) > overlayLimit(len(l.base.entries)) {
		nl.compact()
	}
	return nl
}

// overlayLimit is how many patches a base of n entries carries before they
// are folded in: about sqrt(n), at least 16.
func overlayLimit(n int) int {
	k := 16
	for k*k < n {
		k *= 2
	}
	return k
}

// compact folds the overlay into a new base. l must not have been
// published yet.
func (l *Listing[E]) compact() {
	names := l.mergedNames()
	entries := maps.Clone(l.base.entries)
	for name, p := range l.overlay {
		if p.gone {
			delete(entries, name)
		} else {
			entries[name] = p.e
		}
	}
	l.base = &base[E]{entries: entries, names: names}
	l.overlay = nil
}
