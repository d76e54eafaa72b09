package conn

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// TestReadDirsTogether: ten listings on a LIST-only server in one round
// trip, their STATs pipelined on one connection; a directory STAT cannot
// list (a missing one, which it answers with nothing) is then listed
// alone, and fails alone.
func TestReadDirsTogether(t *testing.T) {
	s := startServer(t, func(c *ftpd.Config) { c.Profile = ftpd.ProfileVsftpd })
	var dirs []string
	for i := range 10 {
		for j := range i + 1 {
			testutil.WriteFile(t, filepath.Join(s.Root, fmt.Sprintf("d%d", i), fmt.Sprintf("f%d", j)), []byte("x"))
		}
		dirs = append(dirs, fmt.Sprintf("/d%d", i))
	}
	l := startLink(t, s.Addr().String())
	p := newPool(t, s, func(c *Config) { c.Addr = l.Addr(); c.MaxConns = 1 })
	ctx := context.Background()
	if !p.ListsTogether(ctx) {
		t.Fatal("a LIST-only server with STAT: listings not together")
	}
	l.Reset()
	seen := 0
	p.ReadDirs(ctx, dirs, func(i int, es []Entry, err error) {
		if err != nil || len(es) != i+1 {
			t.Errorf("%s: %d entries, %v; want %d", dirs[i], len(es), err, i+1)
		}
		seen++
	})
	st := l.Stats()
	if seen != 10 || st.RoundTrips != 1 || st.Commands["STAT"] != 10 || st.Total() != 10 {
		t.Fatalf("%d results, %d round trips, commands %v; want 10 STAT in 1 round trip", seen, st.RoundTrips, st.Commands)
	}

	l.Reset()
	p.ReadDirs(ctx, []string{"/d1", "/missing", "/d2"}, func(i int, es []Entry, err error) {
		if (err != nil) != (i == 1) || len(es) != []int{2, 0, 3}[i] {
			t.Errorf("result %d: %d entries, %v", i, len(es), err)
		}
	})
	if st := l.Stats(); st.Commands["STAT"] != 4 || st.Commands["LIST"] != 1 {
		t.Fatalf("commands %v; want 3 STAT together, the missing one's STAT and LIST again", st.Commands)
	}
}

// TestReadDirsAlone: where STAT does not list (a refusal, found by the
// first batch), or commands go one at a time, ReadDirs lists each alone.
func TestReadDirsAlone(t *testing.T) {
	for _, tc := range []struct {
		name        string
		profile     ftpd.Profile
		noPipe      bool
		refuse      string
		verb        string
		stats, each int64
	}{
		{"STAT refused", ftpd.ProfileFull, false, "STAT", "MLSD", 2, 2}, // both in the first batch
		{"no pipelining", ftpd.ProfileVsftpd, true, "", "STAT", 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, func(c *ftpd.Config) {
				c.Profile, c.Faults.RefuseVerb, c.Faults.RefuseCode = tc.profile, tc.refuse, 502
			})
			testutil.WriteFile(t, filepath.Join(s.Root, "a", "f"), []byte("x"))
			testutil.WriteFile(t, filepath.Join(s.Root, "b", "g"), []byte("x"))
			p := newPool(t, s, func(c *Config) { c.NoPipelining = tc.noPipe })
			n := 0
			p.ReadDirs(context.Background(), []string{"/a", "/b"}, func(i int, es []Entry, err error) {
				if err != nil || len(es) != 1 {
					t.Errorf("result %d: %v, %v", i, es, err)
				}
				n++
			})
			if c := s.Counts(); n != 2 || c[tc.verb] != tc.each || c["STAT"] != tc.stats {
				t.Fatalf("%d results, commands %v", n, c)
			}
			if p.ListsTogether(context.Background()) {
				t.Fatal("listings still together")
			}
		})
	}
}

// TestReadDirsTogetherMLSD: on a server with MLSD, ten listings in two
// round trips, STATs then the MLSTs of their entries, each the same as
// the directory's MLSD listing, exact times and facts included, symlinks
// with their targets; a path STAT could take for a pattern is left to
// MLSD.
func TestReadDirsTogetherMLSD(t *testing.T) {
	for _, blind := range []bool{false, true} {
		t.Run(fmt.Sprintf("blind links %v", blind), func(t *testing.T) {
			s := startServer(t, func(c *ftpd.Config) { c.Faults.BlindMLSDLinks = blind })
			var dirs []string
			for i := range 10 {
				dir := fmt.Sprintf("d%d", i)
				linkTree(t, filepath.Join(s.Root, dir))
				testutil.WriteFile(t, filepath.Join(s.Root, dir, fmt.Sprintf("f%d", i)), []byte("xy"))
				dirs = append(dirs, "/"+dir)
			}
			want := map[string][]Entry{}
			ctx := context.Background()
			ref := newPool(t, s)
			for _, dir := range dirs {
				es, err := ref.ReadDir(ctx, dir)
				if err != nil {
					t.Fatal(err)
				}
				want[dir] = es
			}
			l := startLink(t, s.Addr().String())
			p := newPool(t, s, func(c *Config) { c.Addr = l.Addr(); c.MaxConns = 1 })
			if !p.ListsTogether(ctx) {
				t.Fatal("listings not together")
			}
			l.Reset()
			p.ReadDirs(ctx, dirs, func(i int, es []Entry, err error) {
				if err != nil {
					t.Fatal(err)
				}
				if got, w := sameEntries(es), sameEntries(want[dirs[i]]); got != w {
					t.Errorf("%s:\n%s\nwant (MLSD)\n%s", dirs[i], got, w)
				}
			})
			st := l.Stats()
			if st.RoundTrips != 2 || st.Commands["STAT"] != 10 || st.Commands["MLST"] != 50 || st.Total() != 60 {
				t.Fatalf("%d round trips, commands %v; want 2: 10 STAT, then 50 MLST", st.RoundTrips, st.Commands)
			}

			testutil.WriteFile(t, filepath.Join(s.Root, "a b", "f"), []byte("x"))
			l.Reset()
			p.ReadDirs(ctx, []string{"/a b", "/d1"}, func(i int, es []Entry, err error) {
				if err != nil || len(es) != []int{1, 5}[i] {
					t.Errorf("result %d: %v, %v", i, es, err)
				}
			})
			if c := l.Stats().Commands; c["STAT"] != 1 || c["MLSD"] != 1 {
				t.Fatalf("commands %v; want a STAT for /d1, MLSD for /a b", c)
			}
		})
	}
}

// sameEntries shows entries whole, sorted, for comparison: name, type,
// size, time to the second and its precision (a symlink's to the minute),
// mode, target.
func sameEntries(es []Entry) string {
	var out []string
	for _, e := range es {
		size := e.Size
		if e.Type != TypeFile {
			size = 0 // what servers give for the others varies
		}
		mt, prec := e.ModTime, e.Precision
		if e.Type == TypeSymlink {
			// A dangling link MLSD leaves out comes from LIST, to the
			// minute: together, MLST tells its second.
			mt, prec = mt.Truncate(time.Minute), 0
		}
		out = append(out, fmt.Sprintf("%s %d %d %s %d %v %s", e.Name, e.Type, size, mt.Format(time.RFC3339), prec, e.Mode, e.Target))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
