package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"ftpfs/conn"
	"ftpfs/fs"
)

func TestParseMountArgsDefaults(t *testing.T) {
	home := t.TempDir()
	c, err := parseMountArgs([]string{"ftp://example.org/pub", "mnt"}, inputs(home, nil))
	if err != nil {
		t.Fatal(err)
	}
	cwd, _ := os.Getwd()
	want := fs.Options{
		Conn: conn.Config{
			Addr:        "example.org:21",
			Timeout:     30 * time.Second,
			MaxConns:    4,
			IdleTimeout: 60 * time.Second,
			CheckAfter:  10 * time.Second,

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
		"--staging-size", "2G", "--no-atomic-upload", "--verify-reads",
		"--cache-dir", "/var/cache/x",
		"--trust-pasv-ip",
		"--no-pipelining",
		"--active-batches",
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
			IdleTimeout: 60 * time.Second,
			CheckAfter:  10 * time.Second,
			TrustPASVIP: true,

			ActiveBatches:     true,
			NoPipelining:      true,
			MaxListingEntries: 1000,
			MaxListingBytes:   256_000,
		},
		Root:           "/",
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
		VerifyReads:    true,
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
		{[]string{"-o", "ro,nonempty", "h", "/m"}, "-o nonempty: unknown option"},
		{[]string{"-o", "uid=alice", "h", "/m"}, "-o uid=alice: want a number"},
		{[]string{"-o", "gid=-1", "h", "/m"}, "-o gid=-1: want a number"},
		{[]string{"-o", "umask=999", "h", "/m"}, "-o umask=999: want an octal number"},
		{[]string{"-o", "umask=1000", "h", "/m"}, "-o umask=1000: want an octal number"},
		{[]string{"-o", "chmod=fail", "h", "/m"}, "-o chmod=fail: want chmod=ignore"},
		{[]string{"-o", "symlinks=follow", "h", "/m"}, "-o symlinks=follow: want symlinks=safe or symlinks=raw"},
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

// TestFormatSize: the help shows a default as it would be typed, and
// what it shows parses back to the same count.
func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 100: "100", 4096: "4K", 1536 << 10: "1536K", 256 << 20: "256M",
		4 << 30: "4G", 2 << 40: "2T", 1<<30 + 1: "1073741825",
	} {
		got := formatSize(n)
		if got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
		if back, err := parseSize(got); err != nil || back != n {
			t.Errorf("parseSize(%q) = %d, %v; want %d", got, back, err, n)
		}
	}
}

// TestDefaultsAreTheLibrarys: what ftpfs mount uses when no flag is
// given, and what its help says it uses, is fs.DefaultOptions; only what
// the command line and the environment supply differs.
func TestDefaultsAreTheLibrarys(t *testing.T) {
	home := t.TempDir()
	c, err := parseMountArgs([]string{"h", "/m"}, inputs(home, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := fs.DefaultOptions()
	want.Conn.Addr = "h:21"
	want.FsName = "ftp://h/"
	want.UID, want.GID = 1000, 100
	want.CacheDir = fs.DefaultCacheDir(env(nil), home)
	if !reflect.DeepEqual(c.opts, want) {
		t.Errorf("opts =\n%+v\nwant fs.DefaultOptions with the server's\n%+v", c.opts, want)
	}
	if want.Conn.MaxListingBytes != int64(want.Conn.MaxListingEntries)*conn.ListingBytesPerEntry {
		t.Errorf("conn's default listing caps %d lines, %d bytes: not the %d bytes a line that --max-listing-entries gives", want.Conn.MaxListingEntries, want.Conn.MaxListingBytes, conn.ListingBytesPerEntry)
	}

	var help bytes.Buffer
	printHelp(&help, mountHelp)
	d := fs.DefaultOptions()
	for flag, def := range map[string]string{
		"--timeout DUR":           d.Conn.Timeout.String(),
		"--connections N":         strconv.Itoa(d.Conn.MaxConns),
		"--dir-cache-ttl DUR":     d.DirCacheTTL.String(),
		"--cache-size BYTES":      formatSize(d.CacheSize),
		"--staging-size BYTES":    formatSize(d.StagingSize),
		"--max-listing-entries N": strconv.Itoa(d.Conn.MaxListingEntries),
		"-o OPTS":                 fmt.Sprintf("%03o", d.Umask),
	} {
		_, rest, ok := strings.Cut(help.String(), "\n  "+flag+"\n        ")
		text, _, _ := strings.Cut(rest, "\n")
		if !ok || !strings.Contains(text, "(default "+def+")") {
			t.Errorf("help of %s does not show the default %s:\n%s", flag, def, help.String())
		}
	}
}
