package conn

import (
	"strings"
	"time"
)

// parseTimeVal reads RFC 3659's time-val, YYYYMMDDHHMMSS[.fraction] in
// UTC (section 2.3): MLSD's and MLST's modify fact, and MDTM's reply. It
// keeps up to nanoseconds of the fraction and drops the rest. Anything
// else, a date that does not exist or a '.' without digits, is refused.
func parseTimeVal(v string) (time.Time, bool) {
	main, frac, hasFrac := strings.Cut(v, ".")
	if len(main) != 14 || !allDigits(main) || hasFrac && !allDigits(frac) {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation("20060102150405", main, time.UTC)
	if err != nil {
		return time.Time{}, false
	}
	var ns int
	for i := range 9 {
		ns *= 10
		if i < len(frac) {
			ns += int(frac[i] - '0')
		}
	}
	return t.Add(time.Duration(ns)), true
}
