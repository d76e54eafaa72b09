package conn

// The server's time zone. RFC 3659 puts MDTM's and MLSD's times in UTC,
// and LIST has no standard, but some servers answer in their local time:
// vsftpd with use_localtime=YES does so in LIST and in MDTM alike, and
// reads the "MDTM time path" it is sent the same way. The pool reads and
// writes those times in the server's zone: the one given
// (Config.ServerZone), else the offset learnt from a file the mount just
// uploaded (LearnZone), else UTC. MLSD's and MLST's modify facts stay
// UTC whatever the zone: every server seen keeps RFC 3659 there (proftpd
// and pure-ftpd, whose LIST may be local, give UTC facts).

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	// Zone names work on systems without a zoneinfo database
	// (containers), at the cost of 450 KB of the binary.
	_ "time/tzdata"
)

// timeValLayout is RFC 3659's time-val without its fraction.
const timeValLayout = "20060102150405"

// ParseZone reads a server's zone as --server-timezone gives it: an IANA
// name (Asia/Tokyo, Europe/Berlin, UTC), which follows daylight saving,
// or a fixed offset east of UTC: +09:00, -0530, +9, Z. The POSIX forms
// ("UTC+9", "JST-9"), whose signs run the other way, are refused rather
// than guessed at.
func ParseZone(s string) (*time.Location, error) {
	if s == "" {
		return nil, errors.New("empty time zone")
	}
	if s == "Z" || s == "z" {
		return time.UTC, nil
	}
	if s[0] == '+' || s[0] == '-' {
		off, ok := parseOffset(s[1:])
		if !ok {
			return nil, fmt.Errorf("time zone %q: want an offset as +HH:MM, +HHMM or +HH, up to 14 hours", s)
		}
		if s[0] == '-' {
			off = -off
		}
		return fixedZone(off), nil
	}
	if strings.ContainsAny(s, "+-0123456789") && !strings.Contains(s, "/") {
		return nil, fmt.Errorf("time zone %q: POSIX TZ strings are ambiguous here; give an IANA name (Asia/Tokyo) or an offset east of UTC (+09:00)", s)
	}
	loc, err := time.LoadLocation(s)
	if err != nil || s == "Local" {
		return nil, fmt.Errorf("time zone %q: not an IANA zone name (Asia/Tokyo, America/New_York, UTC) or an offset (+09:00)", s)
	}
	return loc, nil
}

// parseOffset reads HH:MM, HHMM or HH (one or two digits of hours).
func parseOffset(s string) (time.Duration, bool) {
	hh, mm, colon := strings.Cut(s, ":")
	if !colon && len(s) == 4 {
		hh, mm = s[:2], s[2:]
	}
	h, err := strconv.Atoi(hh)
	if err != nil || len(hh) > 2 || !allDigits(hh) {
		return 0, false
	}
	m := 0
	if colon || mm != "" {
		if len(mm) != 2 || !allDigits(mm) {
			return 0, false
		}
		m, _ = strconv.Atoi(mm)
	}
	off := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
	return off, m < 60 && off <= maxZoneOffset
}

// maxZoneOffset is the largest offset from UTC any zone has (Kiribati).
const maxZoneOffset = 14 * time.Hour

// fixedZone is a zone of a fixed offset, named as ISO 8601 writes it.
func fixedZone(off time.Duration) *time.Location {
	if off == 0 {
		return time.UTC
	}
	return time.FixedZone(zoneName(off), int(off/time.Second))
}

// zoneName writes an offset as +09:00.
func zoneName(off time.Duration) string {
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	return fmt.Sprintf("%s%02d:%02d", sign, int(off/time.Hour), int(off%time.Hour/time.Minute))
}

// serverZone is the pool's knowledge of the server's zone.
type serverZone struct {
	learnt  atomic.Pointer[time.Location] // nil until an offset was learnt
	settled atomic.Bool                   // learning is over, with or without an offset
	mu      sync.Mutex                    // one upload is compared at a time
	tries   int                           // uploads compared; GUARDED_BY(mu)
}

// zone is the zone of the server's LIST and MDTM times: the one given,
// else the one learnt, else UTC.
func (p *Pool) zone() *time.Location {
	if p.cfg.ServerZone != nil {
		return p.cfg.ServerZone
	}
	if l := p.tz.learnt.Load(); l != nil {
		return l
	}
	return time.UTC
}

// fromServer turns a time read as UTC from MDTM into the time it means
// in the server's zone.
func (p *Pool) fromServer(t time.Time) time.Time {
	loc := p.zone()
	if loc == time.UTC || t.IsZero() {
		return t
	}
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc).UTC()
}

// toServer writes t as MFMT and "MDTM time path" take it, in the server's
// zone.
func (p *Pool) toServer(t time.Time) string {
	return t.In(p.zone()).Format(timeValLayout)
}

// zoneTries is how many uploads are compared before the pool gives up
// learning: a server whose clock is off by more than maxClockError from
// any whole quarter of an hour never gives a trustworthy offset.
const zoneTries = 3

// maxClockError is how far the server's clock, the upload's last bytes
// and MDTM's whole seconds may put a fresh file's time from this
// machine's clock at the end of the upload, beyond the zone's offset.
const maxClockError = 2 * time.Minute

// ZoneTrust says what one upload's MDTM, against the clock, tells of the
// server's zone.
type ZoneTrust int

const (
	// ZoneUTC: the time is this machine's, give or take the clock error.
	ZoneUTC ZoneTrust = iota
	// ZoneOffset: off by whole quarters of an hour, the clock error
	// aside: the server's times are local, at that offset.
	ZoneOffset
	// ZoneUnsure: off by something that is no zone's offset; the server's
	// clock is wrong, and nothing can be learnt from it.
	ZoneUnsure
)

// ZoneFromUpload compares mdtm, the time-val of a file just uploaded as
// the server sent it (read as UTC), with end, when the upload ended on
// this machine's clock. A difference beyond the clock error is rounded
// to the nearest quarter of an hour, the step of every zone's offset.
func ZoneFromUpload(mdtm, end time.Time) (time.Duration, ZoneTrust) {
	d := mdtm.Sub(end)
	off := d.Round(15 * time.Minute)
	resid := d - off
	switch {
	case resid < -maxClockError || resid > maxClockError || off < -maxZoneOffset || off > maxZoneOffset:
		return d, ZoneUnsure
	case off == 0:
		return 0, ZoneUTC
	}
	return off, ZoneOffset
}

// LearnZone compares the MDTM of path, a file the mount has just uploaded
// (end: when the upload's commit returned), with the clock, unless the
// zone was given or learning is over. An offset of whole quarters of an
// hour, at least one, within the clock error, is trusted from one upload
// (a server clock that is wrong by a quarter of an hour exactly, within
// two minutes, is taken for a zone) and said in the log once; a time
// within the clock error of the clock ends learning with UTC; anything
// else is tried again on the next upload, up to zoneTries. It reports
// whether the zone changed: times the caller read before are off by the
// offset, and are to be read again. It costs one MDTM, on the first
// upload of a mount (a few at most), unless the upload's commit carried
// it and learnt from it already (Placed.ZoneAsked).
func (p *Pool) LearnZone(ctx context.Context, path string, end time.Time) bool {
	if !p.zoneOpen() {
		return false
	}
	if f, err := p.features(ctx); err == nil && !f.MDTM {
		p.tz.settled.Store(true) // nothing to learn from, nor to convert
		return false
	}
	return p.zoneTry(path, end, func() (raw time.Time, err error) {
		err = p.do(ctx, Metadata, func(c *Conn) error {
			raw, err = c.modTime(ctx, path)
			return err
		})
		return raw, err
	})
}

// zoneOpen says whether the zone is still to be learnt from an upload.
func (p *Pool) zoneOpen() bool {
	return p.cfg.ServerZone == nil && !p.tz.settled.Load()
}

// zoneTry is one try of LearnZone with mdtm, which gives the MDTM of
// path as the server wrote it: asked on its own, or read already (a
// commit's, see commit_time.go).
func (p *Pool) zoneTry(path string, end time.Time, mdtm func() (time.Time, error)) bool {
	p.tz.mu.Lock()
	defer p.tz.mu.Unlock()
	if p.tz.settled.Load() {
		return false
	}
	p.tz.tries++
	if p.tz.tries >= zoneTries {
		p.tz.settled.Store(true)
	}
	raw, err := mdtm()
	log := p.cfg.Logger
	if err != nil {
		log.Debug("server time zone not learnt: MDTM of an upload failed", "path", path, "err", err)
		return false
	}
	off, trust := ZoneFromUpload(raw, end)
	switch trust {
	case ZoneUTC:
		p.tz.settled.Store(true)
		log.Debug("server times are UTC, as an upload's MDTM shows", "path", path)
		return false
	case ZoneUnsure:
		log.Debug("server time zone not learnt: an upload's MDTM is off the clock by no zone's offset", "path", path, "off", off.Round(time.Second))
		return false
	}
	p.tz.settled.Store(true)
	loc := fixedZone(off)
	p.tz.learnt.Store(loc)
	log.Info("server gives local time in LIST and MDTM: an upload's MDTM is off the clock by its offset; times are read and set at that offset from now on "+
		"(--server-timezone with the server's zone name follows daylight saving too)", "offset", loc.String())
	return true
}

// modTime sends MDTM of path and reads its time-val as the server wrote
// it, without the server's zone.
func (c *Conn) modTime(ctx context.Context, path string) (time.Time, error) {
	r, err := c.expect(ctx, "mdtm", path, []int{213}, "MDTM "+path)
	if err != nil {
		return time.Time{}, err
	}
	t, ok := parseTimeVal(strings.TrimSpace(r.msg))
	if !ok {
		return time.Time{}, &Error{Op: "mdtm", Path: path, Code: r.code, Msg: r.msg}
	}
	return t, nil
}
