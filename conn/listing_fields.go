package conn

// Readers of the small fields every listing format has: blanks, decimal
// numbers, clock times and calendar dates.

import (
	"strconv"
	"strings"
	"time"
)

// blank reports a line of nothing but spaces and tabs.
func blank(line string) bool {
	return strings.Trim(line, " \t") == ""
}

// allDigits reports a non-empty run of ASCII digits.
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

// parseSize reads a non-negative decimal size.
func parseSize(v string) (int64, bool) {
	if !allDigits(v) {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// smallNumber reads 1 to max decimal digits.
func smallNumber(s string, max int) (int, bool) {
	if len(s) > max || !allDigits(s) {
		return 0, false
	}
	n, _ := strconv.Atoi(s)
	return n, true
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

// date is time.Date that refuses dates that do not exist (Feb 30)
// instead of normalizing them.
func date(y, m, d, hh, mm int, loc *time.Location) (time.Time, bool) {
	t := time.Date(y, time.Month(m), d, hh, mm, 0, 0, loc)
	return t, t.Year() == y && t.Month() == time.Month(m) && t.Day() == d
}
