package main

import (
	"strings"
	"testing"
)

// parseCase parses args before a server and a mountpoint, and checks the
// error against wantErr (a part of it; "" for none), which must not name
// the secret "pw-secret". It returns the config when it has no error.
func parseCase(t *testing.T, args []string, in mountInputs, wantErr string) *mountConfig {
	t.Helper()
	c, err := parseMountArgs(append(args, "ftp://ftp.example.org/", "/m"), in)
	switch {
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr) || strings.Contains(err.Error(), "pw-secret")):
		t.Errorf("%q: error %v, want %q", args, err, wantErr)
	case wantErr == "" && err != nil:
		t.Errorf("%q: %v", args, err)
	case err == nil:
		return c
	}
	return nil
}

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
		c := parseCase(t, tc.args, inputs(home, nil), tc.err)
		if c == nil {
			continue
		}
		if cc := c.opts.Conn; cc.Active != tc.active || cc.ActiveAddr != tc.addr {
			t.Errorf("%q: active %v %q, want %v %q", tc.args, cc.Active, cc.ActiveAddr, tc.active, tc.addr)
		}
	}
}

// TestProxyConfig: --proxy, then $ftp_proxy, $FTP_PROXY, $all_proxy,
// $ALL_PROXY; $no_proxy exempts the server from the environment's; no
// password on the command line; no active mode through a proxy; no
// credential in an error or a warning.
func TestProxyConfig(t *testing.T) {
	home := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string // Proxy.String(), "" for none
		err  string
	}{
		{"flag", []string{"--proxy", "socks5://u@p:1080"}, nil, "socks5://p:1080", ""},
		{"flag over env", []string{"--proxy", "http://p:3128"}, map[string]string{"ALL_PROXY": "socks5://q:1"}, "http://p:3128", ""},
		{"-o", []string{"-o", "proxy=http://p:3128"}, nil, "http://p:3128", ""},
		{"ftp_proxy first", nil, map[string]string{"ALL_PROXY": "socks5://a:1", "ftp_proxy": "http://f:2"}, "http://f:2", ""},
		{"FTP_PROXY before all_proxy", nil, map[string]string{"all_proxy": "socks5://a:1", "FTP_PROXY": "http://f:2"}, "http://f:2", ""},
		{"ALL_PROXY", nil, map[string]string{"ALL_PROXY": "socks5://u:pw@a:1"}, "socks5://a:1", ""},
		{"direct", []string{"--proxy", "direct"}, map[string]string{"ALL_PROXY": "socks5://a:1"}, "", ""},
		{"no_proxy domain", nil, map[string]string{"ALL_PROXY": "socks5://a:1", "no_proxy": "localhost, .example.org"}, "", ""},
		{"NO_PROXY star", nil, map[string]string{"ALL_PROXY": "socks5://a:1", "NO_PROXY": "*"}, "", ""},
		{"no_proxy other", nil, map[string]string{"ALL_PROXY": "socks5://a:1", "no_proxy": "example.com,10.0.0.0/8"}, "socks5://a:1", ""},
		{"no_proxy does not bind --proxy", []string{"--proxy", "socks5://a:1"}, map[string]string{"no_proxy": "*"}, "socks5://a:1", ""},
		{"password on argv", []string{"--proxy", "socks5://u:pw-secret@a:1"}, nil, "", "command line"},
		{"bad env", nil, map[string]string{"ALL_PROXY": "https://u:pw-secret@a:1"}, "", "$ALL_PROXY"},
		{"active", []string{"--active"}, map[string]string{"ALL_PROXY": "socks5://u:pw-secret@a:1"}, "", "--active cannot work through a proxy"},
	} {
		c := parseCase(t, tc.args, inputs(home, tc.env), tc.err)
		if c == nil {
			continue
		}
		got := ""
		if p := c.opts.Conn.Proxy; p != nil {
			got = p.String()
		}
		if got != tc.want {
			t.Errorf("%s: proxy %q, want %q", tc.name, got, tc.want)
		}
		for _, w := range c.warnings {
			if strings.Contains(w, "pw") {
				t.Errorf("%s: warning names a credential: %s", tc.name, w)
			}
		}
	}
	// noProxy by itself: IPs, CIDR, ports and dots.
	env := func(v string) func(string) (string, bool) {
		return func(k string) (string, bool) { return v, k == "no_proxy" }
	}
	for _, tc := range []struct {
		list, host string
		want       bool
	}{
		{"192.168.0.0/16", "192.168.4.5", true},
		{"192.168.0.0/16", "10.1.1.1", false},
		{"ftp.example.org:21", "ftp.example.org", true},
		{"example.org", "ftp.example.org", true},
		{"example.org", "badexample.org", false},
		{"::1", "::1", true},
		{"", "x", false},
	} {
		if got := noProxy(env(tc.list), tc.host); got != tc.want {
			t.Errorf("noProxy(%q, %q) = %v", tc.list, tc.host, got)
		}
	}
}
