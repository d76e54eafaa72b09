package fs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpfs/conn"
	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// zoneServer is a server answering in Tokyo's local time, in LIST and
// MDTM alike, as vsftpd with use_localtime=YES does.
type zoneServer struct {
	disk  string // the directory uploads go to, on the server's disk
	up    string // the same, below the served root
	mount func(t *testing.T, mods ...func(*Options)) (mnt string, logs *testutil.Buffer)
}

// zoneFiles are the files the zone tests find on the server, each changed
// at zoneWhen: two days ago, so that LIST gives its time of day.
var zoneFiles = []string{"given", "before", "after"}

func zoneWhen() time.Time { return time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Second) }

// writeZoneFiles writes zoneFiles into dir, changed at when.
func writeZoneFiles(t *testing.T, dir string, when time.Time) {
	t.Helper()
	for _, name := range zoneFiles {
		p := filepath.Join(dir, name)
		testutil.WriteFile(t, p, []byte(name))
		if err := os.Chtimes(p, when, when); err != nil {
			t.Fatal(err)
		}
	}
}

func mtimeOf(t *testing.T, p string) time.Time {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime().UTC()
}

// touchAndRsync sets a time with touch -d and copies a file with rsync
// -t twice through mnt's dir (on the server's disk: disk), checking the
// times on the disk and through the mount, and that the second rsync
// finds nothing to do.
func touchAndRsync(t *testing.T, mnt, disk, name string) {
	t.Helper()
	set := time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
	if out, err := exec.Command("touch", "-m", "-d", "2020-05-06 07:08:09 UTC", filepath.Join(mnt, name)).CombinedOutput(); err != nil {
		t.Fatalf("touch -d: %v %s", err, out)
	}
	if got := mtimeOf(t, filepath.Join(disk, name)); !got.Equal(set) {
		t.Fatalf("touch -d set %v on the server, want %v", got, set)
	}
	src := filepath.Join(t.TempDir(), "r")
	testutil.WriteFile(t, src, []byte("rsync's"))
	srcTime := time.Date(2019, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := os.Chtimes(src, srcTime, srcTime); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		out, err := exec.Command("rsync", "-t", "--itemize-changes", src, filepath.Join(mnt, "r")).CombinedOutput()
		if err != nil {
			t.Fatalf("rsync -t: %v %s", err, out)
		}
		if i == 1 && len(out) != 0 {
			t.Fatalf("the second rsync -t found the time changed: %s", out)
		}
	}
	if got := mtimeOf(t, filepath.Join(disk, "r")); !got.Equal(srcTime) {
		t.Fatalf("rsync -t: %v on the server, want %v", got, srcTime)
	}
	if got := mtimeOf(t, filepath.Join(mnt, "r")); !got.Equal(srcTime) {
		t.Fatalf("rsync -t: %v through the mount, want %v", got, srcTime)
	}
}

// checkServerZone runs the zone tests against zs, whose zoneFiles were
// changed at when. With --server-timezone the times are right from the
// start; without, they are off by the nine hours until the mount's
// first upload shows the offset, and right from then on.
func checkServerZone(t *testing.T, zs zoneServer, when time.Time) {
	tokyo, err := conn.ParseZone("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("given", func(t *testing.T) {
		mnt, logs := zs.mount(t, func(o *Options) { o.Conn.ServerZone = tokyo })
		dir := filepath.Join(mnt, zs.up)
		if got := mtimeOf(t, filepath.Join(dir, "given")); !got.Equal(when) {
			t.Fatalf("stat: %v, want %v", got, when)
		}
		touchAndRsync(t, dir, zs.disk, "given")
		if strings.Contains(logs.String(), "server gives local time") {
			t.Fatal("a zone given was learnt again")
		}
	})
	t.Run("learnt", func(t *testing.T) {
		mnt, logs := zs.mount(t)
		dir := filepath.Join(mnt, zs.up)
		if got := mtimeOf(t, filepath.Join(dir, "before")); !got.Equal(when.Add(9 * time.Hour)) {
			t.Fatalf("before an upload: %v, want Tokyo's wall clock read as UTC, %v", got, when.Add(9*time.Hour))
		}
		testutil.WriteFile(t, filepath.Join(dir, "new"), []byte("new"))
		if n := strings.Count(logs.String(), "server gives local time"); n != 1 {
			t.Fatalf("the log says %d times that the server gives local time, want once", n)
		}
		if got := mtimeOf(t, filepath.Join(dir, "after")); !got.Equal(when) {
			t.Fatalf("after an upload: %v, want %v", got, when)
		}
		if got, now := mtimeOf(t, filepath.Join(zs.disk, "new")), time.Now(); now.Sub(got).Abs() > time.Minute {
			t.Fatalf("the upload's time on the server: %v, now %v", got, now)
		}
		touchAndRsync(t, dir, zs.disk, "after")
		testutil.WriteFile(t, filepath.Join(dir, "new2"), []byte("new"))
		if n := strings.Count(logs.String(), "server gives local time"); n != 1 {
			t.Fatalf("the log says %d times that the server gives local time, want once", n)
		}
	})
}

// TestServerZone: ftpd's vsftpd profile answering in Tokyo's time.
func TestServerZone(t *testing.T) {
	testutil.NeedFUSE(t)
	tokyo, err := conn.ParseZone("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	root, when := t.TempDir(), zoneWhen()
	writeZoneFiles(t, root, when)
	_, cfg := startFtpd(t, root, func(c *ftpd.Config) { c.Profile, c.Zone = ftpd.ProfileVsftpd, tokyo })
	checkServerZone(t, zoneServer{disk: root, mount: func(t *testing.T, mods ...func(*Options)) (string, *testutil.Buffer) {
		_, mnt, logs := mountAt(t, cfg.Listen, testUser, testPass, mods...)
		return mnt, logs
	}}, when)
}

// TestRealVsftpdLocalTime: the system's vsftpd with use_localtime=YES,
// in Tokyo by TZ in its environment (it turns the zone into an offset
// before it chroots).
func TestRealVsftpdLocalTime(t *testing.T) {
	testutil.NeedFUSE(t)
	testutil.NeedRoot(t, "for vsftpd, which chroots and changes user")
	root, when := t.TempDir(), zoneWhen()
	writeZoneFiles(t, filepath.Join(root, "up"), when)
	s := vsftpdWith(t, root, nil, []string{"use_localtime=YES"}, []string{"TZ=Asia/Tokyo"})
	checkServerZone(t, zoneServer{disk: filepath.Join(root, "up"), up: "up", mount: func(t *testing.T, mods ...func(*Options)) (string, *testutil.Buffer) {
		_, mnt, logs := mountAt(t, s.addr, s.user, s.pass, append(s.mods, mods...)...)
		return mnt, logs
	}}, when)
	t.Run("doctor", func(t *testing.T) {
		out := doctorReal(t, s)
		wantReport(t, out, []string{
			"ok           time zone of LIST: LIST's times are in MDTM's zone",
			"PROBLEM      time zone of MDTM: the server gives local time (UTC+09:00)",
		})
		wantLine := "ftpfs mount --server-timezone +09:00 -o chmod=ignore --timeout 10s ftp://" + s.user + "@" + s.addr + "/up MOUNTPOINT"
		if !strings.Contains(out, "\n  "+wantLine+"\n") {
			t.Errorf("no recommended line %q", wantLine)
		}
		noScratch(t, root)
	})
}
