package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

func block(s string) []byte { return []byte(s) }

func TestBlocksVersions(t *testing.T) {
	b := NewBlocks(BlocksOptions{})
	b.Add("/f", "10:100", 0, block("v1 block 0"))
	b.Add("/f", "10:100", 1, block("v1 block 1"))
	b.Add("/f", "12:200", 0, block("v2 block 0"))
	b.Add("/g", "10:100", 0, block("g block 0"))
	tests := []struct {
		path, version string
		idx           int64
		want          string // "" for a miss
	}{
		{"/f", "10:100", 0, "v1 block 0"},
		{"/f", "10:100", 1, "v1 block 1"},
		{"/f", "12:200", 0, "v2 block 0"},
		{"/f", "12:200", 1, ""}, // never mixed in from v1
		{"/f", "other", 0, ""},
		{"/g", "10:100", 0, "g block 0"},
		{"/g", "10:100", 1, ""},
		{"/h", "10:100", 0, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s@%s#%d", tt.path, tt.version, tt.idx), func(t *testing.T) {
			data, ok := b.Get(tt.path, tt.version, tt.idx)
			if ok != (tt.want != "") || string(data) != tt.want {
				t.Fatalf("Get = %q, %v; want %q", data, ok, tt.want)
			}
		})
	}
	if b.Len() != 4 || b.Bytes() != 10+10+10+9 {
		t.Fatalf("Len %d Bytes %d", b.Len(), b.Bytes())
	}
	checkBlocks(t, b)
}

func TestBlocksInvalidate(t *testing.T) {
	paths := []string{"/a", "/a/b", "/a/b/c", "/ab", "/b"}
	tests := []struct {
		name string
		do   func(b *Blocks)
		want []string // paths with blocks left
	}{
		{"path", func(b *Blocks) { b.InvalidatePath("/a") }, []string{"/a/b", "/a/b/c", "/ab", "/b"}},
		{"path absent", func(b *Blocks) { b.InvalidatePath("/zz") }, paths},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBlocks(BlocksOptions{})
			for _, p := range paths {
				for _, v := range []string{"v1", "v2"} {
					for i := range int64(3) {
						b.Add(p, v, i, block(p+v))
					}
				}
			}
			tt.do(b)
			left := []string{}
			for _, p := range paths {
				n := 0
				for _, v := range []string{"v1", "v2"} {
					for i := range int64(3) {
						if _, ok := b.Get(p, v, i); ok {
							n++
						}
					}
				}
				switch n {
				case 6:
					left = append(left, p)
				case 0:
				default:
					t.Fatalf("%s: %d of 6 blocks left: every version must go", p, n)
				}
			}
			if !slices.Equal(left, tt.want) {
				t.Fatalf("left %q, want %q", left, tt.want)
			}
			if b.Len() != 6*len(tt.want) {
				t.Fatalf("Len %d", b.Len())
			}
			checkBlocks(t, b)
		})
	}
}

func TestBlocksEviction(t *testing.T) {
	const bs = 16 << 10
	full := bytes.Repeat([]byte{'x'}, bs)
	t.Run("full blocks", func(t *testing.T) {
		b := NewBlocks(BlocksOptions{BlockSize: bs, MaxBytes: 4 * bs})
		for i := range int64(4) {
			b.Add("/f", "v", i, full)
		}
		b.Get("/f", "v", 0) // most recent now: block 1 goes first
		b.Add("/f", "v", 4, full)
		var left []int64
		for i := range int64(5) {
			if _, ok := b.Get("/f", "v", i); ok {
				left = append(left, i)
			}
		}
		if !slices.Equal(left, []int64{0, 2, 3, 4}) || b.Bytes() != 4*bs {
			t.Fatalf("left %v, %d bytes", left, b.Bytes())
		}
		checkBlocks(t, b)
	})
	t.Run("tiny blocks count 4 KiB", func(t *testing.T) {
		b := NewBlocks(BlocksOptions{BlockSize: bs, MaxBytes: 64 << 10})
		for i := range 40 {
			b.Add(fmt.Sprintf("/small%d", i), "v", 0, block("tiny"))
		}
		if b.Len() != 16 || b.Bytes() != 16*4 {
			t.Fatalf("Len %d Bytes %d, want 16 blocks of 4 bytes", b.Len(), b.Bytes())
		}
		checkBlocks(t, b)
	})
	t.Run("replace", func(t *testing.T) {
		b := NewBlocks(BlocksOptions{BlockSize: bs, MaxBytes: 4 * bs})
		b.Add("/f", "v", 0, full)
		b.Add("/f", "v", 0, full[:5000])
		if b.Len() != 1 || b.Bytes() != 5000 {
			t.Fatalf("Len %d Bytes %d", b.Len(), b.Bytes())
		}
		checkBlocks(t, b)
	})
	t.Run("oversize block refused", func(t *testing.T) {
		b := NewBlocks(BlocksOptions{BlockSize: bs, MaxBytes: 4 * bs})
		b.Add("/f", "v", 0, append(full, 'y'))
		if b.Len() != 0 {
			t.Fatal("cached a block longer than BlockSize")
		}
	})
	t.Run("disabled", func(t *testing.T) {
		b := NewBlocks(BlocksOptions{MaxBytes: -1})
		b.Add("/f", "v", 0, block("x"))
		if b.Len() != 0 || b.Bytes() != 0 {
			t.Fatal("a disabled cache kept a block")
		}
	})
	t.Run("defaults", func(t *testing.T) {
		b := NewBlocks(BlocksOptions{})
		if b.BlockSize() != DefaultBlockSize || b.maxBytes != DefaultBlockCacheBytes {
			t.Fatalf("BlockSize %d MaxBytes %d", b.BlockSize(), b.maxBytes)
		}
	})
}

func TestBlocksFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBlocks(BlocksOptions{})
		var calls atomic.Int32
		release := make(chan struct{})
		fetch := func(context.Context) ([]byte, error) {
			calls.Add(1)
			<-release
			return block("data"), nil
		}
		const n = 16
		var wg sync.WaitGroup
		got := make([][]byte, n)
		for i := range n {
			wg.Go(func() {
				data, err := b.Fetch(t.Context(), "/f", "v", 3, fetch)
				if err != nil {
					t.Error(err)
				}
				got[i] = data
			})
		}
		synctest.Wait()
		if calls.Load() != 1 {
			t.Fatalf("%d concurrent reads of one block made %d fetches", n, calls.Load())
		}
		close(release)
		wg.Wait()
		for i, g := range got {
			if string(g) != "data" {
				t.Fatalf("reader %d got %q", i, g)
			}
		}
		if data, ok := b.Get("/f", "v", 3); !ok || string(data) != "data" {
			t.Fatal("fetched block not cached")
		}
		// Cached now: no more fetches.
		if _, err := b.Fetch(t.Context(), "/f", "v", 3, fetch); err != nil || calls.Load() != 1 {
			t.Fatalf("err %v, %d calls", err, calls.Load())
		}
	})
}

// Start claims a block without waiting: a reader meanwhile shares its
// flight, and a block cached or in flight is not started again.
func TestBlocksStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBlocks(BlocksOptions{})
		data := make(chan []byte)
		if !b.Start(t.Context(), "/f", "v", 0, func(context.Context) ([]byte, error) { return <-data, nil }) {
			t.Fatal("Start did not start a block never fetched")
		}
		again := func(context.Context) ([]byte, error) {
			t.Error("a block in flight or cached fetched again")
			return nil, nil
		}
		if b.Start(t.Context(), "/f", "v", 0, again) {
			t.Fatal("Start started a block in flight")
		}
		var got []byte
		var wg sync.WaitGroup
		wg.Go(func() { got, _ = b.Fetch(t.Context(), "/f", "v", 0, again) })
		synctest.Wait()
		data <- block("data")
		wg.Wait()
		if string(got) != "data" {
			t.Fatalf("reader got %q, want the started flight's", got)
		}
		if b.Start(t.Context(), "/f", "v", 0, again) {
			t.Fatal("Start started a cached block")
		}
	})
}

func TestBlocksFetchErrorNotCached(t *testing.T) {
	b := NewBlocks(BlocksOptions{})
	boom := errors.New("426 connection closed")
	var calls atomic.Int32
	for range 2 {
		_, err := b.Fetch(t.Context(), "/f", "v", 0, func(context.Context) ([]byte, error) {
			calls.Add(1)
			return nil, boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
	}
	if calls.Load() != 2 || b.Len() != 0 {
		t.Fatalf("%d calls, %d blocks", calls.Load(), b.Len())
	}
}

// TestBlocksInvalidateDuringFetch: a local write while a block of the same
// version key is being fetched must not leave the pre-write bytes cached.
func TestBlocksInvalidateDuringFetch(t *testing.T) {
	tests := []struct {
		name       string
		invalidate func(b *Blocks)
		wantCached bool
	}{
		{"InvalidatePath", func(b *Blocks) { b.InvalidatePath("/d/f") }, false},
		{"other path", func(b *Blocks) { b.InvalidatePath("/d/g") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := NewBlocks(BlocksOptions{})
				release := make(chan struct{})
				var calls atomic.Int32
				fetch := func(context.Context) ([]byte, error) {
					calls.Add(1)
					<-release
					return block("before write"), nil
				}
				done := make(chan []byte)
				go func() {
					data, _ := b.Fetch(t.Context(), "/d/f", "v", 0, fetch)
					done <- data
				}()
				synctest.Wait()
				tt.invalidate(b)
				if !tt.wantCached {
					// A read after the write starts its own fetch.
					go b.Fetch(t.Context(), "/d/f", "v", 0, fetch)
					synctest.Wait()
					if calls.Load() != 2 {
						t.Fatal("a read after invalidation joined the old fetch")
					}
				}
				close(release)
				if got := <-done; string(got) != "before write" {
					t.Fatalf("waiter got %q", got)
				}
				synctest.Wait()
				if !tt.wantCached {
					// Only the second fetch may have stored; drop it to see
					// what the first did.
					b.InvalidatePath("/d/f")
				}
				_, ok := b.Get("/d/f", "v", 0)
				if ok != tt.wantCached {
					t.Fatalf("cached = %v, want %v", ok, tt.wantCached)
				}
				checkBlocks(t, b)
			})
		})
	}
}

func TestBlocksFetchCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBlocks(BlocksOptions{})
		var cancelled atomic.Bool
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			_, err := b.Fetch(ctx, "/f", "v", 0, func(ctx context.Context) ([]byte, error) {
				<-ctx.Done()
				cancelled.Store(true)
				return nil, ctx.Err()
			})
			done <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		synctest.Wait()
		if !cancelled.Load() {
			t.Fatal("fetch not cancelled after its only reader left")
		}
	})
}

func TestBlocksConcurrent(t *testing.T) {
	const bs = 8 << 10
	b := NewBlocks(BlocksOptions{BlockSize: bs, MaxBytes: 10 * bs})
	paths := []string{"/a", "/a/x", "/b", "/c"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 5))
			for range 3000 {
				p := paths[rng.IntN(len(paths))]
				v := fmt.Sprint(rng.IntN(2))
				idx := int64(rng.IntN(6))
				want := fmt.Sprintf("%s@%s#%d", p, v, idx)
				size := len(want) + rng.IntN(bs-len(want))
				content := func() []byte {
					data := make([]byte, size)
					copy(data, want)
					return data
				}
				check := func(data []byte) {
					if !bytes.HasPrefix(data, []byte(want)) {
						t.Errorf("block %s holds %q", want, data[:min(len(data), 20)])
					}
				}
				switch rng.IntN(6) {
				case 0, 1:
					if data, ok := b.Get(p, v, idx); ok {
						check(data)
					}
				case 2:
					b.Add(p, v, idx, content())
				case 3:
					data, err := b.Fetch(context.Background(), p, v, idx, func(context.Context) ([]byte, error) {
						return content(), nil
					})
					if err == nil {
						check(data)
					}
				case 4:
					b.InvalidatePath(p)
				case 5:
					b.Len()
					b.Bytes()
				}
			}
		})
	}
	wg.Wait()
	checkBlocks(t, b)
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.flights) != 0 {
		t.Fatalf("%d flights left over", len(b.flights))
	}
}
