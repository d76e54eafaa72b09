package conn

// Listings over the control connection. "STAT -a dir" answers with the
// directory's LIST lines in a multi-line reply (vsftpd, proftpd, pure-ftpd
// and ftpd do), so a listing costs one round trip and no data connection,
// and the listings of several directories can be pipelined. The reply is
// read as a data connection's listing is: the same line splitter and the
// same caps (lines and bytes), never the caps of an ordinary reply.
//
// What a reply cannot tell: vsftpd and pure-ftpd answer a missing
// directory with an empty listing, and a server may answer STAT with a
// path with its status (211) or refuse it. A reply without a single line
// or a refusal sends that directory to LIST; a refusal of STAT itself, or
// a LIST that succeeds where STAT failed or found nothing, sends every
// later listing there too.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// statAnswer is what a STAT reply says of a listing.
type statAnswer int

const (
	statListed  statAnswer = iota // the lines were the listing
	statEmpty                     // no line at all: empty, missing, or not listed
	statUnsure                    // a line only LIST can tell (a 0xFF in it)
	statFailed                    // refused for this path: LIST decides
	statRefused                   // STAT with a path is not a listing here
)

// statCommand lists dir with the same options as LIST.
func statCommand(dir string) string { return "STAT -a " + dir }

// readStatListing reads the reply to statCommand(dir), already sent, and
// hands each line of the listing to fn, within the pool's listing caps.
// An error means the connection is broken (or fn failed, which breaks it
// too): the reply could not be read to its end.
func (c *Conn) readStatListing(ctx context.Context, dir string, maxBytes int64, maxLines int, fn func(line string) error) (statAnswer, error) {
	c.raw.SetReadDeadline(c.deadline(ctx))
	stop := context.AfterFunc(ctx, func() { c.raw.SetReadDeadline(time.Now()) })
	defer stop()
	first, code, err := c.readFirst(ctx)
	if err != nil {
		return 0, &Error{Op: "stat", Path: dir, Err: err}
	}
	switch {
	case code == 211 || code == 500 || code == 501 || code == 502 || code == 504:
		_, err := c.readRest(ctx, first, code)
		return statRefused, err
	case code >= 400:
		_, err := c.readRest(ctx, first, code)
		return statFailed, err
	case code != 212 && code != 213:
		c.broken = true
		return 0, &Error{Op: "stat", Path: dir, Code: code, Msg: first[4:], Err: errOutOfStep}
	case first[3] != '-':
		return statEmpty, nil
	}
	body := &statBody{c: c, ctx: ctx, code: first[:3]}
	lines, iac := 0, false
	err = readListing(body, maxBytes, maxLines, func(l string) error {
		lines++
		// Servers differ on 0xFF in STAT's lines: ftpd doubles it as in
		// any reply, vsftpd sends it as it is, whatever it does in other
		// replies. A name with one is left to LIST to tell; the rest of
		// the reply is still read, to stay in step.
		if iac = iac || strings.Contains(l, "\xff"); iac {
			return nil
		}
		// proftpd and ftpd indent each line by one space, as RFC 959
		// asks of lines that could start with a digit; a LIST line never
		// starts with a space.
		return fn(strings.TrimPrefix(l, " "))
	})
	if err != nil {
		c.broken = true
		if errors.Is(err, ErrListingTooLarge) {
			err = &Error{Op: "list", Path: dir, Err: err}
		}
		return 0, c.ioErr(ctx, err)
	}
	if iac {
		return statUnsure, nil
	}
	if lines == 0 {
		return statEmpty, nil
	}
	return statListed, nil
}

// statBody reads the lines of a multi-line reply after its first, as a
// stream that ends, with io.EOF, once the reply's last line has been read.
// It hands out at most one line per Read, so that each line's start can be
// checked for the end before it is handed on.
type statBody struct {
	c       *Conn
	ctx     context.Context
	code    string // the reply's code
	midLine bool   // the last Read ended within a line
	done    bool
}

func (b *statBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	r := b.c.r
	// A long listing may take longer than one exchange's timeout; each
	// read gets its own, as on a data connection.
	b.c.raw.SetReadDeadline(b.c.deadline(b.ctx))
	if !b.midLine {
		head, err := r.Peek(4)
		if err != nil && len(head) < 4 {
			return 0, noEOF(err)
		}
		switch string(head) {
		case b.code + " ":
			if _, err := b.c.readLine(); err != nil {
				return 0, noEOF(err)
			}
			b.done = true
			return 0, io.EOF
		case b.code + "-":
			// A line in RFC 959's other style of multi-line reply.
			r.Discard(4)
		}
	}
	if _, err := r.Peek(1); err != nil {
		return 0, noEOF(err)
	}
	buf, _ := r.Peek(min(len(p), r.Buffered()))
	n := len(buf)
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		n = i + 1
	}
	copy(p, buf[:n])
	r.Discard(n)
	b.midLine = p[n-1] != '\n'
	return n, nil
}

// noEOF turns the end of the control connection inside a reply into an
// error: the listing would otherwise look complete.
func noEOF(err error) error {
	if err == io.EOF {
		return fmt.Errorf("connection closed within a reply: %w", io.ErrUnexpectedEOF)
	}
	return err
}

// statListings says whether listings are asked with STAT: on servers
// without MLSD, until STAT proved not to list there.
func (p *Pool) statListings() bool { return !p.noStat.Load() }

// statList lists dir with STAT on c. A server that refuses STAT with a
// path lists with LIST from now on.
func (p *Pool) statList(ctx context.Context, c *Conn, dir string, fn func(line string) error) (statAnswer, error) {
	if err := c.send(ctx, statCommand(dir)); err != nil {
		return 0, &Error{Op: "stat", Path: dir, Err: err}
	}
	a, err := c.readStatListing(ctx, dir, p.cfg.MaxListingBytes, p.cfg.MaxListingEntries, fn)
	if err == nil && a == statRefused {
		p.statMisleads(dir, a)
	}
	return a, err
}

// statMisleads turns listings over STAT off for good: STAT refused a
// path, or LIST listed what STAT did not.
func (p *Pool) statMisleads(dir string, a statAnswer) {
	if !p.noStat.Swap(true) {
		why := map[statAnswer]string{statEmpty: "STAT found nothing where LIST lists", statFailed: "STAT refused a directory LIST lists", statRefused: "STAT with a path refused"}[a]
		p.cfg.Logger.Info("listings over the data connection from now on", "why", why, "path", dir)
	}
}

// ListsTogether says whether ReadDirs lists several directories in one
// round trip here: listings come over the control connection, and
// commands may be pipelined.
func (p *Pool) ListsTogether(ctx context.Context) bool {
	_, err := p.features(ctx)
	return err == nil && p.statListings() && p.Pipelining()
}

// ReadDirs lists dirs as ReadDir does each, and hands fn each result, in
// order, on the caller's goroutine, as soon as it and those before it are
// in. Where ListsTogether, their STATs are pipelined: N listings in one
// round trip. On a server with MLSD, whose listings give exact times and
// facts, the facts of their entries then come from MLST, pipelined as
// well: the listings are as MLSD's, in two round trips (one per chunk
// and one more on a connection that takes several, below). A directory
// whose STAT answer cannot stand for its listing, one whose path STAT
// could take for a pattern or several paths, or all of them where
// pipelining fails, is listed alone, as elsewhere.
//
// The server's work for a large batch of MLSTs (about 5 ms a directory
// of 40 at proftpd: 1.3 ms its STAT, 0.1 ms each MLST) outweighs round
// trips on a fast link, so on a server with MLSD the batch is cut in
// chunks that up to MaxConns-1 connections take one after another
// (listing_together.go).
func (p *Pool) ReadDirs(ctx context.Context, dirs []string, fn func(i int, es []Entry, err error)) {
	// The batch may outlive the call (a cancelled caller; a login it
	// started): it keeps its own dirs.
	t := &dirsTogether{p: p, dirs: slices.Clone(dirs), listings: make([]*Listing, len(dirs)), settled: make([]chan struct{}, len(dirs))}
	if f, err := p.features(ctx); err == nil && p.ListsTogether(ctx) {
		t.facts = f.MLSD
		for i, dir := range dirs {
			if !f.MLSD || !strings.ContainsAny(dir, statUnsafe) {
				t.batch = append(t.batch, i)
				t.settled[i] = make(chan struct{})
			}
		}
		// Not waited for beyond the listings: a connection still
		// logging in when the others have listed all comes back to the
		// pool by itself.
		go t.list(ctx)
	}
	for i, dir := range dirs {
		if t.settled[i] != nil {
			select {
			case <-t.settled[i]:
			case <-ctx.Done():
				fn(i, nil, ctx.Err())
				continue
			}
		}
		if t.listings[i] != nil {
			fn(i, p.entries(ctx, dir, t.listings[i], false), nil)
			continue
		}
		es, err := p.ReadDir(ctx, dir)
		fn(i, es, err)
	}
}

// statUnsafe are the bytes of a path that some servers' STAT takes for a
// pattern (vsftpd, proftpd, pure-ftpd glob) or a separator of paths
// (pure-ftpd): where MLSD lists any path, such a directory is left to it.
// Where LIST is the only listing, it takes the path as STAT does.
const statUnsafe = " \t*?[]{}~"

// readStatInto reads the reply to the STAT of dir into a new listing:
// nil where the answer cannot stand for the listing.
func (p *Pool) readStatInto(ctx context.Context, c *Conn, dir string) (*Listing, error) {
	l := NewListing(time.Now(), p.zone())
	a, err := c.readStatListing(ctx, dir, p.cfg.MaxListingBytes, p.cfg.MaxListingEntries, func(line string) error {
		l.Add(p.listingLine(dir, line), false)
		return nil
	})
	if a == statRefused {
		p.statMisleads(dir, a)
	}
	if err != nil || a != statListed {
		return nil, err
	}
	return l, nil
}

// readFacts reads the reply to the MLST of listed's entry and puts its
// facts in place of the LIST line's. A symlink takes only its time from
// MLST, and only when MLST describes the link rather than its target:
// where it points, LIST says. An entry MLST refuses keeps its LIST line's
// facts.
func (c *Conn) readFacts(ctx context.Context, path string, listed *Entry) error {
	e, ok, err := c.readMLST(ctx, path)
	switch {
	case !ok:
	case listed.Type != TypeSymlink:
		e.Name = listed.Name
		*listed = e
	case e.Type == TypeSymlink:
		// The link's own facts; where it points, LIST says.
		listed.ModTime, listed.Precision, listed.Unique = e.ModTime, e.Precision, e.Unique
	}
	return err
}

// readMLST reads the reply to MLST of path: its entry, or ok false when
// the server refused it; an error when the reply cannot be MLST's or the
// connection broke.
func (c *Conn) readMLST(ctx context.Context, path string) (e Entry, ok bool, err error) {
	r, err := c.readReply(ctx)
	if err != nil {
		return e, false, &Error{Op: "mlst", Path: path, Err: err}
	}
	switch {
	case r.code == 250:
		if lines := strings.Split(r.msg, "\n"); len(lines) >= 2 {
			if e, err := ParseMLST(lines[1]); err == nil {
				return e, true, nil
			}
		}
		return e, false, nil
	case r.code == 421:
		c.broken = true
		return e, false, &Error{Op: "mlst", Path: path, Code: r.code, Msg: firstLine(r.msg)}
	case r.code >= 450:
		return e, false, nil
	}
	return e, false, &Error{Op: "mlst", Path: path, Code: r.code, Msg: firstLine(r.msg), Err: errOutOfStep}
}
