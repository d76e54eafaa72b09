package conn

// Counters of a pool, for ftpfs stats and --metrics. They are counted
// where the events happen (a command encoded, a data connection read, a
// refusal checked) with atomics, so that counting costs no lock on any
// path that moves bytes: a map lookup and an add per command, an add per
// read or write of a data connection. Only a transfer's start and end
// take a lock, to enter it in the list of transfers under way.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// counters are a pool's figures since it was made.
type counters struct {
	verbs    sync.Map // verb → *atomic.Int64
	flights  atomic.Int64
	connects atomic.Int64
	errs     [len(classNames)]atomic.Int64
	down, up atomic.Int64 // data bytes, each way
	batched  atomic.Int64 // files read in batches (active_batch.go)

	mu   sync.Mutex
	live map[*liveTransfer]struct{} // GUARDED_BY(mu)
}

func newCounters() *counters { return &counters{live: map[*liveTransfer]struct{}{}} }

// command counts the verb of a command line; nil counters (a Conn dialled
// outside a pool, in tests) count nothing.
func (s *counters) command(line string) {
	if s == nil {
		return
	}
	verb := line
	for i := 0; i < len(line); i++ {
		if line[i] == ' ' {
			verb = line[:i]
			break
		}
	}
	n, ok := s.verbs.Load(verb)
	if !ok {
		n, _ = s.verbs.LoadOrStore(verb, new(atomic.Int64))
	}
	n.(*atomic.Int64).Add(1)
}

// flight counts one write of commands that the server answers.
func (s *counters) flight() {
	if s != nil {
		s.flights.Add(1)
	}
}

// connect counts a TCP connection opened, control or data: a handshake
// waited for.
func (s *counters) connect() {
	if s != nil {
		s.connects.Add(1)
	}
}

// failed counts an error of class c.
func (s *counters) failed(c Class) {
	if s != nil && c >= 0 && int(c) < len(s.errs) {
		s.errs[c].Add(1)
	}
}

// refusal is the reply that refused a connection, as the server worded
// it, for Snapshot.
func refusal(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != 0 {
		return fmt.Sprintf("%s: %d %s", e.Op, e.Code, firstLine(e.Msg))
	}
	return err.Error()
}

// liveTransfer is a data connection carrying a transfer, counted as its
// bytes pass.
type liveTransfer struct {
	conn     int
	op, path string
	off      int64
	started  time.Time
	size     atomic.Int64 // the whole file's, 0 when unknown
	bytes    atomic.Int64
	ended    atomic.Bool

	// The rate is measured from a mark that Snapshot moves once it is a
	// second old: a watcher sees the recent rate, not the average since
	// the start (an upload fills the socket buffers at once).
	markAt    time.Time // GUARDED_BY(counters.mu)
	markBytes int64     // GUARDED_BY(counters.mu)
	rate      float64   // GUARDED_BY(counters.mu)
}

// rateAt is t's rate at now, from its mark, which it moves when a second
// old. Call with counters.mu held.
func (t *liveTransfer) rateAt(now time.Time, bytes int64) float64 {
	d := now.Sub(t.markAt)
	if d >= time.Second || t.rate == 0 && d > 0 {
		t.rate = float64(bytes-t.markBytes) / d.Seconds()
	}
	if d >= time.Second {
		t.markAt, t.markBytes = now, bytes
	}
	return t.rate
}

// countedConn is a data connection that counts its bytes into its
// transfer and the pool's totals, and leaves the list of transfers when
// closed, however the transfer ended.
type countedConn struct {
	net.Conn
	s *counters
	t *liveTransfer
}

func (d *countedConn) Read(p []byte) (int, error) {
	n, err := d.Conn.Read(p)
	d.t.bytes.Add(int64(n))
	d.s.down.Add(int64(n))
	return n, err
}

func (d *countedConn) Write(p []byte) (int, error) {
	n, err := d.Conn.Write(p)
	d.t.bytes.Add(int64(n))
	d.s.up.Add(int64(n))
	return n, err
}

func (d *countedConn) Close() error {
	if !d.t.ended.Swap(true) {
		d.s.mu.Lock()
		delete(d.s.live, d.t)
		d.s.mu.Unlock()
	}
	return d.Conn.Close()
}

// sizeRE finds the size many servers give in the 150 of a RETR:
// "Opening BINARY mode data connection for f (1234 bytes)".
var sizeRE = regexp.MustCompile(`\((\d+) bytes?\)`)

// track enters the transfer op of path from off, on data, in the list of
// transfers under way; opening is the text of its 150, if read. The
// connection returned counts its bytes (before TLS: bytes on the wire).
func (c *Conn) track(data net.Conn, op, path string, off int64, opening string) (net.Conn, *liveTransfer) {
	s := c.cfg.stats
	if s == nil {
		return data, nil
	}
	now := time.Now()
	t := &liveTransfer{conn: c.id, op: op, path: path, off: off, started: now, markAt: now}
	if m := sizeRE.FindStringSubmatch(opening); m != nil && op == "retr" {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		t.size.Store(n)
	}
	s.mu.Lock()
	s.live[t] = struct{}{}
	s.mu.Unlock()
	return &countedConn{Conn: data, s: s, t: t}, t
}

// sizeOf records the size of what an upload sends, when its source tells
// it (the staged file's io.SectionReader does), for a progress bar.
func (t *liveTransfer) sizeOf(r io.Reader) {
	if s, ok := r.(interface{ Size() int64 }); ok && t != nil {
		t.size.Store(s.Size())
	}
}

// Snapshot is a pool's figures: its connections now, the transfers under
// way, and counts since the pool was made.
type Snapshot struct {
	Connections ConnStats      `json:"connections"`
	Transfers   []TransferStat `json:"transfers"`
	// Commands counts the commands sent, by verb ("SITE CHMOD" is SITE).
	Commands map[string]int64 `json:"commands"`
	// RoundTrips counts the waits on the server: each write of commands
	// (a pipelined batch is one; its replies are read after one round
	// trip) and each TCP connection opened (its handshake), control and
	// data. They are summed over connections: where connections work at
	// once, their round trips overlap, so this is the work asked of the
	// link, not the wall time spent. Flights and Connects are the two
	// parts.
	RoundTrips int64 `json:"round_trips"`
	Flights    int64 `json:"flights"`
	Connects   int64 `json:"connects"`
	// Errors counts failed exchanges by class (named as in classSlugs): replies that
	// refused a command and connections that broke or timed out, those
	// retried included. A class that never happened is left out.
	Errors map[string]int64 `json:"errors"`
	// BytesDown and BytesUp count the data connections' bytes.
	BytesDown int64 `json:"bytes_down"`
	BytesUp   int64 `json:"bytes_up"`
	// Batched counts the files read in batches, several on one
	// connection with their commands pipelined (Pool.ReadFiles).
	Batched int64 `json:"batched"`
}

// ConnStats is the state of a pool's control connections.
type ConnStats struct {
	Open    int        `json:"open"`    // open or being opened
	Busy    int        `json:"busy"`    // taken by a caller (Open minus idle)
	Ceiling int        `json:"ceiling"` // the most the pool opens now
	Max     int        `json:"max"`     // Config.MaxConns
	Waiting int        `json:"waiting"` // callers waiting for one
	Opened  int        `json:"opened"`  // ever opened
	Lowered *time.Time `json:"lowered,omitempty"`
	// LoweredBy is the refusal that last lowered the ceiling.
	LoweredBy string `json:"lowered_by,omitempty"`
}

// TransferStat is a data connection under way.
type TransferStat struct {
	Conn    int       `json:"conn"` // the control connection's number
	Op      string    `json:"op"`   // retr, stor, list, ...
	Path    string    `json:"path"`
	Up      bool      `json:"up"`     // to the server
	Offset  int64     `json:"offset"` // where it started in the file
	Bytes   int64     `json:"bytes"`  // moved so far
	Size    int64     `json:"size,omitempty"`
	Started time.Time `json:"started"`
	// Rate is in bytes per second, since the previous snapshot that is
	// a second old or more, else since the start.
	Rate float64 `json:"rate"`
}

// classSlugs name the classes in Snapshot.Errors and metric labels.
var classSlugs = [...]string{
	ClassOther:       "other",
	ClassNotFound:    "not_found",
	ClassPermission:  "permission",
	ClassNoSpace:     "no_space",
	ClassQuota:       "quota",
	ClassExists:      "exists",
	ClassInvalid:     "invalid",
	ClassTimeout:     "timeout",
	ClassUnavailable: "unavailable",
	ClassInterrupted: "interrupted",
	ClassUnsupported: "unsupported",
	ClassNotEmpty:    "not_empty",
	ClassTooLarge:    "too_large",
}

// Snapshot returns the pool's figures now.
func (p *Pool) Snapshot() Snapshot {
	s := p.cfg.stats
	now := time.Now()
	var snap Snapshot
	p.mu.Lock()
	snap.Connections = ConnStats{
		Open: p.total, Busy: p.total - len(p.idle), Ceiling: p.ceiling, Max: p.cfg.MaxConns,
		Opened: p.dials, LoweredBy: p.loweredBy,
	}
	for _, n := range p.waiting {
		snap.Connections.Waiting += n
	}
	if !p.lowered.IsZero() && p.loweredBy != "" {
		t := p.lowered
		snap.Connections.Lowered = &t
	}
	p.mu.Unlock()

	snap.Commands = map[string]int64{}
	s.verbs.Range(func(k, v any) bool {
		snap.Commands[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	snap.Flights, snap.Connects = s.flights.Load(), s.connects.Load()
	snap.RoundTrips = snap.Flights + snap.Connects
	snap.Errors = map[string]int64{}
	for c := range s.errs {
		if n := s.errs[c].Load(); n > 0 {
			snap.Errors[classSlugs[c]] = n
		}
	}
	snap.BytesDown, snap.BytesUp = s.down.Load(), s.up.Load()
	snap.Batched = s.batched.Load()

	snap.Transfers = []TransferStat{}
	s.mu.Lock()
	for t := range s.live {
		x := TransferStat{Conn: t.conn, Op: t.op, Path: t.path, Up: t.op == "stor" || t.op == "appe",
			Offset: t.off, Bytes: t.bytes.Load(), Size: t.size.Load(), Started: t.started}
		x.Rate = t.rateAt(now, x.Bytes)
		snap.Transfers = append(snap.Transfers, x)
	}
	s.mu.Unlock()
	slices.SortFunc(snap.Transfers, func(a, b TransferStat) int { return a.Started.Compare(b.Started) })
	return snap
}
