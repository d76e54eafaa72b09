package fs

import (
	"context"
	"time"

	"ftpfs/conn"
)

// learnZone lets the pool compare the MDTM of remote, a file just
// uploaded, with the clock, until it knows the server's zone (conn's
// LearnZone: one MDTM on the first upload of a mount), unless its commit
// did so already with the MDTM it carried (placed). When that finds
// the server answering in local time, every time read before is off by
// the offset: the listings and exact times cached are dropped, to be
// read again in the zone. Attributes the kernel holds stay until their
// timeout (DirCacheTTL).
func (m *mount) learnZone(ctx context.Context, remote string, placed conn.Placed) {
	changed := placed.ZoneChanged
	if !placed.ZoneAsked {
		changed = m.pool.LearnZone(ctx, remote, time.Now())
	}
	if !changed {
		return
	}
	m.dirs.InvalidateTree(m.remotePath(""))
	m.mtimes.Purge()
}
