package conn

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// timeValCases are modify facts and MDTM replies (the text after "213 "),
// and what they must read as: a time, or "" for a refusal.
var timeValCases = []struct{ in, want string }{
	{"20200102030405", "2020-01-02T03:04:05Z"},
	{"20261124135912.345", "2026-11-24T13:59:12.345Z"},
	{"20180214103628.9", "2018-02-14T10:36:28.9Z"},
	{"20200102030405.000", "2020-01-02T03:04:05Z"},
	{"20200102030405.123456789", "2020-01-02T03:04:05.123456789Z"},
	{"20200102030405.123456789999", "2020-01-02T03:04:05.123456789Z"}, // beyond ns: dropped
	{"20240229235959", "2024-02-29T23:59:59Z"},
	{"19700101000000", "1970-01-01T00:00:00Z"},
	{"99991231235959.999", "9999-12-31T23:59:59.999Z"},
	{"", ""},
	{"2020010203040", ""},   // 13 digits
	{"202001020304050", ""}, // 15 digits, as a Y2K-broken server writes 19100...
	{"2020010203040x", ""},
	{"20200102030405.", ""},
	{"20200102030405.x", ""},
	{"20200102030405.5Z", ""},
	{"20200102030405.1.2", ""},
	{" 20200102030405", ""},
	{"20200102030405 ", ""},
	{"+2020010203040", ""},
	{"20230229120000", ""}, // no February 29 in 2023
	{"20201301000000", ""},
	{"20200100000000", ""},
	{"20200102240000", ""},
	{"20200102036000", ""},
	{"20200102030460", ""},
	{"File modification time set.", ""},
}

func TestParseTimeVal(t *testing.T) {
	for _, tc := range timeValCases {
		got, ok := parseTimeVal(tc.in)
		switch {
		case tc.want == "":
			if ok {
				t.Errorf("%q: read as %v, want a refusal", tc.in, got)
			}
		case !ok:
			t.Errorf("%q: refused, want %s", tc.in, tc.want)
		case !got.Equal(utcTime(tc.want)) || got.Location() != time.UTC:
			t.Errorf("%q: %v, want %s", tc.in, got, tc.want)
		}
	}
}

// FuzzParseTimeVal checks parseTimeVal against the grammar read another
// way: 14 digits that time.Date keeps as given, then optionally '.' and
// digits, of which the first nine are the nanoseconds.
func FuzzParseTimeVal(f *testing.F) {
	for _, tc := range timeValCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got, ok := parseTimeVal(v)
		main, frac, hasFrac := strings.Cut(v, ".")
		want, valid := time.Time{}, len(main) == 14 && allDigits(main) && (!hasFrac || allDigits(frac))
		if valid {
			n := func(i, j int) int { x, _ := strconv.Atoi(main[i:j]); return x }
			y, mo, d, h, mi, s := n(0, 4), n(4, 6), n(6, 8), n(8, 10), n(10, 12), n(12, 14)
			want = time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC)
			valid = want.Year() == y && int(want.Month()) == mo && want.Day() == d &&
				want.Hour() == h && want.Minute() == mi && want.Second() == s
			ns, _ := strconv.Atoi((frac + "000000000")[:9])
			want = want.Add(time.Duration(ns))
		}
		switch {
		case ok != valid:
			t.Fatalf("%q: ok %v, want %v", v, ok, valid)
		case ok && (!got.Equal(want) || got.Location() != time.UTC):
			t.Fatalf("%q: %v, want %v", v, got, want)
		}
	})
}
