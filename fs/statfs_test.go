package fs

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"ftpfs/conn"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// TestStatfs: df on a mount of a server with AVBL shows the server's free
// space (size = free = available: AVBL tells nothing of what is used), and
// a df loop costs one AVBL per conn.SpaceTTL; a server without it (the
// vsftpd profile) gets the synthetic 1 TiB.
func TestStatfs(t *testing.T) {
	for _, tc := range []struct {
		profile ftpd.Profile
		avbl    bool
	}{{ftpd.ProfileFull, true}, {ftpd.ProfileVsftpd, false}} {
		t.Run(string(tc.profile), func(t *testing.T) {
			e := newEnv(t, nil, []func(*ftpd.Config){func(c *ftpd.Config) { c.Profile = tc.profile }})
			want, margin := testutil.Available(t, e.root)
			if !tc.avbl {
				want, margin = syntheticFree, 0
			}
			e.srv.ResetCounts()
			for range 20 {
				var st syscall.Statfs_t
				if err := syscall.Statfs(e.mnt, &st); err != nil {
					t.Fatal(err)
				}
				got := st.Bavail * uint64(st.Frsize)
				if !testutil.Near(got, want, margin) || st.Bfree != st.Bavail || st.Blocks != max(st.Bavail, 1) {
					t.Fatalf("statfs: blocks %d, free %d, avail %d of %d bytes; want %d bytes available (±%d), all three alike",
						st.Blocks, st.Bfree, st.Bavail, st.Frsize, want, margin)
				}
			}
			if n := e.srv.Counts()["AVBL"]; n > 1 || !tc.avbl && n != 0 {
				t.Errorf("20 statfs sent %d AVBL", n)
			}

			// df, as a user runs it, shows the same figure.
			out, err := exec.Command("df", "-B1", "--output=avail", e.mnt).Output()
			if err != nil {
				t.Fatalf("df: %v", err)
			}
			fields := strings.Fields(string(out))
			got, err := strconv.ParseUint(fields[len(fields)-1], 10, 64)
			if err != nil || !testutil.Near(got, want, margin) {
				t.Errorf("df shows %q, want %d (±%d)", out, want, margin)
			}
		})
	}
}

// TestStatfsQuota: df on a mount of a server with a quota (SITE QUOTA,
// ftpd's in proftpd's form) shows the quota as the size, its use as used
// and the rest as available, below the disk's free space that AVBL
// tells; after an upload, and the cache's TTL, the figures drop by it.
func TestStatfsQuota(t *testing.T) {
	const limit = 64 << 20
	e := newEnv(t, nil, []func(*ftpd.Config){func(c *ftpd.Config) { c.Quota = limit }})
	quotaDropsAfterUpload(t, e.mnt, limit)

	// A quota beyond the disk: the size and the free blocks are the
	// quota's, the available ones AVBL's figure.
	const huge = 1 << 58
	e = newEnv(t, nil, []func(*ftpd.Config){func(c *ftpd.Config) { c.Quota = huge }})
	want, margin := testutil.Available(t, e.root)
	var st syscall.Statfs_t
	if err := syscall.Statfs(e.mnt, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*uint64(st.Frsize) != huge || st.Bfree != st.Blocks || !testutil.Near(st.Bavail*uint64(st.Frsize), want, margin) {
		t.Errorf("statfs with a quota beyond the disk: blocks %d, free %d, avail %d of %d bytes; want %d bytes, all free, about %d available",
			st.Blocks, st.Bfree, st.Bavail, st.Frsize, uint64(huge), want)
	}
}

// TestStatfsProftpdQuota is TestStatfsQuota against proftpd with
// mod_quotatab, its limit table made by its ftpquota script.
func TestStatfsProftpdQuota(t *testing.T) {
	testutil.NeedFUSE(t)
	testutil.NeedRoot(t, "for proftpd, which changes user")
	const limit = 64 << 20
	base := testServersDir()
	mods := filepath.Join(base, "usr/lib/proftpd")
	ftpquota := filepath.Join(base, "usr/sbin/ftpquota")
	for _, f := range []string{filepath.Join(mods, "mod_quotatab.so"), filepath.Join(mods, "mod_quotatab_file.so"), ftpquota} {
		needServer(t, f)
	}
	if _, err := exec.LookPath("perl"); err != nil {
		testutil.Unavailable(t, "perl, for proftpd's ftpquota: %v", err)
	}
	dir := t.TempDir()
	limits, tally := filepath.Join(dir, "limit.tab"), filepath.Join(dir, "tally.tab")
	for _, args := range [][]string{
		{"--create-table", "--type=limit", "--table-path=" + limits},
		{"--create-table", "--type=tally", "--table-path=" + tally},
		{"--add-record", "--type=limit", "--name=" + testUser, "--quota-type=user", "--units=B",
			"--bytes-upload=" + strconv.Itoa(limit), "--table-path=" + limits},
	} {
		if out, err := exec.Command("perl", append([]string{ftpquota}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ftpquota %s: %v\n%s", args[0], err, out)
		}
	}
	var conf []string
	if proftpdDigest() == nil {
		conf = append(conf, "ModulePath "+mods)
	}
	conf = append(conf, "LoadModule mod_quotatab.c", "LoadModule mod_quotatab_file.c",
		"QuotaEngine on", "QuotaLimitTable file:"+limits, "QuotaTallyTable file:"+tally, "")
	srv := startProftpdWith(t, t.TempDir(), nil, "", conf...)
	_, mnt, _ := mountAt(t, srv.addr, srv.user, srv.pass, srv.mods...)
	quotaDropsAfterUpload(t, mnt, limit)
}

// quotaDropsAfterUpload checks df on mnt, a mount of a server with an
// upload quota of limit bytes, none used: size = limit, nothing used, all
// of it available; then, after a 1 MiB upload and the cache's TTL, 1 MiB
// used and 1 MiB less available.
func quotaDropsAfterUpload(t *testing.T, mnt string, limit uint64) {
	t.Helper()
	df := func(wantUsed uint64) {
		t.Helper()
		out, err := exec.Command("df", "-B1", "--output=size,used,avail", mnt).Output()
		if err != nil {
			t.Fatalf("df: %v", err)
		}
		fields := strings.Fields(string(out))
		want := []string{"1B-blocks", "Used", "Avail", strconv.FormatUint(limit, 10), strconv.FormatUint(wantUsed, 10), strconv.FormatUint(limit-wantUsed, 10)}
		if !slices.Equal(fields, want) {
			t.Errorf("df shows %q, want %q", fields, want)
		}
	}
	df(0)
	if err := os.WriteFile(filepath.Join(mnt, "f"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	df(0) // the figures of the cache
	time.Sleep(conn.SpaceTTL)
	df(1 << 20)
}
