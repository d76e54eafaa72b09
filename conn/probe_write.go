package conn

// The write probes, in a scratch directory made for them in the probed
// directory and removed afterwards, whatever failed: STOR and SIZE,
// setting a time (MFMT, "MDTM time path", SITE UTIME), SITE CHMOD, a
// rename over an existing file, REST STOR, APPE, and the checksums some
// servers compute (HASH, XSHA256, XCRC).

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"path"
	"strconv"
	"strings"
	"time"
)

// scratch is the state the write probes share.
type scratch struct {
	dir string
	a   []byte // what the server should hold at dir/a
	b   []byte // the file renamed over a
}

func (s *scratch) file(name string) string { return path.Join(s.dir, name) }

// writes runs the write probes and removes their directory.
func (pr *prober) writes(ctx context.Context) {
	s := &scratch{dir: path.Join(pr.o.Dir, ".ftpfs-doctor-"+rand.Text()[:10])}
	made := false
	pr.run(ctx, func(ctx context.Context, c *Conn) {
		_, err := c.expect(ctx, "mkdir", s.dir, []int{257, 250}, "MKD "+s.dir)
		if made = err == nil; !made {
			pr.add(Finding{Topic: "write probes", Verdict: ProbeProblem, Detail: fmt.Sprintf("no scratch directory in %s (%v): writes not probed; name a writable directory in SERVER, or --read-only", pr.o.Dir, err)})
		}
	})
	if !made {
		return
	}
	defer pr.removeScratch(ctx, s)
	stored := false
	pr.run(ctx, func(ctx context.Context, c *Conn) { stored = pr.stor(ctx, c, s) })
	if !stored {
		return
	}
	for _, step := range []func(context.Context, *Conn, *scratch){
		pr.setTimes, pr.chmod, pr.renameOver, pr.restStor, pr.appe, pr.hashes,
	} {
		if !pr.run(ctx, func(ctx context.Context, c *Conn) { step(ctx, c, s) }) {
			return
		}
	}
}

// removeScratch deletes the probes' files and directory, on a fresh
// budget: a probe that failed, or a caller that gave up, must not leave
// them behind.
func (pr *prober) removeScratch(ctx context.Context, s *scratch) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pr.cfg.Timeout)
	defer cancel()
	c, err := pr.conn(ctx)
	if err == nil {
		for _, name := range []string{"a", "b", "c"} {
			if c.broken {
				break
			}
			c.exchange(ctx, "DELE "+s.file(name))
		}
		_, err = c.expect(ctx, "rmdir", s.dir, []int{250, 200}, "RMD "+s.dir)
	}
	if err != nil {
		pr.add(Finding{Topic: "scratch directory", Verdict: ProbeProblem, Detail: fmt.Sprintf("%s left behind: %v", s.dir, err)})
		return
	}
	pr.add(Finding{Topic: "scratch directory", Verdict: ProbeOK, Detail: s.dir + " removed"})
}

// put sends data with verb (STOR or APPE) to p, from off with REST.
func put(ctx context.Context, c *Conn, verb, p string, off int64, data []byte) error {
	t, err := c.startTransfer(ctx, strings.ToLower(verb), p, verb+" "+p, off, false)
	if err != nil {
		return err
	}
	if _, err := t.Write(data); err != nil {
		t.abort()
		return err
	}
	return t.finish()
}

// size asks SIZE of p.
func size(ctx context.Context, c *Conn, p string) (int64, error) {
	r, err := c.expect(ctx, "size", p, []int{213}, "SIZE "+p)
	if err != nil {
		return 0, err
	}
	n, perr := strconv.ParseInt(strings.TrimSpace(r.msg), 10, 64)
	if perr != nil {
		return 0, &Error{Op: "size", Path: p, Code: r.code, Msg: firstLine(r.msg)}
	}
	return n, nil
}

// stor uploads a, checks its size, and compares the listed time of a
// fresh file with its MDTM when the listing probe found no file to.
func (pr *prober) stor(ctx context.Context, c *Conn, s *scratch) bool {
	s.a = []byte(strings.Repeat("ftpfs doctor\n", 100))
	if err := put(ctx, c, "STOR", s.file("a"), 0, s.a); err != nil {
		pr.add(Finding{Topic: "STOR", Verdict: ProbeProblem, Detail: "failed in the scratch directory: " + err.Error()})
		return false
	}
	end := time.Now()
	pr.add(Finding{Topic: "STOR", Verdict: ProbeOK, Detail: fmt.Sprintf("%d bytes", len(s.a))})
	switch n, err := size(ctx, c, s.file("a")); {
	case err != nil:
		pr.add(Finding{Topic: "SIZE", Verdict: ProbeUnsupported, Detail: "refused (" + err.Error() + "): uploads are not checked against the server's size"})
	case n != int64(len(s.a)):
		pr.add(Finding{Topic: "SIZE", Verdict: ProbeProblem, Detail: fmt.Sprintf("%d after an upload of %d bytes", n, len(s.a))})
	default:
		pr.add(Finding{Topic: "SIZE", Verdict: ProbeOK, Detail: "matches the upload: the mount checks every upload with it"})
	}
	if !c.broken {
		pr.uploadZone(ctx, c, s.file("a"), end)
	}
	if !pr.tzDone && !c.broken {
		l := NewListing(time.Now(), time.UTC)
		err := pr.pool.listData(ctx, c, s.dir, true, func(line string, mlsd bool) error {
			l.Add(line, mlsd)
			return nil
		})
		for _, e := range l.Entries {
			if err == nil && e.Name == "a" && e.Precision == PrecisionMinute {
				pr.timeZone(ctx, c, s.file("a"), e.ModTime)
			}
		}
	}
	return true
}

// setTimes tries each way of setting a modification time, each with its
// own time, and reads it back with MDTM.
func (pr *prober) setTimes(ctx context.Context, c *Conn, s *scratch) {
	p := s.file("a")
	ways := []struct {
		topic string
		lines func(ts string) []string
		feat  bool // sent only when FEAT offers it
	}{
		{"MFMT", func(ts string) []string { return []string{"MFMT " + ts + " " + p} }, true},
		{"MDTM time path", func(ts string) []string { return []string{"MDTM " + ts + " " + p} }, false},
		// proftpd's form, then pure-ftpd's.
		{"SITE UTIME", func(ts string) []string {
			return []string{"SITE UTIME " + ts + " " + p, "SITE UTIME " + p + " " + ts + " " + ts + " " + ts + " UTC"}
		}, false},
	}
	settable := false
	for i, w := range ways {
		if c.broken {
			return
		}
		if w.feat && !c.feat.MFMT {
			pr.add(Finding{Topic: w.topic, Verdict: ProbeUnsupported, Detail: "not in FEAT"})
			continue
		}
		want := time.Date(2001+i, 2, 3, 4, 5, 6, 0, time.UTC)
		ts := want.Format("20060102150405")
		var r reply
		var err error
		for _, line := range w.lines(ts) {
			if r, err = c.exchange(ctx, line); err != nil || r.code < 300 {
				break
			}
		}
		if err != nil || r.code >= 300 {
			pr.add(Finding{Topic: w.topic, Verdict: ProbeUnsupported, Detail: replyOrErr(r, err)})
			continue
		}
		got, err := c.expect(ctx, "mdtm", p, []int{213}, "MDTM "+p)
		at, ok := parseTimeVal(strings.TrimSpace(got.msg))
		switch {
		case err != nil || !ok:
			pr.add(Finding{Topic: w.topic, Verdict: ProbeProblem, Detail: "accepted, but MDTM cannot read it back: " + replyOrErr(got, err)})
		case !at.Equal(want):
			pr.add(Finding{Topic: w.topic, Verdict: ProbeProblem, Detail: fmt.Sprintf("accepted, but MDTM says %s, not %s", at.Format(time.DateTime), want.Format(time.DateTime))})
		default:
			settable = settable || i < 2 // the two the mount uses
			pr.add(Finding{Topic: w.topic, Verdict: ProbeOK, Detail: "sets the time, read back with MDTM"})
		}
	}
	if !settable {
		pr.add(Finding{Topic: "setting times", Verdict: ProbeProblem, Detail: "neither MFMT nor MDTM time path works: touch -m, cp -p and rsync -t cannot set times on this server"})
	}
}

// chmod sets a mode with SITE CHMOD and reads it back from LIST.
func (pr *prober) chmod(ctx context.Context, c *Conn, s *scratch) {
	p := s.file("a")
	const mode = 0o640
	r, err := c.exchange(ctx, fmt.Sprintf("SITE CHMOD %04o %s", mode, p))
	if err != nil || r.code != 200 && r.code != 250 {
		pr.add(Finding{Topic: "SITE CHMOD", Verdict: ProbeProblem, Detail: "refused: " + replyOrErr(r, err), Advice: AdviseChmodIgnore})
		return
	}
	l := NewListing(time.Now(), time.UTC)
	err = pr.pool.listData(ctx, c, s.dir, true, func(line string, mlsd bool) error {
		l.Add(line, mlsd)
		return nil
	})
	for _, e := range l.Entries {
		if err == nil && e.Name == "a" && e.HasMode && e.Mode.Perm() != mode {
			pr.add(Finding{Topic: "SITE CHMOD", Verdict: ProbeProblem, Detail: fmt.Sprintf("accepted, but LIST shows %04o, not %04o", e.Mode.Perm(), mode), Advice: AdviseChmodIgnore})
			return
		}
	}
	pr.add(Finding{Topic: "SITE CHMOD", Verdict: ProbeOK, Detail: "sets the mode"})
}

// renameOver renames b over a: the mount's atomic uploads do that.
func (pr *prober) renameOver(ctx context.Context, c *Conn, s *scratch) {
	s.b = []byte(strings.Repeat("renamed over\n", 50))
	if err := put(ctx, c, "STOR", s.file("b"), 0, s.b); err != nil {
		pr.add(Finding{Topic: "rename over a file", Verdict: ProbeProblem, Detail: "not probed: the second upload failed: " + err.Error()})
		return
	}
	err := c.rename(ctx, s.file("b"), s.file("a"))
	switch {
	case refusedOver(err):
		pr.add(Finding{Topic: "rename over a file", Verdict: ProbeProblem, Detail: "refused (" + err.Error() + "): the mount then deletes the target before renaming (the file is missing meanwhile); --no-atomic-upload writes in place instead", Advice: AdviseNoAtomicUpload})
		return
	case err != nil:
		pr.add(Finding{Topic: "rename over a file", Verdict: ProbeProblem, Detail: err.Error(), Advice: AdviseNoAtomicUpload})
		return
	}
	if n, err := size(ctx, c, s.file("a")); err == nil && n != int64(len(s.b)) {
		pr.add(Finding{Topic: "rename over a file", Verdict: ProbeProblem, Detail: fmt.Sprintf("accepted, but the target has %d bytes, not the %d renamed over it", n, len(s.b))})
		return
	}
	s.a = s.b
	pr.add(Finding{Topic: "rename over a file", Verdict: ProbeOK, Detail: "replaces the file: uploads go to a temporary name and are renamed into place"})
}

// restStor uploads c in two halves, the second with REST.
func (pr *prober) restStor(ctx context.Context, c *Conn, s *scratch) {
	data := []byte(strings.Repeat("0123456789abcdef", 64))
	half := int64(len(data) / 2)
	p := s.file("c")
	err := put(ctx, c, "STOR", p, 0, data[:half])
	if err == nil {
		err = put(ctx, c, "STOR", p, half, data[half:])
	}
	if err != nil {
		pr.add(Finding{Topic: "REST STOR", Verdict: ProbeUnsupported, Detail: err.Error()})
		return
	}
	if n, err := size(ctx, c, p); err == nil && n != int64(len(data)) {
		pr.add(Finding{Topic: "REST STOR", Verdict: ProbeProblem, Detail: fmt.Sprintf("accepted, but the file has %d bytes, not %d", n, len(data))})
		return
	}
	pr.add(Finding{Topic: "REST STOR", Verdict: ProbeOK, Detail: "resumes an upload"})
}

// appe appends to a.
func (pr *prober) appe(ctx context.Context, c *Conn, s *scratch) {
	more := []byte("appended\n")
	if err := put(ctx, c, "APPE", s.file("a"), 0, more); err != nil {
		pr.add(Finding{Topic: "APPE", Verdict: ProbeUnsupported, Detail: err.Error()})
		return
	}
	want := append(bytes.Clone(s.a), more...)
	if n, err := size(ctx, c, s.file("a")); err == nil && n != int64(len(want)) {
		pr.add(Finding{Topic: "APPE", Verdict: ProbeProblem, Detail: fmt.Sprintf("accepted, but the file has %d bytes, not %d", n, len(want))})
		return
	}
	s.a = want
	pr.add(Finding{Topic: "APPE", Verdict: ProbeOK, Detail: "appends"})
}

// hashAlgos are the algorithms HASH may name (draft-bryan-ftpext-hash).
var hashAlgos = map[string]func() hash.Hash{
	"SHA-1": sha1.New, "SHA-256": sha256.New, "SHA-512": sha512.New, "MD5": md5.New,
	"CRC32": func() hash.Hash { return crc32.NewIEEE() },
}

// hashes asks the server for checksums of a and checks them.
func (pr *prober) hashes(ctx context.Context, c *Conn, s *scratch) {
	p := s.file("a")
	sum := func(h hash.Hash) string { h.Write(s.a); return hex.EncodeToString(h.Sum(nil)) }
	offered := false
	for _, f := range c.feat.Raw {
		offered = offered || strings.EqualFold(strings.Fields(f + " x")[0], "HASH")
	}
	checks := []struct {
		topic, line string
		want        func(r reply) (got, want string)
	}{
		{"HASH", "HASH " + p, func(r reply) (string, string) {
			// "213 SHA-256 0-1199 HEX path"
			f := strings.Fields(r.msg)
			if len(f) < 3 || hashAlgos[strings.ToUpper(f[0])] == nil {
				return r.msg, "ALGO RANGE HEX"
			}
			return f[2], sum(hashAlgos[strings.ToUpper(f[0])]())
		}},
		{"XSHA256", "XSHA256 " + p, func(r reply) (string, string) { return lastField(r.msg), sum(sha256.New()) }},
		{"XCRC", "XCRC " + p, func(r reply) (string, string) { return lastField(r.msg), sum(crc32.NewIEEE()) }},
	}
	for _, ch := range checks {
		if c.broken {
			return
		}
		if ch.topic == "HASH" && !offered {
			pr.add(Finding{Topic: "HASH", Verdict: ProbeUnsupported, Detail: "not in FEAT"})
			continue
		}
		r, err := c.exchange(ctx, ch.line)
		if err != nil || r.code != 213 && r.code != 250 {
			pr.add(Finding{Topic: ch.topic, Verdict: ProbeUnsupported, Detail: replyOrErr(r, err)})
			continue
		}
		got, want := ch.want(r)
		if !strings.EqualFold(got, want) {
			pr.add(Finding{Topic: ch.topic, Verdict: ProbeProblem, Detail: fmt.Sprintf("says %s, the file's is %s", clip(got), want)})
			continue
		}
		pr.add(Finding{Topic: ch.topic, Verdict: ProbeOK, Detail: "the server's checksum matches (the mount does not use it)"})
	}
}

// lastField is the checksum of an XSHA256 or XCRC reply: the last word
// that is all hex digits.
func lastField(msg string) string {
	f := strings.Fields(msg)
	for i := len(f) - 1; i >= 0; i-- {
		if _, err := hex.DecodeString(f[i]); err == nil && len(f[i]) >= 8 {
			return f[i]
		}
	}
	return msg
}
