package ftpd

import (
	"net"
	"sync"
	"time"
)

// Password guessing is slowed down per client address, across sessions:
// a per-session delay alone lets a client guess as fast as it opens
// sessions in parallel.

const (
	// maxFailShift caps the back-off at LoginFailDelay << maxFailShift.
	maxFailShift = 6
	// failWindow is how long an address's failures are remembered after
	// its last one.
	failWindow = 10 * time.Minute
	// maxFailRecords bounds the memory of the throttle; beyond it the
	// record with the oldest failure is forgotten.
	maxFailRecords = 4096
)

// addrKey names the client an address belongs to, for per-address limits:
// the address itself for IPv4, its /64 for IPv6 (a host gets a whole /64,
// so counting single IPv6 addresses would set no limit at all).
func addrKey(a net.Addr) string {
	ip := hostIP(a)
	if ip == nil {
		return hostOf(a)
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// failRecord is one address's recent failures.
type failRecord struct {
	n    int       // failures, counting checks reserved and not yet judged
	next time.Time // the earliest time the next password may be checked
	last time.Time // the last failure or reservation
}

// loginThrottle spaces password checks from addresses that failed
// recently: each failure (or check reserved while failures are recent)
// pushes the address's next check by loginFailDelay(n). So, whatever the
// number of sessions, once an address has failed its checks are at least
// LoginFailDelay, 2*LoginFailDelay, 4*... apart; only the checks already
// under way when the first failure is recorded (one per open session)
// escape the spacing.
type loginThrottle struct {
	base time.Duration // Config.LoginFailDelay

	mu sync.Mutex // guards m
	m  map[string]*failRecord
}

func newLoginThrottle(base time.Duration) *loginThrottle {
	return &loginThrottle{base: base, m: make(map[string]*failRecord)}
}

// loginFailDelay is the spacing that the nth failure of an address adds.
func loginFailDelay(base time.Duration, n int) time.Duration {
	return base << min(max(n-1, 0), maxFailShift)
}

// _live returns key's record if its failures are recent; call with mu held.
func (t *loginThrottle) _live(key string, now time.Time) *failRecord {
	r := t.m[key]
	if r != nil && now.After(r.next) && now.Sub(r.last) > failWindow {
		delete(t.m, key)
		return nil
	}
	return r
}

// reserve returns when a password from key may be checked. reserved is
// false when the address has no recent failure (check at once). ok is
// false when that time is after deadline: the caller refuses without a
// check, and nothing is reserved, so that sessions given up on cannot
// push the address's next check further away.
func (t *loginThrottle) reserve(key string, now, deadline time.Time) (at time.Time, reserved, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t._live(key, now)
	if r == nil {
		return now, false, true
	}
	at = now
	if r.next.After(now) {
		at = r.next
	}
	if !deadline.IsZero() && at.After(deadline) {
		return at, false, false
	}
	r.n++
	r.next, r.last = at.Add(loginFailDelay(t.base, r.n)), now
	return at, true, true
}

// result records the outcome of a check; reserved is what reserve said.
func (t *loginThrottle) result(key string, reserved, ok bool, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t._live(key, now)
	if ok {
		if reserved && r != nil && r.n > 0 {
			r.n-- // counted provisionally by reserve
		}
		return
	}
	if r == nil {
		r = t._add(key, now)
		reserved = false // the reservation's count went with the old record
	}
	r.last = now
	if !reserved {
		r.n++
		r.next = later(r.next, now).Add(loginFailDelay(t.base, r.n))
	}
}

// _add makes a record for key, forgetting the oldest when the map is full.
func (t *loginThrottle) _add(key string, now time.Time) *failRecord {
	if len(t.m) >= maxFailRecords {
		var oldest string
		var at time.Time
		for k, r := range t.m {
			if oldest == "" || r.last.Before(at) {
				oldest, at = k, r.last
			}
		}
		delete(t.m, oldest)
	}
	r := &failRecord{next: now}
	t.m[key] = r
	return r
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
