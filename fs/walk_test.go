package fs

// Round trips of listings and exact times through the link emulator
// (internal/link, counting without delay): a test fails when an
// operation needs a round trip more than it does today.

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/link"
)

// linkEnv is ftpd behind a counting link, and a mount of the link.
type linkEnv struct {
	root, mnt string
	srv       *ftpd.Server
	l         *link.Link
}

func newLinkEnv(t *testing.T, fill func(root string), profile ftpd.Profile, mntMods ...func(*Options)) *linkEnv {
	t.Helper()
	fuseOK(t)
	root := t.TempDir()
	fill(root)
	srv, cfg := startFtpd(t, root, func(c *ftpd.Config) { c.Profile = profile })
	l, err := link.Start(cfg.Listen, link.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	_, mnt, _ := mountAt(t, l.Addr(), testUser, testPass, mntMods...)
	return &linkEnv{root: root, mnt: mnt, srv: srv, l: l}
}

// datedDir writes n files in dir, each with a time of its own to the
// second.
func datedDir(dir string, n int) {
	os.MkdirAll(dir, 0o755)
	base := time.Date(2022, 5, 6, 7, 8, 9, 0, time.UTC)
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("f%02d", i))
		os.WriteFile(p, []byte("x"), 0o644)
		t := base.Add(time.Duration(i) * 61 * time.Second)
		os.Chtimes(p, t, t)
	}
}

// lsl does what ls -l does: read the directory, then lstat each name.
func lsl(t *testing.T, dir string) map[string]time.Time {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	times := map[string]time.Time{}
	for _, e := range ents {
		fi, err := os.Lstat(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		times[e.Name()] = fi.ModTime()
	}
	return times
}

// TestDirTimesRoundTrips: the names and exact times of a 40-file
// directory on a LIST-only server, as ls -l asks for them.
func TestDirTimesRoundTrips(t *testing.T) {
	e := newLinkEnv(t, func(root string) { datedDir(filepath.Join(root, "d"), 40) }, ftpd.ProfileVsftpd)
	e.l.Reset()
	got := lsl(t, filepath.Join(e.mnt, "d"))
	st := e.l.Stats()
	t.Logf("%d round trips, commands %v", st.RoundTrips, st.Commands)
	if len(got) != 40 {
		t.Fatalf("%d names, want 40", len(got))
	}
	for name, mt := range got {
		fi, _ := os.Stat(filepath.Join(e.root, "d", name))
		if !mt.Equal(fi.ModTime()) {
			t.Errorf("%s: %v, want %v", name, mt, fi.ModTime())
		}
	}
	// The listing over the control connection (1), then all the MDTMs
	// together (1). EPSV+LIST, then one MDTM after another, took 42.
	if st.RoundTrips != 2 || st.Commands["STAT"] != 1 || st.Commands["MDTM"] != 40 || st.Total() != 41 {
		t.Fatalf("%d round trips, commands %v; want 2: STAT, then 40 MDTM together", st.RoundTrips, st.Commands)
	}
}
