package fs

// End-to-end integrity of uploads: the server's digest of an upload is
// compared with the bytes sent before the rename.

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"ftpfs/ftpd"
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
