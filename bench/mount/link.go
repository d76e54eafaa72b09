package main

// The link rows: the workloads of issue 12 (workloads.go) through the link
// emulator (internal/link) in front of each server (servers.go), at each
// RTT, the mount beside lftp doing the same job over the same link and
// beside the floor, the fewest round trips the protocol allows.
//
// One row, one server, one RTT, one round:
//
//	go run ./bench/mount -only link -servers proftpd -rtt 100ms -rows up40 -rounds 1
//
// Each round of a mount workload starts from a fresh mount (cold) with its
// defaults (4 connections) and a cache dir of its own; the link's counters
// start once the mount answers, so its login is not counted, while lftp's,
// a process per job, is. Commands and round trips are exact (the link
// counts them); times are as noisy as the machine.

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"ftpfs/internal/link"
)

var (
	rttList      = flag.String("rtt", "20ms,100ms", "link rows: round-trip times, comma-separated")
	serverList   = flag.String("servers", "ftpd,ftpd-vsftpd", "link rows: servers, comma-separated: "+strings.Join(serverNames, ", "))
	rowList      = flag.String("rows", strings.Join(workloadIDs(), ","), "link rows: the workloads to run, comma-separated")
	rounds       = flag.Int("rounds", 3, "link rows: rounds per workload; the median is reported")
	longRound    = flag.Duration("long", 20*time.Second, "link rows: a workload whose first round takes longer than this on the mount runs once")
	catMiB       = flag.Int("cat-mib", 256, "link rows: size of the file cat reads, MiB")
	lftpParallel = flag.Int("lftp-parallel", 4, "link rows: lftp mirror --parallel (the mount's connections)")
	commandLog   = flag.String("command-log", "", "link rows: append every command ftpd receives, with its argument, to `FILE` (ftpd servers only)")
	mountFlags   = flag.String("mount-flags", "", "link rows: more flags for every mount, space-separated (--active-batches, --active), to measure a mode that is not the default")
	traceFile    = flag.String("trace", "", "link rows: append every connection and command the links see, with its round, to `FILE`")
)

const (
	window  = 4 << 20 // bytes in flight per direction of each connection
	catRate = 20e6    // bytes per second per data connection, for the cat row
	conns   = 4       // the mount's default connections, which the floors assume
	randMiB = 64      // size of the file of the random reads
)

// sample is one timed run of a job: its time and what the link counted.
type sample struct {
	d  time.Duration
	st link.Stats
}

// outcome is what the rounds of one row gave.
type outcome struct {
	mount, lftp []sample
	err         error
}

// linkBench holds what every link row shares.
type linkBench struct {
	work string // scratch: mounts, configs, scripts
	root string // the tree every server serves
	copy string // where copies from the servers land (memory if possible)
	// at20 holds the 20 ms medians, by server and row, for the 100 ms rule.
	at20   map[string]time.Duration
	failed bool
	log    *slog.Logger // -trace, else nil
}

func runLink() error {
	rtts, err := parseRTTs(*rttList)
	if err != nil {
		return err
	}
	servers := split(*serverList)
	for _, s := range servers {
		if !slices.Contains(serverNames, s) {
			return fmt.Errorf("-servers: unknown server %q (want %s)", s, strings.Join(serverNames, ", "))
		}
	}
	var ws []workload
	for _, id := range split(*rowList) {
		w, ok := findWorkload(id)
		if !ok {
			return fmt.Errorf("-rows: unknown row %q (want %s)", id, strings.Join(workloadIDs(), ", "))
		}
		ws = append(ws, w)
	}
	if _, err := exec.LookPath("lftp"); err != nil {
		return fmt.Errorf("lftp not found (bash .ci/run installs it): %w", err)
	}
	lb := &linkBench{at20: map[string]time.Duration{}}
	if *traceFile != "" {
		f, err := os.OpenFile(*traceFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		lb.log = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if lb.work, err = os.MkdirTemp("", "ftpfs-linkbench-"); err != nil {
		return err
	}
	defer os.RemoveAll(lb.work)
	if lb.copy, err = os.MkdirTemp(*copyTo, "ftpfs-linkbench-"); err != nil {
		lb.copy = filepath.Join(lb.work, "copies")
	}
	defer os.RemoveAll(lb.copy)
	if err := lb.makeRoot(); err != nil {
		return err
	}
	for _, name := range servers {
		s, err := startServer(name, lb.root, lb.work)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, rtt := range rtts {
			lb.table(s, rtt, ws)
		}
		s.stop()
	}
	printLegend(ws)
	if lb.failed {
		return errors.New("a link row failed (see above)")
	}
	return nil
}

// makeRoot writes the served tree: tree/ (2,000 files in 50 dirs), big.bin
// for cat, rand.bin for the random reads and up/, where uploads go.
func (lb *linkBench) makeRoot() error {
	lb.root = filepath.Join(lb.work, "root")
	progress("link rows: building the tree (2,000 files in 50 directories, %d + %d MiB)", *catMiB, randMiB)
	if err := writeTree(filepath.Join(lb.root, "tree")); err != nil {
		return err
	}
	if err := writeRandom(filepath.Join(lb.root, "big.bin"), *catMiB); err != nil {
		return err
	}
	if err := writeRandom(filepath.Join(lb.root, "rand.bin"), randMiB); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(lb.root, "up"), 0o755); err != nil {
		return err
	}
	// vsftpd chroots into the root and refuses one its sessions (the ftp
	// user) may write; proftpd's root sessions lack CAP_DAC_OVERRIDE
	// (mod_cap). So the root is root's, and up/ anyone's.
	for _, p := range []string{lb.work, lb.root} {
		if err := os.Chmod(p, 0o755); err != nil {
			return err
		}
	}
	return os.Chmod(filepath.Join(lb.root, "up"), 0o777)
}

// table runs the workloads against one server at one RTT and prints their
// rows.
func (lb *linkBench) table(s *server, rtt time.Duration, ws []workload) {
	dialect := "MLSD"
	if s.listOnly {
		dialect = "LIST only"
	}
	if s.linger {
		dialect += ", lingering close"
	}
	mode := fmt.Sprintf("mount defaults (%d connections)", conns)
	if *mountFlags != "" {
		mode = fmt.Sprintf("mount defaults (%d connections) and %s", conns, *mountFlags)
	}
	title := fmt.Sprintf("link: RTT %v, window %d MiB, server %s (%s); %s", rtt, window>>20, s.name, dialect, mode)
	progress("%s", title)
	var lines []string
	for _, w := range ws {
		o := lb.rounds(s, rtt, w)
		for i, r := range w.rows {
			lines = append(lines, lb.row(s, rtt, w, r, o[i])...)
		}
	}
	fmt.Printf("\n%s\n", title)
	fmt.Printf("%-44s %10s %6s %5s | %10s %5s | %10s %5s | %s\n", "row", "mount", "cmds", "RTs", "lftp", "RTs", "floor", "RTs", "target")
	for _, l := range lines {
		fmt.Println(l)
	}
}

// rounds runs a workload's rounds, mount then lftp in each, through a link
// of its own.
func (lb *linkBench) rounds(s *server, rtt time.Duration, w workload) []outcome {
	out := make([]outcome, len(w.rows))
	fail := func(err error) []outcome {
		for i := range out {
			out[i].err = err
		}
		lb.failed = true
		progress("  %s: %v", w.id, err)
		return out
	}
	l, err := link.Start(s.addr, link.Options{RTT: rtt, Window: window, Rate: w.rate, Linger: s.linger, Logger: lb.log})
	if err != nil {
		return fail(err)
	}
	defer l.Close()
	n := *rounds
	for round := 0; round < n; round++ {
		c := &wctx{lb: lb, s: s, l: l, rtt: rtt, name: fmt.Sprintf("%s-%s-%v-%d", s.name, w.id, rtt, round)}
		ms, err := c.mountRound(w)
		var ls []sample
		if err == nil && w.lftp != nil {
			ls, err = w.lftp(c)
		}
		c.cleanup()
		if err != nil {
			return fail(err)
		}
		for i := range out {
			out[i].mount = append(out[i].mount, ms[i])
			if ls != nil {
				out[i].lftp = append(out[i].lftp, ls[i])
			}
		}
		progress("  %s round %d: mount %v%s", w.id, round+1, ms[0].d.Round(time.Millisecond), lftpNote(ls))
		if round == 0 && ms[0].d > *longRound {
			n = 1
		}
	}
	return out
}

func lftpNote(ls []sample) string {
	if ls == nil {
		return ""
	}
	return fmt.Sprintf(", lftp %v", ls[0].d.Round(time.Millisecond))
}

// row formats one row and its detail lines: the commands of the mount's
// median round, and of lftp's.
func (lb *linkBench) row(s *server, rtt time.Duration, w workload, r rowSpec, o outcome) []string {
	name := r.name
	if o.err != nil {
		return []string{fmt.Sprintf("%-44s failed: %s", name, firstLine(o.err.Error()))}
	}
	if len(o.mount) == 1 && *rounds > 1 {
		name += " (1 round)"
	}
	per := max(r.per, 1)
	m := medianSample(o.mount)
	f := r.floor(s, model{rtt: rtt, rate: w.rate})
	lftpT, lftpRT := "-", "-"
	if len(o.lftp) > 0 {
		l := medianSample(o.lftp)
		lftpT, lftpRT = fmtDur(l.d/time.Duration(per)), fmt.Sprint(l.st.RoundTrips)
	}
	key := s.name + "/" + r.name
	if rtt == 20*time.Millisecond {
		lb.at20[key] = m.d
	}
	target := "-"
	if t := r.target(s); t > 0 && rtt == 20*time.Millisecond {
		target = "≤ " + fmtDur(t/time.Duration(per))
		if m.d > t {
			target += " !"
		}
	} else if t20, ok := lb.at20[key]; ok && rtt != 20*time.Millisecond {
		// The rule away from 20 ms: within 1.3x of the 20 ms
		// figure scaled by the RTT.
		t := time.Duration(1.3 * float64(t20) * float64(rtt) / float64(20*time.Millisecond))
		target = "≤ " + fmtDur(t/time.Duration(per)) + " (1.3x 20ms)"
		if m.d > t {
			target += " !"
		}
	}
	lines := []string{fmt.Sprintf("%-44s %10s %6d %5d | %10s %5s | %10s %5s | %s", name,
		fmtDur(m.d/time.Duration(per)), m.st.Total(), m.st.RoundTrips, lftpT, lftpRT,
		fmtDur(f.seconds(rtt)/time.Duration(per)), fmtRT(f.rt), target)}
	lines = append(lines, "    mount: "+verbs(m.st))
	if len(o.lftp) > 0 {
		lines = append(lines, "    lftp:  "+verbs(medianSample(o.lftp).st))
	}
	return lines
}

// verbs shows a round's commands by verb and its connections.
func verbs(st link.Stats) string {
	var b strings.Builder
	for _, v := range slices.Sorted(maps.Keys(st.Commands)) {
		fmt.Fprintf(&b, "%s %d, ", v, st.Commands[v])
	}
	fmt.Fprintf(&b, "%d control + %d data connections", st.Control, st.Data)
	return b.String()
}

// medianSample is the round of median time (the later of the two middle
// ones for an even count), with its counts.
func medianSample(v []sample) sample {
	s := slices.Clone(v)
	sort.Slice(s, func(i, j int) bool { return s[i].d < s[j].d })
	return s[len(s)/2]
}

func fmtDur(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func fmtRT(rt float64) string {
	if rt == float64(int(rt)) {
		return fmt.Sprint(int(rt))
	}
	return fmt.Sprintf("%.1f", rt)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func split(list string) []string {
	var out []string
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseRTTs reads the -rtt list, in increasing order, so that 20 ms comes
// before the RTTs whose target derives from it.
func parseRTTs(list string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range split(list) {
		d, err := time.ParseDuration(f)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("-rtt: %q is not a duration", f)
		}
		out = append(out, d)
	}
	slices.Sort(out)
	return out, nil
}

// legend explains the columns; %d is the mount's connections.
const legend = `mount: the median round (seconds, or per operation where the row says), its FTP commands
and round trips (the critical path's depth, as the link counts it); the mount's login is not
counted. lftp: the same job over the same link, one process per job, its login included (4 round
trips, then FEAT and the like), ftp:ssl-allow no, passive. floor: the fewest round trips the
protocol allows x RTT (+ the transfer time where bytes bound it), with independent work spread
over the mount's %d connections, one exchange in flight per connection; the commands of one
operation pipelined (a directory's MDTMs, a commit's RNFR+RNTO); a passive data connection opened
beforehand, so that a transfer costs 1 round trip when its bytes fit the window. target: issue 12
at 20 ms; at other RTTs within 1.3x of this run's 20 ms figure scaled by the RTT. ! marks a miss.
`

// printLegend says, per row, what lftp ran and how the floor was reckoned.
func printLegend(ws []workload) {
	fmt.Printf("\n"+legend, conns)
	for _, w := range ws {
		fmt.Printf("\n%s (-rows %s)\n%s", w.rows[0].name, w.id, wrap("lftp: "+w.lftpWhat))
		for _, r := range w.rows {
			fmt.Print(wrap(fmt.Sprintf("floor of %q: %s", r.name, r.why)))
		}
	}
}

// wrap indents text by two spaces and breaks it into lines of about 96
// columns.
func wrap(text string) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Fields(text) {
		switch {
		case i == 0:
			b.WriteString("  ")
			n = 2
		case n+1+len(w) > 96:
			b.WriteString("\n    ")
			n = 4
		default:
			b.WriteString(" ")
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	b.WriteString("\n")
	return b.String()
}
