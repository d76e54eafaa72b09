package ftpd

import (
	"strconv"
	"syscall"
)

// cmdAVBL answers "AVBL [path]" (draft-peterson-streamlined-ftp-command-
// extensions): "213 BYTES", the space the user may still fill in that
// directory, the working directory when no path is given. BYTES is what
// the directory's filesystem gives unprivileged users (statfs f_bavail),
// and 0 on a session that may not write, since it can fill nothing.
func (s *session) cmdAVBL(arg string) {
	if arg == "" {
		arg = s.cwd
	}
	_, rel, err := s.resolve(arg)
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	// Through the root, so that a symlink cannot make the server tell the
	// space of a filesystem outside it.
	f, err := s.srv.root.Open(rel)
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err == nil && !fi.IsDir() {
		err = errNotDir
	}
	var st syscall.Statfs_t
	if err == nil {
		err = onFd(f, func(fd int) error { return syscall.Fstatfs(fd, &st) })
	}
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	var avail uint64
	if !s.readOnly {
		unit := uint64(st.Frsize) // f_bavail counts fragments
		if unit == 0 {
			unit = uint64(st.Bsize)
		}
		avail = st.Bavail * unit
	}
	s.reply(213, strconv.FormatUint(avail, 10))
}
