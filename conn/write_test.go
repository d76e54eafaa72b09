package conn

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

func TestStoreAndChange(t *testing.T) {
	s := startServer(t)
	p := newPool(t, s)
	ctx := context.Background()
	data := testutil.RandBytes(5, 2<<20+7)

	n, err := p.Store(ctx, "/up.bin", bytes.NewReader(data))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Store: %d, %v", n, err)
	}
	if got, _ := os.ReadFile(filepath.Join(s.Root, "up.bin")); !bytes.Equal(got, data) {
		t.Fatal("stored bytes differ on the server's disk")
	}
	if size, err := p.Size(ctx, "/up.bin"); err != nil || size != int64(len(data)) {
		t.Fatalf("SIZE = %d, %v", size, err)
	}
	want := data

	// Rename over an existing file, delete, directories.
	testutil.WriteFile(t, filepath.Join(s.Root, "old"), []byte("old"))
	if err := p.rename(ctx, "/up.bin", "/old"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(s.Root, "old")); !bytes.Equal(got, want) {
		t.Fatal("rename over an existing file lost the new content")
	}
	if err := p.Mkdir(ctx, "/d"); err != nil {
		t.Fatal(err)
	}
	if err := p.rename(ctx, "/old", "/d/f"); err != nil {
		t.Fatal(err)
	}
	if err := p.Rmdir(ctx, "/d"); Classify(err) != ClassNotEmpty {
		t.Fatalf("RMD of a non-empty directory: %v (class %d)", err, Classify(err))
	}
	if err := p.Delete(ctx, "/d/f"); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(ctx, "/d/f"); Classify(err) != ClassNotFound {
		t.Fatalf("DELE of a missing file: %v", err)
	}
	if err := p.Rmdir(ctx, "/d"); err != nil {
		t.Fatal(err)
	}
	if err := p.Mkdir(ctx, "/bad\rname"); Classify(err) != ClassInvalid {
		t.Fatalf("MKD with CR: %v", err)
	}
}

func TestSetTimeAndChmod(t *testing.T) {
	for _, profile := range []ftpd.Profile{ftpd.ProfileFull, ftpd.ProfileVsftpd} {
		t.Run(string(profile), func(t *testing.T) {
			s := startServer(t, func(c *ftpd.Config) { c.Profile = profile })
			testutil.WriteFile(t, filepath.Join(s.Root, "f"), []byte("x"))
			p := newPool(t, s)
			ctx := context.Background()
			mt := time.Date(2020, 2, 29, 12, 34, 56, 0, time.UTC)
			if err := p.SetTime(ctx, "/f", mt); err != nil {
				t.Fatal(err)
			}
			fi, _ := os.Stat(filepath.Join(s.Root, "f"))
			if !fi.ModTime().Equal(mt) {
				t.Fatalf("mtime %v, want %v", fi.ModTime(), mt)
			}
			if got, err := p.ModTime(ctx, "/f"); err != nil || !got.Equal(mt) {
				t.Fatalf("MDTM %v %v", got, err)
			}
			if err := p.Chmod(ctx, "/f", 0o640); err != nil {
				t.Fatal(err)
			}
			fi, _ = os.Stat(filepath.Join(s.Root, "f"))
			if fi.Mode().Perm() != 0o640 {
				t.Fatalf("mode %v", fi.Mode())
			}
		})
	}
}

func TestUploadFailures(t *testing.T) {
	s := startServer(t)
	p := newPool(t, s)
	ctx := context.Background()
	data := testutil.RandBytes(6, 4<<20)

	s.SetFaults(ftpd.Faults{StorFullAfter: 1 << 20})
	_, err := p.Store(ctx, "/full", bytes.NewReader(data))
	if c := Classify(err); c != ClassNoSpace {
		t.Fatalf("552 on STOR: %v (class %d), want no space", err, c)
	}

	s.SetFaults(ftpd.Faults{DropDataAfter: 1 << 20})
	_, err = p.Store(ctx, "/dropped", bytes.NewReader(data))
	if err == nil {
		t.Fatal("a dropped data connection went unnoticed")
	}

	// The pool still works after both.
	s.SetFaults(ftpd.Faults{})
	if _, err := p.Store(ctx, "/ok", bytes.NewReader(data)); err != nil {
		t.Fatalf("after failures: %v", err)
	}

	// A stalled upload ends with a timeout, not a hang.
	p2 := newPool(t, s, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	s.SetFaults(ftpd.Faults{Stall: true, StallAfter: 64 << 10})
	t0 := time.Now()
	_, err = p2.Store(ctx, "/stalled", bytes.NewReader(data))
	if err == nil || time.Since(t0) > 3*time.Second {
		t.Fatalf("stalled upload: %v after %v", err, time.Since(t0))
	}
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("stalled upload error %T %v", err, err)
	}
}

// TestCommitPipelined: a commit of fewer bytes than it should hold renames
// nothing; with DeleteTo, the target goes first. (A commit with a mode
// over a target: TestCommitRoundTrips.)
func TestCommitPipelined(t *testing.T) {
	s := startServer(t)
	p := newPool(t, s)
	ctx := context.Background()
	data := testutil.RandBytes(8, 200<<10)
	testutil.WriteFile(t, filepath.Join(s.Root, "target"), []byte("old"))

	// A size that does not match renames nothing.
	u, _ := p.StartUpload(ctx, "/tmp2.part")
	u.Write(ctx, data[:100])
	_, err := u.Commit(ctx, Placement{Size: 99, To: "/target"})
	if err == nil {
		t.Fatal("a short count went unnoticed")
	}
	// DELE of the target first, then the rename.
	u, _ = p.StartUpload(ctx, "/tmp3.part")
	u.Write(ctx, data[:100])
	if _, err := u.Commit(ctx, Placement{Size: 100, To: "/target", DeleteTo: true}); err != nil {
		t.Fatalf("Commit with DeleteTo: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(s.Root, "target")); !bytes.Equal(got, data[:100]) {
		t.Fatal("target after a DeleteTo commit")
	}
	// The pool still answers in step after all of it.
	if n, err := p.Size(ctx, "/target"); err != nil || n != 100 {
		t.Fatalf("SIZE after the commits: %d, %v", n, err)
	}
}

func TestLazyUploadRefused(t *testing.T) {
	s := startServer(t, func(c *ftpd.Config) { c.ReadOnly = true })
	p := newPool(t, s)
	ctx := context.Background()
	// Small: the refusal comes with the final reply.
	u, err := p.StartUpload(ctx, "/small")
	if err != nil {
		t.Fatal(err)
	}
	u.Write(ctx, []byte("hello"))
	if _, err := u.Commit(ctx, Placement{Size: 5}); Classify(err) != ClassPermission {
		t.Fatalf("refused small upload: %v (class %d)", err, Classify(err))
	}
	// Large: the write past the first bytes reads the refusal.
	u, err = p.StartUpload(ctx, "/large")
	if err != nil {
		t.Fatal(err)
	}
	_, err = u.Write(ctx, make([]byte, 4<<20))
	if Classify(err) != ClassPermission {
		t.Fatalf("refused large upload: %v (class %d)", err, Classify(err))
	}
	if n, err := p.Size(ctx, "/nothing"); Classify(err) != ClassNotFound {
		t.Fatalf("the pool after refusals: %d %v", n, err)
	}
}
