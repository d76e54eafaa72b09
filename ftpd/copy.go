package ftpd

import (
	"io"
	"os"
	"strings"
)

// SITE CPFR and SITE CPTO copy a file on the server, as proftpd's
// mod_copy does (and, as there, FEAT says "SITE COPY"): ProfileFull only,
// so that the vsftpd and IIS profiles show a client the servers without
// it. Only regular files are copied; mod_copy also copies directories,
// which no client of this server asks for.

// siteCopy runs SITE CPFR or SITE CPTO (sub, upper case) with its path.
func (s *session) siteCopy(sub, p string) {
	p = strings.TrimSpace(p)
	if p == "" {
		s.reply(501, "Usage: SITE "+sub+" <path>")
		return
	}
	if sub == "CPFR" {
		s.copyFrom = ""
		_, rel, err := s.resolve(p)
		if err == nil {
			var f *os.File
			if f, err = s.openRegular(rel, os.O_RDONLY); err == nil {
				f.Close()
			}
		}
		if err != nil {
			s.replyErr(err, p)
			return
		}
		s.copyFrom = rel
		s.reply(350, "File or directory exists, ready for destination name")
		return
	}
	from := s.copyFrom
	s.copyFrom = ""
	switch {
	case from == "":
		s.reply(503, "Bad sequence of commands")
	case s.readOnly:
		s.reply(550, "Permission denied.")
	default:
		if err := s.copyFile(from, p); err != nil {
			s.replyErr(err, p)
			return
		}
		s.reply(250, "Copy successful")
	}
}

// copyFile copies the regular file from (below the root) to the path to.
func (s *session) copyFile(from, to string) error {
	_, rel, err := s.resolve(to)
	if err != nil {
		return err
	}
	src, err := s.openRegular(from, os.O_RDONLY)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := s.openRegular(rel, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// refusedVerb says whether Faults.RefuseVerb (list) names the command verb
// arg: by its verb, or by its verb and first word ("SITE CPTO").
func refusedVerb(list, verb, arg string) bool {
	sub, _, _ := strings.Cut(strings.TrimSpace(arg), " ")
	for _, v := range strings.Split(list, ",") {
		if v == verb || v == verb+" "+strings.ToUpper(sub) {
			return true
		}
	}
	return false
}
