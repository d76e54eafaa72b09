package main

import (
	"strings"
	"testing"
)

// TestActiveFlag: --active alone, with an address, as -o, and off again.
func TestActiveFlag(t *testing.T) {
	home := t.TempDir()
	for _, tc := range []struct {
		args   []string
		active bool
		addr   string
		err    string
	}{
		{[]string{"--active"}, true, "", ""},
		{[]string{"--active=192.0.2.7"}, true, "192.0.2.7", ""},
		{[]string{"-o", "active"}, true, "", ""},
		{[]string{"-o", "active=2001:db8::1"}, true, "2001:db8::1", ""},
		{[]string{"--active=192.0.2.7", "-o", "active=false"}, false, "", ""},
		{[]string{"--active=ftp.example.org"}, false, "", "want an IP address"},
		{nil, false, "", ""},
	} {
		c, err := parseMountArgs(append(tc.args, "h", "/m"), inputs(home, nil))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if cc := c.opts.Conn; cc.Active != tc.active || cc.ActiveAddr != tc.addr {
			t.Errorf("%q: active %v %q, want %v %q", tc.args, cc.Active, cc.ActiveAddr, tc.active, tc.addr)
		}
	}
}
