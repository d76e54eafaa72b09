package conn

import (
	"context"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"ftpfs/internal/digest"
)

// Integrity: where the server can tell a file's digest, an upload is
// hashed as it is sent, and Commit compares the server's digest of the
// temporary name with it before the rename, so that content damaged on
// the way (or on the server's disk) never replaces a file. The HASH
// command of draft-bryan-ftpext-hash is preferred ("213 SHA-256 0-N hex
// name", the algorithm chosen with OPTS HASH); else the older XSHA256,
// XSHA1, XMD5 or XCRC ("250 hex"). A server that refuses to hash a file
// (too large for it, busy) leaves the upload checked by its size alone.

// ErrHashMismatch says the server's digest of a transfer differs from the
// bytes sent or received.
var ErrHashMismatch = errors.New("the server's digest does not match the bytes transferred")

// hashVerb is how a server tells a file's digest.
type hashVerb struct {
	verb string // HASH, XSHA256, XSHA1, XMD5, XCRC
	alg  string // the algorithm, in HASH's names
	opts bool   // HASH with an algorithm that is not the server's default
}

// hashAlgs are the algorithms ftpfs can check, best first.
var hashAlgs = []string{"SHA-256", "SHA-512", "SHA-1", "MD5", "CRC32"}

// xVerbs are the older commands, best first, with their algorithms.
var xVerbs = [][2]string{{"XSHA256", "SHA-256"}, {"XSHA512", "SHA-512"}, {"XSHA1", "SHA-1"}, {"XMD5", "MD5"}, {"XCRC", "CRC32"}}

// hashVerbOf says how the server of f tells digests, from its FEAT.
func hashVerbOf(f *Features) (hashVerb, bool) {
	if f == nil {
		return hashVerb{}, false
	}
	words := map[string]bool{}
	for _, l := range f.Raw {
		word, rest, _ := strings.Cut(strings.TrimSpace(l), " ")
		word = strings.ToUpper(word)
		words[word] = true
		if word != "HASH" {
			continue
		}
		offered := map[string]bool{} // algorithm: is the default
		for _, a := range strings.Split(rest, ";") {
			a = strings.ToUpper(strings.TrimSpace(a))
			def := strings.HasSuffix(a, "*")
			offered[strings.TrimSuffix(a, "*")] = def
		}
		// The server's default when it is a SHA (proftpd's is SHA-1):
		// no OPTS HASH, whose 200 could pass for a transfer's final
		// reply among replies that come in any order (write_early.go).
		for _, a := range hashAlgs[:3] {
			if def := offered[a]; def {
				return hashVerb{verb: "HASH", alg: a}, true
			}
		}
		for _, a := range hashAlgs {
			if def, ok := offered[a]; ok {
				return hashVerb{verb: "HASH", alg: a, opts: !def}, true
			}
		}
	}
	for _, x := range xVerbs {
		if words[x[0]] {
			return hashVerb{verb: x[0], alg: x[1]}, true
		}
	}
	return hashVerb{}, false
}

func (h hashVerb) new() hash.Hash { return digest.New(h.alg) }

// lines are the commands that ask the digest of path.
func (h hashVerb) lines(path string) []string {
	if h.opts {
		return []string{"OPTS HASH " + h.alg, "HASH " + path}
	}
	return []string{h.verb + " " + path}
}

// digestIn finds the digest in a reply, on its last line (proftpd puts
// "Computing SHA-256 digest" before it): HASH's names the algorithm and
// the range before the digest and the file after it; the X commands'
// hold the digest alone. A CRC may come without its leading zeros.
func (h hashVerb) digestIn(msg string) (string, bool) {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	f := strings.Fields(lines[len(lines)-1])
	if len(lines) > 1 && len(f) > 0 && len(f[0]) == 3 {
		f = f[1:] // the reply code of a multi-line reply's last line
	}
	if h.verb == "HASH" {
		for len(f) > 0 && !strings.EqualFold(f[0], h.alg) {
			f = f[1:]
		}
		if len(f) < 3 {
			return "", false
		}
		f = f[2:]
	}
	if len(f) == 0 {
		return "", false
	}
	w, want := f[0], h.new().Size()*2
	if h.alg == "CRC32" && len(w) < want {
		w = strings.Repeat("0", want-len(w)) + w
	}
	if _, err := hex.DecodeString(w); err != nil || len(w) != want {
		return "", false
	}
	return strings.ToLower(w), true
}

// hashRate is the rate at which a server is assumed to hash a file, no
// less: a file it could not hash within the exchange timeout at that
// rate is checked by its size alone, since the digest's reply would come
// too late (30 s: 3 GB).
const hashRate = 100 << 20

func hashable(cfg *Config, n int64) bool {
	return n <= int64(cfg.Timeout.Seconds()*hashRate)
}

// summer hashes a transfer's bytes as they pass. It keeps the hash's
// state every markEvery bytes, so that an upload that goes on from an
// earlier point (resume.go) rereads at most that much to get there.
type summer struct {
	how   hashVerb
	h     hash.Hash
	at    int64  // the bytes hashed
	marks []mark // ascending
}

type mark struct {
	at    int64
	state []byte
}

const markEvery = 8 << 20

// newSummer is nil for a server that cannot tell digests.
func newSummer(f *Features) *summer {
	how, ok := hashVerbOf(f)
	if !ok {
		return nil
	}
	return &summer{how: how, h: how.new()}
}

func (s *summer) add(b []byte) {
	if s == nil {
		return
	}
	for len(b) > 0 {
		next := (s.at/markEvery + 1) * markEvery
		k := min(int64(len(b)), next-s.at)
		s.h.Write(b[:k])
		s.at, b = s.at+k, b[k:]
		if m, ok := s.h.(encoding.BinaryMarshaler); ok && s.at == next {
			if state, err := m.MarshalBinary(); err == nil {
				s.marks = append(s.marks, mark{s.at, state})
			}
		}
	}
}

// rewind makes the summer hold the digest of r's first off bytes: from
// the last mark at or before off, reading the rest from r.
func (s *summer) rewind(off int64, r io.ReaderAt) error {
	s.h, s.at = s.how.new(), 0
	i := len(s.marks)
	for i > 0 && s.marks[i-1].at > off {
		i--
	}
	s.marks = s.marks[:i]
	if i > 0 {
		if u, ok := s.h.(encoding.BinaryUnmarshaler); ok && u.UnmarshalBinary(s.marks[i-1].state) == nil {
			s.at = s.marks[i-1].at
		} else {
			s.h, s.marks = s.how.new(), nil
		}
	}
	buf := make([]byte, 256<<10)
	for s.at < off {
		n, err := r.ReadAt(buf[:min(int64(len(buf)), off-s.at)], s.at)
		s.add(buf[:n])
		if n == 0 && err != nil {
			return err
		}
	}
	return nil
}

// compare says whether got, the server's digest of path, is the bytes'.
func (s *summer) compare(got, path string) error {
	if want := hex.EncodeToString(s.h.Sum(nil)); got != want {
		return &Error{Op: "hash", Path: path, Err: fmt.Errorf("%w (%s: the server's %s, ours %s)", ErrHashMismatch, s.how.alg, got, want)}
	}
	return nil
}

// serverDigest asks the server for the digest of path, on c, in one
// round trip (OPTS HASH goes with HASH when needed, pipelined). ok is false when the
// server would not tell: it refused the command or the reply holds no
// digest. A broken connection is an error.
func (c *Conn) serverDigest(ctx context.Context, how hashVerb, path string, pipelined bool) (digest string, ok bool, err error) {
	lines := how.lines(path)
	if pipelined {
		if err := c.sendAll(ctx, lines...); err != nil {
			return "", false, &Error{Op: "hash", Path: path, Err: err}
		}
	}
	var r reply
	for _, l := range lines {
		if !pipelined {
			if err := c.sendAll(ctx, l); err != nil {
				return "", false, &Error{Op: "hash", Path: path, Err: err}
			}
		}
		if r, err = c.readReply(ctx); err != nil {
			return "", false, &Error{Op: "hash", Path: path, Err: err}
		}
		if r.code == 421 {
			c.broken = true
			return "", false, &Error{Op: "hash", Path: path, Code: r.code, Msg: firstLine(r.msg)}
		}
	}
	if r.code < 200 || r.code > 299 {
		c.cfg.Logger.Debug("server did not hash the file; checked by its size alone", "path", path, "reply", firstLine(r.msg))
		return "", false, nil
	}
	digest, ok = how.digestIn(r.msg)
	return digest, ok, nil
}

// withHash adds the commands that ask from's digest to lines, which ask
// its size after the transfer's final reply, when the server answers
// commands in order, so that the digest travels in SIZE's round trip. A
// server that answers every command during a transfer gets its own
// round trip for the digest, after the final reply: the digest of part
// of the upload would say nothing. (One that answers one command then
// gets the digest's behind its two SIZEs: twiceLines.)
func (u *Upload) withHash(lines []string, from string) []string {
	if !u.p.answersInOrder.Load() {
		return lines
	}
	return append(lines, u.hashFor(from)...)
}

// hashTwice is hashFor for the flight of twiceLines, where replies come
// in any order: none when OPTS HASH would go too (its 200 could pass for
// the transfer's final reply).
func (u *Upload) hashTwice(from string) []string {
	if u.sum == nil || u.sum.how.opts {
		return nil
	}
	return u.hashFor(from)
}

// hashFor is the commands that ask from's digest, counted in
// u.hashLines; none when there is nothing to check.
func (u *Upload) hashFor(from string) []string {
	if u.sum == nil || u.n == 0 || !hashable(&u.p.cfg, u.n) {
		return nil
	}
	h := u.sum.how.lines(from)
	u.hashLines = len(h)
	return h
}

// readHash reads the replies to the commands withHash added, in order
// after SIZE's.
func (u *Upload) readHash(ctx context.Context, from string) error {
	for range u.hashLines {
		r, err := u.c.readReply(ctx)
		if err != nil {
			return &Error{Op: "hash", Path: from, Err: err}
		}
		u.hashReply = &r
	}
	return nil
}

// sizeArming asks SIZE of from after the transfer's final reply, with
// the digest (withHash) and the next transfer's EPSV behind it when arm.
// It returns SIZE's reply, and the EPSV's when it was read.
func (u *Upload) sizeArming(ctx context.Context, from string, arm bool) (reply, *reply, error) {
	c := u.c
	u.hashLines, u.hashReply = 0, nil
	lines := u.withHash([]string{"SIZE " + from}, from)
	if arm {
		lines = append(lines, "EPSV")
	}
	if err := c.sendAll(ctx, lines...); err != nil {
		return reply{}, nil, &Error{Op: "size", Path: from, Err: err}
	}
	r, err := c.check(ctx, "size", from, []int{213})
	if c.broken {
		return r, nil, err
	}
	if herr := u.readHash(ctx, from); herr != nil {
		return r, nil, herr
	}
	if !arm {
		return r, nil, err
	}
	e, rerr := c.readReply(ctx)
	if rerr != nil {
		return r, nil, err // broken by readReply; SIZE's reply stands
	}
	return r, &e, err
}

// verify compares the server's digest of the upload's temporary name
// with the bytes sent, before anything is renamed: from the reply to a
// HASH sent with SIZE, else asked now. An empty file has nothing to
// damage: its size said it all.
func (u *Upload) verify(ctx context.Context, from string) error {
	if u.sum == nil || u.n == 0 || !hashable(&u.p.cfg, u.n) {
		return nil
	}
	var got string
	var ok bool
	if r := u.hashReply; r != nil {
		if got, ok = u.sum.how.digestIn(r.msg); !ok || r.code < 200 || r.code > 299 {
			u.c.cfg.Logger.Debug("server did not hash the file; checked by its size alone", "path", from, "reply", firstLine(r.msg))
			return nil
		}
	} else {
		var err error
		if got, ok, err = u.c.serverDigest(ctx, u.sum.how, from, u.p.Pipelining()); err != nil || !ok {
			return err
		}
	}
	if err := u.sum.compare(got, from); err != nil {
		return err
	}
	u.c.cfg.Logger.Debug("upload's digest checked", "path", from, "alg", u.sum.how.alg)
	return nil
}

// Sum is a digest of a file's bytes as read, in the algorithm the
// server tells digests in, for CheckSum.
type Sum struct{ s *summer }

// NewSum starts a digest to compare with the server's; nil when the
// server tells no digest.
func (p *Pool) NewSum(ctx context.Context) *Sum {
	f, err := p.features(ctx)
	if err != nil {
		return nil
	}
	s := newSummer(&f)
	if s == nil {
		return nil
	}
	return &Sum{s}
}

// Write adds bytes read, in order.
func (s *Sum) Write(b []byte) (int, error) {
	s.s.add(b)
	return len(b), nil
}

// CheckSum compares the server's digest of path with s: an error wrapping
// ErrHashMismatch when they differ; nil when they agree or the server
// would not tell.
func (p *Pool) CheckSum(ctx context.Context, path string, s *Sum) error {
	if !hashable(&p.cfg, s.s.at) {
		return nil
	}
	var got string
	var ok bool
	err := p.do(ctx, Metadata, func(c *Conn) (err error) {
		got, ok, err = c.serverDigest(ctx, s.s.how, path, p.Pipelining())
		return err
	})
	if err != nil || !ok {
		return err
	}
	return s.s.compare(got, path)
}
