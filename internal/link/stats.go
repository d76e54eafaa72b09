package link

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Stats is what the link saw since Start or the last Reset.
type Stats struct {
	// RoundTrips is the depth of the critical path (see the package doc):
	// a login is 4, a NOOP 1, N pipelined NOOPs 1, EPSV+RETR 3.
	RoundTrips int
	// Flights counts client flights over all connections: each connect,
	// and each send after something was delivered on the same connection.
	Flights int
	// Commands counts the verbs (upper case) clients sent on control
	// connections, including those the link answered itself.
	Commands map[string]int
	// Control counts the control connections clients opened, Data the
	// data connections, passive or active.
	Control, Data int
	// Up and Down count the bytes delivered to servers and to clients
	// (passive replies as rewritten).
	Up, Down int64
}

// Total is the number of commands sent.
func (s Stats) Total() int {
	n := 0
	for _, c := range s.Commands {
		n += c
	}
	return n
}

// String gives the counters on one line, verbs sorted.
func (s Stats) String() string {
	verbs := slices.Sorted(maps.Keys(s.Commands))
	var b strings.Builder
	fmt.Fprintf(&b, "%d round trips, %d flights, %d commands (", s.RoundTrips, s.Flights, s.Total())
	for i, v := range verbs {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s %d", v, s.Commands[v])
	}
	fmt.Fprintf(&b, "), %d control and %d data connections, %d bytes up, %d down", s.Control, s.Data, s.Up, s.Down)
	return b.String()
}

// meter holds the counters and the round bookkeeping of one Link.
type meter struct {
	mu    sync.Mutex
	stats Stats // RoundTrips unused: derived from top and base
	// toClient and toServer are the highest rounds delivered so far to
	// any client and to any server.
	toClient, toServer int
	// due holds the rounds of connects whose completion lies ahead: a
	// real connect returns R after it started, and no other connection
	// may depend on it before.
	due []dueRound
	// top is the highest round any client chunk carried; base is top at
	// the last Reset.
	top, base int
}

type dueRound struct {
	at    time.Time
	round int
}

func newMeter() *meter {
	return &meter{stats: Stats{Commands: map[string]int{}}}
}

// _settle counts the connects completed by now as delivered to clients.
func (m *meter) _settle(now time.Time) {
	i := 0
	for ; i < len(m.due) && !m.due[i].at.After(now); i++ {
		m.toClient = max(m.toClient, m.due[i].round)
	}
	m.due = m.due[i:]
}

// clientSends returns the round of client bytes read at now.
func (m *meter) clientSends(now time.Time, newFlight bool) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m._clientSends(now, newFlight)
}

func (m *meter) _clientSends(now time.Time, newFlight bool) int {
	m._settle(now)
	r := m.toClient + 1
	m.top = max(m.top, r)
	if newFlight {
		m.stats.Flights++
	}
	return r
}

// connect counts a connection accepted now and returns its round and the
// time it started; the connect completes, for the client, rtt later.
func (m *meter) connect(rtt time.Duration, data bool) (int, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Taken under the lock, so that due stays sorted.
	now := time.Now()
	r := m._clientSends(now, true)
	m.due = append(m.due, dueRound{now.Add(rtt), r})
	if data {
		m.stats.Data++
	} else {
		m.stats.Control++
	}
	return r, now
}

// reachedServer records a handshake's leg of round r reaching a server:
// the last of a client's connect, or the SYN-ACK of a server's.
func (m *meter) reachedServer(r int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.top = max(m.top, r)
	m.toServer = max(m.toServer, r)
}

// serverConnects counts a data connection a server opened now (active
// mode) and returns its round, that of the SYN-ACK the client sends back
// (one more than the highest round delivered to any server), and now.
func (m *meter) serverConnects() (int, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.Data++
	return m.toServer + 1, time.Now()
}

// serverSends returns the round of server bytes read now.
func (m *meter) serverSends() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.toServer
}

// delivered records n bytes of round r handed to a server (up) or a
// client. It runs before the write, so that the far end cannot react
// before its cause is on record.
func (m *meter) delivered(up bool, r, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if up {
		m.toServer = max(m.toServer, r)
		m.stats.Up += int64(n)
	} else {
		m.toClient = max(m.toClient, r)
		m.stats.Down += int64(n)
	}
}

func (m *meter) command(verb string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.Commands[verb]++
}

func (m *meter) snapshot() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats
	s.Commands = maps.Clone(m.stats.Commands)
	s.RoundTrips = m.top - m.base
	return s
}

func (m *meter) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats = Stats{Commands: map[string]int{}}
	m.base = m.top
}
