package fs

import (
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"ftpfs/conn"
)

// TestDerivedNames: the names the mount derives from a program's name
// (temporary upload, conflict copy, staged copy) fit in conn.MaxName,
// keep their marks whole and cut the name on a character boundary.
func TestDerivedNames(t *testing.T) {
	for _, base := range []string{
		"short.txt",
		strings.Repeat("a", 255),
		strings.Repeat("中", 85),
		strings.Repeat("é", 127) + "x",
		"x" + strings.Repeat("\U0001F600", 63) + "yz",
	} {
		rel := "dir/" + base
		up := (&mount{}).uploadName(rel)
		conflict := conflictName(rel)
		for _, got := range []string{up, conflict} {
			name := got[len("dir/"):]
			if len(name) > conn.MaxName || !utf8.ValidString(name) || !strings.HasPrefix(got, "dir/") {
				t.Errorf("%d-byte %.12q...: derived %d bytes %.40q", len(base), base, len(name), name)
			}
		}
		if !strings.HasPrefix(up, "dir/"+tmpPrefix) || !strings.Contains(conflict, ".conflict-") {
			t.Errorf("marks lost: %q %q", up, conflict)
		}
		if len(base) < 200 && (!strings.HasSuffix(up, "-"+base) || !strings.HasPrefix(conflict, rel)) {
			t.Errorf("a short name is kept whole: %q %q", up, conflict)
		}
	}
	if got := fitName("head-", "abcdef", ".tail", 12); got != "head-ab.tail" {
		t.Errorf("fitName: %q", got)
	}
}

// TestStagedLongName: the staged copy of a 255-byte name, and its
// sidecar (written under a longer temporary name first), fit on a local
// file system, so that a failed upload of such a file keeps its bytes
// and is reported.
func TestStagedLongName(t *testing.T) {
	m := &mount{o: Options{CacheDir: t.TempDir(), StagingSize: 1 << 20}, log: slog.New(slog.DiscardHandler), fsName: "ftp://h/"}
	rel := "d/" + strings.Repeat("中", 85)
	st, err := m.newStage(rel)
	if err != nil {
		t.Fatalf("stage of a 255-byte name: %v", err)
	}
	st.WriteAt([]byte("bytes"), 0)
	st.count(5)
	st.keep(rel)
	copies, err := StagedCopies(m.o.CacheDir)
	if err != nil || len(copies) != 1 || copies[0].Path != rel || copies[0].Size != 5 {
		t.Fatalf("staged copies %+v, %v; want the one kept", copies, err)
	}
}
