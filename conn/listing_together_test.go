package conn

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/link"
	"ftpfs/internal/testutil"
)

// warmConns logs n connections of p in, so that a test counts no login.
func warmConns(t *testing.T, p *Pool, n int) {
	t.Helper()
	cs := make([]*Conn, n)
	var wg sync.WaitGroup
	for k := range cs {
		wg.Go(func() {
			c, err := p.get(context.Background(), Metadata, true)
			if err != nil {
				t.Error(err)
				return
			}
			cs[k] = c
		})
	}
	wg.Wait()
	for _, c := range cs {
		if c != nil {
			p.put(c, Metadata)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// holdConns takes n connections of p, as other work would, until the
// function returned is called.
func holdConns(t *testing.T, p *Pool, n int) func() {
	t.Helper()
	held := make([]*Conn, n)
	for k := range held {
		c, err := p.get(context.Background(), Metadata, true)
		if err != nil {
			t.Fatal(err)
		}
		held[k] = c
	}
	return func() {
		for _, c := range held {
			p.put(c, Metadata)
		}
	}
}

// datedTree writes n directories d00.. of files files each, every file
// with a time of its own to the second, and returns their server paths.
func datedTree(t *testing.T, s *server, n, files int) []string {
	t.Helper()
	base := time.Date(2022, 5, 6, 7, 8, 9, 0, time.UTC)
	var dirs []string
	for i := range n {
		dir := fmt.Sprintf("/d%02d", i)
		for j := range files {
			local := filepath.Join(s.Root, dir, fmt.Sprintf("f%d", j))
			testutil.WriteFile(t, local, []byte("x"))
			at := base.Add(time.Duration(i*files+j) * 61 * time.Second)
			if err := os.Chtimes(local, at, at); err != nil {
				t.Fatal(err)
			}
		}
		dirs = append(dirs, dir)
	}
	return dirs
}

// checkDated checks a listing of datedTree's directory i: every file, its
// exact time.
func checkDated(t *testing.T, i, files int, es []Entry, err error) {
	t.Helper()
	if err != nil || len(es) != files {
		t.Errorf("d%02d: %d entries, %v; want %d", i, len(es), err, files)
		return
	}
	base := time.Date(2022, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, e := range es {
		var j int
		fmt.Sscanf(e.Name, "f%d", &j)
		want := base.Add(time.Duration(i*files+j) * 61 * time.Second)
		if !e.ModTime.Equal(want) || e.Precision != PrecisionSecond {
			t.Errorf("d%02d/%s: %v (precision %v), want %v to the second", i, e.Name, e.ModTime, e.Precision, want)
		}
	}
}

// TestReadDirsTogetherWays: on a server with MLSD, where the MLSTs of a
// batch are the server's work, twelve listings over three connections
// (MaxConns 4 leaves one), a chunk of four each: its STATs, then its
// MLSTs, two round trips, and not one command more than on one
// connection. On a LIST-only server the batch stays one pipeline of
// STATs on one connection: one round trip.
func TestReadDirsTogetherWays(t *testing.T) {
	for _, tc := range []struct {
		profile       ftpd.Profile
		rts, flights  int
		stats, mlst   int
		entriesEach   int
		withExactTime bool
	}{
		{ftpd.ProfileFull, 2, 6, 12, 60, 5, true},
		{ftpd.ProfileVsftpd, 1, 1, 12, 0, 5, false},
	} {
		t.Run(string(tc.profile), func(t *testing.T) {
			s := startServer(t, func(c *ftpd.Config) { c.Profile = tc.profile })
			dirs := datedTree(t, s, 12, tc.entriesEach)
			p, l := linkPool(t, s, link.Options{RTT: 40 * time.Millisecond}, func(c *Config) { c.MaxConns = 4 })
			ctx := context.Background()
			warmConns(t, p, 4)
			if !p.ListsTogether(ctx) {
				t.Fatal("listings not together")
			}
			l.Reset()
			seen := 0
			p.ReadDirs(ctx, dirs, func(i int, es []Entry, err error) {
				if i != seen {
					t.Errorf("result %d after %d: out of order", i, seen)
				}
				seen++
				if tc.withExactTime {
					checkDated(t, i, tc.entriesEach, es, err)
				} else if err != nil || len(es) != tc.entriesEach {
					t.Errorf("%s: %d entries, %v", dirs[i], len(es), err)
				}
			})
			st := l.Stats()
			t.Log(st)
			if seen != 12 || st.Commands["STAT"] != tc.stats || st.Commands["MLST"] != tc.mlst || st.Total() != tc.stats+tc.mlst {
				t.Fatalf("%d results, commands %v; want %d STAT and %d MLST", seen, st.Commands, tc.stats, tc.mlst)
			}
			// Flights: one per connection and round.
			if st.RoundTrips != tc.rts || st.Flights != tc.flights || st.Control != 0 {
				t.Fatalf("%d round trips, %d flights, %d logins; want %d round trips in %d flights, no login", st.RoundTrips, st.Flights, st.Control, tc.rts, tc.flights)
			}
		})
	}
}

// TestReadDirsTogetherChunks: one connection takes chunk after chunk, in
// one stream: 24 listings in chunks of four cost it one round trip a
// chunk and one more, and the server gets the next chunk's STATs before
// the MLSTs of the last, so that it need not wait a round trip for work
// between chunks.
func TestReadDirsTogetherChunks(t *testing.T) {
	var log testutil.Buffer
	s := startServer(t, func(c *ftpd.Config) { c.CommandLog = &log })
	dirs := datedTree(t, s, 24, 3)
	p, l := linkPool(t, s, link.Options{RTT: 20 * time.Millisecond}, func(c *Config) { c.MaxConns = 4 })
	ctx := context.Background()
	warmConns(t, p, 4)
	// All connections but one are busy; the batch is cut for three.
	release := holdConns(t, p, 3)
	l.Reset()
	log.Reset()
	var got []int
	p.ReadDirs(ctx, dirs, func(i int, es []Entry, err error) {
		got = append(got, i)
		checkDated(t, i, 3, es, err)
	})
	release()
	st := l.Stats()
	t.Log(st)
	if len(got) != 24 || st.Commands["STAT"] != 24 || st.Commands["MLST"] != 72 || st.Total() != 96 {
		t.Fatalf("%d results, commands %v; want 24 STAT and 72 MLST", len(got), st.Commands)
	}
	if st.RoundTrips != 7 || st.Control != 0 {
		t.Fatalf("%d round trips, %d logins; want 7: six chunks and one more, no login", st.RoundTrips, st.Control)
	}
	// The STATs of the second chunk before the MLSTs of the first, and so
	// on: after each chunk's STATs, the last chunk's MLSTs.
	want := "STAT 8, MLST 12, STAT 4, MLST 12, STAT 4, MLST 12, STAT 4, MLST 12, STAT 4, MLST 24"
	if got := verbRuns(log.String()); got != want {
		t.Fatalf("the server got %s; want %s", got, want)
	}
}

// verbRuns are the verbs of a command log, "VERB count" for each run of
// one verb, over all sessions.
func verbRuns(log string) string {
	var out []string
	last, n := "", 0
	for line := range strings.Lines(log) {
		f := strings.Fields(line) // time, session, verb, argument
		if len(f) < 3 {
			continue
		}
		if f[2] != last && n > 0 {
			out = append(out, fmt.Sprintf("%s %d", last, n))
			n = 0
		}
		last = f[2]
		n++
	}
	if n > 0 {
		out = append(out, fmt.Sprintf("%s %d", last, n))
	}
	return strings.Join(out, ", ")
}

// TestReadDirsTogetherBroken: a connection that breaks within a batch
// gives back the chunks it did not finish, and its way goes on with
// another connection; what no way can list is listed alone. Every
// listing still comes whole, with exact times.
func TestReadDirsTogetherBroken(t *testing.T) {
	for _, tc := range []struct {
		name       string
		closeAfter int
		alone      bool
	}{
		// A login takes 4 commands (5 with FEAT), a chunk of four
		// directories 4 STATs and 8 MLSTs, sent behind the next
		// chunk's STATs: the connection finishes two chunks before it
		// breaks, the two after are taken again on a new one.
		{"again", 40, false},
		// Each connection breaks before it finishes any chunk.
		{"alone", 12, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, func(c *ftpd.Config) { c.Faults.CloseControlAfter = tc.closeAfter })
			dirs := datedTree(t, s, 16, 2)
			p := newPool(t, s, func(c *Config) { c.MaxConns = 4 })
			// One connection takes all chunks, one after the other.
			warmConns(t, p, 4)
			release := holdConns(t, p, 3)
			n := 0
			p.ReadDirs(context.Background(), dirs, func(i int, es []Entry, err error) {
				n++
				checkDated(t, i, 2, es, err)
			})
			release()
			c := s.Counts()
			if n != 16 || (c["MLSD"] > 0) != tc.alone || c["STAT"] <= 16 {
				t.Fatalf("%d results, commands %v; want 16, some STATs again, listed alone: %v", n, c, tc.alone)
			}
		})
	}
}
