package ftpd

import (
	"encoding/hex"
	"io"
	"os"
	"strconv"
	"strings"

	"ftpfs/internal/digest"
)

// HASH (draft-bryan-ftpext-hash): the digest of a file the server holds,
// so that a client can check an upload or a download end to end. OPTS
// HASH chooses the algorithm for the session; the reply names it, the
// byte range hashed and the file: "213 SHA-256 0-N hex name".

// hashAlgs are the algorithms offered, the session's default first.
var hashAlgs = []string{"SHA-256", "SHA-1", "MD5", "CRC32"}

// hashAlg is the session's algorithm.
func (s *session) hashAlg() string {
	if s.hashWith == "" {
		return hashAlgs[0]
	}
	return s.hashWith
}

// hashFeature is the FEAT line: the algorithms, the selected one starred.
func (s *session) hashFeature() string {
	algs := make([]string, len(hashAlgs))
	for i, a := range hashAlgs {
		if a == s.hashAlg() {
			a += "*"
		}
		algs[i] = a
	}
	return "HASH " + strings.Join(algs, ";")
}

// optsHash answers OPTS HASH: the current algorithm without an argument,
// else the one chosen, or 504 for one not offered.
func (s *session) optsHash(val string) {
	val = strings.ToUpper(strings.TrimSpace(val))
	if val == "" {
		s.reply(200, s.hashAlg())
		return
	}
	for _, a := range hashAlgs {
		if a == val {
			s.hashWith = a
			s.reply(200, a)
			return
		}
	}
	s.reply(504, "Unknown algorithm.")
}

func (s *session) cmdHASH(arg string) {
	_, rel, err := s.resolve(arg)
	var f *os.File
	if err == nil {
		f, err = s.openRegular(rel, os.O_RDONLY)
	}
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	defer f.Close()
	alg := s.hashAlg()
	h := digest.New(alg)
	n, err := io.Copy(h, f)
	if err != nil {
		s.reply(451, "Reading the file failed.")
		return
	}
	s.reply(213, alg+" 0-"+strconv.FormatInt(n, 10)+" "+hex.EncodeToString(h.Sum(nil))+" "+arg)
}

// corrupt flips the byte at off of rel, as a disk or a broken middlebox
// might: the size stays right and the content is wrong (Faults.CorruptStor).
func (s *session) corrupt(rel string, off int64) {
	f, err := s.srv.root.OpenFile(rel, os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err == nil {
		b[0] ^= 0xff
		f.WriteAt(b, off)
	}
}
