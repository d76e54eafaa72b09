package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"ftpfs/internal/testutil"
)

// statsJSON runs ftpfs stats --json on the mount at mnt.
func statsJSON(t *testing.T, cacheDir, mnt string) statsReport {
	t.Helper()
	out, err := exec.Command(testutil.Binary(t), "stats", "--json", "--cache-dir", cacheDir, mnt).Output()
	if err != nil {
		t.Fatalf("ftpfs stats --json: %v %s", err, exitStderr(err))
	}
	var r statsReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("ftpfs stats --json: %v in %s", err, out)
	}
	return r
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// TestStatsOfRunningMounts: two mounts of one server share a cache dir;
// while a copy runs from the first, ftpfs stats shows it there and not in
// the second, each through a 0600 socket of its own; a listing and a read
// count MLSD 1 and RETR 1; --metrics serves the same figures.
func TestStatsOfRunningMounts(t *testing.T) {
	root := t.TempDir()
	big := testutil.RandBytes(7, 4<<20)
	testutil.WriteFile(t, filepath.Join(root, "big.bin"), big)
	testutil.WriteFile(t, filepath.Join(root, "d", "small.txt"), []byte("small\n"))
	// 1 MB/s a data connection: the copy takes seconds (one or two, where
	// the mount reads it over several connections at once), time enough
	// to look at it.
	srv := serveBinary(t, root, "--fault-data-rate", "1000000")
	url := "ftp://u@" + srv.addr + "/"
	cacheDir := t.TempDir()
	// The later --cache-dir wins over mountBinary's own.
	m1 := mountBinary(t, url, "p", "--cache-dir", cacheDir, "--metrics", "127.0.0.1:0")
	m2 := mountBinary(t, url, "p", "--cache-dir", cacheDir)

	r := statsJSON(t, cacheDir, m1.mnt)
	if r.Mountpoint != m1.mnt || r.Metrics == "" || r.Conn.Commands["MLSD"] != 1 || r.Conn.Commands["RETR"] != 0 {
		t.Fatalf("after mounting: %+v", r)
	}

	// A listing and a read, alone in their directory (no file read
	// ahead beside it).
	before := r.Conn.Commands
	if _, err := os.ReadDir(filepath.Join(m1.mnt, "d")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(m1.mnt, "d", "small.txt")); err != nil || string(b) != "small\n" {
		t.Fatalf("read: %q %v", b, err)
	}
	r = statsJSON(t, cacheDir, m1.mnt)
	if mlsd, retr := r.Conn.Commands["MLSD"]-before["MLSD"], r.Conn.Commands["RETR"]-before["RETR"]; mlsd != 1 || retr != 1 {
		t.Errorf("a listing and a read counted MLSD %d, RETR %d; want 1 and 1 (%v)", mlsd, retr, r.Conn.Commands)
	}

	// A copy out of the mount and one into it, at once, by cp: a file
	// of the mount open in this process would be open in the processes
	// it starts too, until their exec closes it, and that close is a
	// flush that waits for the upload.
	local := t.TempDir()
	testutil.WriteFile(t, filepath.Join(local, "big.bin"), big)
	cp := func(from, to string) error {
		if out, err := exec.Command("cp", from, to).CombinedOutput(); err != nil {
			return fmt.Errorf("cp %s %s: %v %s", from, to, err, out)
		}
		return nil
	}
	copied := make(chan error, 2)
	go func() { copied <- cp(filepath.Join(m1.mnt, "big.bin"), filepath.Join(local, "copy.bin")) }()
	// An upload may go into the socket buffers whole and end before a
	// look: copies go in, one after another, until one is seen.
	var upSeen atomic.Bool
	go func() {
		var err error
		for i := 0; i < 5 && err == nil && !upSeen.Load(); i++ {
			err = cp(filepath.Join(local, "big.bin"), filepath.Join(m1.mnt, fmt.Sprintf("up%d.bin", i)))
		}
		copied <- err
	}()
	// Each seen once at least while the copies run: the download, the
	// upload, the download in the plain rendering, and the second
	// mount idle meanwhile.
	var down, up, other bool
	var plain []byte
	testutil.WaitUntil(t, 10*time.Second, "both copies shown as transfers", func() (bool, string) {
		if plain == nil {
			out, err := exec.Command(testutil.Binary(t), "stats", "--cache-dir", cacheDir, m1.mnt).Output()
			if err != nil {
				t.Fatalf("ftpfs stats: %v %s", err, exitStderr(err))
			}
			if bytes.Contains(out, []byte("down /big.bin: ")) {
				plain = out
			}
		}
		seen := statsJSON(t, cacheDir, m1.mnt)
		for _, x := range seen.Conn.Transfers {
			switch {
			case x.Path == "/big.bin" && x.Op == "retr" && !x.Up && x.Bytes > 0 && x.Size == int64(len(big)):
				down = true
			case strings.Contains(x.Path, "up") && x.Op == "stor" && x.Up && x.Bytes > 0:
				up = true
				upSeen.Store(true)
			}
		}
		if !other && len(seen.Conn.Transfers) > 0 {
			r2 := statsJSON(t, cacheDir, m2.mnt)
			if len(r2.Conn.Transfers) != 0 || r2.Conn.Commands["RETR"] != 0 || r2.Mountpoint != m2.mnt {
				t.Errorf("the second mount shows the first's work: %+v", r2)
			}
			other = true
		}
		return down && up && other && plain != nil, fmt.Sprintf("down %v up %v plain %v: %+v", down, up, plain != nil, seen.Conn.Transfers)
	})
	t.Logf("ftpfs stats during the copy:\n%s", plain)
	for range 2 {
		if err := <-copied; err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(local, "copy.bin")); !bytes.Equal(got, big) {
		t.Error("the copy out of the mount differs")
	}

	s1, s2 := statsSocket(cacheDir, m1.mnt), statsSocket(cacheDir, m2.mnt)
	for _, s := range []string{s1, s2} {
		st, err := os.Lstat(s)
		if err != nil || st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o600 {
			t.Errorf("socket %s: %v %v, want a socket of mode 0600", s, st.Mode(), err)
		}
	}
	if s1 == s2 {
		t.Errorf("both mounts answer on %s", s1)
	}

	// The metrics say what the socket says, once the mount is idle (the
	// kernel releases a written file after its close returned).
	testutil.WaitUntil(t, 10*time.Second, "the mount idle", func() (bool, string) {
		r = statsJSON(t, cacheDir, m1.mnt)
		return r.Uploads.Pending == 0 && len(r.Conn.Transfers) == 0 && r.Conn.Connections.Busy == 0, fmt.Sprintf("%+v", r)
	})
	m := scrapeMetrics(t, "http://"+r.Metrics+"/metrics")
	for verb, n := range r.Conn.Commands {
		if got := m[`ftpfs_commands_total{verb="`+verb+`"}`]; got != float64(n) {
			t.Errorf("metrics say %s %v, stats %d", verb, got, n)
		}
	}
	for name, want := range map[string]int64{
		"ftpfs_round_trips_total":                                      r.Conn.RoundTrips,
		`ftpfs_transfer_bytes_total{direction="down"}`:                 r.Conn.BytesDown,
		`ftpfs_cache_lookups_total{cache="listings",result="hit"}`:     r.Listings.Hits,
		`ftpfs_connections{state="open"}`:                              int64(r.Conn.Connections.Open),
		"ftpfs_uploads_pending":                                        r.Uploads.Pending,
		`ftpfs_cache_fetches_total{cache="listings",result="started"}`: r.Listings.Fetches,
	} {
		if m[name] != float64(want) {
			t.Errorf("metrics say %s %v, stats %d", name, m[name], want)
		}
	}

	// --watch prints again and again until interrupted; the command's
	// own code, in this process, reads the live mount.
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	var watch, errs bytes.Buffer
	if rc := stats(ctx, []string{"--watch", "--interval", "50ms", "--cache-dir", cacheDir, m1.mnt}, &watch, &errs, hostInputs(), false, 80); rc != 0 {
		t.Errorf("stats --watch: %d %s", rc, &errs)
	}
	if n := strings.Count(watch.String(), "round trips "); n < 2 {
		t.Errorf("stats --watch printed %d reports:\n%s", n, &watch)
	}

	m2.unmount(t)
	if _, err := os.Lstat(s2); !os.IsNotExist(err) {
		t.Errorf("socket of an unmounted mount still there: %v", err)
	}
	out, err := exec.Command(testutil.Binary(t), "stats", "--cache-dir", cacheDir, m2.mnt).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no ftpfs mount at") {
		t.Errorf("stats of an unmounted mountpoint: %v %s", err, out)
	}
}

// metricLine is a sample of the text format: name, labels, value.
var metricLine = regexp.MustCompile(`^([a-z_]+(?:\{[a-z_]+="[^"\\]*"(?:,[a-z_]+="[^"\\]*")*\})?) (-?[0-9.]+(?:e[+-]?[0-9]+)?)$`)

// scrapeMetrics gets url and parses it strictly: every line a HELP, a
// TYPE or a sample of the family last typed.
func scrapeMetrics(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("metrics: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	family := ""
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if rest, ok := strings.CutPrefix(l, "# TYPE "); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || (f[1] != "counter" && f[1] != "gauge") {
				t.Errorf("bad TYPE line %q", l)
			}
			family = f[0]
			continue
		}
		if strings.HasPrefix(l, "# HELP ") {
			continue
		}
		m := metricLine.FindStringSubmatch(l)
		if m == nil || !strings.HasPrefix(m[1], family) {
			t.Errorf("bad sample line %q (family %s)", l, family)
			continue
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		out[m[1]] = v
	}
	if len(out) == 0 {
		t.Fatal("no samples")
	}
	return out
}
