package conn

// Server quirks that conn hides from the filesystem, each against ftpd
// with the fault or dialect that shows it: listings completed where MLSD
// hides symlinks, renames over a file the server will not replace, and
// what a server without MLST or MLSD can tell.

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// logTo sends the pool's log to b. The quirks log from the caller's
// goroutine only, so a plain buffer does.
func logTo(b *bytes.Buffer) func(*Config) {
	return func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(b, nil)) }
}

// linkTree is a file, a directory, a link to the file and a dangling link.
func linkTree(t *testing.T, root string) {
	testutil.WriteFile(t, filepath.Join(root, "f"), []byte("hello"))
	if err := os.Mkdir(filepath.Join(root, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for target, link := range map[string]string{"f": "l", "nowhere": "dead"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
}

// shown is a listing as "name type size target" lines, sorted.
func shown(es []Entry) string {
	var out []string
	for _, e := range es {
		size := e.Size
		if e.Type != TypeFile {
			size = 0 // what servers give for the others varies
		}
		out = append(out, strings.Join([]string{e.Name, []string{"file", "dir", "link"}[e.Type], strconv.FormatInt(size, 10), e.Target}, " "))
	}
	sort.Strings(out)
	return strings.Join(out, "|")
}

// TestReadDir: a directory's entries, whole, in each dialect: MLSD where
// the server has it, STAT's LIST lines otherwise (LIST where STAT does not
// list), and MLSD completed by one LIST where it hides the targets of
// symlinks and leaves dangling ones out (proftpd, pure-ftpd); only then
// does the LIST cost its command.
func TestReadDir(t *testing.T) {
	const want = "d dir 0 |dead link 0 nowhere|f file 5 |l link 0 f"
	for _, tc := range []struct {
		name             string
		profile          ftpd.Profile
		blind            bool
		refuseStat       int
		mlsd, list, stat int64
	}{
		{"MLSD", ftpd.ProfileFull, false, 0, 1, 0, 0},
		{"MLSD without link targets", ftpd.ProfileFull, true, 0, 1, 1, 0},
		{"LIST only", ftpd.ProfileVsftpd, false, 0, 0, 0, 1},
		{"LIST only, STAT refused", ftpd.ProfileVsftpd, false, 502, 0, 1, 1},
		{"LIST only, STAT fails", ftpd.ProfileVsftpd, false, 550, 0, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, func(c *ftpd.Config) {
				c.Profile = tc.profile
				c.Faults.BlindMLSDLinks = tc.blind
				if tc.refuseStat != 0 {
					c.Faults.RefuseVerb, c.Faults.RefuseCode = "STAT", tc.refuseStat
				}
			})
			linkTree(t, s.Root)
			p := newPool(t, s)
			es, err := p.ReadDir(context.Background(), "/")
			if err != nil {
				t.Fatal(err)
			}
			if got := shown(es); got != want {
				t.Fatalf("entries\n%s\nwant\n%s", got, want)
			}
			if c := s.Counts(); c["MLSD"] != tc.mlsd || c["LIST"] != tc.list || c["STAT"] != tc.stat {
				t.Fatalf("MLSD %d, LIST %d, STAT %d; want %d, %d, %d", c["MLSD"], c["LIST"], c["STAT"], tc.mlsd, tc.list, tc.stat)
			}
			// Once STAT proved it does not list, LIST alone.
			if _, err := p.ReadDir(context.Background(), "/"); err != nil {
				t.Fatal(err)
			}
			if c := s.Counts(); tc.refuseStat != 0 && c["STAT"] != 1 {
				t.Fatalf("STAT asked again after it failed: %v", c)
			}
		})
	}
}

// TestReadDirLinksUnknown: when the LIST that would complete the links
// fails, the listing is still the directory's, its links without
// targets, and the log says why.
func TestReadDirLinksUnknown(t *testing.T) {
	s := startServer(t, func(c *ftpd.Config) {
		c.Faults = ftpd.Faults{BlindMLSDLinks: true, RefuseVerb: "LIST", RefuseCode: 550}
	})
	linkTree(t, s.Root)
	var log bytes.Buffer
	p := newPool(t, s, logTo(&log))
	es, err := p.ReadDir(context.Background(), "/")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := shown(es), "d dir 0 |f file 5 |l link 0 "; got != want {
		t.Fatalf("entries %q, want %q", got, want)
	}
	if !strings.Contains(log.String(), "symlink targets unknown") {
		t.Fatalf("log: %q", log.String())
	}
}

// TestRenameOver: rename(2) semantics whatever the server: one that
// refuses an RNTO onto an existing file gets a DELE of it and the rename
// again; one that replaces files costs the rename alone.
func TestRenameOver(t *testing.T) {
	s := startServer(t, func(c *ftpd.Config) { c.Faults.NoOverwrite = true })
	p := newPool(t, s)
	ctx := context.Background()
	testutil.WriteFile(t, filepath.Join(s.Root, "new"), []byte("new"))
	testutil.WriteFile(t, filepath.Join(s.Root, "old"), []byte("old"))
	if err := p.rename(ctx, "/new", "/old"); !errors.Is(err, ClassExists) {
		t.Fatalf("plain rename on the refusing server: %v, want the refusal", err)
	}
	s.ResetCounts()
	removed, err := p.RenameOver(ctx, "/new", "/old", true)
	if err != nil || !removed {
		t.Fatalf("RenameOver: removed %v, %v", removed, err)
	}
	if got, _ := os.ReadFile(filepath.Join(s.Root, "old")); string(got) != "new" {
		t.Fatalf("target holds %q", got)
	}
	if c := s.Counts(); c["RNFR"] != 2 || c["RNTO"] != 2 || c["DELE"] != 1 {
		t.Fatalf("commands %v, want RNFR, RNTO, DELE, RNFR, RNTO", c)
	}

	s.SetFaults(ftpd.Faults{})
	testutil.WriteFile(t, filepath.Join(s.Root, "newer"), []byte("newer"))
	s.ResetCounts()
	if removed, err := p.RenameOver(ctx, "/newer", "/old", true); err != nil || removed {
		t.Fatalf("RenameOver on a server that replaces: removed %v, %v", removed, err)
	}
	if c := s.Counts(); c["RNFR"] != 1 || c["RNTO"] != 1 || c["DELE"] != 0 {
		t.Fatalf("commands %v, want one RNFR and RNTO", c)
	}

	// A directory replaces an empty one only.
	testutil.WriteFile(t, filepath.Join(s.Root, "a", "x"), []byte("x"))
	testutil.WriteFile(t, filepath.Join(s.Root, "full", "y"), []byte("y"))
	if _, err := p.RenameOver(ctx, "/a", "/full", false); !errors.Is(err, ClassNotEmpty) {
		t.Fatalf("a directory over a full one: %v, want not empty", err)
	}
	if err := os.Mkdir(filepath.Join(s.Root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := p.RenameOver(ctx, "/a", "/empty", false); err != nil {
		t.Fatalf("a directory over an empty one: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(s.Root, "empty", "x")); string(got) != "x" {
		t.Fatal("the directory did not move")
	}
}

// TestRenameOverLostAfterDelete: when the rename after the DELE fails,
// the caller learns that the target is gone and the source is the only
// copy, still under its name.
func TestRenameOverLostAfterDelete(t *testing.T) {
	s := startServer(t, func(c *ftpd.Config) { c.Faults.NoOverwrite = true })
	p := newPool(t, s, func(c *Config) { c.MaxConns = 1 })
	ctx := context.Background()
	testutil.WriteFile(t, filepath.Join(s.Root, "new"), []byte("new"))
	testutil.WriteFile(t, filepath.Join(s.Root, "old"), []byte("old"))
	if _, err := p.features(ctx); err != nil {
		t.Fatal(err)
	}
	var login int
	for _, n := range s.Counts() {
		login += int(n)
	}
	// The one session's RNFR, RNTO and DELE pass; the next RNFR finds
	// the connection closed.
	s.SetFaults(ftpd.Faults{NoOverwrite: true, CloseControlAfter: login + 3})
	removed, err := p.RenameOver(ctx, "/new", "/old", true)
	if err == nil || !removed {
		t.Fatalf("RenameOver: removed %v, %v; want removed and an error", removed, err)
	}
	if got, _ := os.ReadFile(filepath.Join(s.Root, "new")); string(got) != "new" {
		t.Fatalf("the source holds %q", got)
	}
	if _, err := os.Stat(filepath.Join(s.Root, "old")); !os.IsNotExist(err) {
		t.Fatalf("the target: %v", err)
	}
}

// TestCommitOverRefusal: an upload is put in place over an existing file
// on a server that refuses to rename over it, on its own connection, and
// checked with SIZE first.
func TestCommitOverRefusal(t *testing.T) {
	s := startServer(t, func(c *ftpd.Config) { c.Faults.NoOverwrite = true })
	p := newPool(t, s)
	ctx := context.Background()
	testutil.WriteFile(t, filepath.Join(s.Root, "target"), []byte("old"))
	data := testutil.RandBytes(9, 100<<10)
	u, err := p.StartUpload(ctx, "/tmp.part")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(ctx, data); err != nil {
		t.Fatal(err)
	}
	s.ResetCounts()
	placed, err := u.Commit(ctx, Placement{Size: int64(len(data)), To: "/target"})
	if err != nil || !placed.Removed {
		t.Fatalf("Commit: %+v, %v", placed, err)
	}
	if got, _ := os.ReadFile(filepath.Join(s.Root, "target")); !bytes.Equal(got, data) {
		t.Fatal("the target does not hold the upload")
	}
	if _, err := os.Stat(filepath.Join(s.Root, "tmp.part")); !os.IsNotExist(err) {
		t.Fatalf("the temporary name: %v", err)
	}
	if c := s.Counts(); c["SIZE"] != 1 || c["DELE"] != 1 || c["RNTO"] != 2 {
		t.Fatalf("commands %v, want SIZE, RNFR, RNTO, DELE, RNFR, RNTO", c)
	}
}

// TestWithoutMLST: a server without MLST cannot tell one entry alone:
// Stat says so without a command, and Times says where exact times come
// from, which the log tells once.
func TestWithoutMLST(t *testing.T) {
	for _, tc := range []struct {
		profile ftpd.Profile
		times   Times
		log     string
	}{
		{ftpd.ProfileFull, Times{Listed: true, Asked: true}, ""},
		{ftpd.ProfileVsftpd, Times{Listed: false, Asked: true}, "exact times come from MDTM"},
	} {
		t.Run(string(tc.profile), func(t *testing.T) {
			s := startServer(t, func(c *ftpd.Config) { c.Profile = tc.profile })
			testutil.WriteFile(t, filepath.Join(s.Root, "f"), []byte("hello"))
			var log bytes.Buffer
			p := newPool(t, s, logTo(&log))
			ctx := context.Background()
			times, err := p.Times(ctx)
			if err != nil || times != tc.times {
				t.Fatalf("Times: %+v, %v; want %+v", times, err, tc.times)
			}
			e, err := p.Stat(ctx, "/f")
			switch {
			case tc.times.Listed && (err != nil || e.Size != 5):
				t.Fatalf("Stat: %+v, %v", e, err)
			case !tc.times.Listed && !errors.Is(err, ClassUnsupported):
				t.Fatalf("Stat without MLST: %v, want unsupported", err)
			case !tc.times.Listed && s.Counts()["MLST"] != 0:
				t.Fatal("MLST sent to a server without it")
			}
			if tc.log != "" && strings.Count(log.String(), tc.log) != 1 {
				t.Fatalf("log: %q, want %q once", log.String(), tc.log)
			}
			if tc.log == "" && strings.Contains(log.String(), "MDTM") {
				t.Fatalf("log: %q", log.String())
			}
		})
	}
}
