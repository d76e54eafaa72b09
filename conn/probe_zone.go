package conn

// The time zone probe of the write probes: a file just stored, its MDTM
// against the clock. It tells what the listing probe's comparison of
// LIST with MDTM cannot: whether both are UTC or both the server's local
// time (vsftpd with use_localtime=YES).

import (
	"context"
	"fmt"
	"time"
)

// uploadZone compares the MDTM of p, stored by the probes when the clock
// said end, with the clock, as the mount does on its first upload
// (Pool.LearnZone), and recommends --server-timezone where the server
// answers in local time.
func (pr *prober) uploadZone(ctx context.Context, c *Conn, p string, end time.Time) {
	raw, err := c.modTime(ctx, p)
	if err != nil {
		pr.add(Finding{Topic: "time zone of MDTM", Verdict: ProbeUnsupported, Detail: "MDTM of a file just stored failed (" + err.Error() + "): the zone of the server's times cannot be told"})
		return
	}
	pr.zoneDone = true
	off, trust := ZoneFromUpload(raw, end)
	given := pr.cfg.ServerZone
	f := Finding{Topic: "time zone of MDTM"}
	switch {
	case trust == ZoneUnsure:
		f.Verdict = ProbeProblem
		f.Detail = fmt.Sprintf("a file just stored has a time %s off this machine's clock, which is no zone's offset: the server's clock (or this one) is wrong; times of files will be off by that much", signed(off.Round(time.Second)))
	case given != nil && zoneOffset(given, end) == off:
		f.Verdict = ProbeOK
		f.Detail = fmt.Sprintf("the server's times are local, %s, as --server-timezone %s says", zoneName(off), given)
	case given != nil:
		f.Verdict, f.Advice, f.Value = ProbeProblem, AdviseServerTimezone, zoneName(off)
		f.Detail = fmt.Sprintf("the server's times are at %s, not in --server-timezone %s: times will be off by %s", zoneName(off), given, signed(zoneOffset(given, end)-off))
		if trust == ZoneUTC {
			f.Detail = fmt.Sprintf("the server's times are UTC, as RFC 3659 says, not in --server-timezone %s: drop the flag", given)
			f.Advice = AdviseNone
		}
	case trust == ZoneUTC:
		f.Verdict = ProbeOK
		f.Detail = "UTC, as RFC 3659 says: a file just stored has this machine's time"
	default:
		f.Verdict, f.Advice, f.Value = ProbeProblem, AdviseServerTimezone, zoneName(off)
		f.Detail = fmt.Sprintf("the server gives local time (UTC%s) where RFC 3659 says UTC, as a file just stored shows against this machine's clock. "+
			"A mount that writes learns this from its first upload; --server-timezone gives it from the start (the server's zone name, e.g. Asia/Tokyo, follows daylight saving; an offset does not)",
			zoneName(off))
	}
	pr.add(f)
}

// zoneOffset is loc's offset from UTC at t.
func zoneOffset(loc *time.Location, t time.Time) time.Duration {
	_, secs := t.In(loc).Zone()
	return time.Duration(secs) * time.Second
}
