package fs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"syscall"

	"ftpfs/conn"
	"ftpfs/internal/private"
)

// stage is the local copy of a file open for writing: every byte the
// program wrote, in a private file of the cache directory, uploaded whole
// by a commit. It counts its bytes against the mount's staging limit
// (--staging-size) for as long as it is open, and outlives its handle
// when an upload failed (keep), so that the bytes are not lost.
type stage struct {
	m       *mount
	f       *os.File
	counted int64 // the bytes of m.staged that are this stage's; GUARDED_BY(the writeHandle's mu)
}

func (m *mount) stagingDir() (string, error) { return stagingDir(m.o.CacheDir) }

// stagingDir makes, or checks, cacheDir and its staging directory: both
// private to this user (package private), or another local user could
// read the staged bytes or redirect them.
func stagingDir(cacheDir string) (string, error) {
	if cacheDir == "" {
		// No shared fallback under /tmp: another user could create it first.
		return "", errors.New("no cache directory given")
	}
	dir := stagingPath(cacheDir)
	if err := private.MkdirAll(cacheDir); err != nil {
		return "", err
	}
	return dir, private.MkdirAll(dir)
}

func randomName() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newStage creates an empty stage for rel.
func (m *mount) newStage(rel string) (*stage, error) {
	dir, err := m.stagingDir()
	if err != nil {
		return nil, err
	}
	// Room on a local file system that takes conn.MaxName bytes too, for
	// the sidecar (staged.go) and the temporary name private.WriteFile
	// writes it under first (".NAME.json.<random number>.tmp").
	name := fitName(randomName()+"-", path.Base(rel), "", conn.MaxName-len(sidecar(""))-len("..4294967295.tmp"))
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	m.stages.Add(1)
	return &stage{m: m, f: f}, nil
}

// count makes the stage count n bytes against the limit. Growing past
// the limit fails, and changes nothing.
func (s *stage) count(n int64) bool {
	if grow := n - s.counted; grow > 0 {
		if s.m.staged.Add(grow) > s.m.o.StagingSize {
			s.m.staged.Add(-grow)
			return false
		}
	} else {
		s.m.staged.Add(grow)
	}
	s.counted = n
	return true
}

// errStagingFull is a stage that may not grow: the staging limit. To the
// program it is a full disk.
var errStagingFull = fmt.Errorf("staging full (--staging-size): %w", syscall.ENOSPC)

// truncate sets the stage's length to n.
func (s *stage) truncate(n int64) error {
	old := s.counted
	if !s.count(max(n, old)) {
		return errStagingFull
	}
	if err := s.f.Truncate(n); err != nil {
		s.count(old)
		return err
	}
	s.count(n)
	return nil
}

func (s *stage) ReadAt(b []byte, off int64) (int, error)  { return s.f.ReadAt(b, off) }
func (s *stage) WriteAt(b []byte, off int64) (int, error) { return s.f.WriteAt(b, off) }

// name is the stage's local file, for the log.
func (s *stage) name() string { return s.f.Name() }

// reader reads the stage's first n bytes.
func (s *stage) reader(n int64) io.ReaderAt { return io.NewSectionReader(s.f, 0, n) }

// keep closes the stage but leaves its file, described for the next
// mount and ftpfs status: the bytes of rel the server does not have.
func (s *stage) keep(rel string) {
	s.m.keepStaged(s.f.Name(), rel, s.counted)
	s.m.uploadsFailed.Add(1)
	s.m.stages.Add(-1)
	s.count(0)
	s.f.Close()
}

// discard closes and removes the stage.
func (s *stage) discard() {
	s.m.stages.Add(-1)
	s.count(0)
	name := s.f.Name()
	s.f.Close()
	os.Remove(name)
}

// download copies the server's file into the stage and returns its
// length.
func (s *stage) download(ctx context.Context, remote string, e conn.Entry) (int64, error) {
	if e.Size == 0 {
		return 0, nil
	}
	st, err := s.m.pool.OpenStream(ctx, remote, 0)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 256<<10)
	var off int64
	for {
		k, rerr := st.Read(ctx, buf)
		if k > 0 {
			if _, err := s.f.WriteAt(buf[:k], off); err != nil {
				st.Close()
				return off, err
			}
			off += int64(k)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			st.Close()
			return off, rerr
		}
	}
	return off, st.Close()
}
