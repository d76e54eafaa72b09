package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ftpfs/conn"
	"ftpfs/fs"
)

// Environment of the re-executed test binary that plays the background
// mount: what its fake mount does, and where it reports.
const (
	fakeModeEnv = "FTPFS_TEST_FAKE_MOUNT" // ok, fail, crash, hang
	fakeDirEnv  = "FTPFS_TEST_FAKE_DIR"
)

// TestMain turns the test binary into the background mount when the parent
// (a test calling startDaemon) re-executes it, with a fake in place of
// fs.Mount: the handshake is tested without FUSE.
func TestMain(m *testing.M) {
	if _, ok := os.LookupEnv(daemonEnv); ok {
		dir := os.Getenv(fakeDirEnv)
		mountFS = func(ctx context.Context, mp string, o fs.Options) (mountHandle, error) {
			os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o600)
			switch os.Getenv(fakeModeEnv) {
			case "ok":
				os.WriteFile(filepath.Join(dir, "creds"), []byte(o.Conn.User+"\n"+o.Conn.Password), 0o600)
				return newFakeMount(func() { os.WriteFile(filepath.Join(dir, "unmounted"), nil, 0o600) }), nil
			case "fail":
				return nil, errors.New("530 Login\nincorrect")
			case "hostile": // a reply that would drive a terminal
				return nil, errors.New("530 \x1b]0;owned\a\rLogin\x7f")
			case "crash":
				os.Exit(3)
			case "hang":
				<-ctx.Done()
				return nil, ctx.Err()
			}
			return nil, errors.New("unknown fake mode")
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// fakeMount stands in for fs.Mounted: Wait blocks until Unmount or
// outside() is called.
type fakeMount struct {
	once      sync.Once
	done      chan struct{}
	onUnmount func()
	unmounts  int
	mu        sync.Mutex
}

func newFakeMount(onUnmount func()) *fakeMount {
	return &fakeMount{done: make(chan struct{}), onUnmount: onUnmount}
}

func (f *fakeMount) Wait() { <-f.done }

func (f *fakeMount) Unmount() error {
	f.mu.Lock()
	f.unmounts++
	f.mu.Unlock()
	f.once.Do(func() {
		if f.onUnmount != nil {
			f.onUnmount()
		}
		close(f.done)
	})
	return nil
}

// outside is an unmount by fusermount -u: Wait returns, Unmount was not
// called.
func (f *fakeMount) outside() { f.once.Do(func() { close(f.done) }) }

// inputs returns mountInputs for tests: only vars in the environment, no
// terminal unless prompt is set.
func inputs(home string, vars map[string]string) mountInputs {
	return mountInputs{lookupEnv: env(vars), home: home, uid: 1000, gid: 100}
}

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

func TestParseMountArgsDefaults(t *testing.T) {
	home := t.TempDir()
	c, err := parseMountArgs([]string{"ftp://example.org/pub", "mnt"}, inputs(home, nil))
	if err != nil {
		t.Fatal(err)
	}
	cwd, _ := os.Getwd()
	want := fs.Options{
		Conn: conn.Config{
			Addr:     "example.org:21",
			Timeout:  30 * time.Second,
			MaxConns: 4,

			MaxListingEntries: 1 << 20,
			MaxListingBytes:   256 << 20,
		},
		Root:        "/pub",
		FsName:      "ftp://example.org/pub",
		UID:         1000,
		GID:         100,
		Umask:       0o022,
		DirCacheTTL: 10 * time.Second,
		CacheSize:   256 << 20,
		StagingSize: 4 << 30,
		CacheDir:    filepath.Join(home, ".cache", "ftpfs"),
	}
	if !reflect.DeepEqual(c.opts, want) {
		t.Errorf("opts =\n%+v\nwant\n%+v", c.opts, want)
	}
	if c.mountpoint != filepath.Join(cwd, "mnt") || c.foreground || c.debugFTP || len(c.warnings) != 0 {
		t.Errorf("config = %+v", c)
	}

	// $XDG_CACHE_HOME counts when absolute, as the spec says.
	c, _ = parseMountArgs([]string{"h", "/m"}, inputs(home, map[string]string{"XDG_CACHE_HOME": "/xdg"}))
	if c.opts.CacheDir != "/xdg/ftpfs" {
		t.Errorf("XDG_CACHE_HOME: cache dir %q", c.opts.CacheDir)
	}
	c, _ = parseMountArgs([]string{"h", "/m"}, inputs(home, map[string]string{"XDG_CACHE_HOME": "rel"}))
	if c.opts.CacheDir != filepath.Join(home, ".cache", "ftpfs") {
		t.Errorf("relative XDG_CACHE_HOME: cache dir %q", c.opts.CacheDir)
	}
	if _, err := parseMountArgs([]string{"h", "/m"}, inputs("", nil)); err == nil || !strings.Contains(err.Error(), "--cache-dir") {
		t.Errorf("no home: err = %v, want one asking for --cache-dir", err)
	}
}

func TestParseMountArgsFlags(t *testing.T) {
	c, err := parseMountArgs([]string{
		"--timeout", "5s",
		"--connections", "8",
		"--dir-cache-ttl", "1m",
		"--cache-size", "1G",
		"--staging-size", "2G", "--no-atomic-upload",
		"--cache-dir", "/var/cache/x",
		"--trust-pasv-ip",
		"--max-listing-entries", "1000",
		"--debug-ftp",
		"--debug-fuse",
		"-o", "ro,uid=0",
		"[::1]:2121",
		"-oallow_other", // the FUSE spelling, after SERVER
		"/mnt/site",
		"-f",
		"-o", "gid=7,umask=027,chmod=ignore,symlinks=raw",
	}, inputs("/home/u", nil))
	if err != nil {
		t.Fatal(err)
	}
	want := fs.Options{
		Conn: conn.Config{
			Addr:        "[::1]:2121",
			Timeout:     5 * time.Second,
			MaxConns:    8,
			TrustPASVIP: true,

			MaxListingEntries: 1000,
			MaxListingBytes:   256_000,
		},
		FsName:         "ftp://[::1]:2121/",
		ReadOnly:       true,
		AllowOther:     true,
		UID:            0,
		GID:            7,
		Umask:          0o027,
		DirCacheTTL:    time.Minute,
		CacheSize:      1 << 30,
		StagingSize:    2 << 30,
		NoAtomicUpload: true,
		CacheDir:       "/var/cache/x",
		ChmodIgnore:    true,
		RawSymlinks:    true,
		Debug:          true,
	}
	if !reflect.DeepEqual(c.opts, want) {
		t.Errorf("opts =\n%+v\nwant\n%+v", c.opts, want)
	}
	if !c.foreground || !c.debugFTP || c.mountpoint != "/mnt/site" {
		t.Errorf("config = %+v", c)
	}

	c, err = parseMountArgs([]string{"--foreground", "--", "h", "/m"}, inputs("/home/u", nil))
	if err != nil || !c.foreground {
		t.Errorf("--foreground --: %+v, %v", c, err)
	}
}

func TestParseMountArgsErrors(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{nil, "missing SERVER and MOUNTPOINT"},
		{[]string{"h"}, "missing MOUNTPOINT"},
		{[]string{"h", "/m", "x"}, "want SERVER MOUNTPOINT, got 3"},
		{[]string{"--password", "pw", "h", "/m"}, "passwords are not taken from the command line"},
		{[]string{"h", "/m", "--password=pw"}, "passwords are not taken from the command line"},
		{[]string{"--no-such", "h", "/m"}, "no-such"},
		{[]string{"--timeout", "0s", "h", "/m"}, "--timeout must be positive"},
		{[]string{"--timeout", "5", "h", "/m"}, "timeout"},
		{[]string{"--connections", "0", "h", "/m"}, "--connections"},
		{[]string{"--dir-cache-ttl", "0s", "h", "/m"}, "--dir-cache-ttl must be positive"},
		{[]string{"--cache-size", "0", "h", "/m"}, "--cache-size must be positive"},
		{[]string{"--staging-size", "0", "h", "/m"}, "--staging-size must be positive"},
		{[]string{"--cache-size", "lots", "h", "/m"}, "byte count"},
		{[]string{"--max-listing-entries", "0", "h", "/m"}, "--max-listing-entries must be from 1"},
		{[]string{"--max-listing-entries", "1000000000", "h", "/m"}, "--max-listing-entries must be from 1 to"},
		{[]string{"--user", "bob", "ftp://alice@h", "/m"}, "two different users"},
		{[]string{"-o", "rw", "h", "/m"}, "-o rw: unknown option"},
		{[]string{"-o", "ro,nonempty", "h", "/m"}, "-o nonempty: unknown option"},
		{[]string{"-o", "uid=alice", "h", "/m"}, "-o uid=alice: want a number"},
		{[]string{"-o", "gid=-1", "h", "/m"}, "-o gid=-1: want a number"},
		{[]string{"-o", "umask=999", "h", "/m"}, "-o umask=999: want an octal number"},
		{[]string{"-o", "umask=1000", "h", "/m"}, "-o umask=1000: want an octal number"},
		{[]string{"-o", "chmod=fail", "h", "/m"}, "-o chmod=fail: unknown option"},
		{[]string{"-o", "symlinks=follow", "h", "/m"}, "-o symlinks=follow: unknown option"},
		{[]string{"--tls", "ftps://h", "/m"}, "use one of them"},
		{[]string{"--tls-insecure", "--tls-ca", "x.pem", "h", "/m"}, "use one of them"},
		{[]string{"--tls-ca", "/nonexistent/ca.pem", "h", "/m"}, "--tls-ca"},
	} {
		_, err := parseMountArgs(tc.args, inputs("/home/u", nil))
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: err = %v, want one containing %q", tc.args, err, tc.wantErr)
			continue
		}
		if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "pw") {
			t.Errorf("%q: error %q is not one line without the password", tc.args, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"4096", 4096},
		{"512K", 512 << 10},
		{"512k", 512 << 10},
		{"256M", 256 << 20},
		{"256MiB", 256 << 20},
		{"256MB", 256 << 20},
		{"1G", 1 << 30},
		{"2T", 2 << 40},
		{"100B", 100},
		{"8388607T", 8388607 << 40},
	} {
		got, err := parseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "M", "1.5G", "-1", "1X", "1 G", "1GG", "8388608T", "99999999999999999999"} {
		if n, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, n)
		}
	}
}

// selfSignedPEM returns a PEM certificate for tests of --tls-ca.
func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test CA"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IsCA:         true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestParseMountArgsTLS(t *testing.T) {
	in := inputs("/home/u", nil)
	c, err := parseMountArgs([]string{"h", "/m"}, in)
	if err != nil || c.opts.Conn.TLS != conn.TLSNone || c.opts.Conn.TLSConfig != nil {
		t.Errorf("plain: %+v, %v", c.opts.Conn, err)
	}

	c, err = parseMountArgs([]string{"--tls", "h.example:2121", "/m"}, in)
	if err != nil || c.opts.Conn.TLS != conn.TLSExplicit || c.opts.Conn.TLSConfig.ServerName != "h.example" || c.opts.Conn.TLSConfig.InsecureSkipVerify {
		t.Errorf("--tls: %+v, %v", c.opts.Conn, err)
	}

	c, err = parseMountArgs([]string{"ftps://[::1]", "/m"}, in)
	if err != nil || c.opts.Conn.TLS != conn.TLSImplicit || c.opts.Conn.Addr != "[::1]:990" || c.opts.Conn.TLSConfig.ServerName != "::1" {
		t.Errorf("ftps://: %+v, %v", c.opts.Conn, err)
	}

	c, err = parseMountArgs([]string{"--tls-insecure", "h", "/m"}, in)
	if err != nil || c.opts.Conn.TLS != conn.TLSExplicit || !c.opts.Conn.TLSConfig.InsecureSkipVerify {
		t.Errorf("--tls-insecure: %+v, %v", c.opts.Conn, err)
	}
	if len(c.warnings) != 1 || !strings.Contains(c.warnings[0], "not checked") {
		t.Errorf("--tls-insecure: warnings %q", c.warnings)
	}

	ca := writeFile(t, "ca.pem", string(selfSignedPEM(t)))
	c, err = parseMountArgs([]string{"--tls-ca", ca, "h", "/m"}, in)
	if err != nil || c.opts.Conn.TLS != conn.TLSExplicit || c.opts.Conn.TLSConfig.RootCAs == nil {
		t.Errorf("--tls-ca: %+v, %v", c.opts.Conn, err)
	}
	notPEM := writeFile(t, "ca.pem", "not a certificate")
	if _, err := parseMountArgs([]string{"--tls-ca", notPEM, "h", "/m"}, in); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("--tls-ca garbage: err = %v", err)
	}
}

// TestCredentials checks where the user and the password come from, in
// order: $FTPFS_PASSWORD, --password-stdin, ~/.netrc, the terminal.
func TestCredentials(t *testing.T) {
	const secret = "s3cret pw"
	const netrcData = "machine example.org login alice password netrc-alice\n" +
		"machine example.org login bob password netrc-bob\n" +
		"machine other.org password only-pw\n" +
		"default login anonymous password guest@\n"
	for _, tc := range []struct {
		name     string
		args     []string
		env      map[string]string
		stdin    string
		netrc    string // contents of ~/.netrc; "" for none
		prompt   string // what the terminal answers; "" for no terminal
		user, pw string
		wantErr  string
		warn     string
	}{
		{name: "env", args: []string{"ftp://alice@example.org"}, env: map[string]string{passwordEnv: secret}, netrc: netrcData, user: "alice", pw: secret},
		{name: "env wins over stdin", args: []string{"--password-stdin", "ftp://alice@example.org"}, env: map[string]string{passwordEnv: secret}, stdin: "other\n", user: "alice", pw: secret},
		{name: "stdin", args: []string{"--password-stdin", "--user", "alice", "example.org"}, stdin: secret + "\r\nmore\n", netrc: netrcData, user: "alice", pw: secret},
		{name: "stdin without newline", args: []string{"--password-stdin", "alice@example.org"}, stdin: secret, user: "alice", pw: secret},
		{name: "empty env is unset", args: []string{"alice@example.org"}, env: map[string]string{passwordEnv: ""}, netrc: netrcData, user: "alice", pw: "netrc-alice"},
		{name: "netrc for the named user", args: []string{"bob@example.org"}, netrc: netrcData, prompt: "typed", user: "bob", pw: "netrc-bob"},
		{name: "netrc gives the user", args: []string{"example.org"}, netrc: netrcData, user: "alice", pw: "netrc-alice"},
		{name: "netrc user, env password", args: []string{"example.org"}, env: map[string]string{passwordEnv: secret}, netrc: netrcData, user: "alice", pw: secret},
		{name: "netrc default", args: []string{"elsewhere.org"}, netrc: netrcData, user: "anonymous", pw: "guest@"},
		{name: "netrc entry without login", args: []string{"carol@other.org"}, netrc: netrcData, user: "carol", pw: "only-pw"},
		{name: "prompt when netrc lacks the user", args: []string{"dave@example.org"}, netrc: "machine example.org login alice password x\n", prompt: secret, user: "dave", pw: secret},
		{name: "prompt", args: []string{"alice@example.org"}, prompt: secret, user: "alice", pw: secret},
		{name: "anonymous", args: []string{"example.org"}},
		{name: "anonymous ignores env", args: []string{"example.org"}, env: map[string]string{passwordEnv: secret}, warn: "logging in anonymously"},
		{name: "no terminal", args: []string{"alice@example.org"}, wantErr: `no password for user "alice" and no terminal to ask on: set $FTPFS_PASSWORD, use --password-stdin or add it to ~/.netrc`},
		{name: "stdin without user", args: []string{"--password-stdin", "example.org"}, stdin: secret, wantErr: "--password-stdin: no user"},
		{name: "empty stdin", args: []string{"--password-stdin", "alice@example.org"}, stdin: "\n" + secret, wantErr: "first line of stdin is empty"},
		{name: "netrc readable by others", args: []string{"example.org"}, netrc: "0644:" + netrcData, wantErr: "~/.netrc is readable by group or others (mode 0644): chmod 600 it"},
		{name: "netrc not read when env has the password", args: []string{"alice@example.org"}, env: map[string]string{passwordEnv: secret}, netrc: "0644:" + netrcData, user: "alice", pw: secret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			if tc.netrc != "" {
				mode, data := os.FileMode(0o600), tc.netrc
				if m, rest, ok := strings.Cut(tc.netrc, ":"); ok && len(m) == 4 {
					n, _ := strconv.ParseUint(m, 8, 32)
					mode, data = os.FileMode(n), rest
				}
				p := filepath.Join(home, ".netrc")
				if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
					t.Fatal(err)
				}
				os.Chmod(p, mode)
			}
			in := inputs(home, tc.env)
			in.stdin = strings.NewReader(tc.stdin)
			in.prompt = func(string) (string, error) {
				if tc.prompt == "" {
					return "", errNoTerminal
				}
				return tc.prompt, nil
			}
			c, err := parseMountArgs(append(tc.args, "/m"), in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q is not one line without the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.opts.Conn.User != tc.user || c.opts.Conn.Password != tc.pw {
				t.Errorf("user %q password %q, want %q %q", c.opts.Conn.User, c.opts.Conn.Password, tc.user, tc.pw)
			}
			if got := strings.Join(c.warnings, "|"); (tc.warn == "") != (got == "") || !strings.Contains(got, tc.warn) {
				t.Errorf("warnings %q, want %q", got, tc.warn)
			}
		})
	}
}

func TestPlainTextWarning(t *testing.T) {
	in := inputs("/home/u", map[string]string{passwordEnv: "pw"})
	for _, tc := range []struct {
		args []string
		warn bool
	}{
		{[]string{"alice@example.org"}, true},
		{[]string{"--tls", "alice@example.org"}, false},
		{[]string{"ftps://alice@example.org"}, false},
		{[]string{"alice@127.0.0.1"}, false},
		{[]string{"alice@[::1]"}, false},
		{[]string{"alice@localhost"}, false},
		{[]string{"example.org"}, false}, // anonymous
	} {
		c, err := parseMountArgs(append(tc.args, "/m"), in)
		if err != nil {
			t.Fatal(err)
		}
		if got := plainTextWarning(c) != ""; got != tc.warn {
			t.Errorf("%q: warning %v, want %v", tc.args, got, tc.warn)
		}
	}
}

func TestCheckMountpoint(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, "f", "x")
	for _, tc := range []struct {
		mp, want string
	}{
		{dir, ""},
		{filepath.Join(dir, "nope"), "mountpoint missing: " + filepath.Join(dir, "nope") + " does not exist"},
		{file, "mountpoint " + file + " is not a directory"},
		{"/", "mountpoint busy: something is mounted on / already"},
		{"/proc", "mountpoint busy: something is mounted on /proc already"},
	} {
		err := checkMountpoint(tc.mp)
		if (err == nil) != (tc.want == "") || (err != nil && err.Error() != tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.mp, err, tc.want)
		}
	}
}

func TestInMountinfo(t *testing.T) {
	p := writeFile(t, "mountinfo",
		"22 1 0:21 / /proc rw,nosuid - proc proc rw\n"+
			`90 22 0:50 / /mnt/my\040site rw - fuse.ftpfs ftp://h/ rw`+"\n")
	old := mountinfoPath
	mountinfoPath = p
	defer func() { mountinfoPath = old }()
	for mp, want := range map[string]bool{"/proc": true, "/mnt/my site": true, "/mnt/my": false, "/mnt": false} {
		if got, err := inMountinfo(mp); err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", mp, got, err, want)
		}
	}
}

func TestFuseConfAllowsOther(t *testing.T) {
	if fuseConfAllowsOther("# user_allow_other\n#user_allow_other\n") {
		t.Error("commented-out line counted")
	}
	if !fuseConfAllowsOther("mount_max = 10\n  user_allow_other  \n") {
		t.Error("user_allow_other not found")
	}
}

// TestMountForeground runs "ftpfs mount -f" in-process with a fake mount:
// it mounts with the parsed options, logs, and unmounts on a signal (ctx)
// or exits when unmounted from outside.
func TestMountForeground(t *testing.T) {
	const secret = "fg-s3cret"
	t.Setenv("HOME", t.TempDir())
	t.Setenv(passwordEnv, secret)
	mp := t.TempDir()
	cacheDir := filepath.Join(t.TempDir(), "cache")

	for _, how := range []string{"signal", "outside"} {
		t.Run(how, func(t *testing.T) {
			fake := newFakeMount(nil)
			var got fs.Options
			mounted := make(chan struct{})
			old := mountFS
			mountFS = func(ctx context.Context, p string, o fs.Options) (mountHandle, error) {
				if p != mp {
					t.Errorf("mountpoint %q, want %q", p, mp)
				}
				got = o
				close(mounted)
				return fake, nil
			}
			defer func() { mountFS = old }()

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stderr syncBuffer
			done := make(chan int, 1)
			go func() {
				done <- runMount(ctx, []string{"-f", "--debug-ftp", "--cache-dir", cacheDir, "ftp://alice@127.0.0.1:2121/", mp}, &stderr)
			}()
			select {
			case <-mounted:
			case code := <-done:
				t.Fatalf("exit %d before mounting: %s", code, stderr.String())
			}
			if how == "signal" {
				cancel()
			} else {
				fake.outside()
			}
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("exit %d, want 0; stderr:\n%s", code, stderr.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("still running 10s after the unmount")
			}
			if wantUnmounts := map[string]int{"signal": 1, "outside": 0}[how]; fake.unmounts != wantUnmounts {
				t.Errorf("Unmount called %d times, want %d", fake.unmounts, wantUnmounts)
			}
			if got.Conn.User != "alice" || got.Conn.Password != secret || got.Conn.Trace == nil || got.Logger == nil || got.CacheDir != cacheDir {
				t.Errorf("options: %+v", got)
			}
			if st, err := os.Stat(cacheDir); err != nil || st.Mode().Perm() != 0o700 {
				t.Errorf("cache dir: %v, %v", st, err)
			}
			out := stderr.String()
			if !strings.Contains(out, "msg=mounted") || strings.Contains(out, secret) {
				t.Errorf("stderr lacks the mounted line or shows the password:\n%s", out)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startFakeDaemon sets up the environment of a background child whose
// fake mount behaves as mode, and parses args as the parent does.
func startFakeDaemon(t *testing.T, mode string, args []string, stdin string) (*mountConfig, string) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(fakeModeEnv, mode)
	t.Setenv(fakeDirEnv, dir)
	t.Setenv("HOME", t.TempDir())
	in := hostInputs()
	in.stdin = strings.NewReader(stdin)
	c, err := parseMountArgs(args, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(c.opts.CacheDir, 0o700); err != nil {
		t.Fatal(err)
	}
	return c, dir
}

// TestDaemon re-executes the test binary as the background mount: the
// parent gets "ok", and the child's argv and environment hold no password.
func TestDaemon(t *testing.T) {
	const secret = "daemon-s3cret"
	for _, via := range []string{"env", "stdin"} {
		t.Run(via, func(t *testing.T) {
			args := []string{"--cache-dir", t.TempDir(), "ftp://alice@127.0.0.1:2121/", t.TempDir()}
			stdin := ""
			if via == "env" {
				t.Setenv(passwordEnv, secret)
			} else {
				t.Setenv(passwordEnv, "")
				args = append([]string{"--password-stdin"}, args...)
				stdin = secret + "\n"
			}
			c, dir := startFakeDaemon(t, "ok", args, stdin)
			// A descriptor inherited without close-on-exec, as from a shell.
			var leak [2]int
			if err := syscall.Pipe(leak[:]); err != nil {
				t.Fatal(err)
			}
			defer syscall.Close(leak[0])
			defer syscall.Close(leak[1])
			leakTarget, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", leak[1]))
			p, err := startDaemon(context.Background(), args, c)
			if err != nil {
				t.Fatal(err)
			}
			pid := p.Pid
			stopped := false
			defer func() {
				if !stopped {
					p.Kill()
					p.Wait()
				}
			}()

			if b, _ := os.ReadFile(filepath.Join(dir, "pid")); string(b) != strconv.Itoa(pid) {
				t.Errorf("fake mount ran in pid %q, want %d", b, pid)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "creds")); string(b) != "alice\n"+secret {
				t.Errorf("child got credentials %q", b)
			}
			for _, f := range []string{"cmdline", "environ"} {
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f))
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("/proc/%d/%s holds the password", pid, f)
				}
				if f == "cmdline" && !bytes.Contains(b, []byte("mount\x00")) {
					t.Errorf("cmdline %q", b)
				}
			}
			fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
			for _, fd := range fds {
				if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); target == leakTarget {
					t.Errorf("child inherited descriptor %s (%s)", fd.Name(), target)
				}
			}
			if cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); cwd != "/" {
				t.Errorf("child's cwd %q, want /", cwd)
			}
			// Field 6 of /proc/PID/stat is the session; after the command
			// name in parentheses, it is the fourth.
			stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if _, after, ok := bytes.Cut(stat, []byte(") ")); !ok || strings.Fields(string(after))[3] != strconv.Itoa(pid) {
				t.Errorf("child is not a session leader: %s", stat)
			}

			// SIGTERM is what a shutdown sends: the child unmounts, exits 0.
			p.Signal(syscall.SIGTERM)
			st, err := p.Wait()
			stopped = true
			if err != nil || !st.Success() {
				t.Errorf("child exit: %v, %v", st, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "unmounted")); err != nil {
				t.Error("child exited without unmounting")
			}
			log, _ := os.ReadFile(filepath.Join(c.opts.CacheDir, daemonLog))
			if !bytes.Contains(log, []byte("msg=mounted")) || bytes.Contains(log, []byte(secret)) {
				t.Errorf("daemon log lacks the mounted line or shows the password:\n%s", log)
			}
		})
	}
}

// TestDaemonFailure checks what the user sees when the background mount
// fails: one line, exit 1, no process left.
func TestDaemonFailure(t *testing.T) {
	t.Setenv(passwordEnv, "pw")
	for _, tc := range []struct {
		mode, want string
	}{
		{"fail", "ftpfs mount: 530 Login incorrect\n"},
		{"crash", "ftpfs mount: the mount process ended (exit status 3) before mounting (log: "},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			args := []string{"--cache-dir", t.TempDir(), "ftp://alice@127.0.0.1:2121/", t.TempDir()}
			_, dir := startFakeDaemon(t, tc.mode, args, "")
			var stderr bytes.Buffer
			if code := runMount(context.Background(), args, &stderr); code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if got := stderr.String(); !strings.HasPrefix(got, tc.want) || strings.Count(got, "\n") != 1 {
				t.Errorf("stderr %q, want one line starting %q", got, tc.want)
			}
			b, err := os.ReadFile(filepath.Join(dir, "pid"))
			if err != nil {
				t.Fatal("the fake mount did not run")
			}
			if pid, _ := strconv.Atoi(string(b)); syscall.Kill(pid, 0) == nil {
				t.Errorf("child %d still exists", pid)
			}
		})
	}
}

// TestDaemonInterrupted cancels the parent while the child is mounting: the
// child is stopped and the parent says so.
func TestDaemonInterrupted(t *testing.T) {
	t.Setenv(passwordEnv, "pw")
	args := []string{"--cache-dir", t.TempDir(), "ftp://alice@127.0.0.1:2121/", t.TempDir()}
	c, dir := startFakeDaemon(t, "hang", args, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for i := 0; i < 500; i++ {
			if _, err := os.Stat(filepath.Join(dir, "pid")); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	_, err := startDaemon(ctx, args, c)
	if err == nil || err.Error() != "interrupted" {
		t.Errorf("err = %v, want interrupted", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v; the child should stop at SIGTERM", d)
	}
}

func TestDaemonEnviron(t *testing.T) {
	got := daemonEnviron([]string{"HOME=/h", passwordEnv + "=pw", daemonEnv + "=7", "FTPFS_PASSWORD_X=y"})
	want := []string{"HOME=/h", "FTPFS_PASSWORD_X=y", daemonEnv + "=3"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMountUsage(t *testing.T) {
	var out bytes.Buffer
	if code := runMount(context.Background(), []string{"-h"}, &out); code != 0 {
		t.Errorf("exit %d", code)
	}
	for _, s := range []string{"usage: ftpfs mount [flags] SERVER MOUNTPOINT", "-f, --foreground", "--cache-size BYTES", "-o OPTS", "--timeout DUR", "(default 30s)", passwordEnv} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("usage lacks %q:\n%s", s, out.String())
		}
	}
	out.Reset()
	if code := dispatch(context.Background(), []string{"help"}, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "mount [flags] SERVER MOUNTPOINT") || !strings.Contains(out.String(), "unmount [--lazy] MOUNTPOINT") {
		t.Errorf("help: %d %q", code, out.String())
	}
}

func TestRunMountErrorsAreOneLine(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"ftp://u:topsecret@h", "/m"}, 2, "ftpfs mount: refusing a password in the URL"},
		{[]string{"h", filepath.Join(t.TempDir(), "x")}, 1, "ftpfs mount: mountpoint missing: "},
		{[]string{"h", "/"}, 1, "ftpfs mount: mountpoint busy: "},
	} {
		var out bytes.Buffer
		if code := runMount(context.Background(), tc.args, &out); code != tc.code {
			t.Errorf("%q: exit %d, want %d", tc.args, code, tc.code)
		}
		if got := out.String(); !strings.HasPrefix(got, tc.want) || strings.Count(got, "\n") != 1 || strings.Contains(got, "topsecret") {
			t.Errorf("%q: stderr %q, want one line starting %q", tc.args, got, tc.want)
		}
	}
}

// TestUnmountTools checks the order of the unmount helpers with fakes that
// record their arguments.
func TestUnmountTools(t *testing.T) {
	bin := t.TempDir()
	record := filepath.Join(t.TempDir(), "calls")
	script := func(name, body string) {
		s := "#!/bin/sh\necho \"" + name + " $*\" >> " + record + "\n" + body + "\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script("fake-fusermount3", "echo 'fake-fusermount3: failed to unmount: Device or resource busy' >&2; exit 1")
	script("fake-fusermount", "exit 0")
	t.Setenv("PATH", bin)
	oldTools, oldInfo := unmountTools, mountinfoPath
	defer func() { unmountTools, mountinfoPath = oldTools, oldInfo }()
	mp := t.TempDir()
	mountinfoPath = writeFile(t, "mountinfo", "90 22 0:50 / "+mp+" rw - fuse.ftpfs ftp://h/ rw\n")

	unmountTools = []string{"fake-fusermount3", "missing-tool", "fake-fusermount"}
	if err := unmountPath(mp, true); err != nil {
		t.Fatal(err)
	}
	calls, _ := os.ReadFile(record)
	if want := "fake-fusermount3 -u -z " + mp + "\nfake-fusermount -u -z " + mp + "\n"; string(calls) != want {
		t.Errorf("calls:\n%s\nwant:\n%s", calls, want)
	}

	// Every way fails: the message gives the tool's reason and the hint.
	unmountTools = []string{"fake-fusermount3"}
	err := unmountPath(mp, false)
	if err == nil || err.Error() != mp+" is busy (a file or working directory is in use there): close it, or use --lazy" {
		t.Errorf("err = %v", err)
	}

	script("fake-fusermount3", "echo \"$0: entry for $2 not found in /etc/mtab\" >&2; exit 1")
	if err := unmountPath(mp, false); err == nil || !strings.HasPrefix(err.Error(), mp+": fake-fusermount3: entry for "+mp+" not found in /etc/mtab") {
		t.Errorf("err = %v", err)
	}

	if err := unmountPath("/not/mounted", false); err == nil || err.Error() != "/not/mounted is not mounted" {
		t.Errorf("not mounted: err = %v", err)
	}
}

// TestUnmountRealMount mounts a tmpfs (root only) to check the busy
// mountpoint check and the whole unmount chain on a real mount.
func TestUnmountRealMount(t *testing.T) {
	mp := t.TempDir()
	if err := syscall.Mount("tmpfs", mp, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	defer syscall.Unmount(mp, syscall.MNT_DETACH)
	if err := checkMountpoint(mp); err == nil || !strings.HasPrefix(err.Error(), "mountpoint busy") {
		t.Errorf("checkMountpoint on a tmpfs: %v", err)
	}
	var out bytes.Buffer
	if code := runUnmount(context.Background(), []string{mp}, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	if ok, _ := inMountinfo(mp); ok {
		t.Error("still mounted")
	}
	out.Reset()
	if code := runUnmount(context.Background(), []string{mp}, &out); code != 1 || out.String() != "ftpfs unmount: "+mp+" is not mounted\n" {
		t.Errorf("second unmount: exit %d, %q", code, out.String())
	}
}

func TestRunUnmountUsage(t *testing.T) {
	var out bytes.Buffer
	if code := runUnmount(context.Background(), nil, &out); code != 2 || !strings.Contains(out.String(), "want one MOUNTPOINT") {
		t.Errorf("no args: %d %q", code, out.String())
	}
	out.Reset()
	if code := runUnmount(context.Background(), []string{"-h"}, &out); code != 0 || !strings.Contains(out.String(), "--lazy") {
		t.Errorf("-h: %d %q", code, out.String())
	}
}
