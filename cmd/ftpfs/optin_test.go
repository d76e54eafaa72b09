package main

import "testing"

// TestOptInFlags checks the flags that give up a safe default: each is
// off unless given.
func TestOptInFlags(t *testing.T) {
	serve := func(args ...string) (bool, error) {
		o, err := parseServeFlags(append(args, "--anonymous", "srv"), env(nil))
		if err != nil {
			return false, err
		}
		return o.cfg.AllowSpecialModes, nil
	}
	mount := func(args ...string) (bool, error) {
		c, err := parseMountArgs(append(args, "h", "/m"), inputs("/home/u", nil))
		if err != nil {
			return false, err
		}
		return c.opts.Conn.RawIAC, nil
	}
	for _, tc := range []struct {
		flag  string
		parse func(...string) (bool, error)
	}{
		{"--allow-special-modes", serve},
		{"--raw-iac", mount},
	} {
		off, err := tc.parse()
		if err != nil {
			t.Fatal(err)
		}
		on, err := tc.parse(tc.flag)
		if err != nil {
			t.Fatalf("%s: %v", tc.flag, err)
		}
		if off || !on {
			t.Errorf("%s: %v without it, %v with it", tc.flag, off, on)
		}
	}
}
