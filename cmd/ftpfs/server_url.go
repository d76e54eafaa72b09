package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// serverURL is a parsed SERVER argument.
type serverURL struct {
	host        string // without brackets
	port        int
	implicitTLS bool   // ftps://
	user        string // "" when not given
	path        string // "" or a clean absolute path
}

// String is the form mount(8) and df show: no user, no password, the port
// only when it is not the default.
func (s serverURL) String() string {
	u := url.URL{Scheme: "ftp", Host: s.host, Path: s.path}
	def := 21
	if s.implicitTLS {
		u.Scheme, def = "ftps", 990
	}
	if s.port != def || strings.Contains(s.host, ":") {
		u.Host = net.JoinHostPort(s.host, strconv.Itoa(s.port))
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String()
}

var errBadServer = errors.New("SERVER must be host, host:port, ftp://[user@]host[:port][/path] or ftps://...")

// parseServer parses SERVER. Its errors never quote the argument, which
// might hold a password that url.Parse could not separate from the host.
func parseServer(s string) (serverURL, error) {
	if ip := net.ParseIP(s); ip != nil && strings.Contains(s, ":") {
		return serverURL{host: s, port: 21}, nil // a bare IPv6 address
	}
	raw := s
	if scheme, _, ok := strings.Cut(s, "://"); !ok {
		raw = "ftp://" + s
	} else if sc := strings.ToLower(scheme); sc != "ftp" && sc != "ftps" {
		if strings.ContainsAny(scheme, ":@/") {
			return serverURL{}, errBadServer
		}
		return serverURL{}, fmt.Errorf("unsupported scheme %q: want ftp:// or ftps://", scheme)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return serverURL{}, errBadServer
	}
	if _, has := u.User.Password(); has {
		return serverURL{}, fmt.Errorf("refusing a password in the URL (ps shows it to every local user): put it in $%s, --password-stdin or ~/.netrc", passwordEnv)
	}
	if u.Opaque != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return serverURL{}, errBadServer
	}
	srv := serverURL{host: u.Hostname(), port: 21, implicitTLS: u.Scheme == "ftps", user: u.User.Username()}
	if srv.host == "" {
		return serverURL{}, errors.New("SERVER has no host")
	}
	if srv.implicitTLS {
		srv.port = 990
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return serverURL{}, errors.New("SERVER: port must be 1 to 65535")
		}
		srv.port = n
	}
	if u.Path != "" && u.Path != "/" {
		srv.path = path.Clean("/" + u.Path)
	}
	return srv, nil
}
