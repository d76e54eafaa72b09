package conn

import (
	"context"
	"strings"
	"time"
)

// Names lists the names in dir over the control connection (STAT), in
// one round trip and without a data connection, for a check that only
// needs to know which names exist there: the entries have LIST's facts,
// not MLSD's. ok is false where STAT cannot stand for the listing (STAT
// refused here or for dir, a path STAT takes for a pattern, a line only
// LIST can read, nothing listed: an empty directory looks like a
// missing one): the caller lists as usual.
func (p *Pool) Names(ctx context.Context, dir string) (es []Entry, ok bool, err error) {
	if _, err := p.features(ctx); err != nil {
		return nil, false, err
	}
	if !p.statListings() || strings.ContainsAny(dir, statUnsafe) {
		return nil, false, nil
	}
	err = p.do(ctx, Metadata, func(c *Conn) error {
		l := NewListing(time.Now(), p.zone())
		a, err := p.statList(ctx, c, dir, func(line string) error {
			l.Add(p.listingLine(dir, line), false)
			return nil
		})
		es, ok = l.Entries, err == nil && a == statListed
		return err
	})
	if err != nil || !ok {
		return nil, false, err
	}
	return es, true, nil
}
