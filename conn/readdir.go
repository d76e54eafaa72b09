package conn

import (
	"context"
	"time"
)

// ReadDir returns the entries of dir, a whole directory as the server
// lists it: MLSD where the server has it, LIST otherwise. Some servers'
// MLSD says an entry is a symlink but not where it points (proftpd,
// pure-ftpd), or leaves dangling links out (proftpd); their LIST says,
// so such a listing is completed from a LIST of the same directory.
// Lines that are not understood and names that cannot be used are left
// out, counted in the log. Entries are in the server's order.
func (p *Pool) ReadDir(ctx context.Context, dir string) ([]Entry, error) {
	var l *Listing
	var mlsd bool
	reset := func() { l = NewListing(time.Now(), p.zone()) }
	if err := p.list(ctx, dir, false, reset, func(line string, m bool) error {
		mlsd = m
		l.Add(line, m)
		return nil
	}); err != nil {
		return nil, err
	}
	return p.entries(ctx, dir, l, mlsd), nil
}

// entries completes a listing read whole: it logs what was left out, and
// completes the symlinks of an MLSD listing that lacks their targets.
func (p *Pool) entries(ctx context.Context, dir string, l *Listing, mlsd bool) []Entry {
	log := p.cfg.Logger
	if l.Unparsed > 0 {
		log.Warn("listing lines not understood", "path", dir, "count", l.Unparsed, "samples", l.UnparsedSamples)
	}
	if mlsd && hasBlindLinks(l.Entries) {
		l.Entries = p.linkTargets(ctx, dir, l.Entries)
	}
	if l.DroppedCount > 0 {
		log.Warn("listing names refused (/, NUL, CR, LF, . or .., or over 255 bytes)", "path", dir, "count", l.DroppedCount, "samples", l.Dropped)
	}
	return l.Entries
}

// hasBlindLinks says whether a listing has symlinks without a target.
func hasBlindLinks(es []Entry) bool {
	for _, e := range es {
		if e.Type == TypeSymlink && e.Target == "" {
			return true
		}
	}
	return false
}

// linkTargets completes an MLSD listing whose symlinks lack their targets
// from a LIST of the same directory, which also shows the dangling links
// such an MLSD leaves out. When the LIST fails, the links stay as they
// are (a readlink of one then fails with EIO).
func (p *Pool) linkTargets(ctx context.Context, dir string, es []Entry) []Entry {
	var l *Listing
	reset := func() { l = NewListing(time.Now(), p.zone()) }
	if err := p.list(ctx, dir, true, reset, func(line string, _ bool) error {
		l.Add(line, false)
		return nil
	}); err != nil {
		p.cfg.Logger.Warn("symlink targets unknown: LIST failed", "path", dir, "err", err)
		return es
	}
	links := map[string]Entry{}
	for _, e := range l.Entries {
		if e.Type == TypeSymlink && e.Target != "" {
			links[e.Name] = e
		}
	}
	for i, e := range es {
		if le, ok := links[e.Name]; ok {
			if e.Type == TypeSymlink && e.Target == "" {
				es[i].Target = le.Target
			}
			delete(links, e.Name)
		}
	}
	for _, le := range links {
		es = append(es, le)
	}
	return es
}
