package conn

// Time and mode changes that do not wait for their reply (SetTimeSoon,
// ChmodSoon): what they cost, and that a refusal still reaches the
// caller's failed function, before anything else the pool does.

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"ftpfs/ftpd"
)

// failures collects the errors of commands sent without waiting.
type failures struct {
	mu   sync.Mutex
	errs []error
}

func (f *failures) add(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, err)
}

func (f *failures) got() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.errs...)
}

// TestSoonTravelsWithRename: once SITE CHMOD and the time's command have
// worked, a file's time, its mode and its rename cost one round trip
// together, in this order on one connection (before: three).
func TestSoonTravelsWithRename(t *testing.T) {
	for _, profile := range []ftpd.Profile{ftpd.ProfileFull, ftpd.ProfileVsftpd} {
		t.Run(string(profile), func(t *testing.T) {
			s := startServer(t, func(c *ftpd.Config) { c.Profile = profile })
			p, l := throughLink(t, s)
			ctx := context.Background()
			var f failures
			when := time.Date(2019, 3, 4, 5, 6, 7, 0, time.UTC)
			data := []byte("content")
			for _, name := range []string{"/a", "/b"} {
				if _, err := p.Store(ctx, name, bytes.NewReader(data)); err != nil {
					t.Fatal(err)
				}
			}
			// The first of each waits: it proves the command.
			if err := p.SetTimeSoon(ctx, "/a", when, f.add); err != nil {
				t.Fatal(err)
			}
			if err := p.ChmodSoon(ctx, "/a", 0o600, f.add); err != nil {
				t.Fatal(err)
			}
			l.Reset()
			if err := p.SetTimeSoon(ctx, "/b", when, f.add); err != nil {
				t.Fatal(err)
			}
			if err := p.ChmodSoon(ctx, "/b", 0o640, f.add); err != nil {
				t.Fatal(err)
			}
			if removed, err := p.RenameOver(ctx, "/b", "/c", true); err != nil || removed {
				t.Fatalf("RenameOver: %v, %v", removed, err)
			}
			st := l.Stats()
			setTime := "MFMT"
			if profile == ftpd.ProfileVsftpd {
				setTime = "MDTM"
			}
			if st.RoundTrips != 1 || st.Commands[setTime] != 1 || st.Commands["SITE"] != 1 || st.Commands["RNFR"] != 1 || st.Total() != 4 {
				t.Fatalf("%v; want %s, SITE CHMOD, RNFR and RNTO in one round trip", st, setTime)
			}
			fi, err := os.Stat(filepath.Join(s.Root, "c"))
			if err != nil || !fi.ModTime().Equal(when) || fi.Mode().Perm() != 0o640 {
				t.Fatalf("/c on the server: %v", err)
			}
			if errs := f.got(); len(errs) > 0 {
				t.Fatalf("failures: %v", errs)
			}
		})
	}
}

// TestSoonRefused: a refusal of a command sent without waiting reaches
// failed before the next operation of the pool runs, or by itself a
// moment later when none comes; the first command of a kind waits and
// returns its own refusal.
func TestSoonRefused(t *testing.T) {
	s := startServer(t)
	p := newPool(t, s)
	ctx := context.Background()
	var f failures
	if err := p.ChmodSoon(ctx, "/missing", 0o600, f.add); Classify(err) != ClassNotFound {
		t.Fatalf("first chmod of a missing file: %v, want its refusal", err)
	}
	if _, err := p.Store(ctx, "/f", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if err := p.ChmodSoon(ctx, "/f", 0o600, f.add); err != nil {
		t.Fatal(err)
	}
	if err := p.SetTimeSoon(ctx, "/f", time.Now(), f.add); err != nil {
		t.Fatal(err)
	}

	// Refused after the call returned: told before the next operation.
	if err := p.ChmodSoon(ctx, "/missing", 0o600, f.add); err != nil {
		t.Fatalf("chmod sent without waiting: %v", err)
	}
	if _, err := p.ModTime(ctx, "/f"); err != nil {
		t.Fatal(err)
	}
	if errs := f.got(); len(errs) != 1 || Classify(errs[0]) != ClassNotFound {
		t.Fatalf("failures once the next operation returned: %v", errs)
	}

	// With nothing after it: told a moment later.
	if err := p.SetTimeSoon(ctx, "/missing", time.Now(), f.add); err != nil {
		t.Fatalf("time sent without waiting: %v", err)
	}
	deadline := time.Now().Add(trailSettleAfter + 5*time.Second)
	for len(f.got()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the refusal never came: %v", f.got())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if errs := f.got(); Classify(errs[1]) != ClassNotFound {
		t.Fatalf("second failure: %v", errs[1])
	}
	if st := p.Stats(); st.Idle != st.Open {
		t.Fatalf("the trail's connection is not back in the pool: %+v", st)
	}
}

// TestSoonLostReplies: a server that never answers a command sent
// without waiting: the rename behind it fails (its outcome is unknown,
// as when a connection breaks), and from then on time and mode changes
// wait for their own reply.
func TestSoonLostReplies(t *testing.T) {
	ctx := context.Background()
	p, f := chmodNeverAnswered(t)
	if _, err := p.RenameOver(ctx, "/a", "/b", true); err == nil {
		t.Fatal("rename behind a reply that never came succeeded")
	}
	if errs := f.got(); len(errs) != 1 {
		t.Fatalf("failures: %v", errs)
	}
	if !p.soonOff.Load() {
		t.Fatal("commands are still sent without waiting")
	}
	if err := p.ChmodSoon(ctx, "/a", 0o640, f.add); Classify(err) != ClassTimeout {
		t.Fatalf("chmod once replies went missing: %v, want its own timeout", err)
	}
}

// TestSoonNoReply: a command sent without waiting whose reply never
// comes, with nothing behind it: its failure is a timeout, and from then
// on time and mode changes wait for their own reply.
func TestSoonNoReply(t *testing.T) {
	p, f := chmodNeverAnswered(t)
	deadline := time.Now().Add(trailSettleAfter + 5*time.Second)
	for len(f.got()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the missing reply was never noticed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if errs := f.got(); Classify(errs[0]) != ClassTimeout || !p.soonOff.Load() {
		t.Fatalf("failure %v, soonOff %v; want a timeout, and no more commands sent without waiting", errs[0], p.soonOff.Load())
	}
}

// chmodNeverAnswered is a pool to a server that has answered one SITE
// CHMOD, and then one sent without waiting that it never answers.
func chmodNeverAnswered(t *testing.T) (*Pool, *failures) {
	t.Helper()
	fake := startInTransferServer(t, func(int) string { return "500 busy" })
	p := fake.pool(t, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	f := &failures{}
	if err := p.ChmodSoon(context.Background(), "/a", 0o600, f.add); err != nil {
		t.Fatal(err) // waits: proves SITE CHMOD
	}
	fake.swallowing("SITE")
	if err := p.ChmodSoon(context.Background(), "/a", 0o640, f.add); err != nil {
		t.Fatalf("chmod sent without waiting: %v", err)
	}
	return p, f
}
