package testutil

import (
	"io"
	"testing"
	"time"
)

// WaitUntil polls cond every 50 ms until it holds, or reports an error
// (not fatal: what follows may tell more) once timeout has passed. cond
// describes the current state for that message: "what: not reached
// within timeout: state".
func WaitUntil(t testing.TB, timeout time.Duration, what string, cond func() (ok bool, state string)) {
	t.Helper()
	start := time.Now()
	for {
		ok, state := cond()
		if ok {
			if d := time.Since(start); d > time.Second {
				t.Logf("%s: took %v", what, d.Round(time.Millisecond))
			}
			return
		}
		if time.Since(start) > timeout {
			t.Errorf("%s: not reached within %v: %s", what, timeout, state)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CloseAtEnd closes c when the test ends, and fails the test if Close
// returns an error or does not return within 15 s: a server that cannot
// stop has lost track of a session.
func CloseAtEnd(t testing.TB, what string, c io.Closer) {
	t.Cleanup(func() {
		done := make(chan error, 1)
		go func() { done <- c.Close() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("close %s: %v", what, err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("close %s: did not return within 15s", what)
		}
	})
}
