package fs

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
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

// In active mode, cp -r of a directory just listed reads each file once,
// the files ahead in batches (conn.Snapshot.Batched). Straight to ftpd: the link emulator does not
// relay active data connections yet.
func TestCopyDirActiveBatches(t *testing.T) {
	root := t.TempDir()
	smallFiles(t, 40, 3000, "d")(root)
	srv, cfg := startFtpd(t, root)
	m, mnt, _ := mountAt(t, cfg.Listen, testUser, testPass, func(o *Options) { o.Conn.Active = true })
	if _, err := os.ReadDir(filepath.Join(mnt, "d")); err != nil {
		t.Fatal(err)
	}
	if !m.m.pool.Batching() {
		t.Fatal("an active mount does not batch")
	}
	srv.ResetCounts()
	before := m.m.pool.Snapshot()
	out := t.TempDir()
	if b, err := exec.Command("cp", "-r", filepath.Join(mnt, "d"), out).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, b)
	}
	time.Sleep(200 * time.Millisecond) // a prefetch still under way would show
	if n := srv.Counts(); n["RETR"] != 40 || n["EPRT"] != 40 || n["EPSV"]+n["PASV"] != 0 {
		t.Fatalf("40 files copied: %v, want 40 RETR, each behind its EPRT", n)
	}
	copiedInBatches(t, m, before, out)
}

// copiedInBatches checks the 40 files cp -r copied to out, each read
// once (RETR), most in batches, since before.
func copiedInBatches(t *testing.T, m *Mounted, before conn.Snapshot, out string) {
	t.Helper()
	after := m.m.pool.Snapshot()
	retr, batched := after.Commands["RETR"]-before.Commands["RETR"], after.Batched-before.Batched
	t.Logf("cp -r of 40 files in active mode: %d RETR, %d writes of commands, %d files batched", retr, after.Flights-before.Flights, batched)
	if retr != 40 || batched < 10 {
		t.Fatalf("40 files copied with %d RETR, %d of them in batches: want 40, most batched", retr, batched)
	}
	for i := range 40 {
		got, err := os.ReadFile(filepath.Join(out, "d", fmt.Sprintf("f%03d", i)))
		if err != nil || !bytes.Equal(got, testutil.RandBytes(uint64(i), 3000)) {
			t.Fatalf("f%03d: copy differs (%v)", i, err)
		}
	}
}

// The same from vsftpd, passive mode off: it takes the batch's commands
// during a transfer, and answers them in order.
func TestCopyDirActiveBatchesVsftpd(t *testing.T) {
	testutil.NeedFUSE(t)
	testutil.NeedRoot(t, "for vsftpd, which chroots and changes user")
	root := t.TempDir()
	smallFiles(t, 40, 3000, "d")(root)
	s := vsftpdWith(t, root, nil, []string{"pasv_enable=NO"}, nil)
	m, mnt, _ := mountAt(t, s.addr, s.user, s.pass, append(s.mods, func(o *Options) { o.Conn.Active = true })...)
	if _, err := os.ReadDir(filepath.Join(mnt, "d")); err != nil {
		t.Fatal(err)
	}
	before := m.m.pool.Snapshot()
	out := t.TempDir()
	if b, err := exec.Command("cp", "-r", filepath.Join(mnt, "d"), out).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, b)
	}
	time.Sleep(200 * time.Millisecond)
	copiedInBatches(t, m, before, out)
}
