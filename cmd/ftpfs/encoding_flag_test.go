package main

import "testing"

// TestEncodingFlag checks --encoding and -o encoding=: none unless
// given, an alias takes the canonical name, UTF-8 means no conversion,
// and an unknown or stateful encoding is refused.
func TestEncodingFlag(t *testing.T) {
	enc := func(args ...string) (string, error) {
		c, err := parseMountArgs(append(args, "h", "/m"), inputs("/home/u", nil))
		if err != nil {
			return "", err
		}
		return c.opts.Conn.Encoding.String(), nil
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "UTF-8"},
		{[]string{"--encoding", "gbk"}, "GBK"},
		{[]string{"--encoding=cp1251"}, "windows-1251"},
		{[]string{"-o", "encoding=Shift_JIS"}, "Shift_JIS"},
		{[]string{"--encoding", "utf-8"}, "UTF-8"},
	} {
		if got, err := enc(tc.args...); err != nil || got != tc.want {
			t.Errorf("%q: %v, %v; want %v", tc.args, got, err, tc.want)
		}
	}
	for _, bad := range []string{"klingon", "ISO-2022-JP", "UTF-16"} {
		if _, err := enc("--encoding", bad); err == nil {
			t.Errorf("--encoding %s accepted", bad)
		}
	}
}
