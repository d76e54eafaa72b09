package fs

import (
	"errors"
	"path"
	"strings"
	"syscall"
	"unicode/utf8"

	"ftpfs/conn"
)

// Names the mount derives from a program's name (an upload's temporary
// name, a conflict copy, a staged copy on local disk) must fit where the
// name itself fits: in conn.MaxName bytes. A derived name keeps its own
// marks whole (the prefix that hides it, the suffix that dates it) and
// as much of the program's name as fits, so that a person looking at a
// leftover still sees whose it was; the mount itself never reads a name
// back from a derived one (a staged copy's sidecar records its path).

// fitName joins head, the start of base and tail into a name of at most
// limit bytes, cutting base at a character boundary where it must be
// shortened.
func fitName(head, base, tail string, limit int) string {
	room := limit - len(head) - len(tail)
	if len(base) > room {
		base = base[:max(room, 0)]
		// Not half a character: a server in a legacy encoding could
		// not take the rest of it.
		for i := 0; i < utf8.UTFMax-1; i++ {
			if r, n := utf8.DecodeLastRuneInString(base); r != utf8.RuneError || n != 1 {
				break
			}
			base = base[:len(base)-1]
		}
	}
	return head + base + tail
}

// derived is rel's sibling named head + base + tail, base shortened as
// fitName does to fit conn.MaxName.
func derived(rel, head, tail string) string {
	return path.Join(parent(rel), fitName(head, path.Base(rel), tail, conn.MaxName))
}

// validName refuses, before any command, names FTP cannot carry in a
// command line, names longer than listings may show (a file created with
// one would vanish from its directory at the next listing), names the
// server's encoding cannot hold (--encoding), and the name links out of
// the tree point into, which must never exist (see safeLink).
func (m *mount) validName(name string) syscall.Errno {
	if strings.ContainsAny(name, "\r\n\x00") {
		return syscall.EINVAL
	}
	if len(name) > conn.MaxName {
		return syscall.ENAMETOOLONG
	}
	if errors.Is(m.pool.CheckName(name), conn.ErrUnencodable) {
		return syscall.EILSEQ
	}
	if name == outsideName {
		return syscall.EPERM
	}
	return 0
}

// notMade is the answer to what FTP cannot make (a hard link, a symlink,
// a device node): EPERM, once the name passed validName.
func (m *mount) notMade(name string) syscall.Errno {
	if errno := m.validName(name); errno != 0 {
		return errno
	}
	return syscall.EPERM
}
