package conn

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// proftpdQuota is mod_quotatab's SITE QUOTA text as readReply gives it
// (the code gone from the first and last lines), with the given upload
// figures.
func proftpdQuota(uploaded string) string {
	return "The current quota for this session are [current/limit]:\n" +
		" Name: u\n Quota Type: User\n Per Session: False\n Limit Type: Hard\n" +
		"   Uploaded " + uploaded + "\n   Downloaded bytes:\tunlimited\n   Transferred bytes:\t0.00/5000.00\n" +
		"   Uploaded files:\t0/10\n   Downloaded files:\tunlimited\n   Transferred files:\tunlimited\n" +
		"Please contact root@localhost if these entries are inaccurate"
}

func TestParseSiteQuota(t *testing.T) {
	for msg, want := range map[string]Quota{
		proftpdQuota("bytes:\t0.00/1048576.00"):   {0, 1 << 20},
		proftpdQuota("bytes:\t512.00/1048576.00"): {512, 1 << 20},
		proftpdQuota("bytes:\tunlimited"):         {},
		proftpdQuota("Kb:\t\t1.50/1024.00"):       {1536, 1 << 20},
		proftpdQuota("Mb:\t\t0.00/976.56"):        {0, 1023997379}, // 1024000000 bytes, shown to two decimals
		proftpdQuota("Gb:\t\t2.00/4.00"):          {2 << 30, 4 << 30},
		proftpdQuota("Mb:\tunlimited"):            {},
		// RFC 2228 style: every line carries the code.
		"The current quota\n200-  Uploaded bytes:\t7.00/9.00\n200-  Uploaded files:\tunlimited\nPlease contact": {7, 9},
		// The figures of the example in the issue, spaces for tabs.
		"x\nUploaded Mb: 0.00/976.56\nUploaded files: 0/10\ny": {0, 1023997379},
		// Used beyond the limit (a soft limit) is told as it is.
		proftpdQuota("bytes:\t2000.00/1000.00"): {2000, 1000},
	} {
		if got, err := parseSiteQuota(msg); err != nil || got != want {
			t.Errorf("parseSiteQuota(%q) = %+v, %v; want %+v", msg, got, err, want)
		}
	}
	for _, msg := range []string{
		"",
		"No quotas in effect",
		"Uploaded files:\t0/10",
		proftpdQuota("bytes:\t12"),
		proftpdQuota("bytes:\t-1.00/5.00"),
		proftpdQuota("bytes:\t1.00/NaN"),
		proftpdQuota("bytes:\t1.00/Inf"),
		proftpdQuota("Gb:\t1.00/17179869184.00"), // 2^64 bytes
		proftpdQuota("bytes:\tabc/5.00"),
	} {
		if got, err := parseSiteQuota(msg); err == nil {
			t.Errorf("parseSiteQuota(%q) = %+v, want an error", msg, got)
		}
	}
}

// FuzzParseSiteQuota: no reply makes the parser panic, and the figures it
// reads, written back in mod_quotatab's form, read the same.
func FuzzParseSiteQuota(f *testing.F) {
	f.Add(proftpdQuota("bytes:\t0.00/1048576.00"))
	f.Add(proftpdQuota("Mb:\t\t0.00/976.56"))
	f.Add("200-  Uploaded bytes:\tunlimited")
	f.Fuzz(func(t *testing.T, msg string) {
		q, err := parseSiteQuota(msg)
		if err != nil || q.Limit == 0 {
			return
		}
		again, err := parseSiteQuota(fmt.Sprintf("  Uploaded bytes:\t%d.00/%d.00", q.Used, q.Limit))
		if err != nil || again != q && q.Limit < 1<<53 && q.Used < 1<<53 {
			t.Errorf("%q read as %+v, written back %+v, %v", msg, q, again, err)
		}
	})
}

// TestQuota: from a server with a quota (ftpd's, in mod_quotatab's form)
// Quota gives the limit and the bytes uploaded, once per SpaceTTL, and
// Space gives free = limit - used where that is below AVBL's figure, and
// AVBL's where the quota leaves more than the disk.
func TestQuota(t *testing.T) {
	ctx := context.Background()
	s := startServer(t, func(c *ftpd.Config) { c.Quota = 1 << 20 })
	p := newPool(t, s)
	now := time.Now()
	p.quota.now = func() time.Time { return now }
	p.space.now = p.quota.now
	if q, err := p.Quota(ctx); err != nil || q != (Quota{0, 1 << 20}) {
		t.Fatalf("Quota = %+v, %v; want 0 of 1 MiB", q, err)
	}
	if _, err := p.Store(ctx, "/f", bytes.NewReader(make([]byte, 1000))); err != nil {
		t.Fatal(err)
	}
	if q, _ := p.Quota(ctx); q.Used != 0 {
		t.Errorf("Quota within the TTL = %+v, want the cached answer", q)
	}
	if n := s.Counts()["SITE"]; n != 1 {
		t.Errorf("%d SITE sent within the TTL, want 1", n)
	}
	now = now.Add(SpaceTTL)
	sp, err := p.Space(ctx, "/")
	if want := (Space{Free: 1<<20 - 1000, Known: true, Quota: Quota{1000, 1 << 20}}); err != nil || sp != want {
		t.Errorf("Space after an upload = %+v, %v; want %+v", sp, err, want)
	}

	// A quota beyond the disk's free space: AVBL's figure is the room.
	big := startServer(t, func(c *ftpd.Config) { c.Quota = 1 << 62 })
	want, margin := testutil.Available(t, big.Root)
	sp, err = newPool(t, big).Space(ctx, "/")
	if err != nil || !sp.Known || !testutil.Near(sp.Free, want, margin) || sp.Quota.Limit != 1<<62 {
		t.Errorf("Space with a quota beyond the disk = %+v, %v; want about %d free", sp, err, want)
	}
}

// TestQuotaRefused: a server without SITE QUOTA (500, 502), one that bars
// it (550) or has no quota (202) is asked once, never again, and Space
// gives AVBL's figure alone.
func TestQuotaRefused(t *testing.T) {
	ctx := context.Background()
	for _, code := range []int{0, 202, 502, 550} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			s := startServer(t, func(c *ftpd.Config) {
				if code != 0 {
					c.Faults = ftpd.Faults{RefuseVerb: "SITE", RefuseCode: code}
				}
			})
			p := newPool(t, s)
			for i := range 2 {
				sp, err := p.Space(ctx, "/")
				if err != nil || !sp.Known || sp.Quota != (Quota{}) {
					t.Errorf("try %d: %+v, %v; want AVBL's figure alone", i, sp, err)
				}
				p.quota.now = func() time.Time { return time.Now().Add(SpaceTTL) }
			}
			if n := s.Counts()["SITE"]; n != 1 {
				t.Errorf("%d SITE sent, want 1", n)
			}
		})
	}
}
