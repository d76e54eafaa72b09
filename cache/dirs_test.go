package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// staticFetch returns a fetch function that counts its calls and returns
// the given names.
func staticFetch(calls *atomic.Int32, names ...string) func(context.Context) ([]ent, error) {
	return func(context.Context) ([]ent, error) {
		calls.Add(1)
		return ents(names...), nil
	}
}

func TestFreshness(t *testing.T) {
	tests := []struct {
		name     string
		ttl      time.Duration
		minFresh time.Duration
		took     time.Duration // how long the fetch took
		age      time.Duration // time since the fetch ended
		want     bool
	}{
		{"within ttl", 10 * time.Second, 0, 0, 10*time.Second - time.Nanosecond, true},
		{"ttl reached", 10 * time.Second, 0, 0, 10 * time.Second, false},
		{"ttl 0 within default min", 0, 0, 0, DefaultMinFresh - time.Nanosecond, true},
		{"ttl 0 past default min", 0, 0, 0, DefaultMinFresh, false},
		{"ttl 0 no min", 0, -1, 0, 0, false},
		{"ttl 0 custom min", 0, 2 * time.Second, 0, 1999 * time.Millisecond, true},
		{"slow fetch, min counts from arrival", time.Second, 0, 3 * time.Second, 400 * time.Millisecond, true},
		{"slow fetch, past min", time.Second, 0, 3 * time.Second, DefaultMinFresh, false},
		{"slow fetch, ttl counts from start", 10 * time.Second, 0, 3 * time.Second, 7*time.Second - time.Nanosecond, true},
		{"slow fetch, ttl reached", 10 * time.Second, 0, 3 * time.Second, 7 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, clk := newTestDirs(DirsOptions{TTL: tt.ttl, MinFresh: tt.minFresh})
			l, err := d.Fetch(t.Context(), "/d", func(context.Context) ([]ent, error) {
				clk.Advance(tt.took)
				return ents("a"), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !l.Fetched().Equal(t0) {
				t.Fatalf("Fetched() = %v, want the start of the fetch %v", l.Fetched(), t0)
			}
			clk.Advance(tt.age)
			got, fresh := d.Get("/d")
			if got != l {
				t.Fatal("Get did not return the fetched listing")
			}
			if fresh != tt.want {
				t.Fatalf("fresh = %v, want %v", fresh, tt.want)
			}
			_, _, known := d.Lookup("/d", "a")
			if known != tt.want {
				t.Fatalf("Lookup known = %v, want %v", known, tt.want)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		name                 string
		put                  bool
		age                  time.Duration
		lookup               string
		wantFound, wantKnown bool
		wantSize             int64
	}{
		{name: "no listing", lookup: "a"},
		{name: "present", put: true, lookup: "a", wantFound: true, wantKnown: true, wantSize: 7},
		{name: "definitely absent", put: true, lookup: "zzz", wantKnown: true},
		{name: "stale present", put: true, age: time.Minute, lookup: "a"},
		{name: "stale absent", put: true, age: time.Minute, lookup: "zzz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, clk := newTestDirs(DirsOptions{TTL: time.Minute})
			if tt.put {
				d.Put("/d", []ent{{"a", 7}, {"b", 8}})
			}
			clk.Advance(tt.age)
			e, found, known := d.Lookup("/d", tt.lookup)
			if found != tt.wantFound || known != tt.wantKnown || e.size != tt.wantSize {
				t.Fatalf("Lookup = %v, found %v, known %v; want found %v, known %v, size %d",
					e, found, known, tt.wantFound, tt.wantKnown, tt.wantSize)
			}
		})
	}
}

func TestRepeatedMissesCostNothing(t *testing.T) {
	d, _ := newTestDirs(DirsOptions{TTL: time.Minute})
	var calls atomic.Int32
	fetch := staticFetch(&calls, "a", "b")
	for range 100 {
		_, found, known := d.Lookup("/d", ".swp")
		if !known {
			l, err := d.Fetch(t.Context(), "/d", fetch)
			if err != nil {
				t.Fatal(err)
			}
			_, found = l.Lookup(".swp")
		}
		if found {
			t.Fatal("found a missing name")
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("100 probes of a missing name made %d fetches, want 1", n)
	}
}

func TestFetchUsesCacheUntilTTL(t *testing.T) {
	d, clk := newTestDirs(DirsOptions{TTL: 10 * time.Second})
	var calls atomic.Int32
	fetch := staticFetch(&calls, "a")
	steps := []struct {
		advance   time.Duration
		wantCalls int32
	}{
		{0, 1},
		{9 * time.Second, 1},
		{time.Second, 2}, // ttl reached
		{5 * time.Second, 2},
		{5 * time.Second, 3},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if _, err := d.Fetch(t.Context(), "/d", fetch); err != nil {
			t.Fatal(err)
		}
		if n := calls.Load(); n != s.wantCalls {
			t.Fatalf("step %d: %d calls, want %d", i, n, s.wantCalls)
		}
	}
}

func TestFetchMaxAge(t *testing.T) {
	tests := []struct {
		name      string
		age       time.Duration
		maxAge    time.Duration
		wantFetch bool
	}{
		{"young enough", 500 * time.Millisecond, time.Second, false},
		{"too old for open", 2 * time.Second, time.Second, true},
		{"min fresh still applies", 100 * time.Millisecond, 0, false},
		{"max age 0 past min fresh", time.Second, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, clk := newTestDirs(DirsOptions{TTL: time.Hour})
			d.Put("/d", ents("a"))
			clk.Advance(tt.age)
			if got, fresh := d.GetMaxAge("/d", tt.maxAge); got == nil || fresh == tt.wantFetch {
				t.Fatalf("GetMaxAge: %v, fresh %v; want the listing, fresh %v", got, fresh, !tt.wantFetch)
			}
			var calls atomic.Int32
			l, err := d.FetchMaxAge(t.Context(), "/d", tt.maxAge, staticFetch(&calls, "b"))
			if err != nil {
				t.Fatal(err)
			}
			if got := calls.Load() == 1; got != tt.wantFetch {
				t.Fatalf("fetched = %v, want %v", got, tt.wantFetch)
			}
			if want := map[bool]string{false: "a", true: "b"}[tt.wantFetch]; !slices.Equal(names(l), []string{want}) {
				t.Fatalf("listing %q, want [%s]", names(l), want)
			}
		})
	}
}

func TestErrorsAreNotCached(t *testing.T) {
	d, clk := newTestDirs(DirsOptions{TTL: 10 * time.Second})
	d.Put("/d", ents("old"))
	clk.Advance(time.Minute)
	boom := errors.New("421 too many connections")
	var calls atomic.Int32
	fail := func(context.Context) ([]ent, error) { calls.Add(1); return nil, boom }
	for range 2 {
		if _, err := d.Fetch(t.Context(), "/d", fail); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want %v", err, boom)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d calls, want 2: an error must not be cached", n)
	}
	// The stale listing survives, for a caller that prefers it to an error.
	l, fresh := d.Get("/d")
	if fresh || !slices.Equal(names(l), []string{"old"}) {
		t.Fatalf("Get = %q, fresh %v; want the stale listing", names(l), fresh)
	}
	if _, err := d.Fetch(t.Context(), "/d", staticFetch(&calls, "new")); err != nil {
		t.Fatal(err)
	}
	if l, fresh := d.Get("/d"); !fresh || !slices.Equal(names(l), []string{"new"}) {
		t.Fatalf("after recovery Get = %q, fresh %v", names(l), fresh)
	}
}

func TestFetchPanic(t *testing.T) {
	d, _ := newTestDirs(DirsOptions{TTL: time.Minute})
	_, err := d.Fetch(t.Context(), "/d", func(context.Context) ([]ent, error) { panic("parser bug") })
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "parser bug" || len(pe.Stack) == 0 {
		t.Fatalf("err = %v, want a *PanicError with a stack", err)
	}
	if l, _ := d.Get("/d"); l != nil {
		t.Fatal("a panicking fetch stored a listing")
	}
	var calls atomic.Int32
	if _, err := d.Fetch(t.Context(), "/d", staticFetch(&calls, "a")); err != nil || calls.Load() != 1 {
		t.Fatalf("fetch after a panic: err %v, calls %d", err, calls.Load())
	}
}

// blockedFetch is a fetch function that signals when it starts and waits
// to be released (or cancelled) before returning its names.
type blockedFetch struct {
	calls   atomic.Int32
	release chan struct{}
	ctxErr  atomic.Value // error seen when cancelled
}

func newBlockedFetch() *blockedFetch { return &blockedFetch{release: make(chan struct{})} }

func (b *blockedFetch) fetch(names ...string) func(context.Context) ([]ent, error) {
	return func(ctx context.Context) ([]ent, error) {
		b.calls.Add(1)
		select {
		case <-b.release:
			return ents(names...), nil
		case <-ctx.Done():
			b.ctxErr.Store(ctx.Err())
			return nil, ctx.Err()
		}
	}
}

// fetchAsync runs Fetch on a goroutine and returns a channel with its
// result.
type fetchResult struct {
	l   *Listing[ent]
	err error
}

func fetchAsync(ctx context.Context, d *Dirs[ent], dir string, fetch func(context.Context) ([]ent, error)) <-chan fetchResult {
	ch := make(chan fetchResult, 1)
	go func() {
		l, err := d.Fetch(ctx, dir, fetch)
		ch <- fetchResult{l, err}
	}()
	return ch
}

func TestFetchCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, _ := newTestDirs(DirsOptions{TTL: time.Minute})
		bf := newBlockedFetch()
		const n = 64
		results := make([]<-chan fetchResult, n)
		for i := range results {
			results[i] = fetchAsync(t.Context(), d, "/d", bf.fetch("a", "b"))
		}
		synctest.Wait() // every caller is now waiting
		if c := bf.calls.Load(); c != 1 {
			t.Fatalf("%d concurrent Fetch calls made %d fetches, want 1", n, c)
		}
		// Lookups from other goroutines must not block behind the fetch.
		if _, _, known := d.Lookup("/d", "a"); known {
			t.Fatal("Lookup known before the fetch finished")
		}
		close(bf.release)
		var first *Listing[ent]
		for i, ch := range results {
			r := <-ch
			if r.err != nil {
				t.Fatalf("caller %d: %v", i, r.err)
			}
			if first == nil {
				first = r.l
			}
			if r.l != first {
				t.Fatalf("caller %d got a different listing", i)
			}
		}
		if l, fresh := d.Get("/d"); l != first || !fresh {
			t.Fatal("the shared result was not stored")
		}
	})
}

func TestFetchSeparateDirsDoNotCoalesce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, _ := newTestDirs(DirsOptions{TTL: time.Minute})
		bf := newBlockedFetch()
		a := fetchAsync(t.Context(), d, "/a", bf.fetch("x"))
		b := fetchAsync(t.Context(), d, "/b", bf.fetch("y"))
		synctest.Wait()
		if c := bf.calls.Load(); c != 2 {
			t.Fatalf("%d fetches for two directories, want 2", c)
		}
		close(bf.release)
		<-a
		<-b
	})
}

// TestInvalidateDuringFetch makes each kind of local change while a fetch
// of /d is in flight: the fetch's result, which may predate the change,
// reaches its caller but must not be stored.
func TestInvalidateDuringFetch(t *testing.T) {
	tests := []struct {
		name      string
		change    func(d *Dirs[ent])
		want      []string // names of /d's cached listing afterwards; nil for none
		wantFresh bool
	}{
		{"InvalidateTree of dir", func(d *Dirs[ent]) { d.InvalidateTree("/d") }, nil, false},
		{"InvalidateTree of root", func(d *Dirs[ent]) { d.InvalidateTree("/") }, nil, false},
		{"Set", func(d *Dirs[ent]) { d.Set("/d", "created", ent{name: "created"}) }, []string{"created", "old"}, false},
		{"Remove", func(d *Dirs[ent]) { d.Remove("/d", "old") }, []string{}, false},
		{"Remove of absent name", func(d *Dirs[ent]) { d.Remove("/d", "nope") }, []string{"old"}, false},
		{"Put", func(d *Dirs[ent]) { d.Put("/d", ents("put")) }, []string{"put"}, true},
		// Changes elsewhere leave the fetch alone.
		{"InvalidateTree sibling", func(d *Dirs[ent]) { d.InvalidateTree("/dd") }, []string{"server"}, true},
		{"Set other", func(d *Dirs[ent]) { d.Set("/other", "x", ent{name: "x"}) }, []string{"server"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d, clk := newTestDirs(DirsOptions{TTL: time.Minute})
				d.Put("/d", ents("old"))
				d.Put("/other", ents("o"))
				clk.Advance(2 * time.Minute) // stale: the next Fetch goes to the server
				bf := newBlockedFetch()
				res := fetchAsync(t.Context(), d, "/d", bf.fetch("server"))
				synctest.Wait()
				tt.change(d)
				close(bf.release)
				r := <-res
				if r.err != nil || !slices.Equal(names(r.l), []string{"server"}) {
					t.Fatalf("waiter got %q, %v; want the fetched listing", names(r.l), r.err)
				}
				l, fresh := d.Get("/d")
				if got := names(l); !slices.Equal(got, tt.want) || (l == nil) != (tt.want == nil) {
					t.Fatalf("cached listing %q, want %q", got, tt.want)
				}
				if fresh != tt.wantFresh {
					t.Fatalf("fresh = %v, want %v", fresh, tt.wantFresh)
				}
				checkDirs(t, d)
			})
		})
	}
}

// TestNoJoinAfterInvalidate checks that a caller arriving after an
// invalidation does not get the result of a fetch that began before it.
func TestNoJoinAfterInvalidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, _ := newTestDirs(DirsOptions{TTL: time.Minute})
		before := newBlockedFetch()
		r1 := fetchAsync(t.Context(), d, "/d", before.fetch("before"))
		synctest.Wait()
		d.Set("/d", "x", ent{name: "x"}) // a local create in /d, not cached yet
		after := newBlockedFetch()
		r2 := fetchAsync(t.Context(), d, "/d", after.fetch("before", "x"))
		synctest.Wait()
		if after.calls.Load() != 1 {
			t.Fatal("a Fetch after the change joined the fetch from before it")
		}
		close(after.release)
		if r := <-r2; !slices.Equal(names(r.l), []string{"before", "x"}) {
			t.Fatalf("second caller got %q", names(r.l))
		}
		close(before.release) // the old fetch ends last and must not win
		if r := <-r1; !slices.Equal(names(r.l), []string{"before"}) {
			t.Fatalf("first caller got %q", names(r.l))
		}
		if l, _ := d.Get("/d"); !slices.Equal(names(l), []string{"before", "x"}) {
			t.Fatalf("cached %q: a stale fetch overwrote a newer one", names(l))
		}
	})
}

func TestFetchJoinWindow(t *testing.T) {
	tests := []struct {
		name      string
		ttl       time.Duration
		later     time.Duration // when the second caller arrives
		wantCalls int32
	}{
		{"ttl 0, within min fresh", 0, 100 * time.Millisecond, 1},
		{"ttl 0, after min fresh", 0, time.Second, 2},
		{"ttl 10s, within", 10 * time.Second, 5 * time.Second, 1},
		{"ttl 10s, after", 10 * time.Second, 11 * time.Second, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d, clk := newTestDirs(DirsOptions{TTL: tt.ttl})
				bf := newBlockedFetch()
				r1 := fetchAsync(t.Context(), d, "/d", bf.fetch("a"))
				synctest.Wait()
				clk.Advance(tt.later)
				r2 := fetchAsync(t.Context(), d, "/d", bf.fetch("a"))
				synctest.Wait()
				if c := bf.calls.Load(); c != tt.wantCalls {
					t.Fatalf("%d fetches, want %d", c, tt.wantCalls)
				}
				close(bf.release)
				<-r1
				<-r2
			})
		})
	}
}

func TestFetchCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, _ := newTestDirs(DirsOptions{TTL: time.Minute})
		bf := newBlockedFetch()
		ctx1, cancel1 := context.WithCancel(t.Context())
		ctx2, cancel2 := context.WithCancel(t.Context())
		r1 := fetchAsync(ctx1, d, "/d", bf.fetch("a"))
		synctest.Wait()
		r2 := fetchAsync(ctx2, d, "/d", bf.fetch("a"))
		synctest.Wait()

		cancel1() // the first caller is interrupted
		if r := <-r1; !errors.Is(r.err, context.Canceled) {
			t.Fatalf("interrupted caller: err %v, want context.Canceled", r.err)
		}
		synctest.Wait()
		if bf.ctxErr.Load() != nil {
			t.Fatal("the fetch was cancelled while a caller still waited")
		}

		cancel2() // the last caller gives up: the fetch is cancelled
		if r := <-r2; !errors.Is(r.err, context.Canceled) {
			t.Fatalf("second caller: err %v", r.err)
		}
		synctest.Wait()
		if bf.ctxErr.Load() == nil {
			t.Fatal("the fetch was not cancelled when every caller had gone")
		}
		if l, _ := d.Get("/d"); l != nil {
			t.Fatal("an abandoned fetch stored a listing")
		}

		// A new caller starts afresh rather than joining the cancelled fetch.
		var calls atomic.Int32
		l, err := d.Fetch(t.Context(), "/d", staticFetch(&calls, "b"))
		if err != nil || calls.Load() != 1 || !slices.Equal(names(l), []string{"b"}) {
			t.Fatalf("fetch after cancellation: %q, %v, %d calls", names(l), err, calls.Load())
		}
	})
}

// With FinishAbandoned, a fetch whose only caller gave up (an
// interrupted syscall) goes on: the caller's retry joins it, and its
// listing is stored.
func TestFetchFinishAbandoned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, _ := newTestDirs(DirsOptions{TTL: time.Minute, FinishAbandoned: true})
		bf := newBlockedFetch()
		ctx1, cancel1 := context.WithCancel(t.Context())
		r1 := fetchAsync(ctx1, d, "/d", bf.fetch("a"))
		synctest.Wait()
		cancel1()
		if r := <-r1; !errors.Is(r.err, context.Canceled) {
			t.Fatalf("interrupted caller: err %v, want context.Canceled at once", r.err)
		}
		synctest.Wait()
		if bf.ctxErr.Load() != nil {
			t.Fatal("the fetch was cancelled when its caller gave up")
		}
		r2 := fetchAsync(t.Context(), d, "/d", bf.fetch("b"))
		synctest.Wait()
		close(bf.release)
		if r := <-r2; r.err != nil || !slices.Equal(names(r.l), []string{"a"}) || bf.calls.Load() != 1 {
			t.Fatalf("retry: %q, %v, %d fetches; want the first fetch's listing, one fetch", names(r.l), r.err, bf.calls.Load())
		}
		if l, _ := d.Get("/d"); l == nil {
			t.Fatal("the abandoned fetch's listing was not stored")
		}
	})
}

func TestFetchCancelledBeforeStart(t *testing.T) {
	d, _ := newTestDirs(DirsOptions{TTL: time.Minute})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var calls atomic.Int32
	if _, err := d.Fetch(ctx, "/d", staticFetch(&calls, "a")); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if calls.Load() != 0 {
		t.Fatal("a fetch started for a caller already cancelled")
	}
	// A fresh listing is still served to a cancelled caller: it costs nothing.
	d.Put("/d", ents("a"))
	if l, err := d.Fetch(ctx, "/d", staticFetch(&calls, "a")); err != nil || l == nil {
		t.Fatalf("cached listing refused: %v", err)
	}
}

type ctxKey struct{}

func TestFetchContextValues(t *testing.T) {
	d, _ := newTestDirs(DirsOptions{TTL: time.Minute})
	ctx := context.WithValue(t.Context(), ctxKey{}, "logger")
	_, err := d.Fetch(ctx, "/d", func(ctx context.Context) ([]ent, error) {
		if ctx.Value(ctxKey{}) != "logger" {
			return nil, errors.New("context values lost")
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUpdate(t *testing.T) {
	d, clk := newTestDirs(DirsOptions{TTL: time.Minute})
	if d.Set("/none", "a", ent{name: "a"}) {
		t.Fatal("Set on an uncached directory reported a patch")
	}
	if l, _ := d.Get("/none"); l != nil {
		t.Fatal("Set created a listing from nothing")
	}
	orig := d.Put("/d", []ent{{"a", 1}, {"b", 2}})
	clk.Advance(30 * time.Second)
	steps := []struct {
		name   string
		do     func() bool
		want   []string
		sizeOf map[string]int64
	}{
		{"create", func() bool { return d.Set("/d", "c", ent{"c", 3}) }, []string{"a", "b", "c"}, map[string]int64{"c": 3}},
		{"write", func() bool { return d.Set("/d", "a", ent{"a", 100}) }, []string{"a", "b", "c"}, map[string]int64{"a": 100}},
		{"delete", func() bool { return d.Remove("/d", "b") }, []string{"a", "c"}, nil},
		{"delete absent", func() bool { return d.Remove("/d", "zz") }, []string{"a", "c"}, nil},
		{"precise mtime", func() bool {
			return d.Update("/d", "c", func(e ent, exists bool) (ent, bool) {
				if !exists {
					t.Error("Update: c does not exist")
				}
				e.size += 1000
				return e, true
			})
		}, []string{"a", "c"}, map[string]int64{"c": 1003}},
	}
	for _, s := range steps {
		if !s.do() {
			t.Fatalf("%s: no listing patched", s.name)
		}
		l, fresh := d.Get("/d")
		if !fresh {
			t.Fatalf("%s: listing no longer fresh", s.name)
		}
		if !slices.Equal(names(l), s.want) {
			t.Fatalf("%s: names %q, want %q", s.name, names(l), s.want)
		}
		for n, size := range s.sizeOf {
			if e, found, known := d.Lookup("/d", n); !known || !found || e.size != size {
				t.Fatalf("%s: Lookup(%q) = %v %v %v, want size %d", s.name, n, e, found, known, size)
			}
		}
		if d.Entries() != len(s.want) {
			t.Fatalf("%s: Entries() = %d, want %d", s.name, d.Entries(), len(s.want))
		}
	}
	if !slices.Equal(names(orig), []string{"a", "b"}) {
		t.Fatalf("a listing handed out changed: %q", names(orig))
	}
	// Patches do not extend the TTL: only the server can vouch for others' changes.
	clk.Advance(30 * time.Second)
	if _, fresh := d.Get("/d"); fresh {
		t.Fatal("patched listing outlived its TTL")
	}
	checkDirs(t, d)
}

func TestInvalidate(t *testing.T) {
	dirs := []string{"/", "/a", "/a/b", "/a/b/c", "/ab", "/b"}
	tests := []struct {
		name string
		do   func(d *Dirs[ent])
		want []string // directories left
	}{
		{"tree absent", func(d *Dirs[ent]) { d.InvalidateTree("/zz") }, dirs},
		{"tree /a", func(d *Dirs[ent]) { d.InvalidateTree("/a") }, []string{"/", "/ab", "/b"}},
		{"tree /a/", func(d *Dirs[ent]) { d.InvalidateTree("/a/") }, []string{"/", "/ab", "/b"}},
		{"tree /a/b", func(d *Dirs[ent]) { d.InvalidateTree("/a/b") }, []string{"/", "/a", "/ab", "/b"}},
		{"tree leaf", func(d *Dirs[ent]) { d.InvalidateTree("/b") }, []string{"/", "/a", "/a/b", "/a/b/c", "/ab"}},
		{"tree root", func(d *Dirs[ent]) { d.InvalidateTree("/") }, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := newTestDirs(DirsOptions{TTL: time.Minute})
			for _, dir := range dirs {
				d.Put(dir, ents("x", "y"))
			}
			tt.do(d)
			left := []string{}
			for _, dir := range dirs {
				if l, _ := d.Get(dir); l != nil {
					left = append(left, dir)
				}
			}
			if !slices.Equal(left, tt.want) {
				t.Fatalf("left %q, want %q", left, tt.want)
			}
			if d.Len() != len(tt.want) || d.Entries() != 2*len(tt.want) {
				t.Fatalf("Len %d Entries %d for %d listings", d.Len(), d.Entries(), len(tt.want))
			}
			checkDirs(t, d)
		})
	}
}

func TestEvictionByCount(t *testing.T) {
	d, _ := newTestDirs(DirsOptions{TTL: time.Minute, MaxListings: 3})
	for _, dir := range []string{"/1", "/2", "/3"} {
		d.Put(dir, ents("a"))
	}
	d.Get("/1")            // order now /2 /3 /1: /2 goes first
	d.Put("/4", ents("a")) // evicts /2: /3 /1 /4
	d.Lookup("/3", "a")    // /1 /4 /3
	d.Put("/5", ents("a")) // evicts /1
	var left []string
	for _, dir := range []string{"/1", "/2", "/3", "/4", "/5"} {
		if l, _ := d.Get(dir); l != nil {
			left = append(left, dir)
		}
	}
	if want := []string{"/3", "/4", "/5"}; !slices.Equal(left, want) {
		t.Fatalf("left %q, want %q", left, want)
	}
	checkDirs(t, d)
}

func TestEvictionByEntries(t *testing.T) {
	d, _ := newTestDirs(DirsOptions{TTL: time.Minute, MaxEntries: 10})
	big := make([]string, 25)
	for i := range big {
		big[i] = fmt.Sprint(i)
	}
	steps := []struct {
		dir         string
		names       []string
		wantLeft    []string
		wantEntries int
	}{
		{"/a", []string{"1", "2", "3", "4"}, []string{"/a"}, 4},
		{"/b", []string{"1", "2", "3", "4"}, []string{"/a", "/b"}, 8},
		{"/c", []string{"1", "2", "3", "4"}, []string{"/b", "/c"}, 8},
		{"/big", big, []string{"/big"}, 25}, // kept alone, however large
		{"/s", []string{"1"}, []string{"/s"}, 1},
	}
	for _, s := range steps {
		d.Put(s.dir, ents(s.names...))
		var left []string
		for _, dir := range []string{"/a", "/b", "/c", "/big", "/s"} {
			if l, _ := d.Get(dir); l != nil {
				left = append(left, dir)
			}
		}
		if !slices.Equal(left, s.wantLeft) || d.Entries() != s.wantEntries {
			t.Fatalf("after %s: left %q, %d entries; want %q, %d", s.dir, left, d.Entries(), s.wantLeft, s.wantEntries)
		}
		checkDirs(t, d)
	}
	// Growing a listing by patches also evicts others.
	d.Put("/t", ents("1", "2", "3", "4", "5"))
	for i := range 5 {
		d.Set("/t", fmt.Sprint(10+i), ent{name: fmt.Sprint(10 + i)})
	}
	if l, _ := d.Get("/s"); l != nil || d.Entries() != 10 {
		t.Fatalf("after growth: /s kept %v, %d entries", l != nil, d.Entries())
	}
	checkDirs(t, d)
}

// TestDirsLarge runs the ls -l pattern on a directory of 100,000 entries:
// one fetch, then a lookup of every name from the cache.
func TestDirsLarge(t *testing.T) {
	const n = 100_000
	d, _ := newTestDirs(DirsOptions{TTL: time.Minute})
	in := make([]ent, n)
	for i, j := range rand.New(rand.NewPCG(3, 4)).Perm(n) {
		in[i] = ent{name: fmt.Sprintf("f%06d", j), size: int64(j)}
	}
	var calls atomic.Int32
	l, err := d.Fetch(t.Context(), "/big", func(context.Context) ([]ent, error) {
		calls.Add(1)
		return in, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ns := l.Names()
	if len(ns) != n || !slices.IsSorted(ns) {
		t.Fatalf("%d names, sorted %v", len(ns), slices.IsSorted(ns))
	}
	for _, name := range ns {
		if _, found, known := d.Lookup("/big", name); !found || !known {
			t.Fatalf("Lookup(%q) missed", name)
		}
	}
	for i := range 2000 {
		name := fmt.Sprintf("new%06d", i)
		d.Set("/big", name, ent{name: name})
	}
	if calls.Load() != 1 || d.Entries() != n+2000 {
		t.Fatalf("%d fetches, %d entries", calls.Load(), d.Entries())
	}
	checkDirs(t, d)
}

// TestDirsConcurrent runs every operation at once from many goroutines,
// for the race detector and the bookkeeping invariants.
func TestDirsConcurrent(t *testing.T) {
	d, clk := newTestDirs(DirsOptions{TTL: time.Second, MaxListings: 3, MaxEntries: 20})
	dirs := []string{"/", "/a", "/a/b", "/c", "/d"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for i := range 2000 {
				dir := dirs[rng.IntN(len(dirs))]
				name := fmt.Sprint(rng.IntN(8))
				switch rng.IntN(10) {
				case 0, 1, 2:
					l, err := d.Fetch(context.Background(), dir, func(context.Context) ([]ent, error) {
						if rng.IntN(10) == 0 {
							return nil, errors.New("boom")
						}
						return ents(name, "x", "y"), nil
					})
					if err == nil {
						for n, e := range l.All() {
							if e.name != n {
								t.Errorf("All: %q holds %v", n, e)
							}
						}
					}
				case 3:
					d.Lookup(dir, name)
				case 4:
					d.Set(dir, name, ent{name: name, size: int64(i)})
				case 5:
					d.Remove(dir, name)
				case 6, 7:
					d.InvalidateTree(dir)
				case 8:
					d.Put(dir, ents(name))
				case 9:
					clk.Advance(100 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	checkDirs(t, d)
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.flights) != 0 {
		t.Fatalf("%d flights left over", len(d.flights))
	}
}
