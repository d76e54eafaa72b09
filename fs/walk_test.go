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

// walkTree does what ls -lR does: each directory read, then each of its
// names lstat'ed, then its subdirectories in order. It returns the
// times of the files it saw, by path.
func walkTree(t *testing.T, dir string) map[string]time.Time {
	t.Helper()
	times := map[string]time.Time{}
	var walk func(rel string)
	walk = func(rel string) {
		ents, err := os.ReadDir(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		var subs []string
		for _, e := range ents {
			fi, err := os.Lstat(filepath.Join(dir, rel, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if fi.IsDir() {
				subs = append(subs, filepath.Join(rel, e.Name()))
			} else {
				times[filepath.Join(rel, e.Name())] = fi.ModTime()
			}
		}
		for _, s := range subs {
			walk(s)
		}
	}
	walk("")
	return times
}

// TestWalkRoundTrips: ls -lR of a tree of 10 directories of 8 files on a
// LIST-only server, over two connections. Reading the tree lists its
// subdirectories together (one STAT each, pipelined: one round trip); the
// stats of the files of the first two ask their times, and the second,
// showing a walk, asks those of all the others ahead, together.
func TestWalkRoundTrips(t *testing.T) {
	e := newLinkEnv(t, func(root string) {
		for i := range 10 {
			datedDir(filepath.Join(root, "tree", fmt.Sprintf("d%d", i)), 8)
			datedDir(filepath.Join(root, "warm", fmt.Sprintf("d%d", i)), 1)
		}
	}, ftpd.ProfileVsftpd, func(o *Options) { o.Conn.MaxConns = 2 })
	// The same walk elsewhere first logs in every connection, so that
	// no login adds its round trips to the count.
	walkTree(t, filepath.Join(e.mnt, "warm"))
	e.l.Reset()
	got := walkTree(t, filepath.Join(e.mnt, "tree"))
	st := e.l.Stats()
	t.Logf("%d round trips, commands %v", st.RoundTrips, st.Commands)
	if len(got) != 80 {
		t.Fatalf("%d files, want 80", len(got))
	}
	for rel, mt := range got {
		fi, _ := os.Stat(filepath.Join(e.root, "tree", rel))
		if !mt.Equal(fi.ModTime()) {
			t.Errorf("%s: %v, want %v", rel, mt, fi.ModTime())
		}
	}
	// Each listing and each time asked once.
	if st.Commands["STAT"] != 11 || st.Commands["MDTM"] != 80 || st.Total() != 91 {
		t.Fatalf("commands %v, want 11 STAT and 80 MDTM", st.Commands)
	}
	// The tree (1), its subdirectories together (1), the times of the
	// first (1) and of the second (1), while those of the 8 others are
	// asked together; at most one more when the two connections are
	// both busy. One directory after another took 16 to 21.
	if st.RoundTrips > 5 {
		t.Fatalf("%d round trips, want at most 5", st.RoundTrips)
	}
}
