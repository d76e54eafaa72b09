package fs

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
