package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"ftpfs/cache"
	"ftpfs/conn"
)

// renderStats writes r for a person: one topic a line, a transfer a line,
// or, with bars (a terminal), a transfer over two lines with a progress
// bar fitted to width. Times are shown in loc. Everything the server
// chose (paths, its reply text) is escaped for the terminal.
func renderStats(w io.Writer, r statsReport, bars bool, width int, loc *time.Location) {
	c := r.Conn
	line := func(topic, format string, args ...any) {
		fmt.Fprintf(w, "%-12s %s\n", topic, fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(w, "%s on %s, up %s (since %s)\n\n", escapeControl(r.Server), escapeControl(r.Mountpoint),
		r.Now.Sub(r.Started).Round(time.Second), r.Started.In(loc).Format("2006-01-02 15:04:05 MST"))

	cs := c.Connections
	line("connections", "%d open, %d busy, %d waiting; ceiling %d of %d", cs.Open, cs.Busy, cs.Waiting, cs.Ceiling, cs.Max)
	if cs.Lowered != nil {
		line("", "lowered at %s by: %s", cs.Lowered.In(loc).Format("15:04:05"), escapeControl(cs.LoweredBy))
	}
	if len(c.Transfers) == 0 {
		line("transfers", "none")
	} else {
		line("transfers", "%d under way", len(c.Transfers))
	}
	for _, t := range c.Transfers {
		renderTransfer(w, t, bars, width)
	}
	u := r.Uploads
	line("uploads", "%d pending (%s staged); failed: %d since mounted, %d kept (ftpfs status lists them)",
		u.Pending, humanBytes(u.StagedBytes), u.Failed, u.Kept)
	line("listings", "%s", cacheLine(r.Listings))
	line("blocks", "%s", cacheLine(r.Blocks))
	line("commands", "%d: %s", sum(c.Commands), counted(c.Commands, "none"))
	line("round trips", "%d (%d flights of commands, %d connects)", c.RoundTrips, c.Flights, c.Connects)
	line("errors", "%s", counted(c.Errors, "none"))
	line("traffic", "%s down, %s up", humanBytes(c.BytesDown), humanBytes(c.BytesUp))
	if r.Metrics != "" {
		line("metrics", "http://%s/metrics", r.Metrics)
	}
}

// renderTransfer writes one transfer under way.
func renderTransfer(w io.Writer, t conn.TransferStat, bars bool, width int) {
	dir := "down"
	if t.Up {
		dir = "up"
	}
	path := escapeControl(t.Path)
	done := t.Offset + t.Bytes
	amount := humanBytes(done)
	if t.Size > 0 {
		amount += " of " + humanBytes(t.Size)
	}
	rate := humanBytes(int64(t.Rate)) + "/s"
	if !bars {
		pct := ""
		if t.Size > 0 {
			pct = fmt.Sprintf(" (%d%%)", percent(done, t.Size))
		}
		fmt.Fprintf(w, "  %s %s: %s%s, %s, %s on conn %d\n", dir, path, amount, pct, rate, t.Op, t.Conn)
		return
	}
	// "  down " then the path, cut at the left to fit.
	if room := width - 7; room > 1 && len([]rune(path)) > room {
		p := []rune(path)
		path = "…" + string(p[len(p)-room+1:])
	}
	fmt.Fprintf(w, "  %-4s %s\n", dir, path)
	tail := fmt.Sprintf("  %s  %s", amount, rate)
	if t.Size <= 0 {
		fmt.Fprintf(w, "       %s\n", strings.TrimSpace(tail))
		return
	}
	tail = fmt.Sprintf(" %3d%%", percent(done, t.Size)) + tail
	n := max(10, width-7-2-len(tail)-1)
	fill := int(int64(n) * min(done, t.Size) / t.Size)
	fmt.Fprintf(w, "       [%s%s]%s\n", strings.Repeat("#", fill), strings.Repeat("-", n-fill), tail)
}

func percent(done, size int64) int64 { return 100 * min(done, size) / size }

// cacheLine is a cache's hit rate and counts.
func cacheLine(s cache.Stats) string {
	if s.Hits+s.Misses == 0 {
		return "no lookups"
	}
	return fmt.Sprintf("%.0f%% hits (%d hits, %d misses; %d fetched, %d shared)",
		100*s.HitRate(), s.Hits, s.Misses, s.Fetches, s.Shared)
}

// counted lists m's keys with their counts, sorted; none when empty.
func counted(m map[string]int64, none string) string {
	if len(m) == 0 {
		return none
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", escapeControl(strings.ReplaceAll(k, "_", " ")), m[k]))
	}
	return strings.Join(parts, ", ")
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// humanBytes writes n in B, KiB, MiB, GiB or TiB, one decimal above B.
func humanBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n) / 1024
	for _, unit := range []string{"KiB", "MiB", "GiB"} {
		if v < 1024 {
			return fmt.Sprintf("%.1f %s", v, unit)
		}
		v /= 1024
	}
	return fmt.Sprintf("%.1f TiB", v)
}
