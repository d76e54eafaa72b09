package fs

import (
	"context"
	"path"
	"time"

	"ftpfs/conn"
)

// Create's check that its name is free. It must see a name another
// client made up to revalidateAfter ago. Re-listing the directory once
// its listing is older costs MLSD's round trips and a data connection
// (the one opened ahead for the next upload) about every second while
// files are created one after another. STAT lists the names over the
// control connection in one round trip; when they agree with the cached
// listing, that listing stands for them, as a fresh one would, and
// answers the next creates in the directory for revalidateAfter.
// Facts are not checked this way: open() still re-lists for those.

// createEntry returns rel's entry for Create, as entryMaxAge(ctx, rel,
// revalidateAfter) would, ENOENT when the name is free.
func (m *mount) createEntry(ctx context.Context, rel string) (conn.Entry, error) {
	remote := m.remotePath(parent(rel))
	l, fresh := m.dirs.GetMaxAge(remote, revalidateAfter)
	if l == nil || fresh {
		return m.entryMaxAge(ctx, rel, revalidateAfter)
	}
	if at, ok := m.namesSeen.Load(remote); ok && time.Since(at.(time.Time)) < revalidateAfter {
		return m.entry(ctx, rel)
	}
	asked := time.Now()
	es, ok, err := m.pool.Names(ctx, remote)
	if err != nil || !ok {
		return m.entryMaxAge(ctx, rel, revalidateAfter)
	}
	// The server's names, ours in progress left out, must all be in the
	// cached listing, and rel's presence agree: otherwise the directory
	// changed behind our back, and a listing tells how.
	l, _ = m.dirs.Get(remote)
	if l == nil {
		return m.entryMaxAge(ctx, rel, revalidateAfter)
	}
	base := path.Base(rel)
	_, cached := l.Lookup(base)
	onServer := false
	for _, e := range visible(es) {
		if _, ok := l.Lookup(e.Name); !ok {
			return m.entryMaxAge(ctx, rel, revalidateAfter)
		}
		onServer = onServer || e.Name == base
	}
	if cached != onServer {
		return m.entryMaxAge(ctx, rel, revalidateAfter)
	}
	m.namesSeen.Store(remote, asked)
	return m.entry(ctx, rel)
}
