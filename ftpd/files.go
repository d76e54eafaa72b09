package ftpd

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var (
	errEscape     = errors.New("path leads outside the root")
	errNotDir     = errors.New("not a directory")
	errIsDir      = errors.New("is a directory")
	errNotRegular = errors.New("not a regular file")
	errBadTime    = errors.New("bad time")
)

// resolve turns a client's path into the virtual absolute path ("/a/b")
// and the path relative to the root that os.Root takes ("a/b", or "." for
// the root). A ".." above the root is refused, not clamped.
func (s *session) resolve(arg string) (vpath, rel string, err error) {
	p := arg
	if !strings.HasPrefix(p, "/") {
		p = s.cwd + "/" + p
	}
	var parts []string
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
		case "..":
			if len(parts) == 0 {
				return "", "", errEscape
			}
			parts = parts[:len(parts)-1]
		default:
			parts = append(parts, c)
		}
	}
	if len(parts) == 0 {
		return "/", ".", nil
	}
	rel = strings.Join(parts, "/")
	return "/" + rel, rel, nil
}

// replyErr answers a failed file operation with the reply its cause
// deserves. The text names the client's path, never the server's.
func (s *session) replyErr(err error, name string) {
	var errno syscall.Errno
	errors.As(err, &errno)
	switch {
	case errors.Is(err, errEscape):
		s.reply(550, name+": Permission denied (outside the root).")
	case errors.Is(err, fs.ErrNotExist):
		s.reply(550, name+": No such file or directory.")
	case errors.Is(err, fs.ErrPermission):
		s.reply(550, name+": Permission denied.")

	case errors.Is(err, errNotDir), errno == syscall.ENOTDIR:
		s.reply(550, name+": Not a directory.")
	case errors.Is(err, errIsDir), errno == syscall.EISDIR:
		s.reply(550, name+": Is a directory.")
	case errors.Is(err, errNotRegular):
		s.reply(550, name+": Not a regular file.")
	case errno == syscall.ENOTEMPTY:
		s.reply(550, name+": Directory not empty.")
	case errors.Is(err, fs.ErrExist):
		s.reply(550, name+": File exists.")
	case errno == syscall.ENOSPC:
		s.reply(452, name+": Insufficient storage space.")
	case errno == syscall.EDQUOT:
		s.reply(552, name+": Quota exceeded.")
	case errno == syscall.ENAMETOOLONG:
		s.reply(553, name+": File name too long.")
	case errno == syscall.EINVAL:
		s.reply(553, name+": Invalid name.")
	case errors.Is(err, errBadTime):
		s.reply(501, "Bad time value.")
	default:
		// os.Root reports an escaping symlink with a plain error.
		if strings.Contains(err.Error(), "escapes") {
			s.reply(550, name+": Permission denied (outside the root).")
			return
		}
		s.srv.log.Warn("file operation", "session", s.id, "path", name, "err", err)
		s.reply(550, name+": Operation failed.")
	}
}

// stat follows symlinks inside the root.
func (s *session) stat(arg string) (string, fs.FileInfo, error) {
	v, rel, err := s.resolve(arg)
	if err != nil {
		return "", nil, err
	}
	fi, err := s.srv.root.Stat(rel)
	return v, fi, err
}

func quote257(p string) string {
	return `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
}

func (s *session) cmdPWD(string) {
	s.reply(257, quote257(s.cwd)+" is the current directory.")
}

func (s *session) cmdCWD(arg string) {
	if arg == "" {
		arg = "/"
	}
	v, fi, err := s.stat(arg)
	if err == nil && !fi.IsDir() {
		err = errNotDir
	}
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	s.cwd = v
	s.reply(250, "Directory successfully changed.")
}

func (s *session) cmdCDUP(string) { s.cmdCWD("..") }

func (s *session) cmdSIZE(arg string) {
	_, fi, err := s.stat(arg)
	if err == nil && !fi.Mode().IsRegular() {
		err = errIsDir
	}
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	s.reply(213, strconv.FormatInt(fi.Size(), 10))
}

const mdtmLayout = "20060102150405"

// parseFTPTime parses YYYYMMDDHHMMSS[.sss] in UTC (RFC 3659 section 2.3).
func parseFTPTime(v string) (time.Time, error) {
	main, frac, hasFrac := strings.Cut(v, ".")
	if len(main) != len(mdtmLayout) {
		return time.Time{}, errBadTime
	}
	t, err := time.ParseInLocation(mdtmLayout, main, time.UTC)
	if err != nil {
		return time.Time{}, errBadTime
	}
	if hasFrac {
		if frac == "" || len(frac) > 9 || strings.Trim(frac, "0123456789") != "" {
			return time.Time{}, errBadTime
		}
		ns, _ := strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
		t = t.Add(time.Duration(ns))
	}
	return t, nil
}

// splitTimeArg splits "YYYYMMDDHHMMSS[.sss] path" as MFMT and vsftpd's MDTM
// set form take it.
func splitTimeArg(arg string) (time.Time, string, bool) {
	ts, p, ok := strings.Cut(arg, " ")
	if !ok || p == "" {
		return time.Time{}, "", false
	}
	t, err := parseFTPTime(ts)
	return t, p, err == nil
}

// zone is the zone the server's LIST and MDTM times are in.
func (s *Server) zone() *time.Location {
	if s.cfg.Zone != nil {
		return s.cfg.Zone
	}
	return time.UTC
}

// fromZone reads a time-val parsed as UTC in the zone the server answers
// in (Config.Zone).
func (s *session) fromZone(t time.Time) time.Time {
	loc := s.srv.zone()
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
}

func (s *session) cmdMDTM(arg string) {
	// The set form is tried only when the whole argument is not itself an
	// existing name, since a file may be called "20250101000000 x".
	if t, p, ok := splitTimeArg(arg); ok {
		if _, _, err := s.stat(arg); err != nil {
			if s.readOnly {
				s.reply(550, "Permission denied.")
				return
			}
			if err := s.setTime(p, s.fromZone(t)); err != nil {
				s.replyErr(err, p)
				return
			}
			s.reply(213, "File modification time set.")
			return
		}
	}
	_, fi, err := s.stat(arg)
	if err == nil && !fi.Mode().IsRegular() {
		err = errIsDir
	}
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	s.reply(213, fi.ModTime().In(s.srv.zone()).Format(mdtmLayout))
}

func (s *session) cmdMFMT(arg string) {
	t, p, ok := splitTimeArg(arg)
	if !ok {
		s.reply(501, "Usage: MFMT YYYYMMDDHHMMSS path")
		return
	}
	t = s.fromZone(t)
	if err := s.setTime(p, t); err != nil {
		s.replyErr(err, p)
		return
	}
	s.reply(213, "Modify="+t.In(s.srv.zone()).Format(mdtmLayout)+"; "+p)
}

func (s *session) setTime(p string, t time.Time) error {
	_, rel, err := s.resolve(p)
	if err != nil {
		return err
	}
	return s.srv.root.Chtimes(rel, t, t)
}

func (s *session) cmdDELE(arg string) {
	_, rel, err := s.resolve(arg)
	if err == nil {
		var fi fs.FileInfo
		if fi, err = s.srv.root.Lstat(rel); err == nil && fi.IsDir() {
			err = errIsDir
		}
	}
	if err == nil {
		err = s.srv.root.Remove(rel)
	}
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	s.reply(250, "Delete operation successful.")
}

func (s *session) cmdRMD(arg string) {
	_, rel, err := s.resolve(arg)
	if err == nil && rel == "." {
		err = fs.ErrPermission
	}
	if err == nil {
		var fi fs.FileInfo
		if fi, err = s.srv.root.Lstat(rel); err == nil && !fi.IsDir() {
			err = errNotDir
		}
	}
	if err == nil {
		err = s.srv.root.Remove(rel)
		if errors.Is(err, syscall.EEXIST) {
			err = syscall.ENOTEMPTY // rmdir(2) may say either
		}
	}
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	s.reply(250, "Remove directory operation successful.")
}

func (s *session) cmdMKD(arg string) {
	v, rel, err := s.resolve(arg)
	if err == nil {
		err = s.srv.root.Mkdir(rel, 0o755)
	}
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	s.reply(257, quote257(v)+" created.")
}

func (s *session) cmdRNFR(arg string) {
	_, rel, err := s.resolve(arg)
	if err == nil && rel == "." {
		err = fs.ErrPermission
	}
	if err == nil {
		_, err = s.srv.root.Lstat(rel)
	}
	if err != nil {
		s.renameFrom = ""
		s.replyErr(err, arg)
		return
	}
	s.renameFrom = rel
	s.reply(350, "Ready for RNTO.")
}

func (s *session) cmdRNTO(arg string) {
	from := s.renameFrom
	s.renameFrom = ""
	if from == "" {
		s.reply(503, "RNFR required first.")
		return
	}
	_, rel, err := s.resolve(arg)
	if err == nil && rel == "." {
		err = fs.ErrPermission
	}
	if err == nil && s.srv.currentFaults().NoOverwrite {
		if fi, serr := s.srv.root.Lstat(rel); serr == nil && !fi.IsDir() {
			s.reply(553, "Rename failed: the target file exists.")
			return
		}
	}
	if err == nil {
		err = s.srv.root.Rename(from, rel)
	}
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	s.reply(250, "Rename successful.")
}

func (s *session) cmdSITE(arg string) {
	sub, rest, _ := strings.Cut(strings.TrimSpace(arg), " ")
	switch strings.ToUpper(sub) {
	case "HELP":
		if s.srv.cfg.Profile == ProfileFull {
			s.reply(214, "SITE commands: CHMOD CPFR CPTO HELP")
		} else {
			s.reply(214, "SITE commands: CHMOD HELP")
		}
	case "CPFR", "CPTO":
		if s.srv.cfg.Profile != ProfileFull {
			s.reply(500, "Unknown SITE command.")
			return
		}
		s.siteCopy(strings.ToUpper(sub), rest)
	case "CHMOD":
		if s.readOnly {
			s.reply(550, "Permission denied.")
			return
		}
		modeStr, p, ok := strings.Cut(strings.TrimSpace(rest), " ")
		mode, err := strconv.ParseUint(modeStr, 8, 32)
		if !ok || p == "" || err != nil || mode > 0o7777 {
			s.reply(501, "Usage: SITE CHMOD <octal mode> <path>")
			return
		}
		if !s.srv.cfg.AllowSpecialModes {
			// Setuid, setgid and sticky from an FTP writer would be
			// setuid files of the server's user (root, perhaps).
			mode &= 0o777
		}
		_, rel, err := s.resolve(p)
		if err == nil {
			err = s.notRoot(rel)
		}
		if err == nil {
			err = s.srv.root.Chmod(rel, unixMode(uint32(mode)))
		}
		if err != nil {
			s.replyErr(err, p)
			return
		}
		s.reply(200, "SITE CHMOD command ok.")
	case "QUOTA":
		s.cmdSiteQuota()
	default:
		s.reply(500, "Unknown SITE command.")
	}
}

// notRoot refuses rel when it is the served root, which is the server's,
// not the client's: by name ("/", "d/..") or through a symlink such as
// "here -> .", which os.Root.Chmod follows. A symlink swapped between this
// check and the chmod could still reach the root, but only someone who can
// write the tree locally can make one: FTP has no command for it.
func (s *session) notRoot(rel string) error {
	if rel == "." {
		return fs.ErrPermission
	}
	fi, err := s.srv.root.Stat(rel)
	if err != nil {
		return err
	}
	top, err := s.srv.root.Stat(".")
	if err != nil {
		return err
	}
	if os.SameFile(fi, top) {
		return fs.ErrPermission
	}
	return nil
}

// unixMode converts permission bits as chmod(2) takes them to an os.FileMode.
func unixMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	if m&syscall.S_ISUID != 0 {
		mode |= os.ModeSetuid
	}
	if m&syscall.S_ISGID != 0 {
		mode |= os.ModeSetgid
	}
	if m&syscall.S_ISVTX != 0 {
		mode |= os.ModeSticky
	}
	return mode
}
