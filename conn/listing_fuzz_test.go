package conn

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The fuzzers check what the mount relies on, whatever a server sends: no
// panic; every entry has a name that is one safe path component, a size
// >= 0, a known type and precision, a UTC time and only permission bits
// in Mode; every error is one of the three kinds; every line of a listing
// is accounted for exactly once. Seeds are the unit-test tables and the
// golden listings; crashers found are kept in testdata/fuzz.

// checkInvariants fails t if e breaks a promise of the parsers.
func checkInvariants(t *testing.T, e Entry) {
	t.Helper()
	if e.Name == "" || e.Name == "." || e.Name == ".." || len(e.Name) > MaxName || strings.ContainsAny(e.Name, "/\x00\r\n") {
		t.Fatalf("unsafe name %q", e.Name)
	}
	if e.Size < 0 {
		t.Fatalf("%q: size %d", e.Name, e.Size)
	}
	if e.Type != TypeFile && e.Type != TypeDir && e.Type != TypeSymlink {
		t.Fatalf("%q: type %d", e.Name, e.Type)
	}
	if e.Precision > PrecisionSecond {
		t.Fatalf("%q: precision %d", e.Name, e.Precision)
	}
	if e.ModTime.Location() != time.UTC {
		t.Fatalf("%q: time %v not in UTC", e.Name, e.ModTime)
	}
	if e.Mode&^(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 || !e.HasMode && e.Mode != 0 {
		t.Fatalf("%q: mode %v (has %v)", e.Name, e.Mode, e.HasMode)
	}
	if e.Target != "" && e.Type != TypeSymlink {
		t.Fatalf("%q: target %q on a non-symlink", e.Name, e.Target)
	}
}

// checkError fails t unless err is one of the parsers' three kinds, and
// a BadNameError really names an unusable name.
func checkError(t *testing.T, err error) {
	t.Helper()
	var bad *BadNameError
	switch {
	case errors.Is(err, ErrNoEntry), errors.Is(err, ErrUnrecognized):
	case errors.As(err, &bad):
		if usableName(bad.Name) {
			t.Fatalf("usable name %q refused", bad.Name)
		}
	default:
		t.Fatalf("unexpected error %v", err)
	}
}

func FuzzParseLIST(f *testing.F) {
	for _, tc := range listCases {
		f.Add(tc.line, listNow.Unix(), int16(0))
	}
	f.Add("-rw-r--r-- 1 0 0 1 Jan  1 00:05 x", time.Date(2026, 12, 31, 23, 50, 0, 0, time.UTC).Unix(), int16(-300))
	f.Add("-rw-r--r-- 1 0 0 1 Feb 29 12:00 x", time.Date(2101, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), int16(840))
	f.Fuzz(func(t *testing.T, line string, nowUnix int64, zoneMinutes int16) {
		// Up to some 35,000 years either way, and real zone offsets.
		now := time.Unix(nowUnix%(1<<40), 0)
		loc := time.FixedZone("fuzz", int(zoneMinutes)%(18*60)*60)
		e, err := ParseLIST(line, now, loc)
		if err != nil {
			checkError(t, err)
			return
		}
		checkInvariants(t, e)
		// The name (and target) are the end of the line, never made up.
		if !strings.HasSuffix(line, e.Name+" -> "+e.Target) && !(e.Target == "" && strings.HasSuffix(line, e.Name)) {
			t.Fatalf("%q: name %q, target %q not at the end", line, e.Name, e.Target)
		}
		// A year-less ls date never lands in the future beyond the skew.
		if dos := line[0] >= '0' && line[0] <= '9'; !dos && e.Precision == PrecisionMinute && e.ModTime.After(now.Add(futureSkew)) {
			t.Fatalf("%q at %v: time %v is in the future", line, now, e.ModTime)
		}
	})
}

func FuzzParseMLSD(f *testing.F) {
	for _, tc := range mlsdCases {
		f.Add(tc.line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		e, err := ParseMLSD(line)
		if err != nil {
			checkError(t, err)
			return
		}
		checkInvariants(t, e)
		if !strings.HasSuffix(line, e.Name) {
			t.Fatalf("%q: name %q is not the end of the line", line, e.Name)
		}
		if e.Precision != PrecisionSecond && !e.ModTime.IsZero() {
			t.Fatalf("%q: precision %d", line, e.Precision)
		}
		// MLST reads the same facts; only its name rules differ.
		if e2, err := ParseMLST(line); err != nil || !sameEntry(e, e2) {
			t.Fatalf("%q: MLST gives %+v, %v; MLSD %+v", line, e2, err, e)
		}
	})
}

// FuzzReadListing reads a listing as Pool.List does, through readListing
// and Add, under caps of capLines lines and capBytes bytes (0: the
// defaults): a listing within the caps has every line accounted for
// exactly once, and the same as when its lines are added one by one; one
// over a cap fails with ErrListingTooLarge, having handed on only lines
// within the caps.
func FuzzReadListing(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "list", "*.txt"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, strings.HasPrefix(filepath.Base(file), "mlsd-"), uint16(0), uint32(0))
		f.Add(b, strings.HasPrefix(filepath.Base(file), "mlsd-"), uint16(5), uint32(200))
	}
	f.Add([]byte("total 0\r\n\r\n\n\r"), false, uint16(0), uint32(0))
	f.Add([]byte("total 0\r\n\r\n\n\r"), false, uint16(3), uint32(11))
	f.Fuzz(func(t *testing.T, data []byte, mlsd bool, capLines uint16, capBytes uint32) {
		var c Config
		c.MaxListingEntries, c.MaxListingBytes = int(capLines), int64(capBytes)
		c.fill()
		l := NewListing(listNow, time.UTC)
		err := readListing(bytes.NewReader(data), c.MaxListingBytes, c.MaxListingEntries, func(line string) error {
			l.Add(line, mlsd)
			return nil
		})
		for _, e := range l.Entries {
			checkInvariants(t, e)
		}
		lines := strings.Split(string(data), "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		n := len(l.Entries) + l.Skipped + l.DroppedCount + l.Unparsed
		over := len(lines) > c.MaxListingEntries || int64(len(data)) > c.MaxListingBytes
		switch {
		case over && !errors.Is(err, ErrListingTooLarge), !over && err != nil:
			t.Fatalf("%d lines, %d bytes, caps %d, %d: %v", len(lines), len(data), c.MaxListingEntries, c.MaxListingBytes, err)
		case !over && n != len(lines):
			t.Fatalf("%d lines, %d outcomes: %+v", len(lines), n, l)
		case n > c.MaxListingEntries || n > len(lines):
			t.Fatalf("%d lines handed on; %d lines, cap %d", n, len(lines), c.MaxListingEntries)
		}
		if n > 0 {
			// The bytes read up to the end of the last line handed on.
			read := len(strings.Join(lines[:n], "\n"))
			if n < len(lines) || bytes.HasSuffix(data, []byte("\n")) {
				read++
			}
			if int64(read) > c.MaxListingBytes {
				t.Fatalf("%d lines handed on, %d bytes, cap %d", n, read, c.MaxListingBytes)
			}
		}
		if len(l.Dropped) > maxSamples || len(l.UnparsedSamples) > maxSamples {
			t.Fatalf("%d dropped and %d unparsed samples kept", len(l.Dropped), len(l.UnparsedSamples))
		}
		// Reading the stream and adding the lines it handed on one by one agree.
		l2 := NewListing(listNow, time.UTC)
		for _, line := range lines[:n] {
			if line = strings.TrimSuffix(line, "\r"); len(line) > maxLine {
				line = LongLine
			}
			l2.Add(line, mlsd)
		}
		if a, b := dumpListing(l), dumpListing(l2); a != b {
			t.Fatalf("stream and lines differ:\n%s\n%s", a, b)
		}
	})
}

// FuzzListRoundTrip writes an entry as vsftpd, proftpd, busybox, IIS or an
// MLSD server would, and checks that the parser reads back exactly that
// entry, at the precision the format has, or refuses its name.
func FuzzListRoundTrip(f *testing.F) {
	f.Add("name", uint64(1234), uint16(0o644), listNow.Unix()-60, uint8(0), "")
	f.Add(" lead -> x", uint64(0), uint16(0o7777), int64(0), uint8(4), "t")
	f.Add("a;b", uint64(1<<62), uint16(0o1777), int64(253402300799), uint8(14), "x;y z")
	f.Fuzz(func(t *testing.T, name string, size uint64, perm uint16, unix int64, style uint8, target string) {
		const minUnix, maxUnix = 0, 253402300799 // 1970 to 9999
		if unix < minUnix || unix > maxUnix {
			unix = minUnix + (unix%maxUnix+maxUnix)%maxUnix
		}
		frac := int64(perm) % 10000 // tenths of milliseconds, for MLSD
		mt := time.Unix(unix, frac*1e5).UTC()
		typ := Type(style % 3)
		format := style / 3 % 5
		want := Entry{Name: name, Type: typ, Size: int64(size & (1<<63 - 1)), ModTime: mt, HasMode: true}
		want.Mode = fs.FileMode(perm & 0o777)
		for bit, m := range map[uint16]fs.FileMode{0o4000: fs.ModeSetuid, 0o2000: fs.ModeSetgid, 0o1000: fs.ModeSticky} {
			if perm&bit != 0 {
				want.Mode |= m
			}
		}
		if typ == TypeSymlink {
			want.Target = target
		}
		var line string
		switch format {
		case 0, 1, 2: // vsftpd, proftpd, busybox without group
			if typ == TypeSymlink {
				if strings.Index(name+" -> "+target, " -> ") != len(name) {
					return // ambiguous: ls itself cannot tell
				}
				name += " -> " + target
			}
			var date string
			if age := listNow.Sub(mt); age >= 0 && age < 182*24*time.Hour {
				date = mt.Format([]string{"Jan 02", "Jan _2", "Jan _2"}[format] + " 15:04")
				want.ModTime, want.Precision = mt.Truncate(time.Minute), PrecisionMinute
			} else {
				date = mt.Format([]string{"Jan 02", "Jan _2", "Jan _2"}[format] + "  2006")
				want.ModTime, want.Precision = time.Date(mt.Year(), mt.Month(), mt.Day(), 0, 0, 0, 0, time.UTC), PrecisionDay
			}
			cols := []string{"%s    1 1000     1000     %8d %s %s", "%s   1 alice    staff    %8d %s %s", "%s    1 root     %8d %s %s"}[format]
			line = fmt.Sprintf(cols, lsMode(typ, perm), want.Size, date, name)
		case 3: // IIS
			want.Mode, want.HasMode, want.Target = 0, false, ""
			want.ModTime, want.Precision = mt.Truncate(time.Minute), PrecisionMinute
			if typ == TypeDir {
				want.Size = 0
				if strings.HasPrefix(name, " ") {
					return // IIS pads <DIR> to a column: leading spaces are lost
				}
				line = mt.Format("01-02-2006  03:04PM") + "       <DIR>          " + name
			} else {
				want.Type = TypeFile
				line = fmt.Sprintf("%s %20d %s", mt.Format("01-02-2006  03:04PM"), want.Size, name)
			}
		case 4: // MLSD, ftpd's way
			want.Precision = PrecisionSecond
			want.Unique = "803g1a2"
			mlsdType := []string{"file", "dir", "OS.unix=slink:" + strings.ReplaceAll(target, ";", "%3B")}[typ]
			if strings.Contains(strings.ToLower(target), "%3b") {
				return // would be read back as ';'
			}
			line = fmt.Sprintf("type=%s;size=%d;modify=%s.%04d;perm=adfrw;unique=%s;UNIX.mode=%04o; %s",
				mlsdType, want.Size, mt.Format("20060102150405"), frac, want.Unique, perm&0o7777, name)
		}
		var (
			got Entry
			err error
		)
		if format == 4 {
			got, err = ParseMLSD(line)
		} else {
			got, err = ParseLIST(line, listNow, time.UTC)
		}
		switch {
		case !usableName(want.Name):
			if errors.Is(err, ErrNoEntry) && want.Type == TypeDir && (want.Name == "." || want.Name == "..") {
				return
			}
			var bad *BadNameError
			if !errors.As(err, &bad) || bad.Name != want.Name {
				t.Fatalf("%q: got %+v, %v; want name %q refused", line, got, err, want.Name)
			}
		case err != nil:
			t.Fatalf("%q: %v", line, err)
		case !sameEntry(got, want):
			t.Fatalf("%q:\n got %s\nwant %s", line, dumpEntry(got), dumpEntry(want))
		}
	})
}

// lsMode writes a mode column as ls does.
func lsMode(typ Type, perm uint16) string {
	b := []byte("-rwxrwxrwx")
	b[0] = "-dl"[typ]
	for i := range 9 {
		if perm&(1<<(8-i)) == 0 {
			b[1+i] = '-'
		}
	}
	for _, s := range []struct {
		bit      uint16
		pos      int
		set, off byte
	}{{0o4000, 3, 's', 'S'}, {0o2000, 6, 's', 'S'}, {0o1000, 9, 't', 'T'}} {
		if perm&s.bit == 0 {
			continue
		}
		if b[s.pos] == '-' {
			b[s.pos] = s.off
		} else {
			b[s.pos] = s.set
		}
	}
	return string(b)
}
