package fs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/mountinfo"
	"ftpfs/internal/testutil"
)

// sampleTree writes a tree with the names that break FTP clients.
func sampleTree(t testing.TB) func(root string) {
	return func(root string) {
		testutil.WriteTree(t, root, testutil.Tree{
			"plain.txt":                 []byte("hello\n"),
			"with space.txt":            []byte("space"),
			" leading space":            []byte("lead"),
			"-leading-dash":             []byte("dash"),
			".hidden":                   []byte("dot"),
			"empty":                     nil,
			"ünïcödé 日本.txt":            []byte("utf-8"),
			"dir one/nested/deep.bin":   testutil.RandBytes(1, 70_000),
			"dir one/mid.bin":           testutil.RandBytes(2, 1<<20+3),
			"dir two/.dotdir/x":         []byte("x"),
			"semi;colon=eq.txt":         []byte("facts-like"),
			"dir one/nested/empty file": nil,
			"empty dir/":                nil,
		})
		os.Symlink("plain.txt", filepath.Join(root, "link to file"))
		os.Symlink("dir one", filepath.Join(root, "link to dir"))
		os.Symlink("nowhere", filepath.Join(root, "dangling"))
		old := time.Date(2019, 6, 7, 8, 9, 10, 0, time.UTC)
		os.Chtimes(filepath.Join(root, "plain.txt"), old, old)
		os.Chmod(filepath.Join(root, "-leading-dash"), 0o600)
	}
}

type walked struct {
	typ    fs.FileMode
	size   int64
	mtime  time.Time
	perm   fs.FileMode
	target string
}

// walk lists a tree as ls -lR would see it: types, sizes, times, modes
// and link targets, by path.
func walk(t testing.TB, root string) map[string]walked {
	t.Helper()
	out := map[string]walked{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		w := walked{typ: fi.Mode().Type(), mtime: fi.ModTime(), perm: fi.Mode().Perm()}
		switch {
		case fi.Mode().IsRegular():
			w.size = fi.Size()
		case fi.Mode()&fs.ModeSymlink != 0:
			w.target, _ = os.Readlink(p)
		}
		out[rel] = w
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// compareTrees checks names, types, sizes, modes, link targets and
// mtimes (to the second, or to the minute when precise is false), and
// every regular file's bytes.
func compareTrees(t *testing.T, local, mnt string, precise bool) {
	t.Helper()
	want, got := walk(t, local), walk(t, mnt)
	var names []string
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w, g := want[n], got[n]
		if _, ok := got[n]; !ok {
			t.Errorf("%q missing from the mount", n)
			continue
		}
		if w.typ != g.typ || w.size != g.size || w.target != g.target {
			t.Errorf("%q: mount %+v, local %+v", n, g, w)
		}
		if w.typ != fs.ModeSymlink && w.perm != g.perm {
			t.Errorf("%q: mode %v, local %v", n, g.perm, w.perm)
		}
		trunc := time.Second
		if !precise {
			trunc = time.Minute
		}
		if w.typ.IsRegular() && !w.mtime.Truncate(trunc).Equal(g.mtime.Truncate(trunc)) {
			t.Errorf("%q: mtime %v, local %v", n, g.mtime, w.mtime)
		}
		if w.typ.IsRegular() {
			a, _ := os.ReadFile(filepath.Join(local, n))
			b, err := os.ReadFile(filepath.Join(mnt, n))
			if err != nil || !bytes.Equal(a, b) {
				t.Errorf("%q: content differs (%d vs %d bytes, %v)", n, len(b), len(a), err)
			}
		}
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			t.Errorf("%q on the mount but not on the server", n)
		}
	}
}

func TestReadTree(t *testing.T) {
	e := newEnv(t, sampleTree(t), nil)
	compareTrees(t, e.root, e.mnt, true)
	// A symlink to a directory can be entered.
	ents, err := os.ReadDir(filepath.Join(e.mnt, "link to dir"))
	if err != nil || len(ents) != 2 {
		t.Fatalf("through the dir link: %v %v", ents, err)
	}
	b, err := os.ReadFile(filepath.Join(e.mnt, "link to file"))
	if err != nil || string(b) != "hello\n" {
		t.Fatalf("through the file link: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(e.mnt, "dangling")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("dangling link: %v", err)
	}
	// ls itself, as a user would run it.
	out, err := exec.Command("ls", "-lR", e.mnt).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ünïcödé 日本.txt") || !strings.Contains(string(out), "link to dir -> dir one") {
		t.Fatalf("ls -lR: %v\n%s", err, out)
	}
}

func TestReadListOnlyProfile(t *testing.T) {
	e := newEnv(t, sampleTree(t), []func(*ftpd.Config){func(c *ftpd.Config) { c.Profile = ftpd.ProfileVsftpd }})
	compareTrees(t, e.root, e.mnt, true)
	c := e.srv.Counts()
	if c["MLSD"] != 0 || c["LIST"] == 0 || c["MDTM"] == 0 {
		t.Fatalf("LIST-only server: commands %v", c)
	}
}

func TestMissingNamesCostNothing(t *testing.T) {
	e := newEnv(t, sampleTree(t), nil)
	if _, err := os.Stat(filepath.Join(e.mnt, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	e.settle(t)
	e.srv.ResetCounts()
	for i := range 1000 {
		if _, err := os.Stat(filepath.Join(e.mnt, fmt.Sprintf("nope%d", i%3))); !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	if c := e.srv.Counts(); len(c) != 0 {
		t.Fatalf("1000 stats of missing names sent %v", c)
	}
	if _, err := os.Stat(filepath.Join(e.mnt, "bad\nname")); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("name with LF: %v", err)
	}
}

func TestRandomPreads(t *testing.T) {
	const size = 32 << 20
	data := testutil.RandBytes(3, size)
	e := newEnv(t, func(root string) { testutil.WriteFile(t, filepath.Join(root, "big"), data) }, nil)
	f, err := os.Open(filepath.Join(e.mnt, "big"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	logins := e.srv.Counts()["USER"]
	r := mrand.New(mrand.NewPCG(1, 2))
	buf := make([]byte, 4096)
	for range 200 {
		off := r.Int64N(size - 4096)
		n, err := f.ReadAt(buf, off)
		if err != nil || n != 4096 || !bytes.Equal(buf, data[off:off+4096]) {
			t.Fatalf("pread at %d: %d bytes, %v", off, n, err)
		}
	}
	// A read that happens to follow the previous one starts a stream,
	// which holds a connection of its own for a while: a few new
	// connections, never one per read.
	if got := e.srv.Counts()["USER"]; got > logins+3 {
		t.Fatalf("%d logins for 200 random reads", got-logins)
	}
}

func TestLargeSequentialRead(t *testing.T) {
	size := 256 << 20
	if testing.Short() {
		size = 32 << 20
	}
	data := testutil.RandBytes(4, size)
	want := sha256.Sum256(data)
	e := newEnv(t, func(root string) { testutil.WriteFile(t, filepath.Join(root, "big"), data) }, nil)
	data = nil
	cmd := exec.Command("sh", "-c", `dd if="$1" bs=1M status=none | sha256sum`, "sh", filepath.Join(e.mnt, "big"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), fmt.Sprintf("%x", want)) {
		t.Fatalf("dd | sha256sum: %v %s", err, out)
	}
	// One stream. A request the kernel sent before the stream passed its
	// offset but that reached us after (a loaded machine delays some past
	// gapWait, and the stream then yields its connection to the block read
	// and starts again) costs a few more; a read block by block would take
	// 1,024 for 256 MiB.
	if c := e.srv.Counts(); c["RETR"] > 8 {
		t.Fatalf("sequential read took %d RETRs", c["RETR"])
	}
}

func TestConcurrentReaders(t *testing.T) {
	files := testutil.Tree{}
	for i := range 8 {
		files[fmt.Sprintf("f%d", i)] = testutil.RandBytes(uint64(10+i), 6<<20+i)
	}
	e := newEnv(t, func(root string) { testutil.WriteTree(t, root, files) }, nil)
	var wg sync.WaitGroup
	for n, b := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := os.ReadFile(filepath.Join(e.mnt, n))
			if err != nil || !bytes.Equal(got, b) {
				t.Errorf("%s: %d bytes, %v", n, len(got), err)
			}
		}()
	}
	wg.Wait()
}

func TestServerRestartDuringRead(t *testing.T) {
	data := testutil.RandBytes(5, 24<<20)
	e := newEnv(t, func(root string) { testutil.WriteFile(t, filepath.Join(root, "big"), data) },
		[]func(*ftpd.Config){func(c *ftpd.Config) { c.Faults.DataRate = 8 << 20 }})
	f, err := os.Open(filepath.Join(e.mnt, "big"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	if _, err := io.ReadFull(f, buf); err != nil {
		t.Fatal(err)
	}
	// Kill the server mid-read and bring a new one up on the same port.
	e.srv.Close()
	e.restartFtpd(t)
	// The reader gets the right bytes or an error, never wrong bytes.
	off := int64(len(buf))
	for {
		n, err := f.Read(buf)
		if n > 0 && !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
			t.Fatalf("wrong bytes at %d after the restart", off)
		}
		off += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Logf("reader got %v at %d (allowed)", err, off)
			break
		}
	}
	// The mount recovered by itself.
	got, err := os.ReadFile(filepath.Join(e.mnt, "big"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after the restart: %d bytes, %v", len(got), err)
	}
}

func TestStalledServer(t *testing.T) {
	e := newEnv(t, sampleTree(t), nil, func(o *Options) {
		o.Conn.Timeout = 500 * time.Millisecond
		o.DirCacheTTL = time.Hour
	})
	if _, err := os.Stat(filepath.Join(e.mnt, "plain.txt")); err != nil {
		t.Fatal(err)
	}
	e.srv.SetFaults(ftpd.Faults{ReplyDelay: time.Hour})
	t0 := time.Now()
	_, err := os.ReadDir(filepath.Join(e.mnt, "dir two"))
	if err == nil || time.Since(t0) > 2*time.Second {
		t.Fatalf("listing on a stalled server: %v after %v", err, time.Since(t0))
	}
	if !errors.Is(err, syscall.ETIMEDOUT) && !errors.Is(err, syscall.EIO) {
		t.Errorf("stalled server: %v, want ETIMEDOUT or EIO", err)
	}
	// Cached names keep answering.
	if _, err := os.Stat(filepath.Join(e.mnt, "plain.txt")); err != nil {
		t.Fatalf("cached name on a stalled server: %v", err)
	}
	e.srv.SetFaults(ftpd.Faults{})
	if _, err := os.ReadDir(filepath.Join(e.mnt, "dir two")); err != nil {
		t.Fatalf("after the stall: %v", err)
	}
}

// compareTreesReadOnly is compareTrees for an anonymous read-only login,
// where modes lose their write bits.
func compareTreesReadOnly(t *testing.T, local, mnt string) {
	t.Helper()
	want, got := walk(t, local), walk(t, mnt)
	for n, w := range want {
		g, ok := got[n]
		if !ok {
			t.Errorf("%q missing from the mount", n)
			continue
		}
		if w.typ != g.typ || w.size != g.size || w.target != g.target {
			t.Errorf("%q: mount %+v, local %+v", n, g, w)
		}
		if w.typ.IsRegular() {
			if !w.mtime.Truncate(time.Second).Equal(g.mtime) {
				t.Errorf("%q: mtime %v, local %v", n, g.mtime, w.mtime)
			}
			a, _ := os.ReadFile(filepath.Join(local, n))
			b, err := os.ReadFile(filepath.Join(mnt, n))
			if err != nil || !bytes.Equal(a, b) {
				t.Errorf("%q: content differs (%v)", n, err)
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("mount has %d names, server %d", len(got), len(want))
	}
}

// TestStreamOrder drives a handle's reads directly, without the kernel, in
// the orders the kernel's read-ahead produces: requests ahead of the
// stream wait for it, a gap nobody asks for is skipped and its whole
// blocks are kept, and only a read behind the stream costs a RETR.
func TestStreamOrder(t *testing.T) {
	const size, mib = 12 << 20, 1 << 20
	data := testutil.RandBytes(7, size)
	e := newEnv(t, func(root string) { testutil.WriteFile(t, filepath.Join(root, "big"), data) }, nil)
	m := e.m.m
	ctx := context.Background()
	ent, err := m.entryMaxAge(ctx, "big", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h := &handle{m: m, rel: "big", remote: m.remotePath("big"), entry: ent, version: version(ent), lastEnd: -1}
	defer h.Release(ctx)
	read := func(off, n int64) {
		t.Helper()
		res, errno := h.Read(ctx, make([]byte, n), off)
		if errno != 0 {
			t.Fatalf("read at %d: %v", off, errno)
		}
		got, _ := res.Bytes(nil)
		if !bytes.Equal(got, data[off:min(off+n, size)]) {
			t.Fatalf("read at %d: %d bytes, wrong content", off, len(got))
		}
	}
	retrs := func() int64 { return e.srv.Counts()["RETR"] }
	e.srv.ResetCounts()

	read(0, mib)
	// Read-ahead requests arriving in reverse order.
	var wg sync.WaitGroup
	for i := int64(3); i >= 1; i-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, errno := h.Read(ctx, make([]byte, mib), i*mib)
			got, _ := res.Bytes(nil)
			if errno != 0 || !bytes.Equal(got, data[i*mib:(i+1)*mib]) {
				t.Errorf("read at %d MiB: %v", i, errno)
			}
		}()
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	if got := retrs(); got != 1 {
		t.Fatalf("4 MiB read in order and out of it: %d RETRs", got)
	}
	// A request that never comes: the one after it skips the gap, and
	// the gap's blocks serve the late request without a RETR.
	t0 := time.Now()
	read(5*mib, mib)
	if d := time.Since(t0); d < gapWait {
		t.Errorf("a read ahead of an idle stream skipped after %v, want >= %v", d, gapWait)
	}
	read(4*mib, mib)
	if got := retrs(); got != 1 {
		t.Fatalf("after a skipped gap: %d RETRs", got)
	}
	// Gaps that end and start inside blocks: their partial blocks are
	// kept too, and late requests across them and a whole block cost
	// no RETR.
	const kib = 1 << 10
	read(6*mib+384*kib, 128*kib) // skips a whole block and half of one
	read(6*mib+256*kib, 128*kib)
	read(6*mib+512*kib, 128*kib)
	read(7*mib, 128*kib) // skips from inside a block across a whole one
	read(6*mib+640*kib, 384*kib)
	if got := retrs(); got != 1 {
		t.Fatalf("late requests of skipped partial blocks: %d RETRs", got)
	}
	// A read behind the stream fetches its block alone.
	read(100, 4096)
	if got := retrs(); got != 2 {
		t.Fatalf("a read behind the stream: %d RETRs, want 2", got)
	}
	// The stream goes on to the end of the file, then lets go.
	for off := int64(7*mib + 128*kib); off < size; off += mib {
		read(off, mib)
	}
	if got := retrs(); got != 2 {
		t.Fatalf("to the end: %d RETRs", got)
	}
	h.mu.Lock()
	s := h.s
	h.mu.Unlock()
	s.mu.Lock()
	ended := s.ended
	s.mu.Unlock()
	if !ended {
		t.Fatal("the stream did not end at the end of the file")
	}

	// A new handle whose first two reads arrive swapped: one stream,
	// from 0.
	h2 := &handle{m: m, rel: "big", remote: m.remotePath("big"), entry: ent, version: version(ent), lastEnd: -1}
	defer h2.Release(ctx)
	m.blocks.InvalidatePath(h.remote)
	e.srv.ResetCounts()
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, errno := h2.Read(ctx, make([]byte, mib), mib)
		got, _ := res.Bytes(nil)
		if errno != 0 || !bytes.Equal(got, data[mib:2*mib]) {
			t.Errorf("first read at 1 MiB: %v", errno)
		}
	}()
	time.Sleep(2 * time.Millisecond)
	h = h2
	read(0, mib)
	<-done
	if got := retrs(); got != 1 {
		t.Fatalf("first reads swapped: %d RETRs, want 1", got)
	}
}

// TestMountOptions: allow_other comes with default_permissions (the
// kernel then checks modes, as on a local disk), and is off by default.
func TestMountOptions(t *testing.T) {
	optsOf := func(mnt string) string {
		t.Helper()
		ms, err := mountinfo.ReadFile(mountinfo.Self)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Point == mnt {
				return m.Options + " " + m.SuperOpts
			}
		}
		t.Fatalf("%s not in mountinfo", mnt)
		return ""
	}
	e := newEnv(t, func(string) {}, nil)
	if l := optsOf(e.mnt); strings.Contains(l, "allow_other") || strings.Contains(l, "default_permissions") {
		t.Fatalf("default mount: %s", l)
	}
	_, mnt, _ := mountAt(t, e.srv.Addr().String(), testUser, testPass, func(o *Options) { o.AllowOther = true })
	if l := optsOf(mnt); !strings.Contains(l, "allow_other") || !strings.Contains(l, "default_permissions") {
		t.Fatalf("allow_other mount: %s", l)
	}
}
