package conn

import (
	"bytes"
	"errors"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"
)

// parseListing reads a listing as Pool.List does, through readListing
// within the default caps, and files each line in a Listing as the mount
// does.
func parseListing(r io.Reader, mlsd bool, now time.Time, loc *time.Location) (*Listing, error) {
	var c Config
	c.fill()
	l := NewListing(now, loc)
	return l, readListing(r, c.MaxListingBytes, c.MaxListingEntries, func(line string) error {
		l.Add(line, mlsd)
		return nil
	})
}

// readLines returns the lines readListing hands on, and its error.
func readLines(r io.Reader, maxBytes int64, maxLines int) ([]string, error) {
	var lines []string
	err := readListing(r, maxBytes, maxLines, func(line string) error {
		lines = append(lines, line)
		return nil
	})
	return lines, err
}

// TestReadListingLines: lines end at LF or CRLF, a last line may lack
// one, and a line over maxLine bytes (not counting its line ending) is
// handed on as LongLine.
func TestReadListingLines(t *testing.T) {
	full, over := strings.Repeat("x", maxLine), strings.Repeat("y", maxLine+1)
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"empty", "", nil},
		{"LF and CRLF", "a\nb\r\nc", []string{"a", "b", "c"}},
		{"blank lines", "\n\r\n\n", []string{"", "", ""}},
		{"CR inside", "a\rb\r\r\n", []string{"a\rb\r"}},
		{"lone CR at the end", "a\n\r", []string{"a", ""}},
		{"NUL kept", "a\x00b\n", []string{"a\x00b"}},
		{"maxLine with LF", full + "\n", []string{full}},
		{"maxLine with CRLF", full + "\r\nz\n", []string{full, "z"}},
		{"maxLine at the end", full, []string{full}},
		{"maxLine and a cut CRLF", full + "\r", []string{full}},
		{"one over with LF", over + "\nz", []string{LongLine, "z"}},
		{"one over with CRLF", over + "\r\nz", []string{LongLine, "z"}},
		{"one over at the end", over, []string{LongLine}},
		{"far over", over + over + over + "\n\n", []string{LongLine, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One byte per Read too, so that no line depends on where
			// the reads fall.
			for _, r := range []io.Reader{strings.NewReader(tc.in), &oneByteReader{s: tc.in}} {
				got, err := readLines(r, math.MaxInt64, math.MaxInt)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("%d lines, want %d", len(got), len(tc.want))
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Fatalf("line %d: %d bytes %.20q, want %d bytes %.20q", i, len(got[i]), got[i], len(tc.want[i]), tc.want[i])
					}
				}
			}
		})
	}
}

type oneByteReader struct{ s string }

func (r *oneByteReader) Read(b []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	if len(b) == 0 {
		return 0, nil
	}
	b[0], r.s = r.s[0], r.s[1:]
	return 1, nil
}

// TestReadListingCaps: a listing may have exactly maxLines lines and
// maxBytes bytes; one more of either fails with ErrListingTooLarge, after
// handing on only lines within the caps. A long line is one line, and all
// its bytes count.
func TestReadListingCaps(t *testing.T) {
	in := "a\n\nccc\r\n" + strings.Repeat("x", maxLine+1) + "\nlast" // 5 lines
	size := int64(len(in))
	for _, tc := range []struct {
		name     string
		maxBytes int64
		maxLines int
		lines    int // handed on: all 5, or those before the error
		fail     bool
	}{
		{"at both caps", size, 5, 5, false},
		{"one line over", size, 4, 4, true},
		{"one byte over", size - 1, 5, 4, true},
		{"bytes end inside the long line", 20, 5, 3, true},
		{"one line", size, 1, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Read whole, the data may overrun the byte cap before any
			// line is handed on; read a byte at a time, it fails at the
			// byte past the cap.
			for _, oneByte := range []bool{false, true} {
				r := io.Reader(strings.NewReader(in))
				if oneByte {
					r = &oneByteReader{s: in}
				}
				got, err := readLines(r, tc.maxBytes, tc.maxLines)
				if tc.fail != errors.Is(err, ErrListingTooLarge) || !tc.fail && err != nil {
					t.Fatalf("one byte %v: %d lines, %v; want failure %v", oneByte, len(got), err, tc.fail)
				}
				if (oneByte || !tc.fail) && len(got) != tc.lines {
					t.Fatalf("one byte %v: %d lines handed on, want %d", oneByte, len(got), tc.lines)
				}
				handed := 0
				for _, l := range got {
					if l != LongLine {
						handed += len(l) + 1
					}
				}
				if int64(handed) > tc.maxBytes || len(got) > tc.maxLines {
					t.Fatalf("one byte %v: %d lines, %d bytes handed on; caps %d, %d", oneByte, len(got), handed, tc.maxLines, tc.maxBytes)
				}
			}
		})
	}
	// fn's error ends the listing as it is.
	stop := errors.New("stop")
	n := 0
	err := readListing(strings.NewReader(in), size, 5, func(string) error {
		if n++; n == 2 {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 {
		t.Fatalf("after %d lines: %v, want fn's error after 2", n, err)
	}
}

// TestListingReadError keeps what was read before the reader failed, and
// drops the line the failure cut short: its name may be truncated.
func TestListingReadError(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("type=file; a\ntype=file; b\ntype=file; cut"), failingReader{boom})
	l, err := parseListing(r, true, listNow, nil)
	if !errors.Is(err, boom) || len(l.Entries) != 2 || l.Unparsed+l.Skipped+l.DroppedCount != 0 {
		t.Fatalf("got %+v, %v", l, err)
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

// lineSource produces n identical listing lines on demand, so that the
// input never exists in memory as a whole. check, when set, runs before
// each Read with the number of bytes handed out so far.
type lineSource struct {
	line  []byte
	n     int
	pos   int // offset in the whole stream
	check func(produced int)
}

func (s *lineSource) Read(p []byte) (int, error) {
	total := len(s.line) * s.n
	if s.pos >= total {
		return 0, io.EOF
	}
	if s.check != nil {
		s.check(s.pos)
	}
	k := 0
	for k < len(p) && s.pos < total {
		c := copy(p[k:], s.line[s.pos%len(s.line):])
		if rest := total - s.pos; c > rest {
			c = rest
		}
		k += c
		s.pos += c
	}
	return k, nil
}

// TestListing100k parses a 100,000-entry listing and checks that it is
// parsed as it arrives: the reader is never more than a buffer ahead of
// the entries.
func TestListing100k(t *testing.T) {
	const n = 100_000
	line := []byte("-rw-r--r--    1 1000     1000         1234 Nov 24 13:59 a file name.txt\r\n")
	l := NewListing(listNow, nil)
	ahead := 0
	src := &lineSource{line: line, n: n, check: func(produced int) {
		ahead = max(ahead, produced-len(l.Entries)*len(line))
	}}
	// Exactly at both caps, as a mount configured for n entries reads it.
	if err := readListing(src, int64(n*len(line)), n, func(s string) error {
		l.Add(s, false)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != n || l.Unparsed != 0 || l.DroppedCount != 0 {
		t.Fatalf("%d entries, %d unparsed, %d dropped", len(l.Entries), l.Unparsed, l.DroppedCount)
	}
	if ahead > maxLine+2 {
		t.Fatalf("the reader was %d bytes ahead of the parsed entries", ahead)
	}
	if e := l.Entries[n-1]; e.Name != "a file name.txt" || e.Size != 1234 {
		t.Fatalf("last entry %+v", e)
	}
}

// TestListingHugeLine sends 10 MB without a newline: it must cost about
// one buffer, not 10 MB, and count as one unparsed line.
func TestListingHugeLine(t *testing.T) {
	const huge = 10 << 20
	good := "-rw-r--r-- 1 0 0 5 Nov 24 13:59 after\n"
	for _, tc := range []struct {
		name    string
		tail    string
		entries int
	}{
		{"then a line", "\n" + good, 1},
		{"to the end", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := io.MultiReader(&lineSource{line: bytes.Repeat([]byte("x"), 4096), n: huge / 4096}, strings.NewReader(tc.tail))
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			l, err := parseListing(r, false, listNow, nil)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if l.Unparsed != 1 || len(l.Entries) != tc.entries {
				t.Fatalf("%d unparsed, %d entries", l.Unparsed, len(l.Entries))
			}
			if s := l.UnparsedSamples[0]; len(s) > maxSampleLen+3 || s != LongLine {
				t.Fatalf("sample of %d bytes kept", len(l.UnparsedSamples[0]))
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
				t.Fatalf("allocated %d bytes for a %d-byte line", alloc, huge)
			}
		})
	}
}
