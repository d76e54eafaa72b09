package testutil

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// Buffer is a bytes.Buffer that a server's sessions, a logger's goroutines
// or a subprocess's output copier may write while the test reads it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Reset forgets what was written so far.
func (b *Buffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail returns the last n lines of a log for a failure message: lines
// longer than 300 bytes cut short, and lines with controls or invalid
// UTF-8 (hostile input is logged as it came) quoted.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines omitted)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	for i, l := range lines {
		if len(l) > 300 {
			l = l[:300] + "..."
		}
		if !utf8.ValidString(l) || strings.ContainsFunc(l, func(r rune) bool { return r < ' ' && r != '\t' }) {
			l = strconv.QuoteToGraphic(l)
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}

// LogOnFailure shows the last lines of log when the test ends failed.
// Cleanups run last first: register it before the close of what writes
// the log, so that the log is read whole.
func LogOnFailure(t testing.TB, what string, log fmt.Stringer, lines int) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s:\n%s", what, Tail(log.String(), lines))
		}
	})
}
