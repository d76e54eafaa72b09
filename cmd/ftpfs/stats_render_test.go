package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"ftpfs/cache"
	"ftpfs/conn"
	ftpfs "ftpfs/fs"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of the stats renderer")

// fixedReport is a mount in the middle of things: a download with a
// known size, an upload without one, a lowered ceiling, errors, and a
// path with a control character from the server.
func fixedReport() statsReport {
	t0 := time.Date(2026, 12, 3, 4, 31, 5, 0, time.UTC)
	lowered := t0.Add(9 * time.Minute)
	return statsReport{
		Mountpoint: "/mnt/site",
		Metrics:    "127.0.0.1:9100",
		Stats: ftpfs.Stats{
			Server:  "ftp://ftp.example.com/pub",
			Started: t0,
			Now:     t0.Add(time.Hour + 2*time.Minute + 3*time.Second),
			Conn: conn.Snapshot{
				Connections: conn.ConnStats{Open: 3, Busy: 2, Ceiling: 3, Max: 4, Waiting: 1, Opened: 5,
					Lowered: &lowered, LoweredBy: "login: 421 Too many connections (3) from this IP"},
				Transfers: []conn.TransferStat{
					{Conn: 2, Op: "retr", Path: "/pub/isos/debian-13.2.0-amd64-netinst.iso", Offset: 1 << 20, Bytes: 511 << 20, Size: 1 << 30, Started: t0, Rate: 12.5 * (1 << 20)},
					{Conn: 3, Op: "stor", Path: "/pub/in\x1b[2J/.ftpfs-upload-1a2b-notes.txt", Up: true, Bytes: 1234567, Started: t0, Rate: 3 << 20},
				},
				Commands:   map[string]int64{"EPSV": 40, "MLSD": 3, "RETR": 30, "STOR": 7, "USER": 5, "PASS": 5},
				RoundTrips: 130, Flights: 118, Connects: 12,
				Errors:    map[string]int64{"not_found": 3, "unavailable": 1},
				BytesDown: 3 << 30, BytesUp: 12 << 20,
			},
			Listings: cache.Stats{Hits: 140, Misses: 10, Fetches: 9, Shared: 1},
			Blocks:   cache.Stats{Hits: 10, Misses: 10, Fetches: 8, Shared: 2},
			Uploads:  ftpfs.UploadStats{Pending: 1, StagedBytes: 12 << 20, Failed: 1, Kept: 2},
		},
	}
}

// TestRenderStatsGolden renders the fixed report with progress bars (a
// terminal 80 columns wide) and as plain lines; go test -update rewrites
// the golden files.
func TestRenderStatsGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bars  bool
		width int
	}{{"stats_bars.golden", true, 80}, {"stats_plain.golden", false, 80}, {"stats_narrow.golden", true, 40}} {
		var b bytes.Buffer
		renderStats(&b, fixedReport(), tc.bars, tc.width, time.UTC)
		golden := filepath.Join("testdata", tc.name)
		if *updateGolden {
			if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.name, b.Bytes(), want)
		}
	}
}

// TestRenderStatsQuiet: a mount that did nothing yet says so.
func TestRenderStatsQuiet(t *testing.T) {
	var b bytes.Buffer
	r := statsReport{Mountpoint: "/m", Stats: ftpfs.Stats{Server: "ftp://h/"}}
	renderStats(&b, r, false, 80, time.UTC)
	for _, want := range []string{"transfers    none", "blocks       no lookups", "commands     0: none", "errors       none"} {
		if !bytes.Contains(b.Bytes(), []byte(want)) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
}
