package conn

// LIST lines in DOS style, as IIS writes them.

import (
	"strings"
	"time"
)

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
