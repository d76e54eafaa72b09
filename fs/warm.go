package fs

import "ftpfs/conn"

// warmFor readies every connection of the pool when a listing just
// fetched shows work for all of them: at least as many small files or
// subdirectories as connections. A copy or a walk of that directory
// (cp -r, tar, rsync) reads them next, over every connection (ahead.go,
// the listing prefetch); the connections not yet open would otherwise be
// dialled at the first read and make it wait for their logins. Dialled
// now, they log in beside the listings and the exact times asked before
// any file is read.
func (m *mount) warmFor(es []conn.Entry) {
	bs := int64(m.blocks.BlockSize())
	n := 0
	for _, e := range es {
		if e.Type == conn.TypeDir || e.Type == conn.TypeFile && e.Size > 0 && e.Size <= bs {
			n++
		}
		if n >= m.o.Conn.MaxConns {
			m.pool.Warm()
			return
		}
	}
}
