package conn

// MLSD and MLST fact lines (RFC 3659 section 7).

import (
	"io/fs"
	"strconv"
	"strings"
)

// ParseMLSD parses one MLSD fact line, "fact=value;fact=value; name" (RFC
// 3659 section 7). Fact names are case-insensitive and unknown facts are
// ignored, as are known facts with malformed values, but a line must have
// a type fact: without it nothing says whether the name is a directory.
// The name is everything after the space that ends the facts, so it may
// hold spaces (leading ones too), ';' and '='. Types cdir and pdir give
// ErrNoEntry. A type this parser does not know (a device, say) is taken
// as a file: the name exists, and hiding it would be worse. perm is not
// mapped to Mode: it tells what this login may do, not the mode bits.
// Without a modify fact, ModTime is zero.
func ParseMLSD(line string) (Entry, error) {
	e, self, err := parseFacts(line)
	if err != nil {
		return Entry{}, err
	}
	if self {
		return Entry{}, ErrNoEntry
	}
	return checkName(e)
}

// ParseMLST parses the fact line of an MLST reply, with or without its
// leading space. Unlike ParseMLSD, the name is the path as the server
// echoes it and may contain '/'; cdir and pdir are directories here.
func ParseMLST(line string) (Entry, error) {
	e, _, err := parseFacts(line)
	if err != nil {
		return Entry{}, err
	}
	if e.Name == "" || strings.ContainsAny(e.Name, "\x00\r\n") {
		return Entry{}, &BadNameError{Name: e.Name}
	}
	return e, nil
}

// parseFacts parses a fact line; self reports a cdir or pdir entry.
func parseFacts(line string) (e Entry, self bool, err error) {
	if blank(line) {
		return Entry{}, false, ErrNoEntry
	}
	// MLST replies indent the fact line by one space (RFC 3659 7.2). A
	// fact-less MLSD line would start with a space too, but it has no
	// type, so it is refused either way.
	line = strings.TrimPrefix(line, " ")
	sp := strings.IndexByte(line, ' ')
	if sp <= 0 {
		return Entry{}, false, ErrUnrecognized
	}
	facts, name := line[:sp], line[sp+1:]
	// Facts end with ';'. When the space found is not after one, it may be
	// inside a symlink target that proftpd wrote unescaped: then the facts
	// end at the first "; ". Otherwise the server left out the final ';'.
	if !strings.HasSuffix(facts, ";") {
		last := facts[strings.LastIndexByte(facts, ';')+1:]
		if k, v, _ := strings.Cut(last, "="); strings.EqualFold(k, "type") && isLinkType(v) {
			if i := strings.Index(line[sp:], "; "); i >= 0 {
				facts, name = line[:sp+i+1], line[sp+i+2:]
			}
		}
	}
	e.Name = name
	haveType := false
	for f := range strings.SplitSeq(facts, ";") {
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return Entry{}, false, ErrUnrecognized
		}
		switch strings.ToLower(k) {
		case "type":
			var ok bool
			e.Type, e.Target, self, ok = factType(v)
			if !ok {
				return Entry{}, false, ErrUnrecognized
			}
			haveType = true
		case "size":
			if n, ok := parseSize(v); ok {
				e.Size = n
			}
		case "sizd":
			if n, ok := parseSize(v); ok && e.Size == 0 {
				e.Size = n
			}
		case "modify":
			if t, ok := parseTimeVal(v); ok {
				e.ModTime, e.Precision = t, PrecisionSecond
			}
		case "unique":
			e.Unique = v
		case "unix.mode":
			if m, ok := parseOctalMode(v); ok {
				e.Mode, e.HasMode = m, true
			}
		}
	}
	if !haveType {
		return Entry{}, false, ErrUnrecognized
	}
	if e.Type != TypeSymlink {
		e.Target = ""
	}
	return e, self, nil
}

// isLinkType reports whether a type fact's value is a symlink, as
// proftpd ("OS.unix=slink:target") and others ("OS.unix=symlink") write it.
func isLinkType(v string) bool {
	_, ok := linkTarget(v)
	return ok
}

// linkTarget returns the target in a symlink type value; ftpd escapes ';'
// in it as %3B, proftpd writes it raw (and then the target ends at ';').
func linkTarget(v string) (string, bool) {
	const unix = "os.unix="
	if len(v) < len(unix) || !strings.EqualFold(v[:len(unix)], unix) {
		return "", false
	}
	rest := v[len(unix):]
	for _, kind := range []string{"slink", "symlink"} {
		if len(rest) < len(kind) || !strings.EqualFold(rest[:len(kind)], kind) {
			continue
		}
		t := rest[len(kind):]
		if t == "" {
			return "", true
		}
		if t[0] == ':' {
			t = strings.ReplaceAll(t[1:], "%3B", ";")
			return strings.ReplaceAll(t, "%3b", ";"), true
		}
	}
	return "", false
}

// factType maps a type fact; self is set for cdir and pdir.
func factType(v string) (t Type, target string, self, ok bool) {
	switch strings.ToLower(v) {
	case "":
		return 0, "", false, false
	case "file":
		return TypeFile, "", false, true
	case "dir":
		return TypeDir, "", false, true
	case "cdir", "pdir":
		return TypeDir, "", true, true
	}
	if target, ok := linkTarget(v); ok {
		return TypeSymlink, target, false, true
	}
	return TypeFile, "", false, true
}

// parseOctalMode reads UNIX.mode: octal permission bits with setuid,
// setgid and sticky; file type bits, if a server sends them, are dropped.
func parseOctalMode(v string) (fs.FileMode, bool) {
	if v == "" || len(v) > 12 || strings.Trim(v, "01234567") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 8, 32)
	if err != nil {
		return 0, false
	}
	m := fs.FileMode(n & 0o777)
	if n&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m, true
}
