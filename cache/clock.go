package cache

import "time"

// Clock tells the caches what time it is. Every TTL decision goes through
// it, so tests can move time with a fake clock instead of sleeping.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock. time.Now carries a monotonic reading, so
// ages computed from it are immune to wall-clock steps (NTP, DST).
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
