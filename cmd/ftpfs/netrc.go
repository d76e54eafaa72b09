package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// netrcEntry is one "machine" (or the "default") entry of a netrc file.
type netrcEntry struct {
	machine  string // "" for the default entry
	login    string
	password string
}

// netrc is a parsed netrc file: entries in file order.
type netrc struct {
	name    string // for messages: "~/.netrc" or the path from $NETRC
	entries []netrcEntry
}

// lookup finds the entry for host: the first machine entry, then the
// default entry, whose login is user (any login when user is ""). An entry
// without a login matches any user, as in ftp(1).
func (n *netrc) lookup(host, user string) (netrcEntry, bool) {
	for _, wantDefault := range []bool{false, true} {
		for _, e := range n.entries {
			if (e.machine == "") != wantDefault {
				continue
			}
			if !wantDefault && !strings.EqualFold(e.machine, host) {
				continue
			}
			if user == "" || e.login == "" || e.login == user {
				return e, true
			}
		}
	}
	return netrcEntry{}, false
}

// readNetrc reads the netrc file of the user: $NETRC when set (it must
// exist), else home/.netrc (it may be absent: nil, nil). A file others could
// read or change is refused rather than used: it holds passwords.
func readNetrc(lookupEnv func(string) (string, bool), home string) (*netrc, error) {
	path, explicit := lookupEnv("NETRC")
	name := path
	if !explicit || path == "" {
		if home == "" {
			return nil, nil
		}
		path, explicit, name = filepath.Join(home, ".netrc"), false, "~/.netrc"
	}
	data, err := readSecretFile(path, name)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	entries, err := parseNetrc(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s %w", name, err)
	}
	return &netrc{name: name, entries: entries}, nil
}

// parseNetrc parses the netrc format of ftp(1): whitespace-separated
// tokens, "machine NAME" or "default" opening an entry, "login",
// "password" and "account" (ignored) inside it, "macdef NAME" followed by
// lines up to a blank line (skipped), and "#" comments where a keyword is
// expected. Tokens may be double-quoted, with backslash escapes. Errors
// give the line and never quote a token: a malformed file may put a
// password where a keyword belongs.
func parseNetrc(data string) ([]netrcEntry, error) {
	t := netrcTokens{data: data, line: 1}
	var entries []netrcEntry
	var cur *netrcEntry
	for {
		tok, ok, err := t.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return entries, nil
		}
		line := t.line
		switch {
		case strings.HasPrefix(tok, "#"):
			t.skipLine()
		case tok == "machine":
			name, err := t.value(tok)
			if err != nil {
				return nil, err
			}
			entries = append(entries, netrcEntry{machine: name})
			cur = &entries[len(entries)-1]
		case tok == "default":
			entries = append(entries, netrcEntry{})
			cur = &entries[len(entries)-1]
		case tok == "login" || tok == "password" || tok == "account":
			v, err := t.value(tok)
			if err != nil {
				return nil, err
			}
			if cur == nil {
				return nil, fmt.Errorf("line %d: %s before any machine or default", line, tok)
			}
			switch tok {
			case "login":
				cur.login = v
			case "password":
				cur.password = v
			}
		case tok == "macdef":
			if _, err := t.value(tok); err != nil {
				return nil, err
			}
			t.skipMacro()
		default:
			return nil, fmt.Errorf("line %d: unknown keyword (want machine, default, login, password, account or macdef)", line)
		}
	}
}

// netrcTokens splits a netrc file into tokens, keeping the line number
// for messages.
type netrcTokens struct {
	data string
	pos  int
	line int
}

func isNetrcSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// next returns the next token; ok is false at the end of the data.
func (t *netrcTokens) next() (tok string, ok bool, err error) {
	for t.pos < len(t.data) && isNetrcSpace(t.data[t.pos]) {
		if t.data[t.pos] == '\n' {
			t.line++
		}
		t.pos++
	}
	if t.pos == len(t.data) {
		return "", false, nil
	}
	if t.data[t.pos] != '"' {
		start := t.pos
		for t.pos < len(t.data) && !isNetrcSpace(t.data[t.pos]) {
			t.pos++
		}
		return t.data[start:t.pos], true, nil
	}
	start := t.line
	var b strings.Builder
	for t.pos++; t.pos < len(t.data); t.pos++ {
		c := t.data[t.pos]
		switch {
		case c == '"':
			t.pos++
			return b.String(), true, nil
		case c == '\\' && t.pos+1 < len(t.data):
			t.pos++
			c = t.data[t.pos]
			switch c {
			case 'n':
				c = '\n'
			case 't':
				c = '\t'
			case 'r':
				c = '\r'
			}
		case c == '\n':
			t.line++
		}
		b.WriteByte(c)
	}
	return "", false, fmt.Errorf("line %d: unterminated quoted token", start)
}

// value reads the argument of keyword kw.
func (t *netrcTokens) value(kw string) (string, error) {
	line := t.line
	v, ok, err := t.next()
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("line %d: %s without a value", line, kw)
	}
	return v, nil
}

// skipLine moves past the end of the current line.
func (t *netrcTokens) skipLine() {
	i := strings.IndexByte(t.data[t.pos:], '\n')
	if i < 0 {
		t.pos = len(t.data)
		return
	}
	t.pos += i + 1
	t.line++
}

// skipMacro skips a macdef body: the rest of the macdef line, then lines
// up to and including the first blank one (or the end of the data).
func (t *netrcTokens) skipMacro() {
	t.skipLine()
	for t.pos < len(t.data) {
		start := t.pos
		t.skipLine()
		if strings.TrimSpace(t.data[start:t.pos]) == "" {
			return
		}
	}
}
