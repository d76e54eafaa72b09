package conn

import (
	"errors"
	"strings"
	"testing"
)

// TestLongNames: a name over 255 bytes cannot be a file name on Linux (nor
// on any common file system), so a listing that has one is hostile or
// broken; it is refused like a name with '/', in every listing format,
// and a name of exactly 255 bytes still passes.
func TestLongNames(t *testing.T) {
	ok, long := strings.Repeat("n", 255), strings.Repeat("n", 256)
	// Multi-byte: 128 two-byte runes are 256 bytes though 128 characters.
	wide := strings.Repeat("é", 128)
	lines := []struct {
		format string
		mlsd   bool
		line   func(name string) string
	}{
		{"MLSD", true, func(n string) string { return "type=file;size=1;modify=20261124135900; " + n }},
		{"LIST unix", false, func(n string) string { return "-rw-r--r-- 1 0 0 12 Nov 24 13:59 " + n }},
		{"LIST unix link", false, func(n string) string { return "lrwxrwxrwx 1 0 0 1 Nov 24 13:59 " + n + " -> target" }},
		{"LIST dos", false, func(n string) string { return "11-24-26  01:59PM                 1234 " + n }},
	}
	for _, f := range lines {
		t.Run(f.format, func(t *testing.T) {
			l := NewListing(listNow, nil)
			for _, n := range []string{ok, long, wide} {
				l.Add(f.line(n), f.mlsd)
			}
			if len(l.Entries) != 1 || l.Entries[0].Name != ok {
				t.Fatalf("%d entries, want only the 255-byte name", len(l.Entries))
			}
			if l.DroppedCount != 2 || l.Unparsed != 0 {
				t.Fatalf("dropped %d, unparsed %d; want 2, 0", l.DroppedCount, l.Unparsed)
			}
			// The samples for the log line stay clipped.
			for _, s := range l.Dropped {
				if len(s) > maxSampleLen+3 {
					t.Fatalf("sample of %d bytes", len(s))
				}
			}
			var bad *BadNameError
			var err error
			if f.mlsd {
				_, err = ParseMLSD(f.line(long))
			} else {
				_, err = ParseLIST(f.line(long), listNow, nil)
			}
			if !errors.As(err, &bad) || bad.Name != long {
				t.Fatalf("%s: %v, want a BadNameError", f.format, err)
			}
		})
	}
}
