package fs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpfs/conn"
	"ftpfs/internal/testutil"
)

// TestRealServersIntegrity: uploads through the mount to each real
// server, whose dialogue shows how each is checked: proftpd with
// mod_digest answers HASH (with its default, SHA-1), and the upload is
// compared before its rename; vsftpd and pure-ftpd tell no digest, and
// the size alone checks theirs.
func TestRealServersIntegrity(t *testing.T) {
	testutil.NeedFUSE(t)
	testutil.NeedRoot(t, "for the real servers, which chroot and change user")
	for _, rs := range realServers {
		t.Run(rs.name, func(t *testing.T) {
			root := t.TempDir()
			s := rs.start(t, root, nil)
			trace := &testutil.Buffer{}
			mods := append([]func(*Options){func(o *Options) {
				o.Root, o.CacheDir, o.Conn.Trace = "/"+s.up, t.TempDir(), trace
			}}, s.mods...)
			_, mnt, logs := mountAt(t, s.addr, s.user, s.pass, mods...)
			data := testutil.RandBytes(16, 3<<20+1)
			for i := range 3 {
				name := filepath.Join(mnt, "f"+string(rune('0'+i)))
				if err := writeAndCloseErr(name, data); err != nil {
					t.Fatalf("upload %d: %v\n%s", i, err, logs)
				}
				if got, _ := os.ReadFile(filepath.Join(root, s.up, "f"+string(rune('0'+i)))); !bytes.Equal(got, data) {
					t.Fatalf("upload %d: the server holds %d bytes", i, len(got))
				}
			}
			hashed := strings.Count(trace.String(), "HASH ")
			switch rs.name {
			case "proftpd":
				if _, err := os.Stat(filepath.Join(testServersDir(), "usr/lib/proftpd/mod_digest.so")); err != nil {
					t.Fatalf("no mod_digest in the unpacked proftpd: %v", err)
				}
				if hashed < 3 {
					t.Fatalf("proftpd with mod_digest: %d HASH commands for 3 uploads:\n%s", hashed, trace)
				}
				if n := strings.Count(logs.String(), "upload's digest checked"); n != 3 {
					t.Fatalf("%d of 3 uploads' digests checked:\n%s", n, logs)
				}
			default:
				if hashed != 0 {
					t.Fatalf("%s offers no HASH, yet %d were sent:\n%s", rs.name, hashed, trace)
				}
			}
		})
	}
}

// TestRealServersResume: an upload cut short (ABOR after 1 MiB of 3)
// goes on through conn's resume from each real server's SIZE of its
// temporary name, and arrives whole: vsftpd and pure-ftpd take REST
// and STOR; proftpd refuses both REST STOR and APPE by default (451
// "Append/Restart not permitted"), and the upload starts again from
// byte 0 there.
func TestRealServersResume(t *testing.T) {
	testutil.NeedRoot(t, "for the real servers, which chroot and change user")
	for _, rs := range realServers {
		t.Run(rs.name, func(t *testing.T) {
			root := t.TempDir()
			s := rs.start(t, root, nil)
			trace := &testutil.Buffer{}
			p := conn.NewPool(conn.Config{Addr: s.addr, User: s.user, Password: s.pass, Timeout: 5 * time.Second, Trace: trace})
			t.Cleanup(p.Close)
			testutil.LogOnFailure(t, "FTP dialogue", trace, 80)
			ctx := context.Background()
			data := testutil.RandBytes(18, 3<<20+11)
			dir := "/" + s.up
			if s.up == "" {
				dir = ""
			}
			u, err := p.StartUpload(ctx, dir+"/.part")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := u.Write(ctx, data[:1<<20]); err != nil {
				t.Fatal(err)
			}
			u.Abort()
			src := bytes.NewReader(data)
			cut := &conn.Error{Op: "stor", Path: dir + "/.part", Code: 426, Msg: "cut short by the test"}
			if err := u.Resume(ctx, src, int64(len(data)), cut); err != nil {
				t.Fatalf("resume: %v", err)
			}
			if _, err := u.CommitFrom(ctx, conn.Placement{Size: int64(len(data)), To: dir + "/whole"}, src); err != nil {
				t.Fatalf("commit: %v", err)
			}
			if got, _ := os.ReadFile(filepath.Join(root, s.up, "whole")); !bytes.Equal(got, data) {
				t.Fatalf("the server holds %d bytes, not the upload", len(got))
			}
			tr := trace.String()
			stors, appes := strings.Count(tr, "> STOR "+dir+"/.part"), strings.Count(tr, "> APPE ")
			switch rs.name {
			case "proftpd":
				// REST+STOR refused, APPE refused, STOR from byte 0.
				if stors != 3 || appes != 1 || !strings.Contains(tr, "Append/Restart not permitted") {
					t.Fatalf("proftpd: %d STOR, %d APPE; want the upload started again from byte 0 after both refusals", stors, appes)
				}
			default:
				if stors != 2 || appes != 0 || !strings.Contains(tr, "> REST 1048576") {
					t.Fatalf("%s: %d STOR, %d APPE; want REST 1048576 and STOR", rs.name, stors, appes)
				}
			}
		})
	}
}
