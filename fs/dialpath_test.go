package fs

// The mount's data path where servers and networks differ: active mode,
// client certificates.

import (
	"bytes"
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"ftpfs/conn"
	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
	"ftpfs/internal/testutil/proxytest"
)

// servedBytes is the file activeRoundTrip reads, written into the served
// directory before the mount lists it.
var servedBytes = testutil.RandBytes(31, 700<<10)

func writeServed(t *testing.T, dir string) {
	os.MkdirAll(dir, 0o755)
	testutil.WriteFile(t, filepath.Join(dir, "served.bin"), servedBytes)
}

// activeRoundTrip reads, writes, lists and renames through mnt, a mount
// of disk (in active mode, or through a proxy), and checks the server's
// disk.
func activeRoundTrip(t *testing.T, mnt, disk string) {
	t.Helper()
	if got, err := os.ReadFile(filepath.Join(mnt, "served.bin")); err != nil || !bytes.Equal(got, servedBytes) {
		t.Fatalf("download in active mode: %d bytes, %v", len(got), err)
	}
	data := testutil.RandBytes(32, 1<<20)
	for _, name := range []string{"one.bin", "two.bin"} { // commit, then another upload after it
		if err := os.WriteFile(filepath.Join(mnt, name), data, 0o644); err != nil {
			t.Fatalf("upload in active mode: %v", err)
		}
		if got, _ := os.ReadFile(filepath.Join(disk, name)); !bytes.Equal(got, data) {
			t.Fatalf("%s differs on the server's disk", name)
		}
	}
	if err := os.Rename(filepath.Join(mnt, "two.bin"), filepath.Join(mnt, "one.bin")); err != nil {
		t.Fatal(err)
	}
	es, err := os.ReadDir(mnt)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	if err != nil || len(names) != 2 || names[0] != "one.bin" || names[1] != "served.bin" {
		t.Fatalf("listing in active mode: %v, %v", names, err)
	}
}

// TestActiveMount: a mount in active mode of ftpd refusing EPSV and PASV
// does it all, and asks for no passive port, not even ahead.
func TestActiveMount(t *testing.T) {
	e := newEnv(t, func(root string) { writeServed(t, root) }, nil, func(o *Options) { o.Conn.Active = true })
	e.srv.SetFaults(ftpd.Faults{RefuseVerb: "EPSV,PASV", RefuseCode: 502})
	activeRoundTrip(t, e.mnt, e.root)
	if n := e.srv.Counts(); n["EPSV"] != 0 || n["PASV"] != 0 || n["EPRT"] == 0 {
		t.Fatalf("EPSV %d, PASV %d, EPRT %d: want EPRT only", n["EPSV"], n["PASV"], n["EPRT"])
	}
}

// TestActiveVsftpd: vsftpd with passive mode off, mounted in active mode.
func TestActiveVsftpd(t *testing.T) {
	testutil.NeedFUSE(t)
	testutil.NeedRoot(t, "for vsftpd, which chroots and changes user")
	root := t.TempDir()
	writeServed(t, filepath.Join(root, "up"))
	s := vsftpdWith(t, root, nil, []string{"pasv_enable=NO"}, nil)
	_, mnt, _ := mountAt(t, s.addr, s.user, s.pass, append([]func(*Options){func(o *Options) {
		o.Root, o.Conn.Active = "/"+s.up, true
	}}, s.mods...)...)
	activeRoundTrip(t, mnt, filepath.Join(root, s.up))
}

// TestClientCertRealServers: proftpd with TLSVerifyClient on, and vsftpd
// with require_cert and validate_cert, take a mount that presents a
// client certificate they trust, on TLS 1.2 and 1.3 (the data
// connections too: a write and a read), and refuse a client without one.
func TestClientCertRealServers(t *testing.T) {
	testutil.NeedFUSE(t)
	testutil.NeedRoot(t, "for the real servers, which chroot and change user")
	tc := testutil.NewCert(t, testutil.CertOptions{RSA: true, Shared: true})
	client := testutil.NewCert(t, testutil.CertOptions{Client: true, Shared: true})
	for _, rs := range []realServer{
		{"proftpd", func(t testing.TB, root string, tc *testutil.Cert) served {
			return startProftpdWith(t, root, tc, client.CertFile)
		}},
		{"vsftpd", func(t testing.TB, root string, tc *testutil.Cert) served {
			return vsftpdWith(t, root, tc, []string{"require_cert=YES", "validate_cert=YES", "ca_certs_file=" + client.CertFile}, nil)
		}},
	} {
		t.Run(rs.name, func(t *testing.T) {
			root := t.TempDir()
			s := rs.start(t, root, tc)
			for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				_, mnt, _ := mountAt(t, s.addr, s.user, s.pass, append([]func(*Options){func(o *Options) {
					o.Root = "/" + s.up
					o.Conn.TLS, o.Conn.TLSConfig = s.tlsMode(), tc.ClientTLS()
					o.Conn.TLSConfig.Certificates = []tls.Certificate{client.Pair}
					o.Conn.TLSConfig.MaxVersion = v
				}}, s.mods...)...)
				name := tls.VersionName(v) + ".bin"
				data := testutil.RandBytes(uint64(v), 1<<20)
				if err := os.WriteFile(filepath.Join(mnt, name), data, 0o644); err != nil {
					t.Fatalf("%s: write with a client certificate: %v", tls.VersionName(v), err)
				}
				if got, err := os.ReadFile(filepath.Join(root, s.up, name)); err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s: the upload differs on the server's disk", tls.VersionName(v))
				}
				if got, err := os.ReadFile(filepath.Join(mnt, name)); err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s: read with a client certificate: %v", tls.VersionName(v), err)
				}
			}
			p := conn.NewPool(conn.Config{Addr: s.addr, User: s.user, Password: s.pass, Timeout: 5 * time.Second,
				TLS: s.tlsMode(), TLSConfig: tc.ClientTLS()})
			defer p.Close()
			if _, err := p.ReadDir(context.Background(), "/"); err == nil {
				t.Fatalf("%s took a client without a certificate", rs.name)
			}
		})
	}
}

// TestDialPathRealServers: each real server in active mode (passive
// still offered: the mount must not use it), over plain FTP and FTPS,
// and through a SOCKS5 and an HTTP CONNECT proxy with a password, which
// must relay the control and the data connections.
func TestDialPathRealServers(t *testing.T) {
	testutil.NeedFUSE(t)
	testutil.NeedRoot(t, "for the real servers, which chroot and change user")
	tc := testutil.NewCert(t, testutil.CertOptions{RSA: true, Shared: true})
	ways := []struct {
		name string
		tls  bool
		set  func(t *testing.T, o *Options) func() int // returns the relayed count, or nil
	}{
		{"active", false, func(t *testing.T, o *Options) func() int { o.Conn.Active = true; return nil }},
		{"active tls", true, func(t *testing.T, o *Options) func() int { o.Conn.Active = true; return nil }},
		{"socks5", false, func(t *testing.T, o *Options) func() int {
			px := proxytest.SOCKS5(t, "pu", "pp")
			o.Conn.Proxy = &conn.Proxy{Kind: "socks5", Addr: px.Addr(), User: "pu", Password: "pp"}
			return func() int { return px.Relayed("") }
		}},
		{"connect", false, func(t *testing.T, o *Options) func() int {
			px := proxytest.CONNECT(t, "pu", "pp")
			o.Conn.Proxy = &conn.Proxy{Kind: "http", Addr: px.Addr(), User: "pu", Password: "pp"}
			return func() int { return px.Relayed("") }
		}},
	}
	for _, rs := range realServers {
		for _, w := range ways {
			t.Run(rs.name+"/"+w.name, func(t *testing.T) {
				root := t.TempDir()
				var cert *testutil.Cert
				if w.tls {
					cert = tc
				}
				s := rs.start(t, root, cert)
				// A directory of the test's own, which the server's
				// user may write to.
				disk := filepath.Join(root, s.up, "dp")
				writeServed(t, disk)
				os.Chmod(disk, 0o777)
				var relayed func() int
				_, mnt, _ := mountAt(t, s.addr, s.user, s.pass, append([]func(*Options){func(o *Options) {
					o.Root = "/" + filepath.Join(s.up, "dp")
					relayed = w.set(t, o)
					if w.tls {
						o.Conn.TLS, o.Conn.TLSConfig = s.tlsMode(), tc.ClientTLS()
					}
				}}, s.mods...)...)
				activeRoundTrip(t, mnt, disk)
				// The control connection, a listing, a download, two
				// uploads at least.
				if relayed != nil && relayed() < 5 {
					t.Fatalf("the proxy relayed %d connections", relayed())
				}
			})
		}
	}
}
