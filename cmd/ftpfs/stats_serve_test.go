package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ftpfs "ftpfs/fs"
)

// fixedSource serves fixedReport's figures.
type fixedSource struct{}

func (fixedSource) Stats() ftpfs.Stats { return fixedReport().Stats }

func statsConfig(t *testing.T, metrics string) *mountConfig {
	c := &mountConfig{mountpoint: filepath.Join(t.TempDir(), "mnt"), metrics: metrics}
	c.opts.CacheDir = t.TempDir()
	return c
}

// TestStatsSocketServes: the socket replaces a stale one, is 0600,
// answers fetchStats with the source's figures, and goes with close.
func TestStatsSocketServes(t *testing.T) {
	c := statsConfig(t, "")
	path := statsSocket(c.opts.CacheDir, c.mountpoint)
	if err := os.WriteFile(path, nil, 0o600); err != nil { // a crashed mount's leftover
		t.Fatal(err)
	}
	st, err := listenStats(c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	st.serve(fixedSource{})
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v %v", fi.Mode(), err)
	}
	r, err := fetchStats(context.Background(), c.opts.CacheDir, c.mountpoint)
	if err != nil {
		t.Fatal(err)
	}
	if want := fixedReport(); r.Server != want.Server || r.Conn.Commands["RETR"] != 30 || r.Mountpoint != c.mountpoint || len(r.Conn.Transfers) != 2 {
		t.Errorf("figures: %+v", r)
	}
	// Another spelling of the same mountpoint finds the same socket.
	if got := statsSocket(c.opts.CacheDir, filepath.Join(filepath.Dir(c.mountpoint), ".", "mnt")); got != path {
		t.Errorf("%s and %s for one mountpoint", got, path)
	}
	st.close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket left after close: %v", err)
	}
	_, err = fetchStats(context.Background(), c.opts.CacheDir, c.mountpoint)
	if err == nil || !strings.Contains(err.Error(), "no ftpfs mount at") {
		t.Errorf("fetch after close: %v", err)
	}
}

// TestStatsRefusals: a metrics address in use fails the mount before it
// mounts; a cache dir others can write is not trusted by stats; bad
// arguments exit 2.
func TestStatsRefusals(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := listenStats(statsConfig(t, l.Addr().String()), slog.New(slog.DiscardHandler)); err == nil || !strings.HasPrefix(err.Error(), "--metrics: ") {
		t.Errorf("metrics address in use: %v", err)
	}
	c := statsConfig(t, "")
	c.opts.CacheDir = filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	if _, err := listenStats(c, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "shorter --cache-dir") {
		t.Errorf("socket path too long: %v", err)
	}

	open := t.TempDir()
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := fetchStats(context.Background(), open, "/mnt"); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("world-writable cache dir: %v", err)
	}
	for _, args := range [][]string{nil, {"a", "b"}, {"--interval", "0s", "/m"}, {"--bogus", "/m"}} {
		var out, errb bytes.Buffer
		if rc := stats(context.Background(), args, &out, &errb, hostInputs(), false, 80); rc != 2 || !strings.HasPrefix(errb.String(), "ftpfs stats: ") {
			t.Errorf("stats %q: %d %q", args, rc, errb.String())
		}
	}
}

// TestMetricsFlag: --metrics and -o metrics= name the address; no
// address, no metrics.
func TestMetricsFlag(t *testing.T) {
	in := inputs("/home/u", nil)
	for _, args := range [][]string{{"--metrics", "127.0.0.1:9100", "host", "/mnt"}, {"host", "/mnt", "-o", "ro,metrics=127.0.0.1:9100"}} {
		c, err := parseMountFlags(args, in)
		if err != nil || c.metrics != "127.0.0.1:9100" {
			t.Errorf("%q: metrics %q, %v", args, c.metrics, err)
		}
	}
	if c, err := parseMountFlags([]string{"host", "/mnt"}, in); err != nil || c.metrics != "" {
		t.Errorf("metrics by default: %q, %v", c.metrics, err)
	}
}
