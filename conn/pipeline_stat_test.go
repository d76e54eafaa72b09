package conn

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"ftpfs/ftpd"
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
			writeFile(t, filepath.Join(s.root, fmt.Sprintf("d%d", i), fmt.Sprintf("f%d", j)), []byte("x"))
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

// TestReadDirsAlone: where listings need a data connection (MLSD), or
// commands go one at a time, ReadDirs lists each alone.
func TestReadDirsAlone(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile ftpd.Profile
		noPipe  bool
		verb    string
	}{{"MLSD", ftpd.ProfileFull, false, "MLSD"}, {"no pipelining", ftpd.ProfileVsftpd, true, "STAT"}} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, func(c *ftpd.Config) { c.Profile = tc.profile })
			writeFile(t, filepath.Join(s.root, "a", "f"), []byte("x"))
			writeFile(t, filepath.Join(s.root, "b", "g"), []byte("x"))
			p := newPool(t, s, func(c *Config) { c.NoPipelining = tc.noPipe })
			if p.ListsTogether(context.Background()) {
				t.Fatal("listings together")
			}
			n := 0
			p.ReadDirs(context.Background(), []string{"/a", "/b"}, func(i int, es []Entry, err error) {
				if err != nil || len(es) != 1 {
					t.Errorf("result %d: %v, %v", i, es, err)
				}
				n++
			})
			if c := s.Counts(); n != 2 || c[tc.verb] != 2 {
				t.Fatalf("%d results, commands %v", n, c)
			}
		})
	}
}
