package main

// --metrics: the figures of ftpfs stats in Prometheus' text exposition
// format (version 0.0.4): "# HELP" and "# TYPE" lines, then one sample a
// line, name{label="value"} number. Written here rather than with a
// client library: a few dozen lines, no dependency.

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"ftpfs/cache"
)

// metric is one family: its samples share a name, a type and a help.
type metric struct {
	name, typ, help string
	samples         []sample
}

type sample struct {
	labels string // `verb="RETR"`, or ""
	value  float64
}

// one is a family of one sample without labels.
func one(name, typ, help string, v float64) metric {
	return metric{name, typ, help, []sample{{"", v}}}
}

// byLabel is a family with one sample per key of m, keys sorted.
func byLabel(name, help, label string, m map[string]int64) metric {
	f := metric{name: name, typ: "counter", help: help}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		f.samples = append(f.samples, sample{label + `="` + escapeLabel(k) + `"`, float64(m[k])})
	}
	return f
}

// escapeLabel escapes a label value as the format wants.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// metricsOf lists r's figures as metric families.
func metricsOf(r statsReport) []metric {
	c := r.Conn
	// cacheFamily is a family of two samples per cache: the figures pick
	// chooses, labelled result=results[i].
	cacheFamily := func(name, help string, results [2]string, pick func(cache.Stats) [2]int64) metric {
		f := metric{name: name, typ: "counter", help: help}
		for _, x := range []struct {
			name string
			s    cache.Stats
		}{{"listings", r.Listings}, {"blocks", r.Blocks}} {
			for i, n := range pick(x.s) {
				f.samples = append(f.samples, sample{`cache="` + x.name + `",result="` + results[i] + `"`, float64(n)})
			}
		}
		return f
	}
	return []metric{
		one("ftpfs_start_time_seconds", "gauge", "When the mount started, in seconds since the epoch.", float64(r.Started.UnixNano())/1e9),
		{name: "ftpfs_connections", typ: "gauge", help: "FTP control connections now, by state: open (or being opened), busy (taken), waiting (callers waiting for one).",
			samples: []sample{{`state="open"`, float64(c.Connections.Open)}, {`state="busy"`, float64(c.Connections.Busy)}, {`state="waiting"`, float64(c.Connections.Waiting)}}},
		one("ftpfs_connections_ceiling", "gauge", "The most control connections the pool opens now (lowered when the server refuses more).", float64(c.Connections.Ceiling)),
		one("ftpfs_connections_max", "gauge", "The most control connections allowed (--connections).", float64(c.Connections.Max)),
		one("ftpfs_connections_opened_total", "counter", "Control connections opened.", float64(c.Connections.Opened)),
		one("ftpfs_transfers", "gauge", "Data transfers under way.", float64(len(c.Transfers))),
		{name: "ftpfs_transfer_bytes_total", typ: "counter", help: "Bytes moved over data connections, by direction.",
			samples: []sample{{`direction="down"`, float64(c.BytesDown)}, {`direction="up"`, float64(c.BytesUp)}}},
		byLabel("ftpfs_commands_total", "FTP commands sent, by verb.", "verb", c.Commands),
		one("ftpfs_round_trips_total", "counter", "Waits on the server: flights of commands plus TCP connects, summed over connections.", float64(c.RoundTrips)),
		one("ftpfs_flights_total", "counter", "Writes of one or more commands (a pipelined batch is one).", float64(c.Flights)),
		one("ftpfs_connects_total", "counter", "TCP connections opened, control and data.", float64(c.Connects)),
		byLabel("ftpfs_errors_total", "Failed exchanges by class, retried ones included.", "class", c.Errors),
		cacheFamily("ftpfs_cache_lookups_total", "Cache lookups, by cache and result.", [2]string{"hit", "miss"},
			func(s cache.Stats) [2]int64 { return [2]int64{s.Hits, s.Misses} }),
		cacheFamily("ftpfs_cache_fetches_total", "Cache fetches from the server, by cache: started, or joined while under way.", [2]string{"started", "shared"},
			func(s cache.Stats) [2]int64 { return [2]int64{s.Fetches, s.Shared} }),
		one("ftpfs_uploads_pending", "gauge", "Files open for writing or being uploaded, staged in the cache dir.", float64(r.Uploads.Pending)),
		one("ftpfs_uploads_staged_bytes", "gauge", "Bytes staged for upload.", float64(r.Uploads.StagedBytes)),
		one("ftpfs_uploads_failed_total", "counter", "Uploads that failed and whose bytes were kept.", float64(r.Uploads.Failed)),
		one("ftpfs_uploads_kept", "gauge", "Staged copies of this server's failed uploads in the cache dir.", float64(r.Uploads.Kept)),
	}
}

// writeMetrics writes r in the text format.
func writeMetrics(w io.Writer, r statsReport) error {
	b := bufio.NewWriter(w)
	for _, m := range metricsOf(r) {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.typ)
		for _, s := range m.samples {
			v := strconv.FormatFloat(s.value, 'f', -1, 64)
			if s.labels != "" {
				fmt.Fprintf(b, "%s{%s} %s\n", m.name, s.labels, v)
			} else {
				fmt.Fprintf(b, "%s %s\n", m.name, v)
			}
		}
	}
	return b.Flush()
}
