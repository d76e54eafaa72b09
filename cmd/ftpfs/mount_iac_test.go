package main

import "testing"

func TestParseMountArgsRawIAC(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"h", "/m"}, false},
		{[]string{"--raw-iac", "h", "/m"}, true},
	} {
		c, err := parseMountArgs(tc.args, inputs("/home/u", nil))
		if err != nil {
			t.Fatal(err)
		}
		if c.opts.Conn.RawIAC != tc.want {
			t.Errorf("%q: RawIAC %v, want %v", tc.args, c.opts.Conn.RawIAC, tc.want)
		}
	}
}
