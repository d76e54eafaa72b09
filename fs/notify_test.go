package fs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"ftpfs/ftpd"
)

// TestFailedCommitWhileUnlinked: a failed upload of a new file tells the
// kernel to forget its name, which takes the directory's lock. An unlink
// of the file holds that lock while it waits for the file's, which the
// kernel holds for as long as an FSYNC (not a FLUSH) is ours: sent from
// inside the FSYNC, the notification waited for the unlink, which waited
// for the FSYNC, and both hung for good.
func TestFailedCommitWhileUnlinked(t *testing.T) {
	for _, tc := range []struct {
		name   string
		commit func(*os.File) error
	}{
		{"fsync", (*os.File).Sync},
		{"close", (*os.File).Close},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, nil, func(o *Options) { o.Conn.Timeout = time.Second })
			p := filepath.Join(e.mnt, "f")
			f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// Not at 0: no stream, the upload is at the commit.
			if _, err := f.WriteAt([]byte("x"), 1); err != nil {
				t.Fatal(err)
			}
			// The upload stalls until the exchange timeout, then fails.
			e.srv.SetFaults(ftpd.Faults{Stall: true})
			committed := make(chan error, 1)
			go func() { committed <- tc.commit(f) }()
			time.Sleep(300 * time.Millisecond) // the commit is in flight
			removed := make(chan error, 1)
			go func() { removed <- os.Remove(p) }()
			select {
			case err := <-committed:
				if err == nil {
					t.Errorf("%s succeeded through a stalled upload", tc.name)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("%s hung behind an unlink of its file; where:\n%s", tc.name, hangReport())
				// Free the kernel's requests, so that the mount can go.
				if err := abortConnection(e.m.conn); err != nil {
					t.Logf("abort: %v", err)
				}
				return
			}
			e.srv.SetFaults(ftpd.Faults{})
			select {
			case <-removed:
			case <-time.After(15 * time.Second):
				t.Errorf("unlink hung after the %s returned; where:\n%s", tc.name, hangReport())
				abortConnection(e.m.conn)
			}
		})
	}
}
