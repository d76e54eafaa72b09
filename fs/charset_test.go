package fs

// Names in a legacy charset (--encoding): a tree whose names are GBK
// bytes on the server's disk, as a Chinese Windows server keeps them,
// served by ftpd and the real servers (which all send a name's bytes as
// they are), through a mount with Encoding GBK.

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"ftpfs/conn"
	"ftpfs/ftpd"
	"ftpfs/internal/link"
	"ftpfs/internal/testutil"
)

// gbk is name in GBK, as the server's disk has it.
func gbk(t testing.TB, name string) string {
	t.Helper()
	b, err := simplifiedchinese.GBK.NewEncoder().String(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gbkTree writes a directory and a file with GBK names below dir.
func gbkTree(t testing.TB, dir string) {
	testutil.WriteFile(t, filepath.Join(dir, gbk(t, "文档"), gbk(t, "会议记录.txt")), []byte("内容\n"))
	for _, p := range []string{dir, filepath.Join(dir, gbk(t, "文档")), filepath.Join(dir, gbk(t, "文档"), gbk(t, "会议记录.txt"))} {
		os.Chmod(p, 0o777) // servers that run sessions as another user write here
	}
}

func TestEncodingMount(t *testing.T) {
	for _, profile := range []ftpd.Profile{ftpd.ProfileFull, ftpd.ProfileDOS} {
		t.Run("ftpd-"+string(profile), func(t *testing.T) {
			root := t.TempDir()
			gbkTree(t, root)
			_, cfg := startFtpd(t, root, func(c *ftpd.Config) { c.Profile = profile })
			trace := &testutil.Buffer{}
			_, mnt, _ := mountAt(t, cfg.Listen, testUser, testPass, withEncoding(t, trace))
			gbkRoundTrip(t, mnt, root, trace)
		})
	}
	for _, rs := range realServers {
		t.Run(rs.name, func(t *testing.T) {
			testutil.NeedRoot(t, "for the real servers, which chroot and change user")
			root := t.TempDir()
			s := rs.start(t, root, nil)
			disk := filepath.Join(root, s.up)
			gbkTree(t, disk)
			trace := &testutil.Buffer{}
			mods := append([]func(*Options){withEncoding(t, trace), func(o *Options) { o.Root = "/" + s.up }}, s.mods...)
			_, mnt, _ := mountAt(t, s.addr, s.user, s.pass, mods...)
			gbkRoundTrip(t, mnt, disk, trace)
		})
	}
	// A server a few milliseconds away, where listings go over STAT and
	// pipelined MLSTs: a name as STAT gives it may not convert back, and
	// that directory goes to MLSD.
	t.Run("proftpd-link", func(t *testing.T) {
		testutil.NeedRoot(t, "for proftpd, which changes user")
		root := t.TempDir()
		s := startProftpd(t, root, nil)
		disk := filepath.Join(root, s.up)
		gbkTree(t, disk)
		l, err := link.Start(s.addr, link.Options{RTT: 2 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		trace := &testutil.Buffer{}
		mods := append([]func(*Options){withEncoding(t, trace), func(o *Options) { o.Root = "/" + s.up }}, s.mods...)
		_, mnt, _ := mountAt(t, l.Addr(), s.user, s.pass, mods...)
		gbkRoundTrip(t, mnt, disk, trace)
	})
}

// withEncoding mounts with --encoding GBK, tracing the control
// connections into trace.
func withEncoding(t *testing.T, trace *testutil.Buffer) func(*Options) {
	cs, err := conn.ParseCharset("GBK")
	if err != nil {
		t.Fatal(err)
	}
	return func(o *Options) { o.Conn.Encoding, o.Conn.Trace = cs, trace }
}

// gbkRoundTrip lists, reads, creates, renames and removes names through
// mnt, a mount with Encoding GBK of disk, checking the disk's GBK names;
// a name GBK cannot hold gets EILSEQ without a command.
func gbkRoundTrip(t *testing.T, mnt, disk string, trace *testutil.Buffer) {
	t.Helper()
	if got := names(t, mnt); !strings.Contains(strings.Join(got, "|"), "文档") {
		t.Fatalf("the mount lists %q, want 文档", got)
	}
	if got := names(t, filepath.Join(mnt, "文档")); strings.Join(got, "|") != "会议记录.txt" {
		t.Fatalf("文档 lists %q", got)
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "文档", "会议记录.txt")); err != nil || string(b) != "内容\n" {
		t.Fatalf("cat: %q %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "文档", "新文件.txt"), []byte("新的"), 0o644); err != nil {
		t.Fatalf("create: %v", err)
	}
	onDisk := func(what string, rel ...string) {
		t.Helper()
		p := disk
		for _, r := range rel {
			p = filepath.Join(p, gbk(t, r))
		}
		if _, err := os.Lstat(p); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	onDisk("created", "文档", "新文件.txt")
	if err := os.Rename(filepath.Join(mnt, "文档", "新文件.txt"), filepath.Join(mnt, "文档", "改名.txt")); err != nil {
		t.Fatalf("rename: %v", err)
	}
	onDisk("renamed", "文档", "改名.txt")
	if b, err := os.ReadFile(filepath.Join(mnt, "文档", "改名.txt")); err != nil || string(b) != "新的" {
		t.Fatalf("read back: %q %v", b, err)
	}
	if err := os.Mkdir(filepath.Join(mnt, "文档", "子目录"), 0o755); err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	onDisk("mkdir", "文档", "子目录")
	if err := os.Remove(filepath.Join(mnt, "文档", "改名.txt")); err != nil {
		t.Fatalf("rm: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(disk, gbk(t, "文档"), gbk(t, "改名.txt"))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rm left the file: %v", err)
	}

	// Korean has no GBK bytes: EILSEQ, and no command names it.
	sent := len(trace.String())
	ko := filepath.Join(mnt, "文档", "한국어.txt")
	for what, err := range map[string]error{
		"create": os.WriteFile(ko, nil, 0o644),
		"mkdir":  os.Mkdir(ko, 0o755),
		"rename": os.Rename(filepath.Join(mnt, "文档", "会议记录.txt"), ko),
	} {
		if !errors.Is(err, syscall.EILSEQ) {
			t.Errorf("%s of a name GBK lacks: %v, want EILSEQ", what, err)
		}
	}
	if s := trace.String()[sent:]; strings.Contains(s, "한") {
		t.Errorf("a command named the Korean name:\n%s", testutil.Tail(s, 10))
	}
	if strings.Contains(trace.String(), "OPTS UTF8") {
		t.Error("OPTS UTF8 ON sent with an encoding set")
	}
}

// TestRawNamesLogged: without --encoding, GBK names show as their bytes,
// and the mount's log says once that they are not UTF-8, with a guess.
func TestRawNamesLogged(t *testing.T) {
	e := newEnv(t, func(root string) { gbkTree(t, root) }, nil)
	for _, d := range []string{e.mnt, filepath.Join(e.mnt, gbk(t, "文档"))} {
		if got := names(t, d); len(got) != 1 || !strings.HasPrefix(got[0], "\xce") && !strings.HasPrefix(got[0], "\xbb") {
			t.Fatalf("%s lists %q, want the raw GBK name", d, got)
		}
	}
	if n := strings.Count(e.logBuf.String(), "not UTF-8"); n != 1 || !strings.Contains(e.logBuf.String(), "--encoding GBK") {
		t.Fatalf("logged %d times, want once, with --encoding GBK:\n%s", n, testutil.Tail(e.logBuf.String(), 20))
	}
}
