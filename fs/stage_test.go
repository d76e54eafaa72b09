package fs

import (
	"errors"
	"log/slog"
	"os"
	"testing"
)

// TestStageCounts: stages count their bytes against the staging limit,
// a stage that would pass it does not grow, and closing one, kept or
// discarded, gives its bytes back. No FUSE.
func TestStageCounts(t *testing.T) {
	m := &mount{o: Options{CacheDir: t.TempDir(), StagingSize: 100}, log: slog.New(slog.DiscardHandler)}
	a, err := m.newStage("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.newStage("dir/b")
	if err != nil {
		t.Fatal(err)
	}
	if !a.count(60) || b.count(50) || m.staged.Load() != 60 {
		t.Fatalf("60 and 50 of 100: staged %d", m.staged.Load())
	}
	if err := a.truncate(30); err != nil || m.staged.Load() != 30 {
		t.Fatalf("truncate to 30: %v, staged %d", err, m.staged.Load())
	}
	if fi, _ := os.Stat(a.name()); fi.Size() != 30 {
		t.Fatalf("the stage file holds %d bytes", fi.Size())
	}
	if !b.count(50) || m.staged.Load() != 80 {
		t.Fatalf("staged %d, want 80", m.staged.Load())
	}
	if err := a.truncate(51); !errors.Is(err, errStagingFull) || a.counted != 30 || m.staged.Load() != 80 {
		t.Fatalf("truncate past the limit: %v, counted %d, staged %d", err, a.counted, m.staged.Load())
	}
	kept := a.name()
	a.keep("a")
	if _, err := os.Stat(kept); err != nil || m.staged.Load() != 50 {
		t.Fatalf("kept stage: %v, staged %d", err, m.staged.Load())
	}
	if copies, err := StagedCopies(m.o.CacheDir); err != nil || len(copies) != 1 || copies[0].Path != "a" || copies[0].Size != 30 {
		t.Fatalf("staged copies: %+v, %v", copies, err)
	}
	gone := b.name()
	b.discard()
	if _, err := os.Stat(gone); !os.IsNotExist(err) || m.staged.Load() != 0 {
		t.Fatalf("discarded stage: %v, staged %d", err, m.staged.Load())
	}
}
