package conn

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// TestCopy: a copy on the server goes to the temporary name, is checked
// by its size and renamed over the target; a copy of the wrong size
// replaces nothing and leaves no temporary name; a refused CPTO is an
// error of its class; a server without SITE CPFR is asked once.
func TestCopy(t *testing.T) {
	ctx := context.Background()
	data := testutil.RandBytes(91, 1<<20+3)
	fill := func(root string) {
		testutil.WriteFile(t, filepath.Join(root, "src"), data)
		testutil.WriteFile(t, filepath.Join(root, "dst"), []byte("old"))
	}
	onDisk := func(s *server, name string) []byte {
		b, _ := os.ReadFile(filepath.Join(s.Root, name))
		return b
	}
	gone := func(s *server, name string) {
		if _, err := os.Stat(filepath.Join(s.Root, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left on the server: %v", name, err)
		}
	}

	s := startServer(t)
	fill(s.Root)
	p := newPool(t, s)
	pl := Placement{Size: int64(len(data)), To: "/dst", Mode: 0o600, HasMode: true}
	if _, err := p.Copy(ctx, "/src", "/tmp1", pl); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk(s, "dst"), data) {
		t.Fatal("the copy is not in place")
	}
	if fi, _ := os.Stat(filepath.Join(s.Root, "dst")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode of the copy: %v", fi.Mode())
	}
	gone(s, "tmp1")
	if n := p.Snapshot().Commands["HASH"]; n != 2 {
		t.Errorf("%d HASH for a copy on a server that has it, want 2 (the source's, the copy's)", n)
	}

	testutil.WriteFile(t, filepath.Join(s.Root, "dst"), []byte("old"))
	pl.Size++
	if _, err := p.Copy(ctx, "/src", "/tmp2", pl); err == nil {
		t.Fatal("a copy of the wrong size was accepted")
	}
	if string(onDisk(s, "dst")) != "old" {
		t.Fatal("a copy of the wrong size replaced the target")
	}
	// The copy stays under its temporary name for the caller to remove.
	if !bytes.Equal(onDisk(s, "tmp2"), data) {
		t.Fatal("the copy of the wrong size is not under its temporary name")
	}
	if _, err := p.Copy(ctx, "/missing", "/tmp3", pl); !errors.Is(err, ClassNotFound) || !p.CanCopy() {
		t.Fatalf("copy of a missing file: %v (copies still possible: %v)", err, p.CanCopy())
	}

	refusing := startServer(t, func(c *ftpd.Config) { c.Faults.RefuseVerb, c.Faults.RefuseCode = "SITE CPTO", 553 })
	fill(refusing.Root)
	pl.Size--
	if _, err := newPool(t, refusing).Copy(ctx, "/src", "/tmp4", pl); !errors.Is(err, ClassPermission) {
		t.Fatalf("refused CPTO: %v, want a permission error", err)
	}

	vs := startServer(t, func(c *ftpd.Config) { c.Profile = ftpd.ProfileVsftpd })
	fill(vs.Root)
	vp := newPool(t, vs)
	for range 2 {
		if _, err := vp.Copy(ctx, "/src", "/tmp5", pl); !errors.Is(err, ErrNoCopy) || !errors.Is(err, ClassUnsupported) || vp.CanCopy() {
			t.Fatalf("copy without SITE CPFR: %v (copies still possible: %v)", err, vp.CanCopy())
		}
	}
	if n := vp.Snapshot().Commands["SITE"]; n != 1 {
		t.Errorf("SITE sent %d times to a server without SITE CPFR, want once", n)
	}
}
