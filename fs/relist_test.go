package fs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"ftpfs/cache"
	"ftpfs/ftpd"
	"ftpfs/internal/link"
	"ftpfs/internal/testutil"
)

// TestRelistRoundTrips: on servers with MLSD (ftpd's full profile, the
// real proftpd), a directory whose listing expired is listed again with
// STAT alone, one round trip (EPSV, its connect and MLSD took three),
// its files keeping the exact times the last listing gave; a file
// changed since costs one MLST more, together, and shows its new time.
func TestRelistRoundTrips(t *testing.T) {
	const ttl = 100 * time.Millisecond
	// One connection: the listing of d's 40 files would dial others
	// (warm.go), whose data connections opened ahead end with the last
	// leg of a handshake, which a command after the count's reset rides.
	short := func(o *Options) { o.DirCacheTTL = ttl; o.Conn.MaxConns = 1 }
	// A link where MLSTs pay: the server's time for them is below two
	// round trips.
	slow := link.Options{RTT: 20 * time.Millisecond}
	mt := time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)
	// Names whose times are this minute's are asked again (a file
	// rewritten in the same minute lists the same line): the root's get
	// older ones before the mount lists them.
	aged := func(root string) {
		// Last in the root: a listing may bring the next directory's
		// ahead.
		os.Mkdir(filepath.Join(root, "zz-empty"), 0o755)
		ents, _ := os.ReadDir(root)
		for _, e := range ents {
			os.Chtimes(filepath.Join(root, e.Name()), mt, mt)
		}
	}
	for _, server := range []string{"ftpd", "proftpd"} {
		t.Run(server, func(t *testing.T) {
			var root, mnt string
			var l *link.Link
			if server == "ftpd" {
				e := newLinkEnv(t, slow, func(r string) { datedDir(filepath.Join(r, "d"), 40); aged(r) }, withProfile(ftpd.ProfileFull), short)
				root, mnt, l = e.root, e.mnt, e.l
			} else {
				testutil.NeedRoot(t, "for proftpd, which changes user")
				root = t.TempDir()
				datedDir(filepath.Join(root, "d"), 40)
				srv := startProftpd(t, root, nil)
				aged(root)
				var err error
				if l, err = link.Start(srv.addr, slow); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.Close() })
				_, mnt, _ = mountAt(t, l.Addr(), srv.user, srv.pass, append(srv.mods, short)...)
			}
			dir := filepath.Join(mnt, "d")
			walkTree(t, dir)
			// Past the listing's TTL and its minimum freshness, and the
			// kernel's attribute cache.
			expire := func() { time.Sleep(cache.DefaultMinFresh + 2*ttl) }
			expire()
			s := counted(t, l, func() { checkTimes(t, filepath.Join(root, "d"), walkTree(t, dir), 40) })
			// The root's listing expired too: its STAT and d's travel
			// one after the other.
			if s.RoundTrips != 2 || s.Commands["STAT"] != 2 || s.Total() != 2 {
				t.Fatalf("listing again: %d round trips, %s; want STAT alone, for each: 2", s.RoundTrips, commands(s))
			}

			f := filepath.Join(root, "d", "f07")
			os.WriteFile(f, []byte("longer"), 0o644)
			os.Chtimes(f, mt, mt)
			expire()
			s = counted(t, l, func() { checkTimes(t, filepath.Join(root, "d"), walkTree(t, dir), 40) })
			if s.RoundTrips != 3 || s.Commands["STAT"] != 2 || s.Commands["MLST"] != 1 || s.Total() != 3 {
				t.Fatalf("one file changed: %d round trips, %s; want the STATs, then its MLST: 3", s.RoundTrips, commands(s))
			}

			// An empty directory never listed: proftpd's STAT lists its
			// "." and "..", 1 round trip. ftpd's lists neither, and its
			// answer looks like a missing directory's: MLSD says (EPSV,
			// the connect, MLSD: 3). The connection then opens the next
			// data connection, once the listing is in (an EPSV and its
			// connect, which nobody waits for, counted or not yet). The
			// root's listing comes first, not counted.
			expire()
			if _, err := os.Stat(filepath.Join(mnt, "zz-empty")); err != nil {
				t.Fatal(err)
			}
			s = counted(t, l, func() {
				if ents, err := os.ReadDir(filepath.Join(mnt, "zz-empty")); err != nil || len(ents) != 0 {
					t.Fatalf("empty directory: %v, %v", ents, err)
				}
			})
			want, verbs, connect := 1, "STAT 1", 0
			if server == "ftpd" {
				want, verbs, connect = 4, "EPSV 1 MLSD 1 STAT 1", 2
				if s.Commands["EPSV"] == 2 {
					verbs = "EPSV 2 MLSD 1 STAT 1"
				}
			}
			if s.RoundTrips < want || s.RoundTrips > want+connect || commands(s) != verbs {
				t.Fatalf("empty directory: %d round trips, %s; want %s, %d", s.RoundTrips, commands(s), verbs, want)
			}
		})
	}
}
