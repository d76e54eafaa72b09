package fs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// TestStatsOfAMount: the mount's figures follow a known sequence: a
// listing at mount time, a write pending until close, a read, and an
// upload the server refuses, whose bytes are kept.
// waitStats returns the mount's figures once ok accepts them.
func waitStats(t *testing.T, m *Mounted, what string, ok func(Stats) bool) Stats {
	t.Helper()
	var s Stats
	testutil.WaitUntil(t, 5*time.Second, what, func() (bool, string) {
		s = m.Stats()
		return ok(s), fmt.Sprintf("%+v", s)
	})
	return s
}

func TestStatsOfAMount(t *testing.T) {
	data := testutil.RandBytes(5, 200<<10)
	e := newEnv(t, func(root string) { testutil.WriteFile(t, filepath.Join(root, "f"), data) }, nil)
	s := e.m.Stats()
	if s.Server == "" || s.Started.IsZero() || s.Now.Before(s.Started) {
		t.Errorf("identity: %+v", s)
	}
	if s.Listings.Fetches != 1 || s.Conn.Commands["MLSD"] != 1 {
		t.Errorf("after mounting: listings %+v, MLSD %d; want the root listed once", s.Listings, s.Conn.Commands["MLSD"])
	}

	f, err := os.Create(filepath.Join(e.mnt, "new"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if u := e.m.Stats().Uploads; u.Pending != 1 || u.StagedBytes != 1000 {
		t.Errorf("a file open with 1000 bytes written: %+v", u)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// The kernel releases the file after close returns.
	waitStats(t, e.m, "no upload pending after close", func(s Stats) bool {
		u := s.Uploads
		return u.Pending == 0 && u.StagedBytes == 0 && u.Failed == 0
	})

	before := e.m.Stats().Conn.Commands["RETR"]
	if got, err := os.ReadFile(filepath.Join(e.mnt, "f")); err != nil || len(got) != len(data) {
		t.Fatalf("read: %d bytes, %v", len(got), err)
	}
	s = e.m.Stats()
	if s.Conn.Commands["RETR"] <= before || s.Conn.BytesDown < int64(len(data)) {
		t.Errorf("after reading %d bytes: RETR %d (was %d), %d bytes down", len(data), s.Conn.Commands["RETR"], before, s.Conn.BytesDown)
	}
	if s.Conn.Connections.Open < 1 || s.Conn.Connections.Max != 4 {
		t.Errorf("connections: %+v", s.Conn.Connections)
	}

	e.srv.SetFaults(ftpd.Faults{StorFullAfter: 1})
	if err := os.WriteFile(filepath.Join(e.mnt, "full"), make([]byte, 5000), 0o644); err == nil {
		t.Fatal("an upload to a full server succeeded")
	}
	s = waitStats(t, e.m, "a refused upload failed and kept", func(s Stats) bool {
		u := s.Uploads
		return u.Failed == 1 && u.Kept == 1 && u.Pending == 0
	})
	if s.Conn.Errors["no_space"] == 0 {
		t.Errorf("errors after a 552: %v", s.Conn.Errors)
	}
}
