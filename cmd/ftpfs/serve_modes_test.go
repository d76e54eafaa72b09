package main

import "testing"

func TestParseServeFlagsSpecialModes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--anonymous", "srv"}, false},
		{[]string{"--anonymous", "--allow-special-modes", "srv"}, true},
	} {
		o, err := parseServeFlags(tc.args, env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if o.cfg.AllowSpecialModes != tc.want {
			t.Errorf("%q: AllowSpecialModes %v, want %v", tc.args, o.cfg.AllowSpecialModes, tc.want)
		}
	}
}
