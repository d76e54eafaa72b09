package conn

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
	"ftpfs/internal/testutil/ftpdtest"
)

// TestListingCap: a listing longer than the pool's caps, in lines or in
// bytes, fails at the cap with ErrListingTooLarge, which is neither
// retried nor taken for a broken connection; one within the caps is
// read whole, through List and ListLong alike.
func TestListingCap(t *testing.T) {
	s := startServer(t)
	const files = 60
	for i := range files {
		// 100-byte names: 60 lines are more than 6,000 bytes.
		testutil.WriteFile(t, filepath.Join(s.Root, "d", fmt.Sprintf("%03d-%s", i, strings.Repeat("x", 96))), nil)
	}
	for _, profile := range []ftpd.Profile{ftpd.ProfileFull, ftpd.ProfileVsftpd} {
		s := ftpdtest.Serve(t, s.Root, func(c *ftpd.Config) { c.Profile = profile })
		for _, tc := range []struct {
			name    string
			entries int
			bytes   int64
			lines   int // lines handed on before the error (0: not checked); -1: no error
		}{
			{"entries", 20, 1 << 20, 20},
			{"bytes", 1000, 3000, 0},
			{"within", 1000, 1 << 20, -1},
		} {
			t.Run(fmt.Sprintf("%v/%s", profile, tc.name), func(t *testing.T) {
				p := newPool(t, s, func(c *Config) { c.MaxListingEntries, c.MaxListingBytes = tc.entries, tc.bytes })
				for _, long := range []bool{false, true} {
					attempts, lines, size := 0, 0, 0
					reset := func() { attempts, lines, size = attempts+1, 0, 0 }
					add := func(l string) error { lines, size = lines+1, size+len(l)+2; return nil }
					err := p.list(context.Background(), "/d", long, reset, func(l string, _ bool) error { return add(l) })
					switch {
					case tc.lines == -1:
						if err != nil || lines < files {
							t.Fatalf("long=%v: %d lines, %v", long, lines, err)
						}
						continue
					case !errors.Is(err, ErrListingTooLarge):
						t.Fatalf("long=%v: %d lines, %v; want ErrListingTooLarge", long, lines, err)
					case Classify(err) != ClassTooLarge || Retriable(err):
						t.Fatalf("long=%v: %v classified %v (retriable %v)", long, err, Classify(err), Retriable(err))
					case attempts != 1:
						t.Fatalf("long=%v: %d attempts; a listing over the cap is not retried", long, attempts)
					case tc.lines > 0 && lines != tc.lines:
						t.Fatalf("long=%v: %d lines before the error, want %d", long, lines, tc.lines)
					case int64(size) > tc.bytes:
						t.Fatalf("long=%v: %d bytes handed on, cap %d", long, size, tc.bytes)
					}
					t.Logf("long=%v: %v", long, err)
				}
				// The connection that hit the cap is fit for what follows.
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if _, err := p.ModTime(ctx, "/d/000-"+strings.Repeat("x", 96)); err != nil {
					t.Fatalf("after the cap: %v", err)
				}
			})
		}
	}
}
