package main

import (
	"strings"
	"testing"
	"time"
)

// TestServerTimezoneFlags: mount's --server-timezone (and -o
// server_timezone=) and serve's --timezone take a zone name or an
// offset, and refuse what ParseZone refuses, naming the flag.
func TestServerTimezoneFlags(t *testing.T) {
	july := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	offset := func(loc *time.Location) int {
		if loc == nil {
			return -1
		}
		_, secs := july.In(loc).Zone()
		return secs
	}
	for _, tc := range []struct {
		args []string
		secs int
	}{
		{[]string{"--server-timezone", "Asia/Tokyo", "h", "/m"}, 9 * 3600},
		{[]string{"-o", "server_timezone=+05:30", "h", "/m"}, 5*3600 + 1800},
		{[]string{"h", "/m", "--server-timezone=America/New_York"}, -4 * 3600},
		{[]string{"h", "/m"}, -1}, // none: UTC until an upload tells
	} {
		c, err := parseMountArgs(tc.args, inputs("/home/u", nil))
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if got := offset(c.opts.Conn.ServerZone); got != tc.secs {
			t.Errorf("%q: offset %d s, want %d", tc.args, got, tc.secs)
		}
	}
	for _, bad := range []string{"UTC+9", "+25:00", "Nowhere/Town"} {
		_, err := parseMountArgs([]string{"--server-timezone", bad, "h", "/m"}, inputs("/home/u", nil))
		if err == nil || !strings.Contains(err.Error(), "server-timezone") {
			t.Errorf("--server-timezone %s: %v, want an error naming the flag", bad, err)
		}
	}

	o, err := parseServeFlags([]string{"--anonymous", "--timezone", "Asia/Tokyo", "srv"}, env(nil))
	if err != nil || offset(o.cfg.Zone) != 9*3600 {
		t.Fatalf("serve --timezone Asia/Tokyo: %v, %v", o, err)
	}
	if _, err := parseServeFlags([]string{"--anonymous", "--timezone", "JST-9", "srv"}, env(nil)); err == nil || !strings.Contains(err.Error(), "timezone") {
		t.Errorf("serve --timezone JST-9: %v, want an error", err)
	}
}
