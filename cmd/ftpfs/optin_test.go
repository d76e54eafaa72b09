package main

import (
	"testing"

	"ftpfs/conn"
)

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
	for _, tc := range []struct {
		flag  string
		parse func(...string) (bool, error)
	}{
		{"--allow-special-modes", serve},
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

// TestTelnetIACFlag checks --telnet-iac: auto unless given, each mode by
// name, anything else refused.
func TestTelnetIACFlag(t *testing.T) {
	mode := func(args ...string) (conn.TelnetIAC, error) {
		c, err := parseMountArgs(append(args, "h", "/m"), inputs("/home/u", nil))
		if err != nil {
			return 0, err
		}
		return c.opts.Conn.TelnetIAC, nil
	}
	for _, tc := range []struct {
		args []string
		want conn.TelnetIAC
	}{
		{nil, conn.IACAuto},
		{[]string{"--telnet-iac=auto"}, conn.IACAuto},
		{[]string{"--telnet-iac", "double"}, conn.IACDouble},
		{[]string{"--telnet-iac=raw"}, conn.IACRaw},
	} {
		if got, err := mode(tc.args...); err != nil || got != tc.want {
			t.Errorf("%q: %v, %v; want %v", tc.args, got, err, tc.want)
		}
	}
	if _, err := mode("--telnet-iac=on"); err == nil {
		t.Error("--telnet-iac=on accepted")
	}
}
