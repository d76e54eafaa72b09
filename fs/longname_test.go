package fs

import (
	"errors"
	"ftpfs/internal/testutil"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestHostileLongName: a listed name over 255 bytes never reaches the
// kernel (no program could open or copy it); it is dropped with a log
// line, and a name of 255 bytes is shown. Such a name cannot be created
// through the mount either.
func TestHostileLongName(t *testing.T) {
	ok, long := strings.Repeat("n", 255), strings.Repeat("l", 256)
	for _, mlsd := range []bool{true, false} {
		name := map[bool]string{true: "MLSD", false: "LIST"}[mlsd]
		t.Run(name, func(t *testing.T) {
			line := func(n string) string {
				if mlsd {
					return "type=file;size=5;modify=20240101000000; " + n + "\r\n"
				}
				return "-rw-r--r--   1 u g 5 Jan  1  2024 " + n + "\r\n"
			}
			e := &evilServer{mlsd: mlsd, pasvHost: "127.0.0.1",
				listings: map[string]string{"/": line(ok) + line(long) + line("short")},
			}
			addr := startEvil(t, e)
			_, mnt, logs := mountAt(t, addr, "u", "p")
			if got := names(t, mnt); strings.Join(got, "|") != ok+"|short" {
				t.Fatalf("root shows %d names (%.40q...), want the 255-byte name and short", len(got), got)
			}
			if s := logs.String(); !strings.Contains(s, "over 255 bytes") || !strings.Contains(s, "lllll") {
				t.Errorf("the long name was not logged:\n%s", testutil.Tail(s, 10))
			}
			if _, err := os.Stat(filepath.Join(mnt, long)); !errors.Is(err, syscall.ENAMETOOLONG) {
				t.Errorf("stat of the long name: %v, want ENAMETOOLONG", err)
			}
			if err := os.WriteFile(filepath.Join(mnt, strings.Repeat("c", 300)), nil, 0o644); !errors.Is(err, syscall.ENAMETOOLONG) {
				t.Errorf("create of a 300-byte name: %v, want ENAMETOOLONG", err)
			}
		})
	}
}

// TestLongNames: names of 255 bytes, ASCII and UTF-8, are created,
// overwritten, renamed and read back through the mount on ftpd, whose
// disk refuses longer names; longer names fail with ENAMETOOLONG before
// any command.
func TestLongNames(t *testing.T) {
	root := t.TempDir()
	_, cfg := startFtpd(t, root)
	trace := &testutil.Buffer{}
	_, mnt, _ := mountAt(t, cfg.Listen, testUser, testPass, func(o *Options) { o.Conn.Trace = trace })
	longNames(t, mnt, root, trace)
}

// TestRealServersLongNames runs the long-name checks on the real
// servers, in their upload directory.
func TestRealServersLongNames(t *testing.T) {
	for _, rs := range realServers {
		t.Run(rs.name, func(t *testing.T) {
			testutil.NeedRoot(t, "for the real servers, which chroot and change user")
			root := t.TempDir()
			s := rs.start(t, root, nil)
			trace := &testutil.Buffer{}
			mods := append([]func(*Options){func(o *Options) {
				o.Root, o.Conn.Trace = "/"+s.up, trace
				// pure-ftpd answers an upload's SIZE that reached it
				// during the transfer with a 500 after the 226, which
				// conn takes for SIZE's answer: seen on the first
				// uploads of this test, whatever the name's length
				// (a race of conn/write.go's early SIZE, left to it).
				o.Conn.NoPipelining = rs.name == "pure-ftpd"
			}}, s.mods...)
			_, mnt, _ := mountAt(t, s.addr, s.user, s.pass, mods...)
			longNames(t, mnt, filepath.Join(root, s.up), trace)
		})
	}
}

// longNames runs the long-name checks in mnt, which is disk on the
// server's disk; trace receives the mount's control dialogue.
func longNames(t *testing.T, mnt, disk string, trace *testutil.Buffer) {
	t.Helper()
	testutil.LogOnFailure(t, "FTP dialogue", trace, 30)
	a255 := strings.Repeat("a", 251) + ".txt"
	u255 := strings.Repeat("中", 85) // 255 bytes of UTF-8
	b255 := strings.Repeat("b", 255)
	d255 := strings.Repeat("d", 255)
	at := func(dir string, names ...string) string { return filepath.Join(append([]string{dir}, names...)...) }
	same := func(what, name string, want []byte) {
		t.Helper()
		if got, err := os.ReadFile(at(disk, name)); err != nil || string(got) != string(want) {
			t.Fatalf("%s: the server's disk has %.20q (%v), want %q", what, got, err, want)
		}
		if got, err := os.ReadFile(at(mnt, name)); err != nil || string(got) != string(want) {
			t.Fatalf("%s: the mount reads %.20q (%v), want %q", what, got, err, want)
		}
	}
	for _, n := range []string{a255, u255} {
		if err := os.WriteFile(at(mnt, n), []byte("one"), 0o644); err != nil {
			t.Fatalf("create a 255-byte name: %v", err)
		}
		same("created", n, []byte("one"))
		// An overwrite goes through a temporary name, which must fit too.
		if err := os.WriteFile(at(mnt, n), []byte("two"), 0o644); err != nil {
			t.Fatalf("overwrite a 255-byte name: %v", err)
		}
		same("overwritten", n, []byte("two"))
	}
	if err := os.Rename(at(mnt, u255), at(mnt, b255)); err != nil {
		t.Fatalf("rename to a 255-byte name: %v", err)
	}
	same("renamed", b255, []byte("two"))
	if err := os.WriteFile(at(mnt, a255), []byte("three"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(at(mnt, a255), at(mnt, b255)); err != nil {
		t.Fatalf("rename over a 255-byte name: %v", err)
	}
	same("renamed over", b255, []byte("three"))
	if err := os.Mkdir(at(mnt, d255), 0o755); err != nil {
		t.Fatalf("mkdir of a 255-byte name: %v", err)
	}
	if err := os.WriteFile(at(mnt, d255, b255), []byte("four"), 0o644); err != nil {
		t.Fatalf("create in a 255-byte directory: %v", err)
	}
	same("nested", filepath.Join(d255, b255), []byte("four"))
	got := strings.Join(names(t, mnt), "|")
	if !strings.Contains(got, b255) || !strings.Contains(got, d255) || strings.Contains(got, a255) || strings.Contains(got, u255) {
		t.Errorf("the mount lists %.300q, want the renamed file and the directory", got)
	}
	filepath.WalkDir(disk, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tmpPrefix) {
			t.Errorf("temporary upload left: %s", p)
		}
		return nil
	})

	// Over 255 bytes: refused by the mount, with no command sent.
	l256 := strings.Repeat("l", 252) + ".txt"
	sent := len(trace.String())
	for what, err := range map[string]error{
		"create": os.WriteFile(at(mnt, l256), nil, 0o644),
		"mkdir":  os.Mkdir(at(mnt, l256), 0o755),
		"rename": os.Rename(at(mnt, b255), at(mnt, l256)),
		"stat": func() error {
			_, err := os.Stat(at(mnt, l256))
			return err
		}(),
		"symlink": os.Symlink("target", at(mnt, l256)),
		"link":    os.Link(at(mnt, b255), at(mnt, l256)),
	} {
		if !errors.Is(err, syscall.ENAMETOOLONG) {
			t.Errorf("%s of a 256-byte name: %v, want ENAMETOOLONG", what, err)
		}
	}
	if s := trace.String()[sent:]; strings.Contains(s, "llll") {
		t.Errorf("a command named the 256-byte name:\n%s", testutil.Tail(s, 10))
	}
}
