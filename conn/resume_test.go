package conn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// countingReader counts the bytes an upload reads from its source: all
// it sends, and what it reads again to resume the digest.
type countingReader struct {
	r *bytes.Reader
	n atomic.Int64
}

func (c *countingReader) ReadAt(b []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(b, off)
	c.n.Add(int64(n))
	return n, err
}

// resumeServer is ftpd that drops every data connection after dropAfter
// bytes and refuses the verbs in refuse (502), with its command log.
func resumeServer(t *testing.T, dropAfter int64, refuse string) (*server, *testutil.Buffer) {
	log := &testutil.Buffer{}
	s := startServer(t, func(c *ftpd.Config) {
		c.CommandLog = log
		c.Faults = ftpd.Faults{DropDataAfter: dropAfter, RefuseVerb: refuse, RefuseCode: 502}
	})
	testutil.LogOnFailure(t, "ftpd command log", log, 40)
	return s, log
}

// sendAll uploads data to /tmp.part with SendFrom and commits it to
// /target; it returns the bytes read from the source.
func sendAll(t *testing.T, p *Pool, data []byte) (int64, error) {
	ctx := context.Background()
	u, err := p.StartUpload(ctx, "/tmp.part")
	if err != nil {
		t.Fatal(err)
	}
	src := &countingReader{r: bytes.NewReader(data)}
	if err := u.SendFrom(ctx, src, int64(len(data))); err != nil {
		return src.n.Load(), err
	}
	_, err = u.CommitFrom(ctx, Placement{Size: int64(len(data)), To: "/target"}, src)
	return src.n.Load(), err
}

// TestUploadResumes: ftpd drops the data connection every 32 MiB of a
// 256 MiB upload. The upload goes on from the server's size each time
// (REST and STOR, on the same temporary name), its digest still checks
// out, the file arrives whole under its name, and the bytes sent stay
// under 1.3 times its size.
func TestUploadResumes(t *testing.T) {
	s, log := resumeServer(t, 32<<20, "")
	p := newPool(t, s)
	data := testutil.RandBytes(21, 256<<20)
	sent, err := sendAll(t, p, data)
	if err != nil {
		t.Fatalf("upload through drops: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(s.Root, "target"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the server holds %d bytes (%v), not the upload", len(got), err)
	}
	if ratio := float64(sent) / float64(len(data)); ratio >= 1.3 {
		t.Fatalf("%d bytes sent for %d: %.2fx", sent, len(data), ratio)
	} else {
		t.Logf("%d bytes sent for %d: %.3fx", sent, len(data), ratio)
	}
	if n := strings.Count(log.String(), " REST "); n < 7 {
		t.Fatalf("%d REST commands for 8 drops:\n%s", n, log)
	}
	if strings.Contains(log.String(), "STOR /target") || strings.Contains(log.String(), "APPE") {
		t.Fatalf("the upload went elsewhere than its temporary name:\n%s", log)
	}
	if !strings.Contains(log.String(), "HASH /tmp.part") {
		t.Fatalf("the resumed upload was not checked:\n%s", log)
	}
}

// TestUploadResumesWithAPPE: a server that refuses REST gets APPE.
func TestUploadResumesWithAPPE(t *testing.T) {
	s, log := resumeServer(t, 1<<20, "REST")
	p := newPool(t, s)
	data := testutil.RandBytes(22, 5<<20+3)
	if _, err := sendAll(t, p, data); err != nil {
		t.Fatalf("upload through drops: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(s.Root, "target")); !bytes.Equal(got, data) {
		t.Fatalf("the server holds %d bytes, not the upload", len(got))
	}
	if n := strings.Count(log.String(), " APPE /tmp.part"); n < 5 {
		t.Fatalf("%d APPE for 5 drops:\n%s", n, log)
	}
}

// TestUploadRestartsBounded: a server that refuses both REST and APPE
// (proftpd by default) gets the upload from byte 0 again, a bounded
// number of times; one that always drops it ends in the drop's error,
// and the old file stays.
func TestUploadRestartsBounded(t *testing.T) {
	s, log := resumeServer(t, 1<<20, "REST,APPE")
	testutil.WriteFile(t, filepath.Join(s.Root, "target"), []byte("old"))
	p := newPool(t, s)
	data := testutil.RandBytes(23, 4<<20)
	_, err := sendAll(t, p, data)
	var fe *Error
	if !errors.As(err, &fe) || fe.Code != 426 {
		t.Fatalf("upload that always drops: %v, want the 426", err)
	}
	if n := strings.Count(log.String(), " STOR /tmp.part"); n != 1+resumeRestarts {
		t.Fatalf("%d STOR, want %d:\n%s", n, 1+resumeRestarts, log)
	}
	if got, _ := os.ReadFile(filepath.Join(s.Root, "target")); string(got) != "old" {
		t.Fatalf("the target changed: %d bytes", len(got))
	}
}

var _ io.ReaderAt = (*countingReader)(nil)
