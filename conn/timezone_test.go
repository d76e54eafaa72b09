package conn

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

func TestParseZone(t *testing.T) {
	for _, tc := range []struct {
		in   string
		off  time.Duration // at July 1st, 2024
		fail bool
	}{
		{in: "Asia/Tokyo", off: 9 * time.Hour},
		{in: "America/New_York", off: -4 * time.Hour}, // daylight saving
		{in: "UTC"}, {in: "Z"},
		{in: "+09:00", off: 9 * time.Hour},
		{in: "-0530", off: -(5*time.Hour + 30*time.Minute)},
		{in: "+9", off: 9 * time.Hour},
		{in: "+05:45", off: 5*time.Hour + 45*time.Minute},
		{in: "+14:00", off: 14 * time.Hour},
		{in: "Etc/GMT-9", off: 9 * time.Hour}, // IANA's, whose sign runs the other way
		{in: "+15:00", fail: true}, {in: "+09:60", fail: true}, {in: "+123", fail: true},
		{in: "UTC+9", fail: true}, {in: "JST-9", fail: true}, {in: "Local", fail: true},
		{in: "Mars/Olympus", fail: true}, {in: "", fail: true}, {in: "+", fail: true},
	} {
		loc, err := ParseZone(tc.in)
		if tc.fail {
			if err == nil {
				t.Errorf("%q: %v, want an error", tc.in, loc)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if off := zoneOffset(loc, time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)); off != tc.off {
			t.Errorf("%q: offset %v, want %v", tc.in, off, tc.off)
		}
	}
}

func TestZoneFromUpload(t *testing.T) {
	end := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, tc := range []struct {
		late  time.Duration // the MDTM's wall clock after end
		off   time.Duration
		trust ZoneTrust
	}{
		{0, 0, ZoneUTC},
		{-3 * time.Second, 0, ZoneUTC}, // stored a moment before the commit returned
		{90 * time.Second, 0, ZoneUTC}, // a server clock a little ahead
		{9*time.Hour - 2*time.Second, 9 * time.Hour, ZoneOffset},
		{-5*time.Hour - 61*time.Second, -5 * time.Hour, ZoneOffset},
		{5*time.Hour + 45*time.Minute, 5*time.Hour + 45*time.Minute, ZoneOffset},
		{7 * time.Minute, 0, ZoneUnsure}, // a clock off by minutes: no zone
		{9*time.Hour + 4*time.Minute, 0, ZoneUnsure},
		{15 * time.Hour, 0, ZoneUnsure},
	} {
		off, trust := ZoneFromUpload(end.Add(tc.late), end)
		if trust != tc.trust || trust != ZoneUnsure && off != tc.off {
			t.Errorf("%v late: %v, %v; want %v, %v", tc.late, off, trust, tc.off, tc.trust)
		}
	}
}

// tokyo is the zone of the tests' local-time servers.
func tokyo(t *testing.T) *time.Location {
	t.Helper()
	loc, err := ParseZone("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestServerZoneGiven: a LIST-only server answering in Tokyo's time, as
// vsftpd with use_localtime does (and IIS's DOS listing style the same
// way), read and set with the zone given. Its wire says 16:08 for a file
// changed at 07:08 UTC.
func TestServerZoneGiven(t *testing.T) {
	loc := tokyo(t)
	for _, tc := range []struct {
		profile ftpd.Profile
		zone    *time.Location
	}{{ftpd.ProfileVsftpd, loc}, {ftpd.ProfileVsftpd, fixedZone(9 * time.Hour)}, {ftpd.ProfileDOS, loc}} {
		zone := tc.zone
		t.Run(string(tc.profile)+" "+zone.String(), func(t *testing.T) {
			s := startServer(t, func(c *ftpd.Config) { c.Profile, c.Zone = tc.profile, loc })
			when := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Second)
			on := filepath.Join(s.Root, "d", "f")
			testutil.WriteFile(t, on, []byte("x"))
			if err := os.Chtimes(on, when, when); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			raw := newPool(t, s)
			if got, err := raw.ModTime(ctx, "/d/f"); err != nil || !got.Equal(when.Add(9*time.Hour)) {
				t.Fatalf("without the zone, MDTM reads %v, %v; want the wall clock of Tokyo", got, err)
			}
			p := newPool(t, s, func(c *Config) { c.ServerZone = zone })
			es, err := p.ReadDir(ctx, "/d")
			if err != nil || len(es) != 1 || !es[0].ModTime.Equal(when.Truncate(time.Minute)) {
				t.Fatalf("ReadDir: %+v, %v; want %v", es, err, when.Truncate(time.Minute))
			}
			got, err := p.ModTime(ctx, "/d/f")
			if err != nil || !got.Equal(when) {
				t.Fatalf("ModTime: %v, %v; want %v", got, err, when)
			}
			times, err := p.ModTimes(ctx, []string{"/d/f"})
			if err != nil || !times[0].Equal(when) {
				t.Fatalf("ModTimes: %v, %v", times, err)
			}
			set := time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
			if err := p.SetTime(ctx, "/d/f", set); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(on); err != nil || !fi.ModTime().Equal(set) {
				t.Fatalf("on the server after SetTime: %v, %v; want %v", fi.ModTime(), err, set)
			}
			set = set.Add(time.Hour)
			if err := p.SetTimeSoon(ctx, "/d/f", set, func(err error) { t.Error(err) }); err != nil {
				t.Fatal(err)
			}
			if got, err := p.ModTime(ctx, "/d/f"); err != nil || !got.Equal(set) {
				t.Fatalf("after SetTimeSoon: %v, %v; want %v", got, err, set)
			}
		})
	}
}

// TestLearnZone: without a zone, the pool reads the Tokyo server's times
// as UTC, until an upload's MDTM, which its commit carries, shows the
// offset; then listings and MDTM read right, and times set land right.
// A UTC server ends learning with nothing changed, and no MDTM after
// that. Where the commit carries none (no pipelining), LearnZone asks.
func TestLearnZone(t *testing.T) {
	loc := tokyo(t)
	s := startServer(t, func(c *ftpd.Config) { c.Profile, c.Zone = ftpd.ProfileVsftpd, loc })
	when := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	on := filepath.Join(s.Root, "old")
	testutil.WriteFile(t, on, []byte("x"))
	if err := os.Chtimes(on, when, when); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p := newPool(t, s)
	if got, _ := p.ModTime(ctx, "/old"); !got.Equal(when.Add(9 * time.Hour)) {
		t.Fatalf("before learning: %v, want Tokyo's wall clock read as UTC", got)
	}
	placed := upload(t, p, s, []byte("new"), "/.tmp", "/new")
	if !placed.ZoneAsked || !placed.ZoneChanged {
		t.Fatalf("the offset was not learnt by the commit: %+v", placed)
	}
	if p.zone().String() != "+09:00" {
		t.Fatalf("learnt %v", p.zone())
	}
	// The commit's time of the file is read in the zone learnt.
	if fi, err := os.Stat(filepath.Join(s.Root, "new")); err != nil || !placed.ModTime.Equal(fi.ModTime().Truncate(time.Second)) {
		t.Fatalf("commit told %v; the server holds %v", placed.ModTime, fi.ModTime())
	}
	if got, err := p.ModTime(ctx, "/old"); err != nil || !got.Equal(when) {
		t.Fatalf("after learning: %v, %v; want %v", got, err, when)
	}
	if es, err := p.ReadDir(ctx, "/"); err != nil || len(es) != 2 {
		t.Fatalf("ReadDir: %v, %v", es, err)
	} else {
		for _, e := range es {
			// An old file is listed with its day, Tokyo's.
			if day := time.Date(2024, 5, 6, 0, 0, 0, 0, loc); e.Name == "old" && !e.ModTime.Equal(day) {
				t.Fatalf("listed %v, want %v", e.ModTime, day)
			}
		}
	}
	set := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := p.SetTime(ctx, "/old", set); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(on); !fi.ModTime().Equal(set) {
		t.Fatalf("set %v, want %v", fi.ModTime(), set)
	}
	if p.LearnZone(ctx, "/new", time.Now()) {
		t.Fatal("learnt twice")
	}

	t.Run("utc", func(t *testing.T) {
		s := startServer(t, func(c *ftpd.Config) { c.Profile = ftpd.ProfileVsftpd })
		l := startLink(t, s.Addr().String())
		p := newPool(t, s, func(c *Config) { c.Addr = l.Addr() })
		placed := upload(t, p, s, []byte("new"), "/.tmp", "/new")
		if !placed.ZoneAsked || placed.ZoneChanged || p.zone() != time.UTC {
			t.Fatalf("a UTC server changed the zone: %v, %+v", p.zone(), placed)
		}
		l.Reset()
		p.LearnZone(ctx, "/new", time.Now())
		if n := l.Stats().Commands["MDTM"]; n != 0 {
			t.Fatalf("%d MDTM; want none once settled", n)
		}
	})
	t.Run("asked", func(t *testing.T) {
		// Without pipelining the commit asks nothing: LearnZone does.
		p := newPool(t, s, func(c *Config) { c.NoPipelining = true })
		if placed := upload(t, p, s, []byte("new"), "/.tmp", "/new"); placed.ZoneAsked || !placed.ModTime.IsZero() {
			t.Fatalf("a commit without pipelining asked: %+v", placed)
		}
		if !p.LearnZone(ctx, "/new", time.Now()) || p.zone().String() != "+09:00" {
			t.Fatalf("LearnZone learnt %v", p.zone())
		}
	})
	t.Run("wrong clock", func(t *testing.T) {
		p := newPool(t, s, func(c *Config) { c.NoPipelining = true })
		upload(t, p, s, []byte("new"), "/.tmp2", "/new2")
		// A clock 9h04m off is no zone: not trusted, tried again on the
		// next uploads, then given up.
		for range zoneTries + 1 {
			if p.LearnZone(ctx, "/new2", time.Now().Add(-4*time.Minute)) {
				t.Fatalf("learnt %v from a wrong clock", p.zone())
			}
		}
		if p.zone() != time.UTC || !p.tz.settled.Load() {
			t.Fatalf("zone %v, settled %v", p.zone(), p.tz.settled.Load())
		}
	})
	t.Run("given", func(t *testing.T) {
		p := newPool(t, s, func(c *Config) { c.ServerZone = time.UTC })
		if p.LearnZone(ctx, "/new", time.Now()) {
			t.Fatal("a zone given is not learnt over")
		}
	})
}
