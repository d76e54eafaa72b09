// Package mountinfo reads the mount table of this process's mount
// namespace, /proc/self/mountinfo (proc_pid_mountinfo(5)). It is the one
// reader of that file: the mount asks it whether its device is still
// mounted here, the command whether a directory is a mount point.
package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Self is the mount table of the calling process's mount namespace.
const Self = "/proc/self/mountinfo"

// Mount is one line of the table. Paths are unescaped: the kernel writes a
// space, tab, newline or backslash in them as an octal escape (\040).
type Mount struct {
	ID, Parent int
	Dev        string   // "major:minor", as stat's st_dev splits it
	Root       string   // the directory of the filesystem mounted here
	Point      string   // where it is mounted
	Options    string   // per-mount options: rw, nosuid, relatime...
	Optional   []string // tags such as shared:1 or master:2; often none
	FSType     string   // fuse.ftpfs, tmpfs...
	Source     string   // ftp://host/path for ours; "none" or "" for some
	SuperOpts  string   // per-superblock options
}

// ReadFile parses the table in file, normally Self.
func ReadFile(file string) ([]Mount, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f)
}

// Parse parses a mount table. A line that does not have the layout the
// kernel writes is an error, not skipped: a caller deciding whether
// something is mounted must not answer from half a table.
func Parse(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	// A line holds two paths of up to PATH_MAX bytes, each escaped to
	// four times that at worst, and options besides.
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if sc.Text() == "" {
			continue
		}
		m, err := parseLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", n, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mountinfo: %w", err)
	}
	return out, nil
}

// parseLine parses
//
//	ID PARENT MAJOR:MINOR ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
//
// split on single spaces, so that an empty SOURCE keeps its place.
func parseLine(line string) (Mount, error) {
	f := strings.Split(line, " ")
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || len(f) != sep+4 {
		return Mount{}, fmt.Errorf("want ID PARENT MAJOR:MINOR ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS, got %d fields", len(f))
	}
	id, err1 := strconv.Atoi(f[0])
	parent, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return Mount{}, fmt.Errorf("mount IDs %q %q are not numbers", f[0], f[1])
	}
	if maj, min, ok := strings.Cut(f[2], ":"); !ok || maj == "" || min == "" {
		return Mount{}, fmt.Errorf("device %q is not MAJOR:MINOR", f[2])
	}
	m := Mount{
		ID:        id,
		Parent:    parent,
		Dev:       f[2],
		Root:      unescape(f[3]),
		Point:     unescape(f[4]),
		Options:   f[5],
		FSType:    unescape(f[sep+1]),
		Source:    unescape(f[sep+2]),
		SuperOpts: unescape(f[sep+3]),
	}
	if sep > 6 {
		m.Optional = f[6:sep]
	}
	return m, nil
}

// unescape undoes the kernel's octal escapes: a backslash and three octal
// digits stand for one byte. Anything else is kept as it is.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
