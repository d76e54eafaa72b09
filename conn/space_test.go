package conn

import (
	"context"
	"sync"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

func TestParseAVBL(t *testing.T) {
	for msg, want := range map[string]uint64{
		"0":                             0,
		"1234567890123":                 1234567890123,
		" 42 ":                          42,
		"42 bytes available":            42,
		"18446744073709551615":          1<<64 - 1,
		"000123":                        123,
		"9 (the user's quota: 9 bytes)": 9,
	} {
		if got, err := parseAVBL(msg); err != nil || got != want {
			t.Errorf("parseAVBL(%q) = %d, %v; want %d", msg, got, err, want)
		}
	}
	for _, msg := range []string{"", "-1", "abc", "1.5G", "18446744073709551616", "0x10", "+5"} {
		if got, err := parseAVBL(msg); err == nil {
			t.Errorf("parseAVBL(%q) = %d, want an error", msg, got)
		}
	}
}

// TestAvailable: where FEAT offers AVBL, Available gives the server's
// figure, asks once per SpaceTTL however many callers ask, and again
// after it; where FEAT lacks it, Available knows nothing and sends
// nothing.
func TestAvailable(t *testing.T) {
	ctx := context.Background()
	s := startServer(t)
	p := newPool(t, s)
	now := time.Now()
	var clockMu sync.Mutex
	p.space.now = func() time.Time {
		clockMu.Lock()
		defer clockMu.Unlock()
		return now
	}
	want, margin := testutil.Available(t, s.Root)
	got, known, err := p.Available(ctx, "/")
	if err != nil || !known || !testutil.Near(got, want, margin) {
		t.Fatalf("Available = %d, %v, %v; want about %d", got, known, err, want)
	}
	if n := s.Counts()["AVBL"]; n != 1 {
		t.Fatalf("%d AVBL sent, want 1", n)
	}

	// Callers within the TTL, at once or in a row, share that answer.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if again, known, err := p.Available(ctx, "/"); again != got || !known || err != nil {
				t.Errorf("cached Available = %d, %v, %v; want %d", again, known, err, got)
			}
		})
	}
	wg.Wait()
	if n := s.Counts()["AVBL"]; n != 1 {
		t.Errorf("%d AVBL sent within the TTL, want 1", n)
	}

	// After it, one caller asks again while the others wait for it.
	clockMu.Lock()
	now = now.Add(SpaceTTL)
	clockMu.Unlock()
	s.SetFaults(ftpd.Faults{ReplyDelay: 100 * time.Millisecond})
	for range 8 {
		wg.Go(func() {
			if _, known, err := p.Available(ctx, "/"); !known || err != nil {
				t.Errorf("Available after the TTL: %v, %v", known, err)
			}
		})
	}
	wg.Wait()
	if n := s.Counts()["AVBL"]; n != 2 {
		t.Errorf("%d AVBL sent in all, want 2", n)
	}

	v := startServer(t, func(c *ftpd.Config) { c.Profile = ftpd.ProfileVsftpd })
	vp := newPool(t, v)
	if avail, known, err := vp.Available(ctx, "/"); known || err != nil || avail != 0 {
		t.Errorf("without AVBL in FEAT: %d, %v, %v; want 0, false, nil", avail, known, err)
	}
	if c := v.Counts(); c["AVBL"] != 0 || c["other"] != 0 {
		t.Errorf("commands sent to a server without AVBL: %v", c)
	}
}

// TestAvailableRefused: a server that announces AVBL but refuses it as
// unknown is not asked again; a refusal of another kind (550) is an
// error, reused for the TTL like an answer; a server that does not answer
// costs the timeout, no more.
func TestAvailableRefused(t *testing.T) {
	ctx := context.Background()
	t.Run("unknown", func(t *testing.T) {
		s := startServer(t, func(c *ftpd.Config) { c.Faults = ftpd.Faults{RefuseVerb: "AVBL", RefuseCode: 502} })
		p := newPool(t, s)
		for i := range 2 {
			if avail, known, err := p.Available(ctx, "/"); known || err != nil || avail != 0 {
				t.Errorf("try %d: %d, %v, %v; want 0, false, nil", i, avail, known, err)
			}
			p.space.now = func() time.Time { return time.Now().Add(SpaceTTL) }
		}
		if n := s.Counts()["AVBL"]; n != 1 {
			t.Errorf("%d AVBL sent, want 1", n)
		}
	})
	t.Run("550", func(t *testing.T) {
		s := startServer(t, func(c *ftpd.Config) { c.Faults = ftpd.Faults{RefuseVerb: "AVBL", RefuseCode: 550} })
		p := newPool(t, s)
		for i := range 2 {
			if _, known, err := p.Available(ctx, "/"); known || err == nil {
				t.Errorf("try %d: %v, %v; want an error", i, known, err)
			}
		}
		if n := s.Counts()["AVBL"]; n != 1 {
			t.Errorf("%d AVBL sent within the TTL, want 1", n)
		}
	})
	t.Run("silent", func(t *testing.T) {
		s := startServer(t)
		p := newPool(t, s, func(c *Config) { c.Timeout = 300 * time.Millisecond })
		if _, err := p.features(ctx); err != nil {
			t.Fatal(err)
		}
		s.SetFaults(ftpd.Faults{ReplyDelay: 3 * time.Second})
		start := time.Now()
		_, known, err := p.Available(ctx, "/")
		if known || Classify(err) != ClassTimeout {
			t.Errorf("Available from a silent server: %v, %v; want a timeout", known, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v with a 300ms timeout", d)
		}
	})
}
