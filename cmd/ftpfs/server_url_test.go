package main

import (
	"strings"
	"testing"
)

func TestParseServer(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   serverURL
		fsName string
	}{
		{"example.org", serverURL{host: "example.org", port: 21}, "ftp://example.org/"},
		{"example.org:2121", serverURL{host: "example.org", port: 2121}, "ftp://example.org:2121/"},
		{"[::1]:2121", serverURL{host: "::1", port: 2121}, "ftp://[::1]:2121/"},
		{"[::1]", serverURL{host: "::1", port: 21}, "ftp://[::1]:21/"},
		{"::1", serverURL{host: "::1", port: 21}, "ftp://[::1]:21/"},
		{"192.0.2.1", serverURL{host: "192.0.2.1", port: 21}, "ftp://192.0.2.1/"},
		{"alice@example.org", serverURL{host: "example.org", port: 21, user: "alice"}, "ftp://example.org/"},
		{"ftp://example.org", serverURL{host: "example.org", port: 21}, "ftp://example.org/"},
		{"ftp://example.org/", serverURL{host: "example.org", port: 21}, "ftp://example.org/"},
		{"FTP://alice@example.org:21/pub/", serverURL{host: "example.org", port: 21, user: "alice", path: "/pub"}, "ftp://example.org/pub"},
		{"ftp://a%40corp@example.org/a/../b%20c", serverURL{host: "example.org", port: 21, user: "a@corp", path: "/b c"}, "ftp://example.org/b%20c"},
		{"ftp://[2001:db8::1]:2121/x", serverURL{host: "2001:db8::1", port: 2121, path: "/x"}, "ftp://[2001:db8::1]:2121/x"},
		{"ftps://example.org", serverURL{host: "example.org", port: 990, implicitTLS: true}, "ftps://example.org/"},
		{"ftps://bob@example.org:2990/", serverURL{host: "example.org", port: 2990, implicitTLS: true, user: "bob"}, "ftps://example.org:2990/"},
	} {
		got, err := parseServer(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.in, got, tc.want)
		}
		if s := got.String(); s != tc.fsName {
			t.Errorf("%q: String() = %q, want %q", tc.in, s, tc.fsName)
		}
	}
}

func TestParseServerErrors(t *testing.T) {
	const secret = "hunter2"
	for _, tc := range []struct {
		in, wantErr string
	}{
		{"ftp://alice:" + secret + "@example.org/", "refusing a password in the URL"},
		{"alice:" + secret + "@example.org", "refusing a password in the URL"},
		{"ftps://alice:" + secret + "@[::1]:990", "refusing a password in the URL"},
		// A "/" in the password leaves url.Parse a bad port: still no echo.
		{"ftp://alice:" + secret + "/x@example.org", "SERVER must be"},
		{"ftp://alice:" + secret + "?@example.org", "SERVER must be"},
		{"sftp://example.org", `unsupported scheme "sftp"`},
		{"ftp://example.org:0", "port must be 1 to 65535"},
		{"ftp://example.org:65536", "port must be 1 to 65535"},
		{"ftp://example.org:ftp", "SERVER must be"},
		{"ftp://example.org/?q", "SERVER must be"},
		{"ftp://example.org/#f", "SERVER must be"},
		{"ftp://", "no host"},
		{"", "no host"},
	} {
		_, err := parseServer(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: err = %v, want one containing %q", tc.in, err, tc.wantErr)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%q: error %q shows the password", tc.in, err)
		}
		if strings.Contains(tc.wantErr, "password") && !strings.Contains(err.Error(), passwordEnv) {
			t.Errorf("%q: error %q does not point to %s", tc.in, err, passwordEnv)
		}
	}
}
