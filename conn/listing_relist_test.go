package conn

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"

	"golang.org/x/sys/unix"
)

// withUnique is sameEntries with each entry's unique fact: a listing
// again must give what MLSD gives, ids included. Not a symlink's: a
// dangling link MLSD leaves out comes from LIST, without one; MLST
// tells it.
func withUnique(es []Entry) string {
	ids := ""
	for _, e := range sortedEntries(es) {
		if e.Type != TypeSymlink {
			ids += e.Name + "=" + e.Unique + " "
		}
	}
	return sameEntries(es) + "\n" + ids
}

func sortedEntries(es []Entry) []Entry {
	out := append([]Entry(nil), es...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// relistEnv is a directory /d of dated files and a subdirectory on ftpd
// with MLSD, and a pool through a link of 20 ms.
func relistEnv(t *testing.T, mods ...func(*ftpd.Config)) (*server, *Pool, func() []Entry, func() (int, map[string]int)) {
	s := startServer(t, mods...)
	datedFiles(t, s, "/d", 10)
	sub := filepath.Join(s.Root, "d", "sub")
	os.Mkdir(sub, 0o755)
	old := time.Date(2021, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(sub, old, old)
	p, l := throughLink(t, s, func(c *Config) { c.MaxConns = 1 })
	ctx := context.Background()
	// MLSD's listing, as ReadDir gives it, not counted.
	mlsd := func() []Entry {
		t.Helper()
		es, err := p.ReadDir(ctx, "/d")
		if err != nil {
			t.Fatal(err)
		}
		resetAtRest(t, p, l) // the data connection opened after it is in
		return es
	}
	stats := func() (int, map[string]int) {
		st := l.Stats()
		return st.RoundTrips, st.Commands
	}
	mlsd()
	return s, p, mlsd, stats
}

// TestReadDirKnown: a directory listed before is listed again with STAT
// alone (1 round trip; EPSV, its connect and MLSD took 3) when nothing
// changed, and with the MLSTs of what changed behind it (2) when
// something did; either way the entries are MLSD's, unique ids included.
func TestReadDirKnown(t *testing.T) {
	s, p, mlsd, stats := relistEnv(t)
	ctx := context.Background()
	known := mlsd()
	got, err := p.ReadDirKnown(ctx, "/d", Known{Entries: known, At: time.Now()})
	rts, c := stats()
	if err != nil || withUnique(got) != withUnique(known) {
		t.Fatalf("listing again: %v\n%s\nwant\n%s", err, withUnique(got), withUnique(known))
	}
	if rts != 1 || c["STAT"] != 1 || len(c) != 1 {
		t.Fatalf("nothing changed: %d round trips, commands %v; want STAT alone, 1", rts, c)
	}

	// Another size, another mode, one more file, one less.
	f3 := filepath.Join(s.Root, "d", "f03")
	st, _ := os.Stat(f3)
	os.WriteFile(f3, []byte("longer"), 0o644)
	os.Chtimes(f3, st.ModTime(), st.ModTime())
	os.Chmod(filepath.Join(s.Root, "d", "f05"), 0o600)
	testutil.WriteFile(t, filepath.Join(s.Root, "d", "new"), []byte("n"))
	os.Remove(filepath.Join(s.Root, "d", "f07"))
	want := mlsd()
	got, err = p.ReadDirKnown(ctx, "/d", Known{Entries: known, At: time.Now()})
	rts, c = stats()
	if err != nil || withUnique(got) != withUnique(want) {
		t.Fatalf("after changes: %v\n%s\nwant\n%s", err, withUnique(got), withUnique(want))
	}
	if rts != 2 || c["STAT"] != 1 || c["MLST"] != 3 || len(c) != 2 {
		t.Fatalf("3 changed: %d round trips, commands %v; want STAT, then 3 MLST together: 2", rts, c)
	}
}

// TestReadDirKnownSameMinute: a file rewritten with the same size in the
// minute of its known time lists the same LIST line; a time known less
// than a minute after that minute ended is asked again, and the listing
// has the new one.
func TestReadDirKnownSameMinute(t *testing.T) {
	s, p, mlsd, stats := relistEnv(t)
	ctx := context.Background()
	// Times of this year, which LIST gives to the minute.
	recent := time.Now().Add(-time.Hour).Truncate(time.Minute).Add(7 * time.Second)
	for i := range 10 {
		t := recent.Add(time.Duration(i) * 61 * time.Second)
		os.Chtimes(filepath.Join(s.Root, "d", fmt.Sprintf("f%02d", i)), t, t)
	}
	known := mlsd()
	// The last file: the others' minutes ended earlier.
	f9 := filepath.Join(s.Root, "d", "f09")
	st, _ := os.Stat(f9)
	at := st.ModTime().Truncate(time.Minute).Add(time.Minute + relistSettle - time.Second)
	later := st.ModTime().Truncate(time.Minute).Add(59 * time.Second)
	os.WriteFile(f9, []byte("y"), 0o644)
	os.Chtimes(f9, later, later)
	want := mlsd()
	got, err := p.ReadDirKnown(ctx, "/d", Known{Entries: known, At: at})
	rts, c := stats()
	if err != nil || withUnique(got) != withUnique(want) {
		t.Fatalf("%v\n%s\nwant\n%s", err, withUnique(got), withUnique(want))
	}
	if rts != 2 || c["MLST"] != 1 {
		t.Fatalf("%d round trips, commands %v; want STAT, then the MLST of f09", rts, c)
	}
}

// TestReadDirKnownCold: a directory never listed, on a link of 20 ms,
// is listed with STAT and the MLSTs of its entries (2 round trips, MLSD
// 3), symlink targets and dangling links as MLSD's listing completed
// by LIST; one with more entries than MLSTs pay for goes to MLSD.
func TestReadDirKnownCold(t *testing.T) {
	for _, blind := range []bool{false, true} {
		t.Run(fmt.Sprintf("blind links %v", blind), func(t *testing.T) {
			s, p, mlsd, stats := relistEnv(t, func(c *ftpd.Config) { c.Faults.BlindMLSDLinks = blind })
			linkTree(t, filepath.Join(s.Root, "d", "links"))
			ctx := context.Background()
			want, err := p.ReadDir(ctx, "/d/links")
			if err != nil {
				t.Fatal(err)
			}
			mlsd()
			got, err := p.ReadDirKnown(ctx, "/d/links", Known{})
			rts, c := stats()
			if err != nil || withUnique(got) != withUnique(want) {
				t.Fatalf("%v\n%s\nwant\n%s", err, withUnique(got), withUnique(want))
			}
			if rts != 2 || c["STAT"] != 1 || c["MLST"] != 4 || len(c) != 2 {
				t.Fatalf("%d round trips, commands %v; want STAT, then 4 MLST: 2", rts, c)
			}
		})
	}
	t.Run("large", func(t *testing.T) {
		s, p, _, stats := relistEnv(t)
		n := p.maxFacts() + 1 // the link's 20 ms: about 400
		for i := range n {
			testutil.WriteFile(t, filepath.Join(s.Root, "big", fmt.Sprintf("f%d", i)), nil)
		}
		es, err := p.ReadDirKnown(context.Background(), "/big", Known{})
		_, c := stats()
		if err != nil || len(es) != n || c["STAT"] != 1 || c["MLSD"] != 1 || c["MLST"] != 0 {
			t.Fatalf("%d entries, %v, commands %v; want %d, a STAT, then MLSD", len(es), err, c, n)
		}
	})
}

// TestReadDirKnownNoStat: a server whose STAT with a path is refused
// lists with MLSD, and after the first refusal sends no STAT again.
func TestReadDirKnownNoStat(t *testing.T) {
	_, p, mlsd, stats := relistEnv(t, func(c *ftpd.Config) { c.Faults.RefuseVerb, c.Faults.RefuseCode = "STAT", 502 })
	ctx := context.Background()
	known := mlsd()
	for i, wantStat := range []int{1, 0} {
		got, err := p.ReadDirKnown(ctx, "/d", Known{Entries: known, At: time.Now()})
		_, c := stats()
		if err != nil || withUnique(got) != withUnique(known) || c["STAT"] != wantStat || c["MLSD"] != 1 {
			t.Fatalf("listing %d: %v, commands %v; want %d STAT, MLSD", i, err, c, wantStat)
		}
		mlsd()
	}
}

// TestReadDirKnownLinks: symlinks listed again keep their known facts
// where their LIST line (target included) did not change, as files do;
// a dangling link an MLSD without targets leaves out was known from LIST
// only, to the minute, and is asked again. Either way the listing is
// MLSD's completed by LIST.
func TestReadDirKnownLinks(t *testing.T) {
	for _, blind := range []bool{false, true} {
		t.Run(fmt.Sprintf("blind links %v", blind), func(t *testing.T) {
			s, p, mlsd, stats := relistEnv(t, func(c *ftpd.Config) { c.Faults.BlindMLSDLinks = blind })
			dir := filepath.Join(s.Root, "d", "links")
			linkTree(t, dir)
			old := time.Date(2022, 3, 4, 5, 6, 7, 0, time.UTC)
			for _, name := range []string{"f", "d", "l", "dead"} {
				ts := []unix.Timespec{unix.NsecToTimespec(old.UnixNano()), unix.NsecToTimespec(old.UnixNano())}
				if err := unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(dir, name), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
					t.Fatal(err)
				}
			}
			ctx := context.Background()
			known, err := p.ReadDir(ctx, "/d/links")
			if err != nil {
				t.Fatal(err)
			}
			mlsd() // resets the count
			got, err := p.ReadDirKnown(ctx, "/d/links", Known{Entries: known, At: time.Now()})
			rts, c := stats()
			if err != nil {
				t.Fatal(err)
			}
			// The dangling link LIST completed, to the day, MLST tells
			// to the second.
			for i, e := range known {
				if e.Name == "dead" && e.Precision != PrecisionSecond {
					known[i].ModTime, known[i].Precision = old, PrecisionSecond
				}
			}
			if withUnique(got) != withUnique(known) {
				t.Fatalf("%s\nwant\n%s", withUnique(got), withUnique(known))
			}
			wantRTs, wantMLST := 1, 0
			if blind {
				wantRTs, wantMLST = 2, 1
			}
			if rts != wantRTs || c["STAT"] != 1 || c["MLST"] != wantMLST {
				t.Fatalf("%d round trips, commands %v; want STAT and %d MLST", rts, c, wantMLST)
			}
		})
	}
}

// TestReadDirKnownFallback: on a server with MLSD, a STAT answer that
// cannot stand for the listing sends it to MLSD; one that shows STAT
// does not list there (a status, a refusal, a failure or nothing, or
// lines no LIST parser reads, where MLSD lists) sends every later
// listing there too, without STAT.
func TestReadDirKnownFallback(t *testing.T) {
	const fact = "type=file;size=5;modify=20240102030405; a file\r\n"
	mlsd := map[string]string{"/full": fact, "/empty": ""}
	for _, tc := range []struct {
		name      string
		reply     string
		dir       string
		statAfter bool // STAT still asked for the next listing
	}{
		{"status instead", "211-Status:\r\n connected\r\n211 End\r\n", "/full", false},
		{"refused", "501 no paths\r\n", "/full", false},
		{"failed, MLSD lists", "450 busy\r\n", "/full", false},
		{"empty, MLSD lists", "213-Status follows:\r\n213 End\r\n", "/full", false},
		{"not a listing", "213-Status follows:\r\n all is well\r\n213 End\r\n", "/full", false},
		{"empty, MLSD agrees", "213-Status follows:\r\n213 End\r\n", "/empty", true},
		{"a line not read", "213-Status follows:\r\n" + statLine1 + "\r\n odd\r\n213 End\r\n", "/full", true},
		{"a 0xFF", "213-Status follows:\r\n" + statLine1 + "\xff\xff\r\n213 End\r\n", "/full", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startStatServer(t, func(w io.Writer, _ string) { io.WriteString(w, tc.reply) }, nil)
			s.mlsd = mlsd
			p := NewPool(Config{Addr: s.ln.Addr().String(), Timeout: 5 * time.Second})
			defer p.Close()
			known := Known{Entries: []Entry{{Name: "a file", Size: 5, Precision: PrecisionSecond}}, At: time.Now()}
			want := 0
			if tc.dir == "/full" {
				want = 1
			}
			for i, stats := range []int{1, 1} {
				if i == 1 && tc.statAfter {
					stats = 2
				}
				es, err := p.ReadDirKnown(context.Background(), tc.dir, known)
				if err != nil || len(es) != want {
					t.Fatalf("listing %d: %d entries, %v; want %d", i, len(es), err, want)
				}
				if s.count("STAT") != stats || s.count("MLSD") != i+1 {
					t.Fatalf("listing %d: STAT %d, MLSD %d; want %d, %d", i, s.count("STAT"), s.count("MLSD"), stats, i+1)
				}
			}
		})
	}
}
