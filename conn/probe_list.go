package conn

// The listing probes: MLSD and MLST, STAT over the control connection,
// LIST and what its parsers make of it (lines they cannot read, names
// that are not UTF-8), and the time zone of LIST's times against MDTM's,
// which RFC 3659 puts in UTC.

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// mlsd lists the directory with MLSD and asks MLST of it.
func (pr *prober) mlsd(ctx context.Context, c *Conn) {
	if !c.feat.MLSD {
		pr.add(Finding{Topic: "MLSD/MLST", Verdict: ProbeUnsupported, Detail: "not in FEAT: listings come from LIST, with times to the minute; exact times from MDTM when a file's attributes are asked"})
		return
	}
	l := NewListing(time.Now(), time.UTC)
	err := pr.pool.listData(ctx, c, pr.o.Dir, false, func(line string, mlsd bool) error {
		l.Add(line, mlsd)
		return nil
	})
	if err != nil {
		pr.add(Finding{Topic: "MLSD", Verdict: ProbeProblem, Detail: "offered, but failed: " + err.Error()})
		return
	}
	pr.add(parsedFinding("MLSD", l))
	if c.broken {
		return
	}
	if err := c.send(ctx, "MLST "+pr.o.Dir); err != nil {
		pr.add(Finding{Topic: "MLST", Verdict: ProbeProblem, Detail: err.Error()})
		return
	}
	if e, ok, err := c.readMLST(ctx, pr.o.Dir); !ok {
		pr.add(Finding{Topic: "MLST", Verdict: ProbeProblem, Detail: fmt.Sprintf("refused for %s: %v", pr.o.Dir, err)})
	} else {
		pr.add(Finding{Topic: "MLST", Verdict: ProbeOK, Detail: fmt.Sprintf("%s: type %s, modified %s", pr.o.Dir, typeName(e.Type), e.ModTime.Format(time.DateTime))})
	}
}

// parsedFinding says how many lines of a listing were read, and which
// were not.
func parsedFinding(topic string, l *Listing) Finding {
	f := Finding{Topic: topic, Verdict: ProbeOK, Detail: fmt.Sprintf("%d entries", len(l.Entries))}
	if l.Unparsed > 0 {
		f.Verdict = ProbeProblem
		f.Detail += fmt.Sprintf("; %d lines no parser reads, left out of the mount, e.g. %q", l.Unparsed, l.UnparsedSamples[0])
	}
	if l.DroppedCount > 0 {
		f.Verdict = ProbeProblem
		f.Detail += fmt.Sprintf("; %d names that cannot be file names here, left out, e.g. %q", l.DroppedCount, l.Dropped[0])
	}
	return f
}

func typeName(t Type) string {
	switch t {
	case TypeDir:
		return "dir"
	case TypeSymlink:
		return "symlink"
	}
	return "file"
}

// stat asks STAT -a of the directory, which lists it over the control
// connection on many servers, where the pool uses it when MLSD is
// missing.
func (pr *prober) stat(ctx context.Context, c *Conn) {
	if err := c.send(ctx, statCommand(pr.o.Dir)); err != nil {
		pr.add(Finding{Topic: "STAT listing", Verdict: ProbeProblem, Detail: err.Error()})
		return
	}
	lines := 0
	a, err := c.readStatListing(ctx, pr.o.Dir, pr.cfg.MaxListingBytes, pr.cfg.MaxListingEntries, func(string) error {
		lines++
		return nil
	})
	pr.statLines = -1
	use := "the mount lists with it where MLSD is missing: one round trip, no data connection"
	if c.feat.MLSD {
		use = "the mount lists with MLSD here"
	}
	switch {
	case err != nil:
		pr.add(Finding{Topic: "STAT listing", Verdict: ProbeProblem, Detail: err.Error()})
	case a == statUnsure:
		pr.add(Finding{Topic: "STAT listing", Verdict: ProbeOK, Detail: "a name with a 0xFF byte, which STAT replies do not carry the same way on every server: the mount lists such a directory with LIST"})
	case a == statListed:
		pr.statLines = lines
		pr.add(Finding{Topic: "STAT listing", Verdict: ProbeOK, Detail: fmt.Sprintf("%d lines over the control connection; %s", lines, use)})
	case a == statEmpty:
		pr.statLines = 0
		pr.add(Finding{Topic: "STAT listing", Verdict: ProbeOK, Detail: "an empty listing: the directory is empty, or STAT does not list here (the mount then checks with LIST)"})
	default:
		pr.add(Finding{Topic: "STAT listing", Verdict: ProbeUnsupported, Detail: "STAT with a path is not a listing here: LIST over a data connection"})
	}
}

// list lists the directory with LIST -a, reads it as the mount does, and
// compares a file's listed time with its MDTM.
func (pr *prober) list(ctx context.Context, c *Conn) {
	l := NewListing(time.Now(), time.UTC)
	lines := 0
	err := pr.pool.listData(ctx, c, pr.o.Dir, true, func(line string, mlsd bool) error {
		lines++
		l.Add(line, mlsd)
		return nil
	})
	if err != nil {
		pr.add(Finding{Topic: "LIST", Verdict: ProbeProblem, Detail: err.Error()})
		return
	}
	f := parsedFinding("LIST", l)
	if pr.statLines > 0 && pr.statLines != lines {
		f.Detail += fmt.Sprintf("; STAT gave %d lines, LIST %d", pr.statLines, lines)
	}
	pr.add(f)
	pr.names(c, l)
	for _, e := range l.Entries {
		if e.Type == TypeFile && e.Precision == PrecisionMinute && !c.broken {
			pr.timeZone(ctx, c, path.Join(pr.o.Dir, e.Name), e.ModTime)
			break
		}
	}
}

// names reports the names of a listing that are not UTF-8, and the
// encoding they read in (--encoding); with an encoding, the names it
// could not read.
func (pr *prober) names(c *Conn, l *Listing) {
	var bad []string
	for _, e := range l.Entries {
		if !utf8.ValidString(e.Name) || c.cfg.Encoding != nil && strings.ContainsRune(e.Name, utf8.RuneError) {
			bad = append(bad, e.Name)
		}
	}
	if len(bad) == 0 {
		detail := fmt.Sprintf("all %d UTF-8", len(l.Entries))
		switch {
		case len(l.Entries) == 0:
			detail = "none listed to check"
		case c.cfg.Encoding != nil:
			detail = fmt.Sprintf("all %d read in %s", len(l.Entries), c.cfg.Encoding)
		}
		pr.add(Finding{Topic: "names", Verdict: ProbeOK, Detail: detail})
		return
	}
	if c.cfg.Encoding != nil {
		pr.add(Finding{Topic: "names", Verdict: ProbeProblem, Detail: fmt.Sprintf("%d do not read in %s, e.g. %s: the mount shows them with U+FFFD and cannot reach them", len(bad), c.cfg.Encoding, strconv.Quote(bad[0]))})
		return
	}
	f := Finding{Topic: "names", Verdict: ProbeProblem, Detail: fmt.Sprintf("%d not UTF-8, e.g. %s: the mount shows their bytes as they are, which programs may print oddly", len(bad), strconv.Quote(bad[0]))}
	if c.feat.UTF8 {
		f.Detail += " (the server says UTF8 in FEAT)"
	}
	if gs := GuessCharset(bad); len(gs) > 0 {
		f.Detail += fmt.Sprintf("; they read in %s, the first as %q", gs[0].Charset, gs[0].Sample)
		var also []string
		for _, g := range gs[1:min(len(gs), 4)] {
			also = append(also, fmt.Sprintf("%s as %q", g.Charset, g.Sample))
		}
		if len(also) > 0 {
			// The same bytes read in several; a person knows which.
			f.Detail += " (also in " + strings.Join(also, ", ") + ")"
		}
		f.Advice, f.Value = AdviseEncoding, gs[0].Charset
	}
	pr.add(f)
}

// timeZone compares a file's LIST time (read as UTC, to the minute) with
// its MDTM. A difference of whole quarters of an hour is the server's
// zone: LIST in local time.
func (pr *prober) timeZone(ctx context.Context, c *Conn, p string, listed time.Time) {
	r, err := c.expect(ctx, "mdtm", p, []int{213}, "MDTM "+p)
	if err != nil {
		return // no MDTM, or not for this file: another may tell
	}
	exact, ok := parseTimeVal(strings.TrimSpace(r.msg))
	if !ok {
		return
	}
	pr.tzDone = true
	off := listed.Sub(exact.Truncate(time.Minute)).Round(15 * time.Minute)
	f := Finding{Topic: "time zone of LIST", Verdict: ProbeOK, Detail: "LIST's times are in MDTM's zone (both UTC, or both the server's local time: \"time zone of MDTM\" says which, after a write)"}
	if off != 0 {
		f.Verdict = ProbeProblem
		f.Detail = fmt.Sprintf("LIST's times are %s off MDTM's: the server lists in another zone than MDTM's (its local time); times from listings will be off by that much, exact ones (MDTM) are right; --server-timezone would move both, so it cannot help", signed(off))
		if c.feat.MLSD {
			f.Verdict = ProbeOK
			f.Detail += "; the mount lists with MLSD here, which is UTC"
		}
	}
	pr.add(f)
}

func signed(d time.Duration) string {
	if d > 0 {
		return "+" + d.String()
	}
	return d.String()
}
