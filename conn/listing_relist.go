package conn

// Listings again, over the control connection, on servers with MLSD. A
// directory listed before is listed again with STAT (one round trip, no
// data connection) instead of EPSV, a connect and MLSD (three): its LIST
// lines tell which entries are as they were, and those keep the exact
// facts known from before; the others get theirs from MLST, pipelined
// (one round trip more), or from MLSD where there are too many. A
// directory never listed goes the same way where the link is slow enough
// that STAT and the MLSTs of all its entries (two round trips) beat MLSD.
//
// An entry keeps its known facts only where its LIST line agrees with
// them: name, type, size (not a directory's: servers give what they
// like), mode where both tell it, a symlink's target, and the known time
// within the line's minute (or day). A line cannot tell a file rewritten
// with the same size in the same minute: so the known time is kept only
// once its minute ended relistSettle before the entry was known, when
// any later write lists another minute. The unique fact is the known one:
// the mount keys cached blocks by it together with size and exact time,
// and an entry the mount made itself (without a unique fact) keeps none.

import (
	"context"
	"errors"
	"path"
	"strings"
	"time"
)

// Known is what a caller knows of a directory from an earlier listing:
// entries whose facts are the server's, to the second (from MLSD or
// MLST, or set on the server by the caller), all known at At or later.
type Known struct {
	Entries []Entry
	At      time.Time
}

// relistSettle is how long after a known time's minute ended the time is
// trusted against a LIST line: a server's clock may lag ours this much.
const relistSettle = time.Minute

// factCost is the server's time for one MLST (proftpd, measured: about
// 0.1 ms; its STAT of 40 entries 1.3 ms). MLSTs are asked where they
// cost the server less than the two round trips MLSD costs more.
const factCost = 100 * time.Microsecond

// minColdFacts is the fewest MLSTs the link must afford (by factCost)
// for a directory never listed to be listed with STAT: on a fast link
// MLSD costs little, and a directory larger than that would pay STAT
// and MLSD both.
const minColdFacts = 16

// maxFacts is how many MLSTs cost the server less than two round trips.
func (p *Pool) maxFacts() int { return int(2 * p.RTT() / factCost) }

// ReadDirKnown is ReadDir for a directory known from an earlier listing
// (k, which may be empty): the same entries, facts and symlink targets,
// in fewer round trips where the server lists with STAT (see above).
// Where STAT cannot stand for the listing, MLSD lists it; where STAT
// proves not to list here, MLSD lists every directory from then on.
func (p *Pool) ReadDirKnown(ctx context.Context, dir string, k Known) ([]Entry, error) {
	f, err := p.features(ctx)
	if err != nil {
		return nil, err
	}
	if !f.MLSD || !p.Pipelining() || !p.statListings() || strings.ContainsAny(dir, statUnsafe) ||
		len(k.Entries) == 0 && p.maxFacts() < minColdFacts {
		return p.ReadDir(ctx, dir)
	}
	es, listed, a, err := p.relist(ctx, dir, k)
	switch {
	case err != nil && (!errors.Is(err, errOutOfStep) || ctx.Err() != nil):
		// A timeout, a broken connection retried enough, a listing
		// too large: MLSD would fare no better.
		return nil, err
	case err == nil && listed:
		return es, nil
	}
	es, err = p.ReadDir(ctx, dir)
	if err == nil && (a == statFailed || a == statEmpty && len(es) > 0) {
		p.statMisleads(dir, a)
	}
	return es, err
}

// relist lists dir with STAT and MLSTs for what k does not tell: the
// entries, or listed false where MLSD must list (and a says why). The
// two are exchanges of their own, each on a connection from the pool: a
// rider's is lent for one exchange (pool_ride.go).
func (p *Pool) relist(ctx context.Context, dir string, k Known) (es []Entry, listed bool, a statAnswer, err error) {
	var l *Listing
	err = p.do(ctx, Metadata, func(c *Conn) (err error) {
		l, a, err = p.relistStat(ctx, c, dir)
		return err
	})
	if err != nil || a != statListed {
		return nil, false, a, err
	}
	known := make(map[string]Entry, len(k.Entries))
	for _, e := range k.Entries {
		known[e.Name] = e
	}
	var ask []int
	for i, e := range l.Entries {
		if ke, ok := known[e.Name]; ok && sameVersion(ke, e, k.At) {
			l.Entries[i] = ke
			continue
		}
		// MLSD and LIST may not cut a name with spaces at its ends
		// alike, and MLST may not find it: MLSD says.
		if strings.TrimSpace(e.Name) != e.Name {
			return nil, false, a, nil
		}
		// A name that does not convert back to the server's encoding
		// cannot go in an MLST (proftpd's STAT may not give the bytes
		// of the disk): MLSD says.
		if p.CheckName(e.Name) != nil {
			return nil, false, a, nil
		}
		ask = append(ask, i)
	}
	if len(ask) > p.maxFacts() {
		return nil, false, a, nil
	}
	if len(ask) > 0 {
		lines := make([]string, len(ask))
		for n, i := range ask {
			lines[n] = "MLST " + path.Join(dir, l.Entries[i].Name)
		}
		err = p.do(ctx, Metadata, func(c *Conn) error {
			err := c.pipeline(ctx, lines, func(n int) error {
				e := &l.Entries[ask[n]]
				return c.readFacts(ctx, path.Join(dir, e.Name), e)
			})
			if err != nil {
				p.pipelineFailed(ctx, "mlst", err)
			}
			return err
		})
		if err != nil {
			return nil, false, a, err
		}
	}
	return p.entries(ctx, dir, l, false), true, a, nil
}

// relistStat is relist's STAT on c: the listing, where a says it is one.
func (p *Pool) relistStat(ctx context.Context, c *Conn, dir string) (*Listing, statAnswer, error) {
	if !p.statListings() || !p.Pipelining() {
		return nil, statRefused, nil // turned off by a try before this one
	}
	l := NewListing(time.Now(), time.UTC)
	a, err := p.statList(ctx, c, dir, func(line string) error {
		l.Add(line, false)
		return nil
	})
	if errors.Is(err, errOutOfStep) {
		// STAT answered with what no STAT answers: not a listing here.
		p.statMisleads(dir, statRefused)
	}
	if err == nil && a == statListed && l.Unparsed > 0 {
		// MLSD lists what LIST's parser cannot read. Lines none of
		// which it reads are no listing: as nothing, if MLSD lists.
		if a = statUnsure; len(l.Entries) == 0 && l.Skipped == 0 {
			a = statEmpty
		}
	}
	return l, a, err
}

// sameVersion says whether the LIST line's entry e shows the version of
// the file known as k (known at the latest at at), so that k's exact
// facts still hold.
func sameVersion(k, e Entry, at time.Time) bool {
	if k.Type != e.Type || k.Precision != PrecisionSecond ||
		k.Type != TypeDir && k.Size != e.Size ||
		k.Type == TypeSymlink && k.Target != e.Target ||
		k.HasMode && e.HasMode && k.Mode != e.Mode {
		return false
	}
	var span time.Duration
	switch e.Precision {
	case PrecisionDay:
		span = 24 * time.Hour
	case PrecisionMinute:
		span = time.Minute
	default:
		span = time.Second
	}
	end := e.ModTime.Add(span)
	return !k.ModTime.Before(e.ModTime) && k.ModTime.Before(end) && !end.Add(relistSettle).After(at)
}
