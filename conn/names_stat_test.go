package conn

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"ftpfs/internal/testutil"
)

// TestNames: STAT lists a directory's names in one round trip, with no
// data connection, on a server with MLSD too; where STAT cannot stand for
// the listing (an empty directory looks like a missing one, a path STAT
// takes for a pattern), Names says so, and the caller lists as usual.
func TestNames(t *testing.T) {
	s := startServer(t)
	testutil.WriteFile(t, filepath.Join(s.Root, "d", "a"), []byte("a"))
	testutil.WriteFile(t, filepath.Join(s.Root, "d", "b"), []byte("bb"))
	if err := os.MkdirAll(filepath.Join(s.Root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, l := throughLink(t, s)
	ctx := context.Background()
	if _, err := p.Stat(ctx, "/d"); err != nil {
		t.Fatal(err) // logs in
	}
	l.Reset()
	es, ok, err := p.Names(ctx, "/d")
	if err != nil || !ok {
		t.Fatalf("Names: %v, %v", ok, err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("names %q, want a b", names)
	}
	if st := l.Stats(); st.RoundTrips != 1 || st.Commands["STAT"] != 1 || st.Data != 0 {
		t.Fatalf("Names: %v; want one STAT, one round trip, no data connection", st)
	}
	for _, dir := range []string{"/empty", "/d*"} {
		if _, ok, err := p.Names(ctx, dir); ok || err != nil {
			t.Fatalf("Names(%s): %v, %v; want not ok, no error", dir, ok, err)
		}
	}
}
