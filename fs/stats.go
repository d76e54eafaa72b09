package fs

import (
	"time"

	"ftpfs/cache"
	"ftpfs/conn"
)

// Stats is a live mount's figures, for ftpfs stats and --metrics: conn's
// connections, transfers, commands and errors, the caches' lookups, and
// the uploads fs keeps track of. Counts are since the mount started.
type Stats struct {
	Server  string        `json:"server"` // FsName
	Started time.Time     `json:"started"`
	Now     time.Time     `json:"now"` // when the snapshot was taken
	Conn    conn.Snapshot `json:"conn"`
	// Listings and Blocks are the caches' lookups (cache.Stats).
	Listings cache.Stats `json:"listings"`
	Blocks   cache.Stats `json:"blocks"`
	Uploads  UploadStats `json:"uploads"`
}

// UploadStats are the files written through the mount and not yet, or
// never, on the server.
type UploadStats struct {
	// Pending counts the files open for writing or being uploaded:
	// their bytes are staged in the cache dir until the server has them.
	Pending     int64 `json:"pending"`
	StagedBytes int64 `json:"staged_bytes"`
	// Failed counts the uploads that failed since the mount started and
	// whose bytes were kept (ftpfs status lists them).
	Failed int64 `json:"failed"`
	// Kept counts the staged copies of this server's failed uploads in
	// the cache dir now, this mount's and earlier ones'.
	Kept int `json:"kept"`
}

// Stats returns the mount's figures now.
func (mt *Mounted) Stats() Stats {
	m := mt.m
	s := Stats{
		Server:   m.fsName,
		Started:  m.started,
		Now:      time.Now(),
		Conn:     m.pool.Snapshot(),
		Listings: m.dirs.Stats(),
		Blocks:   m.blocks.Stats(),
		Uploads: UploadStats{
			Pending:     m.stages.Load(),
			StagedBytes: m.staged.Load(),
			Failed:      m.uploadsFailed.Load(),
		},
	}
	// Read from disk: copies of earlier mounts count too. A cache dir
	// that cannot be read leaves the count at 0; the mount logs why.
	copies, _ := StagedCopies(m.o.CacheDir)
	for _, c := range copies {
		if c.Server == m.fsName {
			s.Uploads.Kept++
		}
	}
	return s
}
