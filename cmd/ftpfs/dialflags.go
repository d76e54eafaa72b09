package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"

	"ftpfs/conn"
)

// dialFlags defines the flags of how connections are made: active mode,
// the proxy, and the TLS client's certificate and versions.
func (f *mountFlags) dialFlags(fset *flag.FlagSet) {
	cc := &f.opts.Conn
	fset.Var(activeFlag{cc}, "active", "active mode: the server connects to us for data (EPRT, else PORT), for servers and firewalls where passive mode fails; with `ADDR`, that IP address is named to the server instead of ours (a NAT that forwards to us)")
	fset.BoolVar(&cc.ActiveBatches, "active-batches", cc.ActiveBatches, "read the small files fetched ahead (cp -r, tar, rsync) in active mode, their commands pipelined, while other transfers stay passive: a round trip saved per file on servers that answer a download at once (ftpfs serve: 1 instead of 2) or linger on its close (vsftpd: 2 instead of 3), none on proftpd; turns itself off when the server refuses active mode or cannot reach us (a NAT, a firewall), after waiting a second at most once")
	fset.StringVar(&f.proxy, "proxy", "", "connect through the proxy at `URL`, socks5://[USER@]HOST:PORT or http://[USER@]HOST:PORT (HTTP CONNECT), control and data connections alike; default: the first set of $ftp_proxy, $FTP_PROXY, $all_proxy and $ALL_PROXY, unless $no_proxy names the server; direct ignores them")
	fset.StringVar(&f.tlsClient.cert, "tls-client-cert", "", "present the PEM client certificate in `FILE` to a server that asks for one (implies --tls); its key in --tls-client-key, or in FILE too")
	fset.StringVar(&f.tlsClient.key, "tls-client-key", "", "the PEM private key `FILE` of --tls-client-cert, which must be yours alone (mode 0600 or 0400)")
	fset.StringVar(&f.tlsClient.maxVersion, "tls-max-version", "", "use TLS `VERSION` at most, 1.2 or 1.3 (for servers broken on 1.3; implies --tls)")
}

// activeFlag is --active[=ADDR]: alone (or true), active mode announcing
// the control connection's local address; with an IP address, active
// mode announcing that one; false turns it off again (-o active=false).
type activeFlag struct{ cc *conn.Config }

func (a activeFlag) IsBoolFlag() bool { return true }

func (a activeFlag) String() string {
	if a.cc == nil || !a.cc.Active {
		return ""
	}
	if a.cc.ActiveAddr != "" {
		return a.cc.ActiveAddr
	}
	return "true"
}

func (a activeFlag) Set(s string) error {
	if b, err := strconv.ParseBool(s); err == nil {
		a.cc.Active, a.cc.ActiveAddr = b, ""
		return nil
	}
	if net.ParseIP(s) == nil {
		return fmt.Errorf("want an IP address to name to the server, got %q", s)
	}
	a.cc.Active, a.cc.ActiveAddr = true, s
	return nil
}

// proxyVars are the environment variables a proxy is taken from when
// --proxy is not given, first found first: the FTP one before the one
// for every protocol, lower case before upper case, as curl reads them.
var proxyVars = []string{"ftp_proxy", "FTP_PROXY", "all_proxy", "ALL_PROXY"}

// configureProxy sets the proxy from --proxy, else from the environment
// unless $no_proxy (or $NO_PROXY) names the server. "--proxy direct"
// ignores the environment. A password may come from the environment
// only: on the command line every local user would see it (ps).
func configureProxy(c *mountConfig, flagVal string, lookupEnv func(string) (string, bool)) error {
	cc := &c.opts.Conn
	from := "--proxy"
	val := flagVal
	switch {
	case flagVal == "direct":
		return nil
	case flagVal == "":
		for _, v := range proxyVars {
			if s, ok := lookupEnv(v); ok && s != "" {
				from, val = "$"+v, s
				break
			}
		}
		if val == "" || noProxy(lookupEnv, c.server.host) {
			return nil
		}
	}
	p, err := conn.ParseProxy(val)
	if err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	if from == "--proxy" && p.Password != "" {
		return errors.New("--proxy: a password on the command line is shown to every local user (ps): put the URL in $ALL_PROXY or $ftp_proxy instead")
	}
	if cc.Active {
		return fmt.Errorf("--active cannot work through a proxy (%s from %s): the server would have to connect back through it; drop --active, or give --proxy direct", p, from)
	}
	cc.Proxy = p
	if from != "--proxy" {
		c.warnings = append(c.warnings, fmt.Sprintf("connecting through the proxy %s from %s (--proxy direct to connect directly)", p, from))
	}
	return nil
}

// noProxy says whether $no_proxy (else $NO_PROXY) exempts host from the
// environment's proxy: "*", the host itself, a domain it is in (with or
// without a leading dot), or, for an IP address, a CIDR block holding it.
func noProxy(lookupEnv func(string) (string, bool), host string) bool {
	list, ok := lookupEnv("no_proxy")
	if !ok {
		list, _ = lookupEnv("NO_PROXY")
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	ip := net.ParseIP(host)
	for _, e := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		e = strings.ToLower(e)
		if _, block, err := net.ParseCIDR(e); err == nil {
			if ip != nil && block.Contains(ip) {
				return true
			}
			continue
		}
		if h, _, err := net.SplitHostPort(e); err == nil {
			e = h // a port does not narrow it: FTP has one server port
		}
		e = strings.TrimPrefix(strings.Trim(e, "[]"), ".")
		if e == "*" || e == host || strings.HasSuffix(host, "."+e) || ip != nil && ip.Equal(net.ParseIP(e)) {
			return true
		}
	}
	return false
}
