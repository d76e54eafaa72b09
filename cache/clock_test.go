package cache

import (
	"testing"
	"time"
)

func TestFakeClock(t *testing.T) {
	c := NewFakeClock(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("Now() = %v, want %v", got, t0)
	}
	if got := c.Advance(90 * time.Second); !got.Equal(t0.Add(90 * time.Second)) {
		t.Fatalf("Advance returned %v", got)
	}
	if got := c.Now(); !got.Equal(t0.Add(90 * time.Second)) {
		t.Fatalf("Now() after Advance = %v", got)
	}
	c.Set(t0.Add(-time.Hour))
	if got := c.Now(); !got.Equal(t0.Add(-time.Hour)) {
		t.Fatalf("Now() after Set = %v", got)
	}
}

func TestSystemClock(t *testing.T) {
	before := time.Now()
	got := SystemClock{}.Now()
	if got.Before(before) || got.Sub(before) > time.Minute {
		t.Fatalf("SystemClock.Now() = %v, around %v expected", got, before)
	}
}
