package cache

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestNewListing(t *testing.T) {
	tests := []struct {
		name    string
		in      []ent
		want    []string
		wantLen int
	}{
		{"empty", nil, []string{}, 0},
		{"sorted by bytes", ents("b", "a", "B", "é", "a b"), []string{"B", "a", "a b", "b", "é"}, 5},
		{"later duplicate wins", []ent{{"x", 1}, {"y", 2}, {"x", 3}}, []string{"x", "y"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newListing(tt.in, entName, t0, t0)
			checkListing(t, l)
			if got := l.Names(); !slices.Equal(got, tt.want) {
				t.Fatalf("Names() = %q, want %q", got, tt.want)
			}
			if l.Len() != tt.wantLen {
				t.Fatalf("Len() = %d, want %d", l.Len(), tt.wantLen)
			}
			var order []string
			for name, e := range l.All() {
				if e.name != name {
					t.Fatalf("All yielded %q with entry %v", name, e)
				}
				order = append(order, name)
			}
			if len(order) != len(tt.want) || !slices.Equal(order, tt.want) {
				t.Fatalf("All order = %q, want %q", order, tt.want)
			}
		})
	}
	l := newListing([]ent{{"x", 1}, {"x", 3}}, entName, t0, t0)
	if e, _ := l.Lookup("x"); e.size != 3 {
		t.Fatalf("duplicate: got size %d, want the later entry's 3", e.size)
	}
}

// TestListingPatches drives patches at random over bases of several sizes,
// across compactions, and compares every listing with a plain map. It also
// checks that a listing never changes once made.
func TestListingPatches(t *testing.T) {
	for _, size := range []int{0, 5, 300, 3000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(size), 1))
			var initial []ent
			model := map[string]ent{}
			for i := range size {
				e := ent{name: fmt.Sprintf("n%05d", i*2), size: int64(i)}
				initial = append(initial, e)
				model[e.name] = e
			}
			l := newListing(initial, entName, t0, t0)
			type snapshot struct {
				l     *Listing[ent]
				model map[string]ent
			}
			var snaps []snapshot
			for op := range 4 * overlayLimit(size) * 3 {
				// Names from a range twice the base's, so that patches hit
				// both existing and new names.
				name := fmt.Sprintf("n%05d", rng.IntN(2*size+10))
				if rng.IntN(2) == 0 {
					e := ent{name: name, size: int64(op + 1000000)}
					l = l.with(name, e, true)
					model[name] = e
				} else {
					l = l.with(name, ent{}, false)
					delete(model, name)
				}
				if op%7 == 0 {
					snaps = append(snaps, snapshot{l, maps.Clone(model)})
				}
				if len(l.overlay) > overlayLimit(len(l.base.entries)) {
					t.Fatalf("overlay of %d over a base of %d was not compacted", len(l.overlay), len(l.base.entries))
				}
			}
			snaps = append(snaps, snapshot{l, model})
			for i, s := range snaps {
				checkListing(t, s.l)
				want := slices.Sorted(maps.Keys(s.model))
				if got := s.l.Names(); !slices.Equal(got, want) {
					t.Fatalf("snapshot %d: Names() = %d names, want %d", i, len(got), len(want))
				}
				for n, e := range s.model {
					if got, ok := s.l.Lookup(n); !ok || got != e {
						t.Fatalf("snapshot %d: Lookup(%q) = %v, %v; want %v", i, n, got, ok, e)
					}
				}
				if _, ok := s.l.Lookup("missing"); ok {
					t.Fatalf("snapshot %d: found a name never added", i)
				}
			}
		})
	}
}

func TestListingPatchKeepsTimes(t *testing.T) {
	l := newListing(ents("a"), entName, t0, t0.Add(5))
	for i := range 100 { // across a compaction
		l = l.with(fmt.Sprint(i), ent{name: fmt.Sprint(i)}, true)
	}
	if !l.Fetched().Equal(t0) || !l.arrived.Equal(t0.Add(5)) {
		t.Fatalf("patches changed the listing's times: %v %v", l.Fetched(), l.arrived)
	}
}

// TestListingLarge builds a listing of 100,000 entries and patches it
// thousands of times, as creating files in a large directory does.
func TestListingLarge(t *testing.T) {
	const n = 100_000
	in := make([]ent, n)
	for i, j := range rand.New(rand.NewPCG(1, 2)).Perm(n) {
		in[i] = ent{name: fmt.Sprintf("file-%06d", j)}
	}
	l := newListing(in, entName, t0, t0)
	checkListing(t, l)
	for i := range 5000 {
		name := fmt.Sprintf("new-%06d", i)
		l = l.with(name, ent{name: name}, true)
		l = l.with(fmt.Sprintf("file-%06d", i*3), ent{}, false)
	}
	checkListing(t, l)
	if l.Len() != n {
		t.Fatalf("Len() = %d, want %d", l.Len(), n)
	}
	if _, ok := l.Lookup("file-000003"); ok {
		t.Fatal("removed name still found")
	}
	if _, ok := l.Lookup("new-004999"); !ok {
		t.Fatal("added name not found")
	}
}

func BenchmarkListingSet(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			in := make([]ent, n)
			for i := range in {
				in[i] = ent{name: fmt.Sprintf("file-%06d", i)}
			}
			l := newListing(in, entName, t0, t0)
			i := 0
			for b.Loop() {
				name := fmt.Sprintf("new-%09d", i)
				l = l.with(name, ent{name: name}, true)
				i++
			}
		})
	}
}
