package fs

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"testing"
	"time"

	"ftpfs/conn"
	"ftpfs/internal/link"
	"ftpfs/internal/testutil"
)

// A reader that starts with the last file of a directory by name, and the
// last by inode (cp -r starts wherever the inode order does), has the
// first files by name read ahead: it comes to them last, and would wait
// for each.
func TestSiblingsAheadWrapAround(t *testing.T) {
	// f000..f010, and a last name whose inode number follows theirs:
	// nothing comes after it in either order.
	top := uint64(0)
	for i := range 11 {
		top = max(top, inoFor(fmt.Sprintf("d/f%03d", i), conn.TypeFile))
	}
	last := ""
	for i := 0; last == ""; i++ {
		if n := fmt.Sprintf("z%d", i); inoFor("d/"+n, conn.TypeFile) > top {
			last = n
		}
	}
	e := newLinkEnv(t, link.Options{}, func(root string) {
		smallFiles(t, 11, 3000, "d")(root)
		testutil.WriteFile(t, filepath.Join(root, "d", last), testutil.RandBytes(99, 3000))
	}, nil)
	if _, err := os.ReadDir(filepath.Join(e.mnt, "d")); err != nil {
		t.Fatal(err)
	}
	quiet(t, e.l)
	e.l.Reset()
	if _, err := os.ReadFile(filepath.Join(e.mnt, "d", last)); err != nil {
		t.Fatal(err)
	}
	want := 1 + siblingsAhead
	for deadline := time.Now().Add(5 * time.Second); e.l.Stats().Commands["RETR"] < want; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s read, the first files not read ahead: %v", last, e.l.Stats())
		}
	}
	quiet(t, e.l)
	if s := e.l.Stats(); s.Commands["RETR"] != want {
		t.Fatalf("%s and the %d files after it: %v", last, siblingsAhead, s)
	}
	for i := range siblingsAhead {
		rel := fmt.Sprintf("d/f%03d", i)
		en, ok := e.m.m.cachedEntry(rel)
		if _, cached := e.m.m.blocks.Get(e.m.m.remotePath(rel), version(en), 0); !ok || !cached {
			t.Errorf("%s not read ahead", path.Base(rel))
		}
	}
}
