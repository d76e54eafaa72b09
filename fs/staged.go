package fs

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"ftpfs/internal/private"
)

// StagedCopy is the local copy of a file whose upload failed and whose
// last descriptor was closed: the bytes the server does not have.
type StagedCopy struct {
	File   string    `json:"-"`      // the staged bytes, on local disk
	Server string    `json:"server"` // the mount's FsName, ftp://host/path
	Path   string    `json:"path"`   // the file, below the mount's root
	Size   int64     `json:"size"`
	Time   time.Time `json:"time"` // when its handle was released
}

// sidecar is where a staged copy's description is kept, next to it.
func sidecar(file string) string { return file + ".json" }

// keepStaged records a staged copy that outlives its handle, so that it
// is reported at the next mount and by ftpfs status.
func (m *mount) keepStaged(file, rel string, size int64) {
	b, _ := json.Marshal(StagedCopy{Server: m.fsName, Path: rel, Size: size, Time: time.Now().UTC()})
	if err := private.WriteFile(sidecar(file), b); err != nil {
		m.log.Error("staged copy not described", "staged", file, "err", err)
	}
}

// StagedCopies lists the staged copies of failed uploads kept in a cache
// directory, oldest first.
func StagedCopies(cacheDir string) ([]StagedCopy, error) {
	dir := stagingPath(cacheDir)
	// Checked before it is read: a staging dir another user could write
	// would let them fake the copies reported.
	err := private.CheckDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []StagedCopy
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var c StagedCopy
		if json.Unmarshal(b, &c) != nil {
			continue
		}
		c.File = filepath.Join(dir, strings.TrimSuffix(e.Name(), ".json"))
		if _, err := os.Stat(c.File); err != nil {
			continue // recovered and removed by hand
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// reportStaged logs, at mount time, the staged copies this server's
// earlier mounts left behind.
func (m *mount) reportStaged() {
	copies, err := StagedCopies(m.o.CacheDir)
	if err != nil {
		return
	}
	for _, c := range copies {
		if c.Server == m.fsName {
			m.log.Warn("staged copy of a failed upload, not on the server", "path", c.Path, "staged", c.File, "size", c.Size, "since", c.Time)
		}
	}
}
