package fs

// End-to-end integrity of uploads: the server's digest of an upload is
// compared with the bytes sent before the rename.

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/link"
	"ftpfs/internal/testutil"
)

// TestUploadDigestMismatch: ftpd flips a byte of every upload once it is
// stored (its size stays right). close() says EIO, the old content stays
// under the name, no temporary name stays behind, and the staged copy is
// kept and reported, as for any failed upload. The same write succeeds
// once the server stores bytes faithfully.
func TestUploadDigestMismatch(t *testing.T) {
	cache := t.TempDir()
	e := newEnv(t, func(root string) { testutil.WriteFile(t, filepath.Join(root, "f"), []byte("old content")) }, nil,
		func(o *Options) { o.CacheDir = cache })
	e.srv.SetFaults(ftpd.Faults{CorruptStor: true})
	data := testutil.RandBytes(14, 3<<20+7)
	err := writeAndCloseErr(filepath.Join(e.mnt, "f"), data)
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("close of an upload the server damaged: %v, want EIO", err)
	}
	if got := onServer(t, e, "f"); string(got) != "old content" {
		t.Fatalf("a damaged upload replaced the file: %d bytes", len(got))
	}
	noUploadsLeft(t, e)
	if l := e.logBuf.String(); !strings.Contains(l, "digest does not match") {
		t.Fatalf("the log does not say why:\n%s", l)
	}
	var copies []StagedCopy
	for deadline := time.Now().Add(5 * time.Second); len(copies) == 0 && time.Now().Before(deadline); {
		copies, _ = StagedCopies(cache)
		time.Sleep(10 * time.Millisecond) // release follows close asynchronously
	}
	if len(copies) != 1 || copies[0].Path != "f" || copies[0].Size != int64(len(data)) {
		t.Fatalf("staged copies reported: %+v", copies)
	}
	if b, _ := os.ReadFile(copies[0].File); !bytes.Equal(b, data) {
		t.Fatal("the staged copy lost bytes")
	}
	e.srv.SetFaults(ftpd.Faults{})
	if err := writeAndCloseErr(filepath.Join(e.mnt, "f"), data); err != nil {
		t.Fatalf("write once the server is sound: %v", err)
	}
	if got := onServer(t, e, "f"); !bytes.Equal(got, data) {
		t.Fatalf("the server holds %d bytes, not the upload", len(got))
	}
}

// TestUploadResumesThroughMount: a file written through the mount while
// ftpd drops every data connection after 32 MiB arrives whole (the
// stream breaks, and the flush goes on with the staged bytes from the
// server's size after each drop), nothing partial ever shows under its
// name, and what crossed the link to the server stays under 1.3 times
// its size (1.06 here).
func TestUploadResumesThroughMount(t *testing.T) {
	e := newLinkEnv(t, link.Options{}, func(root string) { testutil.WriteFile(t, filepath.Join(root, "f"), []byte("old")) },
		[]func(*ftpd.Config){func(c *ftpd.Config) { c.Faults.DropDataAfter = 32 << 20 }},
		func(o *Options) { o.CacheDir = t.TempDir() })
	data := testutil.RandBytes(15, 256<<20)
	stop := make(chan struct{})
	partial := make(chan int, 1)
	go func() { // the name holds the old content or the new, never a part
		defer close(partial)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if b, err := os.ReadFile(filepath.Join(e.root, "f")); err == nil && string(b) != "old" && len(b) != len(data) {
				partial <- len(b)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	e.l.Reset()
	err := writeAndCloseErr(filepath.Join(e.mnt, "f"), data)
	close(stop)
	if n, ok := <-partial; ok {
		t.Fatalf("the name showed %d bytes of a partial upload", n)
	}
	if err != nil {
		t.Fatalf("write through drops: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(e.root, "f")); !bytes.Equal(got, data) {
		t.Fatalf("the server holds %d bytes, not the file", len(got))
	}
	st := e.l.Stats()
	// The stream broke at the first drop; the flush went on from there,
	// on the same name: one STOR, then REST and STOR for each drop.
	if st.Commands["STOR"] != 8 || st.Commands["REST"] != 7 {
		t.Fatalf("%v: want 8 STOR, 7 of them after REST", st)
	}
	if ratio := float64(st.Up) / float64(len(data)); ratio >= 1.3 {
		t.Fatalf("%d bytes to the server for %d: %.2fx (%v)", st.Up, len(data), ratio, st)
	} else {
		t.Logf("%d bytes to the server for %d: %.3fx; %v", st.Up, len(data), ratio, st)
	}
}

// TestVerifyReads: with VerifyReads, a file read whole is compared with
// the server's digest at its end. A read that differs (the file changed
// on the server after its first bytes were read) ends in EIO and drops
// the cached blocks; the next read gets the server's content and passes.
func TestVerifyReads(t *testing.T) {
	big := testutil.RandBytes(17, 3<<20+5)
	e := newEnv(t, func(root string) {
		testutil.WriteFile(t, filepath.Join(root, "a"), big)
		testutil.WriteFile(t, filepath.Join(root, "b"), big)
	}, nil, func(o *Options) { o.VerifyReads = true })
	if got, err := os.ReadFile(filepath.Join(e.mnt, "a")); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("verified read: %d bytes, %v", len(got), err)
	}
	if n := strings.Count(e.logBuf.String(), "read verified"); n != 1 {
		t.Fatalf("%d reads verified, want 1:\n%s", n, e.logBuf)
	}
	f, err := os.Open(filepath.Join(e.mnt, "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(f, head); err != nil {
		t.Fatal(err)
	}
	changed := bytes.Clone(big)
	changed[0] ^= 0xff
	testutil.WriteFile(t, filepath.Join(e.root, "b"), changed)
	if rest, err := io.ReadAll(f); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read of a file that changed under it: %d bytes, %v, want EIO", len(rest), err)
	}
	if !strings.Contains(e.logBuf.String(), "read differs from the server's file") {
		t.Fatalf("the log does not say why:\n%s", e.logBuf)
	}
	if got, err := os.ReadFile(filepath.Join(e.mnt, "b")); err != nil || !bytes.Equal(got, changed) {
		t.Fatalf("read again: %d bytes, %v; want the server's content", len(got), err)
	}
}
