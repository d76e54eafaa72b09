package main

import (
	"bytes"
	"encoding"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"unicode/utf8"
)

// What the mount writes to its log, its trace and the terminal carries
// text the server chose: names, reply lines, samples of listing lines it
// sent; what ftpfs serve logs carries the client's (user names). A CR or LF in it would forge log lines, an ESC would drive the
// terminal of whoever reads the log. So every such text is escaped on its
// way out, by one test: printable, or escaped as Go escapes it.

// printable reports whether s can be written as it is: valid UTF-8 with
// only printable runes (strconv.IsPrint: no C0 or C1 controls, no DEL, no
// invisible formatting such as bidi overrides).
func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !strconv.IsPrint(r) }) < 0
}

// escapeControl returns s with each unprintable rune (or invalid byte)
// written as a Go escape (\r, \x1b, \u202e), the rest as it is.
func escapeControl(s string) string {
	if printable(s) {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case strconv.IsPrint(r):
			b.WriteString(s[:n])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		s = s[n:]
	}
	return b.String()
}

// escapeAttr is the mount logger's ReplaceAttr: a key or value that is not
// printable is written quoted, with strconv.Quote's escapes. TextHandler
// quotes most such values itself, but not one with a DEL in it; this makes
// the rule ours, the same for every kind of value.
func escapeAttr(_ []string, a slog.Attr) slog.Attr {
	if !printable(a.Key) {
		a.Key = escapeControl(a.Key)
	}
	var s string
	switch v := a.Value; v.Kind() {
	case slog.KindString:
		s = v.String()
	case slog.KindAny:
		// As TextHandler would print it.
		if tm, ok := v.Any().(encoding.TextMarshaler); ok {
			b, err := tm.MarshalText()
			if err != nil {
				return a
			}
			s = string(b)
		} else {
			s = fmt.Sprintf("%+v", v.Any())
		}
	default: // numbers, times, durations, bools: nothing to escape
		return a
	}
	if printable(s) {
		return a
	}
	// TextHandler writes a []byte value as strconv.Quote of it, with no
	// second round of escaping.
	a.Value = slog.AnyValue([]byte(s))
	return a
}

// newSafeTextHandler is slog's TextHandler with escapeAttr in front.
func newSafeTextHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewTextHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: escapeAttr})
}

// traceWriter escapes the FTP trace, one line per Write as conn writes
// it: whatever the server put in a reply stays on its line, as text.
type traceWriter struct{ w io.Writer }

func (t traceWriter) Write(p []byte) (int, error) {
	line, nl := bytes.CutSuffix(p, []byte("\n"))
	out := escapeControl(string(line))
	if nl {
		out += "\n"
	}
	if _, err := io.WriteString(t.w, out); err != nil {
		return 0, err
	}
	return len(p), nil
}
