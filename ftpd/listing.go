package ftpd

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// factNames are the MLST facts offered, in the order they are written.
var factNames = []string{"type", "size", "modify", "perm", "unique", "UNIX.mode"}

func defaultFacts() map[string]bool {
	m := make(map[string]bool, len(factNames))
	for _, f := range factNames {
		m[f] = true
	}
	return m
}

// mlstFactList is the FEAT form ("type*;size*;...") or the OPTS reply form.
func (s *session) mlstFactList(feat bool) string {
	var b strings.Builder
	for _, f := range factNames {
		switch {
		case feat:
			b.WriteString(f)
			if s.mlstFacts[f] {
				b.WriteByte('*')
			}
		case s.mlstFacts[f]:
			b.WriteString(f)
		default:
			continue
		}
		b.WriteByte(';')
	}
	return b.String()
}

// entry is one name in a listing.
type entry struct {
	name   string
	fi     fs.FileInfo
	target string // symlink target, when fi is a symlink
}

func (s *session) lstatEntry(rel, name string) (entry, error) {
	p := path.Join(rel, name)
	fi, err := s.srv.root.Lstat(p)
	if err != nil {
		return entry{}, err
	}
	e := entry{name: name, fi: fi}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if e.target, err = s.srv.root.Readlink(p); err != nil {
			return entry{}, err
		}
		// A link out of the tree does not exist for clients: os.Root
		// refuses to follow it, and its text would show server paths.
		if path.IsAbs(e.target) || !fs.ValidPath(path.Join(path.Dir(p), e.target)) {
			return entry{}, errEscape
		}
	}
	return e, nil
}

// listable reports whether a name can be written into a listing line. A
// name with CR or LF would forge the next line, so it is left out.
func (s *session) listable(name string) bool {
	if strings.ContainsAny(name, "\r\n") {
		s.srv.log.Warn("listing: name with CR or LF left out", "session", s.id, "name", strconv.Quote(name))
		return false
	}
	return true
}

// walkList calls fn for each entry of the directory or, when target names
// something else, for that one entry. It streams the directory, so a huge
// one costs no more memory than a small one.
func (s *session) walkList(target string, fn func(entry) error) error {
	_, rel, err := s.resolve(target)
	if err != nil {
		return err
	}
	fi, err := s.srv.root.Stat(rel)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		e, err := s.lstatEntry(path.Dir(rel), path.Base(rel))
		if err != nil {
			return err
		}
		if !s.listable(e.name) {
			return nil
		}
		return fn(e)
	}
	// O_DIRECTORY: if the name became a FIFO since the stat, open(2)
	// fails instead of waiting for a writer.
	d, err := s.srv.root.OpenFile(rel, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	for {
		names, err := d.Readdirnames(512)
		for _, n := range names {
			if !s.listable(n) {
				continue
			}
			e, err := s.lstatEntry(rel, n)
			if err != nil {
				continue // removed meanwhile, or a link out of the tree
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// listArg splits "LIST -la dir" into its options and its path. Options
// are accepted and ignored: hidden files are always listed.
func listArg(arg string) string {
	arg = strings.TrimSpace(arg)
	for strings.HasPrefix(arg, "-") {
		_, rest, _ := strings.Cut(arg, " ")
		arg = strings.TrimLeft(rest, " ")
	}
	if arg == "" {
		return "."
	}
	return arg
}

// listLine formats one entry as LIST shows it in the server's profile.
func (s *session) listLine(e entry, now time.Time) string {
	if s.srv.cfg.Profile == ProfileDOS {
		return dosLine(e, s.srv.zone())
	}
	return unixLine(e, now, s.srv.zone(), s.srv.cfg.Profile == ProfileVsftpd)
}

// unixLine formats an entry as ls -l does, as vsftpd and proftpd send it,
// with its time in loc.
func unixLine(e entry, now time.Time, loc *time.Location, zeroPadDay bool) string {
	var uid, gid uint32
	nlink := uint64(1)
	if st, ok := e.fi.Sys().(*syscall.Stat_t); ok {
		uid, gid, nlink = st.Uid, st.Gid, uint64(st.Nlink)
	}
	mt := e.fi.ModTime().In(loc)
	var when string
	day := "Jan _2"
	if zeroPadDay {
		day = "Jan 02"
	}
	// ls shows the time of day for the last six months, the year otherwise.
	if age := now.Sub(mt); age >= 0 && age < 182*24*time.Hour {
		when = mt.Format(day + " 15:04")
	} else {
		when = mt.Format(day + "  2006")
	}
	name := e.name
	if e.fi.Mode()&fs.ModeSymlink != 0 {
		name += " -> " + e.target
	}
	return fmt.Sprintf("%s %4d %-8d %-8d %12d %s %s", modeString(e.fi.Mode()), nlink, uid, gid, e.fi.Size(), when, name)
}

// dosLine formats an entry as IIS does in its DOS listing style, with its
// time in loc.
func dosLine(e entry, loc *time.Location) string {
	mt := e.fi.ModTime().In(loc).Format("01-02-06  03:04PM")
	if e.fi.IsDir() {
		return mt + "       <DIR>          " + e.name
	}
	return fmt.Sprintf("%s %20d %s", mt, e.fi.Size(), e.name)
}

// modeString is ls's mode column ("drwxr-sr-t").
func modeString(m fs.FileMode) string {
	b := []byte("-rwxrwxrwx")
	switch {
	case m.IsDir():
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	case m&fs.ModeNamedPipe != 0:
		b[0] = 'p'
	case m&fs.ModeSocket != 0:
		b[0] = 's'
	case m&fs.ModeCharDevice != 0:
		b[0] = 'c'
	case m&fs.ModeDevice != 0:
		b[0] = 'b'
	}
	for i := 0; i < 9; i++ {
		if m&(1<<uint(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	special := func(flag fs.FileMode, pos int, set, unset byte) {
		if m&flag == 0 {
			return
		}
		if b[pos] == '-' {
			b[pos] = unset
		} else {
			b[pos] = set
		}
	}
	special(fs.ModeSetuid, 3, 's', 'S')
	special(fs.ModeSetgid, 6, 's', 'S')
	special(fs.ModeSticky, 9, 't', 'T')
	return string(b)
}

// factsLine formats an entry as MLSD and MLST do (RFC 3659 section 7).
func (s *session) factsLine(e entry, name string) string {
	var b strings.Builder
	fi := e.fi
	for _, f := range factNames {
		if !s.mlstFacts[f] {
			continue
		}
		switch f {
		case "type":
			switch {
			case fi.IsDir():
				b.WriteString("type=dir;")
			case fi.Mode()&fs.ModeSymlink != 0:
				// As proftpd writes it; the target is everything up to ';'.
				b.WriteString("type=OS.unix=slink:" + strings.ReplaceAll(e.target, ";", "%3B") + ";")
			default:
				b.WriteString("type=file;")
			}
		case "size":
			fmt.Fprintf(&b, "size=%d;", fi.Size())
		case "modify":
			b.WriteString("modify=" + factTime(fi.ModTime()) + ";")
		case "perm":
			b.WriteString("perm=" + s.permFact(fi) + ";")
		case "unique":
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				fmt.Fprintf(&b, "unique=%xg%x;", st.Dev, st.Ino)
			}
		case "UNIX.mode":
			fmt.Fprintf(&b, "UNIX.mode=%04o;", unixPerm(fi.Mode()))
		}
	}
	b.WriteByte(' ')
	b.WriteString(name)
	return b.String()
}

// factTime is YYYYMMDDHHMMSS in UTC, with milliseconds when there are any.
func factTime(t time.Time) string {
	t = t.UTC()
	s := t.Format(mdtmLayout)
	if ms := t.Nanosecond() / 1e6; ms != 0 {
		s += fmt.Sprintf(".%03d", ms)
	}
	return s
}

func unixPerm(m fs.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= syscall.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		p |= syscall.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		p |= syscall.S_ISVTX
	}
	return p
}

// permFact tells the client what it may do (RFC 3659 section 7.5.5).
func (s *session) permFact(fi fs.FileInfo) string {
	switch {
	case fi.IsDir() && s.readOnly:
		return "el"
	case fi.IsDir():
		return "cdeflmp"
	case s.readOnly:
		return "r"
	default:
		return "adfrw"
	}
}

// listLines renders LIST lines for STAT with an argument.
func (s *session) listLines(arg string) ([]string, error) {
	var lines []string
	now := time.Now()
	err := s.walkList(listArg(arg), func(e entry) error {
		lines = append(lines, s.listLine(e, now))
		return nil
	})
	return lines, err
}

func (s *session) cmdLIST(arg string) {
	now := time.Now()
	s.sendListing(listArg(arg), func(w *bufio.Writer, e entry) error {
		_, err := w.WriteString(s.listLine(e, now) + "\r\n")
		return err
	})
}

func (s *session) cmdNLST(arg string) {
	s.sendListing(listArg(arg), func(w *bufio.Writer, e entry) error {
		_, err := w.WriteString(e.name + "\r\n")
		return err
	})
}

func (s *session) cmdMLSD(arg string) {
	if arg == "" {
		arg = "."
	}
	dir, fi, err := s.stat(arg)
	if err != nil || !fi.IsDir() {
		if err == nil {
			err = errNotDir
		}
		s.closeDataSetup()
		s.replyErr(err, arg)
		return
	}
	blind := s.srv.currentFaults().BlindMLSDLinks
	s.sendListing(arg, func(w *bufio.Writer, e entry) error {
		if blind && e.fi.Mode()&fs.ModeSymlink != 0 {
			if _, _, err := s.stat(path.Join(dir, e.name)); err != nil {
				return nil // dangling: left out
			}
			e.target = ""
		}
		_, err := w.WriteString(s.factsLine(e, e.name) + "\r\n")
		return err
	})
}

func (s *session) cmdMLST(arg string) {
	if arg == "" {
		arg = "."
	}
	v, rel, err := s.resolve(arg)
	var e entry
	if err == nil {
		if rel == "." {
			var fi fs.FileInfo
			fi, err = s.srv.root.Lstat(".")
			e = entry{name: ".", fi: fi}
		} else {
			e, err = s.lstatEntry(path.Dir(rel), path.Base(rel))
		}
	}
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	s.replyLines(250, "Listing "+arg, []string{s.factsLine(e, v)}, "End.")
}

// sendListing sends a listing of target over a data connection.
func (s *session) sendListing(target string, line func(*bufio.Writer, entry) error) {
	if _, _, err := s.stat(target); err != nil {
		s.closeDataSetup()
		s.replyErr(err, target)
		return
	}
	if !s.needData() {
		return
	}
	s.runTransfer("Here comes the directory listing.", false, func(x *transfer) (int, string) {
		if f := x.faults; f.Stall || f.DropDataAfter > 0 || f.DataRate > 0 {
			// Listings meet the data faults too: rendered first, then
			// pumped like a file.
			var buf bytes.Buffer
			w := bufio.NewWriter(&buf)
			err := s.walkList(target, func(e entry) error { return line(w, e) })
			if err == nil {
				w.Flush()
				err = x.pump(x.conn, &buf)
			}
			if err != nil {
				return x.failure(err)
			}
			return 226, "Directory send OK."
		}
		w := bufio.NewWriterSize(x.deadlineWriter(), 32<<10)
		err := s.walkList(target, func(e entry) error { return line(w, e) })
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			return x.failure(err)
		}
		return 226, "Directory send OK."
	})
}
