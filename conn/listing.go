package conn

// Directory listings: MLSD fact lines (RFC 3659 section 7) and the LIST
// formats servers really send: ls -l as vsftpd, proftpd, pure-ftpd and
// busybox write it, and IIS's DOS style. LIST has no standard, so its
// parser recognizes those shapes and refuses anything else rather than
// guess: a line it cannot place is counted as unparsed, never turned into
// a wrong entry.

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"
)

var (
	// ErrNoEntry is returned for a line that is valid but names no entry
	// of the directory: blank lines, ls's "total N", MLSD's cdir and pdir,
	// and the "." and ".." directories of "LIST -a".
	ErrNoEntry = errors.New("listing line names no entry")
	// ErrUnrecognized is returned for a line in no format the parsers know.
	ErrUnrecognized = errors.New("unrecognized listing line")
)

// BadNameError is returned for a well-formed line whose name cannot be a
// single path component here (empty, "." or ".." for a non-directory,
// longer than MaxName, or containing '/', NUL, CR or LF). Such entries are hidden, and logged
// (SEMANTICS.md, "Names and attributes").
type BadNameError struct {
	Name string
}

// Error says which name was refused.
func (e *BadNameError) Error() string {
	return fmt.Sprintf("unusable name %q in listing", e.Name)
}

// MaxName is the longest name a listing may give, in bytes: NAME_MAX on
// Linux, and on every common file system. A longer name could not be
// stored, copied or opened here, and FUSE would still pass it to programs.
const MaxName = 255

const (
	// maxSamples bounds the unparsed lines and dropped names kept for the
	// log, so that a hostile listing cannot grow them without limit.
	maxSamples = 8
	// maxSampleLen bounds each kept sample.
	maxSampleLen = 256
	// futureSkew is how far in the future a year-less LIST date may lie
	// and still belong to the current year. ls shows the time of day only
	// for dates up to six months in the past, so anything later than a
	// little clock skew (or a server zone wrongly given as UTC) is last
	// year's date.
	futureSkew = 3 * 24 * time.Hour
)

// Listing accumulates the parsed lines of one directory listing. Every
// line ends up in exactly one of Entries, Skipped, DroppedCount or
// Unparsed, so nothing disappears without a count. Entries are kept as
// the server sent them: duplicates and order are the caller's concern. A
// Listing is not safe for concurrent use.
type Listing struct {
	// Entries are the usable entries, in the server's order.
	Entries []Entry
	// Skipped counts lines that carry no entry (ErrNoEntry).
	Skipped int
	// DroppedCount counts entries refused for their name; Dropped keeps
	// the first few of those names (clipped) for a log line.
	DroppedCount int
	Dropped      []string
	// Unparsed counts lines no parser recognized, including lines longer
	// than 64 KiB; UnparsedSamples keeps the first few (clipped) to log.
	Unparsed        int
	UnparsedSamples []string

	now time.Time
	loc *time.Location
}

// NewListing returns an empty Listing. now and loc are ParseLIST's
// reference time and server zone (nil means UTC).
func NewListing(now time.Time, loc *time.Location) *Listing {
	if loc == nil {
		loc = time.UTC
	}
	return &Listing{now: now, loc: loc}
}

// Add parses one line, without its line ending, as MLSD when mlsd is set
// and as LIST otherwise, and files the result. It fits the callback of
// Pool.List. LongLine, and any line over 64 KiB, counts as unparsed.
func (l *Listing) Add(line string, mlsd bool) {
	if line == LongLine || len(line) > maxLine {
		l.unparsed(line)
		return
	}
	var (
		e   Entry
		err error
	)
	if mlsd {
		e, err = ParseMLSD(line)
	} else {
		e, err = ParseLIST(line, l.now, l.loc)
	}
	var bad *BadNameError
	switch {
	case err == nil:
		// Copies, so that an entry does not pin its whole line in memory.
		e.Name = strings.Clone(e.Name)
		e.Target = strings.Clone(e.Target)
		e.Unique = strings.Clone(e.Unique)
		l.Entries = append(l.Entries, e)
	case errors.Is(err, ErrNoEntry):
		l.Skipped++
	case errors.As(err, &bad):
		l.DroppedCount++
		if len(l.Dropped) < maxSamples {
			l.Dropped = append(l.Dropped, clipSample(bad.Name))
		}
	default:
		l.unparsed(line)
	}
}

func (l *Listing) unparsed(line string) {
	l.Unparsed++
	if len(l.UnparsedSamples) < maxSamples {
		l.UnparsedSamples = append(l.UnparsedSamples, clipSample(line))
	}
}

// clipSample returns a short private copy of s for a log line.
func clipSample(s string) string {
	if len(s) > maxSampleLen {
		return strings.Clone(s[:maxSampleLen]) + "..."
	}
	return strings.Clone(s)
}

// usableName reports whether a server's name can be one path component.
func usableName(name string) bool {
	return name != "" && name != "." && name != ".." && len(name) <= MaxName && !strings.ContainsAny(name, "/\x00\r\n")
}

// checkName lets e through only if its name is usable. The "." and ".."
// directories are ls -a's and MLSD's own view of the directory: skipped
// quietly, since they would otherwise be logged on every listing.
func checkName(e Entry) (Entry, error) {
	if e.Type == TypeDir && (e.Name == "." || e.Name == "..") {
		return Entry{}, ErrNoEntry
	}
	if !usableName(e.Name) {
		return Entry{}, &BadNameError{Name: e.Name}
	}
	return e, nil
}

func blank(line string) bool {
	return strings.Trim(line, " \t") == ""
}

// ---- MLSD ----

// ParseMLSD parses one MLSD fact line, "fact=value;fact=value; name" (RFC
// 3659 section 7). Fact names are case-insensitive and unknown facts are
// ignored, as are known facts with malformed values, but a line must have
// a type fact: without it nothing says whether the name is a directory.
// The name is everything after the space that ends the facts, so it may
// hold spaces (leading ones too), ';' and '='. Types cdir and pdir give
// ErrNoEntry. A type this parser does not know (a device, say) is taken
// as a file: the name exists, and hiding it would be worse. perm is not
// mapped to Mode: it tells what this login may do, not the mode bits.
// Without a modify fact, ModTime is zero.
func ParseMLSD(line string) (Entry, error) {
	e, self, err := parseFacts(line)
	if err != nil {
		return Entry{}, err
	}
	if self {
		return Entry{}, ErrNoEntry
	}
	return checkName(e)
}

// ParseMLST parses the fact line of an MLST reply, with or without its
// leading space. Unlike ParseMLSD, the name is the path as the server
// echoes it and may contain '/'; cdir and pdir are directories here.
func ParseMLST(line string) (Entry, error) {
	e, _, err := parseFacts(line)
	if err != nil {
		return Entry{}, err
	}
	if e.Name == "" || strings.ContainsAny(e.Name, "\x00\r\n") {
		return Entry{}, &BadNameError{Name: e.Name}
	}
	return e, nil
}

// parseFacts parses a fact line; self reports a cdir or pdir entry.
func parseFacts(line string) (e Entry, self bool, err error) {
	if blank(line) {
		return Entry{}, false, ErrNoEntry
	}
	// MLST replies indent the fact line by one space (RFC 3659 7.2). A
	// fact-less MLSD line would start with a space too, but it has no
	// type, so it is refused either way.
	line = strings.TrimPrefix(line, " ")
	sp := strings.IndexByte(line, ' ')
	if sp <= 0 {
		return Entry{}, false, ErrUnrecognized
	}
	facts, name := line[:sp], line[sp+1:]
	// Facts end with ';'. When the space found is not after one, it may be
	// inside a symlink target that proftpd wrote unescaped: then the facts
	// end at the first "; ". Otherwise the server left out the final ';'.
	if !strings.HasSuffix(facts, ";") {
		last := facts[strings.LastIndexByte(facts, ';')+1:]
		if k, v, _ := strings.Cut(last, "="); strings.EqualFold(k, "type") && isLinkType(v) {
			if i := strings.Index(line[sp:], "; "); i >= 0 {
				facts, name = line[:sp+i+1], line[sp+i+2:]
			}
		}
	}
	e.Name = name
	haveType := false
	for f := range strings.SplitSeq(facts, ";") {
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return Entry{}, false, ErrUnrecognized
		}
		switch strings.ToLower(k) {
		case "type":
			var ok bool
			e.Type, e.Target, self, ok = factType(v)
			if !ok {
				return Entry{}, false, ErrUnrecognized
			}
			haveType = true
		case "size":
			if n, ok := parseSize(v); ok {
				e.Size = n
			}
		case "sizd":
			if n, ok := parseSize(v); ok && e.Size == 0 {
				e.Size = n
			}
		case "modify":
			if t, ok := parseTimeVal(v); ok {
				e.ModTime, e.Precision = t, PrecisionSecond
			}
		case "unique":
			e.Unique = v
		case "unix.mode":
			if m, ok := parseOctalMode(v); ok {
				e.Mode, e.HasMode = m, true
			}
		}
	}
	if !haveType {
		return Entry{}, false, ErrUnrecognized
	}
	if e.Type != TypeSymlink {
		e.Target = ""
	}
	return e, self, nil
}

// isLinkType reports whether a type fact's value is a symlink, as
// proftpd ("OS.unix=slink:target") and others ("OS.unix=symlink") write it.
func isLinkType(v string) bool {
	_, ok := linkTarget(v)
	return ok
}

// linkTarget returns the target in a symlink type value; ftpd escapes ';'
// in it as %3B, proftpd writes it raw (and then the target ends at ';').
func linkTarget(v string) (string, bool) {
	const unix = "os.unix="
	if len(v) < len(unix) || !strings.EqualFold(v[:len(unix)], unix) {
		return "", false
	}
	rest := v[len(unix):]
	for _, kind := range []string{"slink", "symlink"} {
		if len(rest) < len(kind) || !strings.EqualFold(rest[:len(kind)], kind) {
			continue
		}
		t := rest[len(kind):]
		if t == "" {
			return "", true
		}
		if t[0] == ':' {
			t = strings.ReplaceAll(t[1:], "%3B", ";")
			return strings.ReplaceAll(t, "%3b", ";"), true
		}
	}
	return "", false
}

// factType maps a type fact; self is set for cdir and pdir.
func factType(v string) (t Type, target string, self, ok bool) {
	switch strings.ToLower(v) {
	case "":
		return 0, "", false, false
	case "file":
		return TypeFile, "", false, true
	case "dir":
		return TypeDir, "", false, true
	case "cdir", "pdir":
		return TypeDir, "", true, true
	}
	if target, ok := linkTarget(v); ok {
		return TypeSymlink, target, false, true
	}
	return TypeFile, "", false, true
}

// parseSize reads a non-negative decimal size.
func parseSize(v string) (int64, bool) {
	if !allDigits(v) {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// parseOctalMode reads UNIX.mode: octal permission bits with setuid,
// setgid and sticky; file type bits, if a server sends them, are dropped.
func parseOctalMode(v string) (fs.FileMode, bool) {
	if v == "" || len(v) > 12 || strings.Trim(v, "01234567") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 8, 32)
	if err != nil {
		return 0, false
	}
	m := fs.FileMode(n & 0o777)
	if n&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m, true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ---- LIST ----

// ParseLIST parses one LIST line: ls -l style (vsftpd, proftpd,
// pure-ftpd, busybox and the many servers that copy them) or DOS style
// (IIS). now is the reference time for dates without a year, which ls
// writes for the last six months: such a date more than a few days after
// now is taken from the year before. loc is the server's zone for LIST
// times (nil means UTC). Blank lines and "total N" give ErrNoEntry.
//
// In ls -l lines, the name starts one space after the time or year column
// (a leading space belongs to the name), and for symlinks only it ends at
// the first " -> ", after which comes the target. Character and block
// devices, FIFOs, sockets and doors are files, so that the names the
// server has are all seen (FTP can only RETR them, which fails or streams
// whatever the server reads); a device's "major, minor" is no size, so
// its size is 0. Times are to the minute, or to the day when the line
// shows a year.
func ParseLIST(line string, now time.Time, loc *time.Location) (Entry, error) {
	if loc == nil {
		loc = time.UTC
	}
	if blank(line) || isTotal(line) {
		return Entry{}, ErrNoEntry
	}
	var (
		e   Entry
		err error
	)
	if c := line[0]; c >= '0' && c <= '9' {
		e, err = parseDOS(line, loc)
	} else {
		e, err = parseUnix(line, now, loc)
	}
	if err != nil {
		return Entry{}, err
	}
	return checkName(e)
}

// isTotal matches ls's "total 1234" (GNU ls may add a unit: "total 12K").
func isTotal(line string) bool {
	n, ok := strings.CutPrefix(line, "total ")
	n = strings.TrimRight(strings.TrimLeft(n, " "), " ")
	n = strings.TrimRight(n, "KMGTkmgtB")
	return ok && allDigits(strings.ReplaceAll(n, ".", ""))
}

// span is a field of a line, by byte offsets.
type span struct{ start, end int }

// maxHeadFields bounds the fields searched for the date, so that a long
// line costs no more than a short one: mode, links, owner, group and size
// come before the date, and a few more for servers' odd extra columns.
const maxHeadFields = 12

// parseUnix parses an ls -l line: mode, then links, owner and group
// (any of which servers may leave out), size, date, name. The date is
// found as the first "Mon D HH:MM" or "Mon D YYYY" preceded by a size, so
// the columns before it need not be counted.
func parseUnix(line string, now time.Time, loc *time.Location) (Entry, error) {
	modeEnd := strings.IndexByte(line, ' ')
	if modeEnd < 0 {
		return Entry{}, ErrUnrecognized
	}
	typ, mode, device, ok := parseModeColumn(line[:modeEnd])
	if !ok {
		return Entry{}, ErrUnrecognized
	}
	var f [maxHeadFields]span
	n, pos := 0, modeEnd
	for n < len(f) {
		for pos < len(line) && line[pos] == ' ' {
			pos++
		}
		if pos == len(line) {
			break
		}
		end := pos
		for end < len(line) && line[end] != ' ' {
			end++
		}
		f[n] = span{pos, end}
		n++
		pos = end
		if n < 4 {
			continue
		}
		tok := func(i int) string { return line[f[i].start:f[i].end] }
		size, ok := unixSize(tok(n-4), device)
		if !ok {
			continue
		}
		mtime, prec, ok := unixTime(tok(n-3), tok(n-2), tok(n-1), now, loc)
		if !ok {
			continue
		}
		if end == len(line) {
			// Nothing after the date: the name is missing.
			return Entry{}, &BadNameError{}
		}
		e := Entry{
			Type:      typ,
			Size:      size,
			ModTime:   mtime.UTC(),
			Precision: prec,
			Mode:      mode,
			HasMode:   true,
			Name:      line[end+1:],
		}
		if typ == TypeSymlink {
			e.Name, e.Target, _ = strings.Cut(e.Name, " -> ")
		}
		return e, nil
	}
	return Entry{}, ErrUnrecognized
}

// unixSize reads the size column. For a device it is the "major, minor"
// pair (this is its minor, possibly "major,minor" in one field) and the
// size is 0.
func unixSize(s string, device bool) (int64, bool) {
	if device {
		major, minor, _ := strings.Cut(s, ",")
		return 0, allDigits(major) && (minor == "" || allDigits(minor))
	}
	return parseSize(s)
}

var months = [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// unixTime reads ls's date columns: "Nov 24 13:59" (minute precision, year
// inferred) or "Nov 24 2019" (day precision), in loc.
func unixTime(mon, day, tod string, now time.Time, loc *time.Location) (time.Time, Precision, bool) {
	m := 0
	for i, name := range months {
		if strings.EqualFold(mon, name) {
			m = i + 1
		}
	}
	d, ok := smallNumber(day, 2)
	if m == 0 || !ok || d < 1 || d > 31 {
		return time.Time{}, 0, false
	}
	if len(tod) == 4 && allDigits(tod) {
		y, _ := strconv.Atoi(tod)
		t, ok := date(y, m, d, 0, 0, loc)
		return t, PrecisionDay, ok
	}
	hh, mm, ok := clock(tod)
	if !ok || hh > 23 {
		return time.Time{}, 0, false
	}
	t, ok := inferYear(m, d, hh, mm, now, loc)
	return t, PrecisionMinute, ok
}

// inferYear places a year-less date: the latest year in which the date
// exists and lies no more than futureSkew after now. Trying next year
// first handles a server clock a little ahead at New Year; going back more
// than one year handles February 29.
func inferYear(m, d, hh, mm int, now time.Time, loc *time.Location) (time.Time, bool) {
	limit := now.Add(futureSkew)
	y := now.In(loc).Year()
	for year := y + 1; year >= y-8; year-- {
		if t, ok := date(year, m, d, hh, mm, loc); ok && !t.After(limit) {
			return t, true
		}
	}
	return time.Time{}, false
}

// date is time.Date that refuses dates that do not exist (Feb 30)
// instead of normalizing them.
func date(y, m, d, hh, mm int, loc *time.Location) (time.Time, bool) {
	t := time.Date(y, time.Month(m), d, hh, mm, 0, 0, loc)
	return t, t.Year() == y && t.Month() == time.Month(m) && t.Day() == d
}

// clock reads "H:MM" or "HH:MM" (hours unchecked, for the caller's range).
func clock(s string) (hh, mm int, ok bool) {
	h, m, found := strings.Cut(s, ":")
	if !found || len(m) != 2 {
		return 0, 0, false
	}
	hh, ok1 := smallNumber(h, 2)
	mm, ok2 := smallNumber(m, 2)
	return hh, mm, ok1 && ok2 && mm <= 59
}

// smallNumber reads 1 to max decimal digits.
func smallNumber(s string, max int) (int, bool) {
	if len(s) > max || !allDigits(s) {
		return 0, false
	}
	n, _ := strconv.Atoi(s)
	return n, true
}

// parseModeColumn reads "drwxr-sr-t", optionally followed by one of ls's
// markers for an ACL ('+'), extended attributes ('@') or an SELinux
// context ('.'). device is set for character and block devices.
func parseModeColumn(s string) (t Type, m fs.FileMode, device, ok bool) {
	if len(s) == 11 && strings.IndexByte("+@.", s[10]) >= 0 {
		s = s[:10]
	}
	if len(s) != 10 {
		return 0, 0, false, false
	}
	switch s[0] {
	case '-':
		t = TypeFile
	case 'd':
		t = TypeDir
	case 'l':
		t = TypeSymlink
	case 'c', 'b':
		t, device = TypeFile, true
	case 'p', 's', 'D':
		t = TypeFile
	default:
		return 0, 0, false, false
	}
	// Allowed letters by position; a letter in upper case is the special
	// bit without execute ("S", "T"; "l"/"L" is System V mandatory locking,
	// a setgid without group execute).
	for i, allowed := range [9]string{"r", "w", "xsS", "r", "w", "xsSlL", "r", "w", "xtT"} {
		c := s[1+i]
		if c == '-' {
			continue
		}
		if strings.IndexByte(allowed, c) < 0 {
			return 0, 0, false, false
		}
		bit := fs.FileMode(1) << (8 - i)
		switch c {
		case 's', 'S', 'l', 'L':
			if i == 2 {
				m |= fs.ModeSetuid
			} else {
				m |= fs.ModeSetgid
			}
		case 't', 'T':
			m |= fs.ModeSticky
		}
		if c != 'S' && c != 'T' && c != 'l' && c != 'L' {
			m |= bit
		}
	}
	return t, m, device, true
}

// parseDOS parses an IIS line: "11-24-26  01:59PM  <DIR>  name" or
// "02-14-18  10:36AM  689 name". Dates are month first, with two-digit
// years taken as 1970-2069; times are 12-hour with AM/PM or 24-hour. A
// file's name starts one space after its size; a directory's after the
// run of spaces that pads "<DIR>", so a leading space in a directory name
// is lost (IIS pads to a column, not by a fixed count).
func parseDOS(line string, loc *time.Location) (Entry, error) {
	dateTok, pos := field(line, 0)
	timeTok, pos := field(line, pos)
	next, after := field(line, pos)
	if strings.EqualFold(next, "AM") || strings.EqualFold(next, "PM") {
		timeTok += next
		pos = after
		next, after = field(line, pos)
	}
	mo, d, y, ok := dosDate(dateTok)
	if !ok {
		return Entry{}, ErrUnrecognized
	}
	hh, mm, ok := dosClock(timeTok)
	if !ok {
		return Entry{}, ErrUnrecognized
	}
	mtime, ok := date(y, mo, d, hh, mm, loc)
	if !ok {
		return Entry{}, ErrUnrecognized
	}
	e := Entry{ModTime: mtime.UTC(), Precision: PrecisionMinute}
	switch {
	case strings.EqualFold(next, "<DIR>"):
		e.Type = TypeDir
		e.Name = strings.TrimLeft(line[after:], " ")
	default:
		size, ok := dosSize(next)
		if !ok {
			return Entry{}, ErrUnrecognized
		}
		e.Type, e.Size = TypeFile, size
		if after < len(line) {
			e.Name = line[after+1:]
		}
	}
	return e, nil
}

// field returns the space-separated field at or after pos, and the offset
// just past it.
func field(s string, pos int) (string, int) {
	for pos < len(s) && s[pos] == ' ' {
		pos++
	}
	end := pos
	for end < len(s) && s[end] != ' ' {
		end++
	}
	return s[pos:end], end
}

// dosDate reads MM-DD-YY, MM-DD-YYYY, or the same with '/'.
func dosDate(s string) (m, d, y int, ok bool) {
	sep := "-"
	if strings.Contains(s, "/") {
		sep = "/"
	}
	parts := strings.Split(s, sep)
	if len(parts) != 3 || len(parts[0]) != 2 || len(parts[1]) != 2 {
		return 0, 0, 0, false
	}
	m, ok1 := smallNumber(parts[0], 2)
	d, ok2 := smallNumber(parts[1], 2)
	switch len(parts[2]) {
	case 2:
		y, ok = smallNumber(parts[2], 2)
		if y < 70 {
			y += 2000
		} else {
			y += 1900
		}
	case 4:
		y, ok = smallNumber(parts[2], 4)
	}
	return m, d, y, ok && ok1 && ok2
}

// dosClock reads "01:59PM" (12-hour) or "13:59" (24-hour).
func dosClock(s string) (hh, mm int, ok bool) {
	suffix := ""
	if n := len(s); n > 2 {
		switch strings.ToUpper(s[n-2:]) {
		case "AM", "PM":
			suffix, s = strings.ToUpper(s[n-2:]), s[:n-2]
		}
	}
	hh, mm, ok = clock(s)
	if !ok {
		return 0, 0, false
	}
	if suffix == "" {
		return hh, mm, hh <= 23
	}
	if hh < 1 || hh > 12 {
		return 0, 0, false
	}
	hh %= 12
	if suffix == "PM" {
		hh += 12
	}
	return hh, mm, true
}

// dosSize reads a size, also with thousands separators ("1,234,567") as
// some DOS-style servers write it.
func dosSize(s string) (int64, bool) {
	if !strings.Contains(s, ",") {
		return parseSize(s)
	}
	groups := strings.Split(s, ",")
	for i, g := range groups {
		if !allDigits(g) || len(g) > 3 || i > 0 && len(g) != 3 {
			return 0, false
		}
	}
	return parseSize(strings.Join(groups, ""))
}
