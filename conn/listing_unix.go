package conn

// LIST lines, and those in ls -l style: vsftpd, proftpd, pure-ftpd,
// busybox and the many servers that copy them.

import (
	"io/fs"
	"strconv"
	"strings"
	"time"
)

// futureSkew is how far in the future a year-less LIST date may lie and
// still belong to the current year. ls shows the time of day only for
// dates up to six months in the past, so anything later than a little
// clock skew (or a server zone wrongly given as UTC) is last year's date.
const futureSkew = 3 * 24 * time.Hour

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
