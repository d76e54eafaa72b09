package fs

import (
	"context"
	"errors"
	"io"
	"path"
	"time"

	"ftpfs/conn"
)

// Committing: the content of a file open for writing reaches the server
// under a hidden temporary name in the same directory, and is renamed
// over the target once the server has acknowledged every byte and holds
// as many as were sent (conn checks that, and puts the upload in place
// on its own connection). So a failed upload leaves the old content, or
// nothing, under the name, and the stage keeps the bytes for a retry.

// tmpPrefix starts the hidden names of uploads in progress; listings never
// show them.
const tmpPrefix = ".ftpfs-upload-"

// replace is how an upload takes the place of its target.
type replace int

const (
	// viaTemp: a hidden temporary name, renamed over the target.
	viaTemp replace = iota
	// direct: the target itself; for a new, empty file, which has no old
	// content to keep and cannot be left half uploaded.
	direct
	// overPlaceholder: a temporary name; the target is the empty file
	// this handle put there, deleted before the rename.
	overPlaceholder
)

// commit is one upload of a file's content to its name on the server.
type commit struct {
	m    *mount
	rel  string // the name it ends under, below the root
	size int64  // the bytes it holds
	how  replace
	mode *uint32 // a chmod that goes with the upload, set before the rename
}

// upload stores the first size bytes of st under c.rel: under a hidden
// temporary name (unless how is direct), then put in place by finish.
func (c *commit) upload(ctx context.Context, st *stage) error {
	m := c.m
	tmp := m.uploadName(c.rel)
	if c.how == direct {
		tmp = c.rel
	}
	up, err := m.pool.TryStartUpload(ctx, m.remotePath(tmp))
	if errors.Is(err, conn.ErrBusy) {
		// Streams of files still open hold the connections: they give
		// them up, their data is staged anyway.
		m.yieldStreams()
		up, err = m.pool.StartUpload(ctx, m.remotePath(tmp))
	}
	if err != nil {
		return err
	}
	src := st.reader(c.size)
	if err := up.SendFrom(ctx, src, c.size); err != nil {
		m.removeTmp(tmp)
		return err
	}
	return c.finish(ctx, up, tmp, src)
}

// resume goes on with up, a stream to tmp that broke with cause, from
// what the server got, with the rest of st; then finishes it. Failing
// (but on a full server), the stage is uploaded whole once more.
func (c *commit) resume(ctx context.Context, up *conn.Upload, tmp string, cause error, st *stage) error {
	src := st.reader(c.size)
	err := up.Resume(ctx, src, c.size, cause)
	if err == nil {
		err = c.finish(ctx, up, tmp, src)
	} else {
		c.m.removeTmp(tmp)
	}
	if err != nil && !serverFull(err) {
		c.m.log.Debug("broken stream not resumed; uploading the stage", "path", c.rel, "err", err)
		err = c.upload(ctx, st)
	}
	return err
}

// finish ends an upload to tmp, which conn checks, chmods when a mode
// goes with it, and renames over c.rel, pipelined on the upload's
// connection; src, the staged bytes, lets a transfer that broke at its
// end go on. Whatever fails, tmp does not stay behind, unless it has
// become the only copy on the server.
func (c *commit) finish(ctx context.Context, up *conn.Upload, tmp string, src io.ReaderAt) error {
	m := c.m
	placed, err := up.CommitFrom(ctx, c.placement(tmp), src)
	if err != nil && c.keptTmp(placed, tmp, err) {
		return err
	}
	if err != nil {
		m.removeTmp(tmp)
		return err
	}
	m.learnZone(ctx, m.remotePath(c.rel), placed)
	c.done(placed)
	return nil
}

// placement is how the content under tmp takes c.rel's place.
func (c *commit) placement(tmp string) conn.Placement {
	pl := conn.Placement{Size: c.size}
	if c.mode != nil {
		pl.Mode, pl.HasMode = *c.mode, true
	}
	if tmp != c.rel {
		// Our own empty placeholder is deleted first: nothing is lost if
		// the rename then fails (the stage has the content).
		pl.To, pl.DeleteTo = c.m.remotePath(c.rel), c.how == overPlaceholder
	}
	return pl
}

// keptTmp logs what placing tmp did besides failing or succeeding (err),
// and says whether tmp must stay: the server refused to rename over the
// old content, which is gone now, and tmp is the only copy on the server.
func (c *commit) keptTmp(placed conn.Placed, tmp string, err error) bool {
	m := c.m
	if placed.ModeErr != nil {
		m.log.Warn("chmod of an upload failed; the content is in place", "path", c.rel, "err", placed.ModeErr)
		if errors.Is(placed.ModeErr, conn.ClassUnsupported) || errors.Is(placed.ModeErr, conn.ClassPermission) {
			m.chmodRefused.Store(true) // new files keep the server's mode from now on
		}
	}
	if err == nil || !placed.Removed {
		return false
	}
	m.log.Error("rename over the target failed after removing it; the new content is on the server under a temporary name", "path", c.rel, "temporary", tmp, "err", err)
	m.dropEntry(c.rel)
	return true
}

// done records c's content in place on the server, with the time the
// server gave it where placed says.
func (c *commit) done(placed conn.Placed) {
	m := c.m
	remote := m.remotePath(c.rel)
	e := conn.Entry{
		Name: path.Base(c.rel), Type: conn.TypeFile, Size: c.size,
		// The server's time, as its listings will give it: another
		// a moment later would look like a change to whoever compares
		// times (an editor's "changed since reading").
		ModTime: placed.ModTime, Precision: conn.PrecisionSecond,
		Mode: m.modeOf(c.rel), HasMode: true,
	}
	if e.ModTime.IsZero() {
		// Not told (see conn's commit_time.go): a guess, marked as one
		// until the next listing.
		e.ModTime, e.Unique = time.Now().UTC().Truncate(time.Second), guessedTime
	}
	m.setEntry(c.rel, e)
	m.uploadedTime(c.rel, e)
	m.blocks.InvalidatePath(remote)
	m.lastUpload.Store(&uploaded{rel: c.rel, at: time.Now()})
}

// uploadedTime tells the exact times of LIST servers (see precise) the
// time of e, the entry of rel just uploaded: its LIST line gives the
// minute, which the version before had too if as long and written in
// the same minute, and that version's time would stand for this one's.
// A guess is no time to keep: the minutes it may fall in are forgotten.
func (m *mount) uploadedTime(rel string, e conn.Entry) {
	if m.times.Listed {
		return // listings give seconds: no times kept by minute
	}
	if e.Unique != guessedTime {
		m.mtimes.Add(preciseKey{rel, e.Size, e.ModTime.Truncate(time.Minute)}, e.ModTime)
		return
	}
	for _, back := range []time.Duration{0, time.Minute} {
		m.mtimes.Remove(preciseKey{rel, e.Size, e.ModTime.Add(-back).Truncate(time.Minute)})
	}
}

// uploaded is a file this mount has just put on the server.
type uploaded struct {
	rel string
	at  time.Time
}

// uploadedFresh is how long after its upload a file counts as just
// uploaded: long enough for the calls a program makes right after
// closing it.
const uploadedFresh = 5 * time.Second

// forgetUpload ends rel's moment as the file just uploaded: it moves or
// goes away.
func (m *mount) forgetUpload(rel string) {
	if u := m.lastUpload.Load(); u != nil && u.rel == rel {
		m.lastUpload.CompareAndSwap(u, nil)
	}
}

// justUploaded says whether rel is the file this mount uploaded last, a
// moment ago: it exists, and this mount may write it. Its time and mode
// are then set without waiting for the server's reply (see setAttrSoon).
func (m *mount) justUploaded(rel string) bool {
	u := m.lastUpload.Load()
	return u != nil && u.rel == rel && time.Since(u.at) < uploadedFresh
}

// serverFull says whether an upload failed because the server has no
// room for it: uploading it again cannot help.
func serverFull(err error) bool {
	return errors.Is(err, conn.ClassNoSpace) || errors.Is(err, conn.ClassQuota)
}

// uploadTimeout bounds one upload: the exchange timeout for the commands,
// plus time for the bytes at a modest 1 MiB/s; each read or write of the
// data connection has the exchange timeout of its own anyway.
func (m *mount) uploadTimeout(size int64) time.Duration {
	return 4*m.o.Conn.Timeout + time.Duration(size>>20)*time.Second
}

// changedSince tells whether the server's copy of rel differs from base
// (size or modification time). For a new file, or on a server that
// cannot tell one file's entry alone, it cannot tell and says no.
func (m *mount) changedSince(ctx context.Context, rel string, base *conn.Entry) bool {
	if base == nil {
		return false
	}
	now, err := m.pool.Stat(ctx, m.remotePath(rel))
	if err != nil {
		return false // gone or unknown: nothing to overwrite by mistake
	}
	if base.Unique == guessedTime {
		return now.Size != base.Size
	}
	return now.Size != base.Size || !now.ModTime.Equal(base.ModTime)
}

// guessedTime marks an entry whose time this mount guessed after its own
// upload: the two-writers check then compares sizes only.
const guessedTime = "ftpfs:guessed-time"

// conflictName is where a version that lost a two-writers race goes.
func conflictName(rel string) string {
	return derived(rel, "", ".conflict-"+time.Now().UTC().Format("20060102-150405"))
}

// uploadName is where an upload of rel goes before it is renamed over
// rel: a hidden name in the same directory, random and marked by
// tmpPrefix, which fits wherever rel fits (names.go), or rel itself with
// NoAtomicUpload.
func (m *mount) uploadName(rel string) string {
	if m.o.NoAtomicUpload {
		return rel
	}
	return derived(rel, tmpPrefix+randomName()+"-", "")
}

// removeTmp deletes a temporary upload name, best effort.
func (m *mount) removeTmp(tmp string) {
	ctx, cancel := context.WithTimeout(context.Background(), m.o.Conn.Timeout)
	defer cancel()
	if err := m.pool.Delete(ctx, m.remotePath(tmp)); err != nil && !errors.Is(err, conn.ClassNotFound) {
		m.log.Warn("temporary upload not removed", "path", tmp, "err", err)
	}
}
