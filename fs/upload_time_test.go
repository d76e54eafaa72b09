package fs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"ftpfs/cache"
	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// TestUploadTime: right after close(), a file's time as the mount shows
// it is the server's, and stays the same once the directory's listing
// expired and came again. (A guess taken as the commit ended, then the
// server's time a moment later, looked like a change of the file to
// whoever compares times: vim, started right after a save, refused to
// write a file "changed since reading".) On ftpd's full profile, whose
// MLSD gives milliseconds, a guess would never be the server's time; on
// servers that give seconds, a guess would be wrong whenever a second
// began between the last byte and the end of the commit.
func TestUploadTime(t *testing.T) {
	// Long enough for the listing to stay fresh from the file's creation
	// to the stat after its close; short for a test that waits it out.
	const ttl = 2 * time.Second
	short := func(o *Options) { o.DirCacheTTL = ttl }
	for _, tc := range []struct {
		profile ftpd.Profile
		prec    time.Duration // of the listings' times: MLSD's ms, MDTM's s
	}{{ftpd.ProfileFull, time.Millisecond}, {ftpd.ProfileVsftpd, time.Second}} {
		t.Run(string(tc.profile), func(t *testing.T) {
			e := newEnv(t, nil, withProfile(tc.profile), short)
			checkUploadTime(t, e.root, e.mnt, ttl, tc.prec)
		})
	}
	t.Run("proftpd", func(t *testing.T) {
		testutil.NeedFUSE(t)
		testutil.NeedRoot(t, "for proftpd, which changes user")
		root := t.TempDir()
		s := startProftpd(t, root, nil)
		mods := append([]func(*Options){func(o *Options) { o.Root = "/" + s.up }, short}, s.mods...)
		_, mnt, _ := mountAt(t, s.addr, s.user, s.pass, mods...)
		checkUploadTime(t, filepath.Join(root, s.up), mnt, ttl, time.Second)
	})
}

// checkUploadTime writes files through mnt, compares their times with
// those on disk, in root, right after close() and once the listing
// expired: the first upload of a mount (which learns the server's zone)
// and a new one, then one over the first, as long and likely in the same
// minute: its LIST line is the same as the first one's.
func checkUploadTime(t *testing.T, root, mnt string, ttl, prec time.Duration) {
	t.Helper()
	for i, name := range []string{"a", "b", "a"} {
		f := filepath.Join(mnt, name)
		if err := os.WriteFile(f, []byte("version "+name+string(rune('0'+i))), 0o644); err != nil {
			t.Fatal(err)
		}
		after, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		on, err := os.Stat(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		if want := on.ModTime().Truncate(prec); !after.ModTime().Equal(want) {
			t.Fatalf("upload %d: the mount shows %v after close(); the server holds %v", i, after.ModTime(), want)
		}
		// Past the listing's TTL and its minimum freshness, and the
		// kernel's attribute cache.
		time.Sleep(cache.DefaultMinFresh + 2*ttl)
		listed, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if !listed.ModTime().Equal(after.ModTime()) {
			t.Fatalf("upload %d: the mount showed %v after close(), %v once listed again", i, after.ModTime(), listed.ModTime())
		}
	}
}
