package fs

import (
	"ftpfs/conn"
)

// known is what the cached listing of remote, fresh or not, knows of its
// entries' exact facts, for a listing again that keeps those that did
// not change (conn.Pool.ReadDirKnown). Left out: times to the minute,
// and those the mount guessed after its own upload or kept after the
// server refused to set them.
func (m *mount) known(remote string) conn.Known {
	l, _ := m.dirs.Get(remote)
	if l == nil || !m.times.Listed {
		return conn.Known{}
	}
	k := conn.Known{At: l.Fetched()}
	for _, e := range l.All() {
		if e.Precision == conn.PrecisionSecond && e.Unique != guessedTime {
			k.Entries = append(k.Entries, e)
		}
	}
	return k
}
