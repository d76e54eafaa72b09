package fs

// FTPS against real servers: explicit AUTH TLS with certificate checks,
// data connections that must resume the control connection's TLS session
// (vsftpd's require_ssl_reuse, proftpd's default), TLS 1.2 and 1.3, and
// many data connections through a small pool.

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"ftpfs/conn"
	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// vsftpdTLS is the config that makes vsftpd require TLS of anonymous
// sessions, with session reuse on data connections (its default).
func vsftpdTLS(tc *testutil.Cert) []string {
	if tc == nil {
		return nil
	}
	return []string{"ssl_enable=YES", "allow_anon_ssl=YES", "force_anon_logins_ssl=YES",
		// vsftpd 3.0.3 has one switch for every TLS 1.x version.
		"force_anon_data_ssl=YES", "require_ssl_reuse=YES",
		"ssl_sslv2=NO", "ssl_sslv3=NO", "ssl_tlsv1=YES",
		"rsa_cert_file=" + tc.CertFile, "rsa_private_key_file=" + tc.KeyFile, ""}
}

// proftpdTLS is the config that makes proftpd require TLS, with mod_tls
// from the unpacked package; dir is for its log. With clientCA, a PEM
// file, it demands a client certificate signed by it.
func proftpdTLS(tc *testutil.Cert, dir, clientCA string) []string {
	if tc == nil {
		return nil
	}
	verify := []string{"TLSVerifyClient off"}
	if clientCA != "" {
		verify = []string{"TLSVerifyClient on", "TLSCACertificateFile " + clientCA}
	}
	// ModulePath is in startProftpdWith's config.
	return append([]string{"LoadModule mod_tls.c", "TLSEngine on", "TLSRequired on",
		"TLSProtocol TLSv1.2 TLSv1.3",
		"TLSRSACertificateFile " + tc.CertFile, "TLSRSACertificateKeyFile " + tc.KeyFile,
		"TLSLog " + filepath.Join(dir, "tls.log")}, append(verify, "")...)
}

func TestRealServersTLS(t *testing.T) {
	testutil.NeedRoot(t, "for the real servers, which chroot and change user")
	// RSA for proftpd's TLSRSACertificateFile, and readable by pure-ftpd
	// after it dropped its privileges.
	tc := testutil.NewCert(t, testutil.CertOptions{RSA: true, Shared: true})
	servers := append([]realServer{{"ftpd", startFtpdTLS}, {"ftpd implicit", startFtpdImplicitTLS}}, realServers...)
	for _, rs := range servers {
		t.Run(rs.name, func(t *testing.T) {
			root := t.TempDir()
			s := rs.start(t, root, tc)
			for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				t.Run(tls.VersionName(v), func(t *testing.T) { tlsStress(t, s, tc, v, filepath.Join(root, s.up)) })
			}
			// The mount, with the certificate checked against its CA.
			_, mnt, _ := mountAt(t, s.addr, s.user, s.pass, append([]func(*Options){func(o *Options) {
				o.Root, o.CacheDir = "/"+s.up, t.TempDir()
				o.Conn.TLS, o.Conn.TLSConfig = s.tlsMode(), tc.ClientTLS()
			}}, s.mods...)...)
			data := testutil.RandBytes(21, 3<<20)
			if err := os.WriteFile(filepath.Join(mnt, "over-tls.bin"), data, 0o644); err != nil {
				t.Fatalf("write over TLS: %v", err)
			}
			if got, err := os.ReadFile(filepath.Join(mnt, "over-tls.bin")); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read over TLS: %v", err)
			}
			// A client that does not trust the certificate gets nowhere.
			p := conn.NewPool(conn.Config{Addr: s.addr, User: s.user, Password: s.pass, Timeout: 5 * time.Second, TLS: s.tlsMode()})
			defer p.Close()
			if _, err := p.Times(context.Background()); err == nil {
				t.Fatal("a certificate nobody vouches for was accepted")
			}
		})
	}
}

// tlsStress runs 500 data connections one after another, then 100 at
// once, through a pool of 4 connections limited to one TLS version:
// listings, downloads, uploads and empty uploads. None may fail.
func tlsStress(t *testing.T, s served, tc *testutil.Cert, version uint16, disk string) {
	p := conn.NewPool(conn.Config{
		Addr: s.addr, User: s.user, Password: s.pass, Timeout: 10 * time.Second, MaxConns: 4,
		TLS:       s.tlsMode(),
		TLSConfig: &tls.Config{RootCAs: tc.Roots, MinVersion: version, MaxVersion: version},
	})
	defer p.Close()
	ctx := context.Background()
	dir := "/" + s.up
	if s.up == "" {
		dir = ""
	}
	// A large upload first: with TLS 1.3, closing its data connection
	// with the server's session tickets unread made vsftpd lose its end.
	big := testutil.RandBytes(23, 3<<20)
	if err := upload(ctx, p, dir+"/big.bin", big); err != nil {
		t.Fatalf("3 MiB upload: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(disk, "big.bin")); !bytes.Equal(got, big) {
		t.Fatal("a 3 MiB upload over TLS differs on the server's disk")
	}
	src := testutil.RandBytes(22, 100_000)
	if err := upload(ctx, p, dir+"/src.bin", src); err != nil {
		t.Fatalf("first upload: %v", err)
	}
	op := func(i int) error {
		switch i % 4 {
		case 0:
			_, err := p.ReadDir(ctx, dir+"/")
			return err
		case 1:
			b := make([]byte, len(src))
			n, err := p.ReadAt(ctx, dir+"/src.bin", b, 0, int64(len(src)))
			if err == nil && (n != len(src) || !bytes.Equal(b, src)) {
				err = fmt.Errorf("downloaded %d bytes, not the uploaded ones", n)
			}
			return err
		case 2:
			return upload(ctx, p, fmt.Sprintf("%s/put-%d.bin", dir, i), src[:1000+i])
		default:
			return upload(ctx, p, fmt.Sprintf("%s/empty-%d", dir, i), nil)
		}
	}
	var failures []error
	for i := range 500 {
		if err := op(i); err != nil {
			failures = append(failures, fmt.Errorf("sequential %d: %w", i, err))
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := op(1000 + i); err != nil {
				mu.Lock()
				failures = append(failures, fmt.Errorf("parallel %d: %w", i, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of 600 data connections failed; first: %v", len(failures), failures[0])
	}
	if got, _ := os.ReadFile(filepath.Join(disk, "put-1002.bin")); !bytes.Equal(got, src[:2002]) {
		t.Fatal("an upload over TLS differs on the server's disk")
	}
}

// upload stores data at path through conn as the mount does: STOR, then
// Commit, which reads the final reply and checks SIZE where the server
// has it.
func upload(ctx context.Context, p *conn.Pool, path string, data []byte) error {
	u, err := p.StartUpload(ctx, path)
	if err != nil {
		return err
	}
	if err := u.SendFrom(ctx, bytes.NewReader(data), int64(len(data))); err != nil {
		return err
	}
	_, err = u.Commit(ctx, conn.Placement{Size: int64(len(data))})
	return err
}

// startFtpdTLS serves root with ftpd, TLS required.
func startFtpdTLS(t testing.TB, root string, tc *testutil.Cert) served {
	_, cfg := startFtpd(t, root, func(c *ftpd.Config) {
		c.TLS = tc.ServerTLS()
	})
	return served{addr: cfg.Listen, user: testUser, pass: testPass}
}

// startFtpdImplicitTLS serves root with ftpd, with TLS from the first
// byte (ftps://).
func startFtpdImplicitTLS(t testing.TB, root string, tc *testutil.Cert) served {
	srv, _ := startFtpd(t, root, func(c *ftpd.Config) {
		c.TLS = tc.ServerTLS()
		c.ImplicitTLSListen = "127.0.0.1:0"
	})
	return served{addr: srv.ImplicitTLSAddr().String(), user: testUser, pass: testPass, implicitTLS: true}
}

func (s served) tlsMode() conn.TLSMode {
	if s.implicitTLS {
		return conn.TLSImplicit
	}
	return conn.TLSExplicit
}
