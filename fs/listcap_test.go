package fs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ftpfs/conn"
	"ftpfs/internal/testutil"
)

// peakHeap samples the heap in use until stop is called, which returns
// the most seen above what was in use at the start (after a GC).
func peakHeap() (stop func() uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, ms.HeapAlloc
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak - min(peak, base)
	}
}

// TestListingCapEndless: a server that lists a directory with lines
// without end. The listing fails with EIO at the cap, the log says so,
// and the heap of the mount (this process) stays far below what the
// server sends: with a small cap on entries, and with the default caps,
// where long lines reach the byte cap (256 MiB) first.
func TestListingCapEndless(t *testing.T) {
	testutil.NeedFUSE(t)
	pad := strings.Repeat("p", 16<<10)
	for _, tc := range []struct {
		name    string
		entries int // 0: the default
		line    func(i int) string
		wantLog string
		maxHeap uint64
	}{
		{"entries", 20_000, func(i int) string { return fmt.Sprintf("type=file;size=1;modify=20240101000000; f%09d\r\n", i) },
			"more than 20000 lines", 32 << 20},
		{"default bytes", 0, func(i int) string { return fmt.Sprintf("type=file;size=1;x.pad=%s; f%09d\r\n", pad, i) },
			fmt.Sprintf("more than %d bytes", conn.DefaultMaxListingEntries*conn.ListingBytesPerEntry), 64 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &evilServer{mlsd: true, pasvHost: "127.0.0.1",
				listings: map[string]string{"/": "type=dir;modify=20240101000000; big\r\n"},
				endless:  map[string]func(int) string{"/big": tc.line},
			}
			addr := startEvil(t, e)
			_, mnt, logs := mountAt(t, addr, "u", "p", func(o *Options) {
				o.Conn.MaxListingEntries = tc.entries
				// Room for 256 MiB under the race detector: the cap,
				// not the deadline, must end the listing.
				o.Conn.Timeout = 30 * time.Second
			})
			stop := peakHeap()
			t0 := time.Now()
			_, err := os.ReadDir(filepath.Join(mnt, "big"))
			grew := stop()
			t.Logf("readdir after %v: %v; heap grew by at most %d MiB", time.Since(t0).Round(time.Millisecond), err, grew>>20)
			if !errors.Is(err, syscall.EIO) {
				t.Fatalf("readdir of an endless listing: %v, want EIO", err)
			}
			if s := logs.String(); !strings.Contains(s, "listing too large") || !strings.Contains(s, tc.wantLog) {
				t.Fatalf("the log does not say the listing hit the cap (%s):\n%s", tc.wantLog, testutil.Tail(s, 10))
			}
			if grew > tc.maxHeap {
				t.Fatalf("heap grew by %d MiB while listing, want at most %d MiB", grew>>20, tc.maxHeap>>20)
			}
			// The mount goes on answering.
			if got := names(t, mnt); strings.Join(got, "|") != "big" {
				t.Fatalf("root shows %q", got)
			}
		})
	}
}
