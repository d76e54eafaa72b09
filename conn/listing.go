package conn

// Directory listings: MLSD fact lines (RFC 3659 section 7) and the LIST
// formats servers really send: ls -l as vsftpd, proftpd, pure-ftpd and
// busybox write it, and IIS's DOS style. LIST has no standard, so its
// parser recognizes those shapes and refuses anything else rather than
// guess: a line it cannot place is counted as unparsed, never turned into
// a wrong entry.
//
// By topic: listing_lines.go splits a listing's data into lines within
// the pool's caps; listing_mlsd.go reads MLSD and MLST fact lines,
// listing_unix.go LIST lines in ls -l style and listing_dos.go in IIS's;
// listing_names.go says which names can be path components;
// listing_fields.go holds the number and date readers they share, and
// timeval.go the time format of MLSD and MDTM. This file files each
// parsed line of a listing into a Listing.

import (
	"errors"
	"strings"
	"time"
)

var (
	// ErrNoEntry is returned for a line that is valid but names no entry
	// of the directory: blank lines, ls's "total N", MLSD's cdir and pdir,
	// and the "." and ".." directories of "LIST -a".
	ErrNoEntry = errors.New("listing line names no entry")
	// ErrUnrecognized is returned for a line in no format the parsers know.
	ErrUnrecognized = errors.New("unrecognized listing line")
)

const (
	// maxSamples bounds the unparsed lines and dropped names kept for the
	// log, so that a hostile listing cannot grow them without limit.
	maxSamples = 8
	// maxSampleLen bounds each kept sample.
	maxSampleLen = 256
)

// Listing accumulates the parsed lines of one directory listing. Every
// line ends up in exactly one of Entries, Skipped, DroppedCount or
// Unparsed, so nothing disappears without a count. Entries are kept as
// the server sent them: duplicates and order are the caller's concern. A
// Listing is not safe for concurrent use.
type Listing struct {
	// Entries are the usable entries, in the server's order.
	Entries []Entry
	// Skipped counts lines that carry no entry (ErrNoEntry).
	Skipped int
	// DroppedCount counts entries refused for their name; Dropped keeps
	// the first few of those names (clipped) for a log line.
	DroppedCount int
	Dropped      []string
	// Unparsed counts lines no parser recognized, including lines longer
	// than 64 KiB; UnparsedSamples keeps the first few (clipped) to log.
	Unparsed        int
	UnparsedSamples []string

	now time.Time
	loc *time.Location
}

// NewListing returns an empty Listing. now and loc are ParseLIST's
// reference time and server zone (nil means UTC).
func NewListing(now time.Time, loc *time.Location) *Listing {
	if loc == nil {
		loc = time.UTC
	}
	return &Listing{now: now, loc: loc}
}

// Add parses one line, without its line ending, as MLSD when mlsd is set
// and as LIST otherwise, and files the result. It fits the callback of
// Pool.list. LongLine, and any line over 64 KiB, counts as unparsed.
func (l *Listing) Add(line string, mlsd bool) {
	if line == LongLine || len(line) > maxLine {
		l.unparsed(line)
		return
	}
	var (
		e   Entry
		err error
	)
	if mlsd {
		e, err = ParseMLSD(line)
	} else {
		e, err = ParseLIST(line, l.now, l.loc)
	}
	var bad *BadNameError
	switch {
	case err == nil:
		// Copies, so that an entry does not pin its whole line in memory.
		e.Name = strings.Clone(e.Name)
		e.Target = strings.Clone(e.Target)
		e.Unique = strings.Clone(e.Unique)
		l.Entries = append(l.Entries, e)
	case errors.Is(err, ErrNoEntry):
		l.Skipped++
	case errors.As(err, &bad):
		l.DroppedCount++
		if len(l.Dropped) < maxSamples {
			l.Dropped = append(l.Dropped, clipSample(bad.Name))
		}
	default:
		l.unparsed(line)
	}
}

func (l *Listing) unparsed(line string) {
	l.Unparsed++
	if len(l.UnparsedSamples) < maxSamples {
		l.UnparsedSamples = append(l.UnparsedSamples, clipSample(line))
	}
}

// clipSample returns a short private copy of s for a log line.
func clipSample(s string) string {
	if len(s) > maxSampleLen {
		return strings.Clone(s[:maxSampleLen]) + "..."
	}
	return strings.Clone(s)
}
