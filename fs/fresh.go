package fs

import "time"

// uploadedWithin says whether rel is the file this mount uploaded last,
// acknowledged by the server (its size checked, renamed into place) less
// than d ago, counting from the server's last word: its cached entry is
// then as fresh as a listing fetched at that moment. open() right after
// close() (rsync reopens its temporary file) needs no listing then.
func (m *mount) uploadedWithin(rel string, d time.Duration) bool {
	u := m.lastUpload.Load()
	// The rename's reply left the server at most half a round trip
	// before Commit returned: a whole one keeps the bound.
	return u != nil && u.rel == rel && time.Since(u.at)+m.pool.RTT() < d
}
