package fs

// Names with a 0xFF byte, which the control connection carries doubled
// (IAC IAC, RFC 959 and RFC 2640 section 3.1), through conn against ftpd
// and the real servers, and through the mount.

import (
	"bytes"
	"context"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ftpfs/conn"
	"ftpfs/internal/testutil"
)

// keepsIAC names the real servers that do not undouble IAC IAC in
// commands: they take the command's bytes as the name, so a client that
// doubles 0xFF as RFC 959 says creates "d\xff\xff" for "d\xff". conn's
// auto mode sends them 0xFF as it is, from their greeting; forced, the
// modes do what conn.TelnetIAC says.
var keepsIAC = map[string]bool{"vsftpd": true, "pure-ftpd": true}

func TestIACNames(t *testing.T) {
	t.Run("ftpd", func(t *testing.T) {
		root := t.TempDir()
		_, cfg := startFtpd(t, root)
		iacRoundTrip(t, conn.Config{Addr: cfg.Listen, User: testUser, Password: testPass}, "/", root)
	})
	for _, rs := range realServers {
		t.Run(rs.name, func(t *testing.T) {
			testutil.NeedRoot(t, "for the real servers, which chroot and change user")
			root := t.TempDir()
			s := rs.start(t, root, nil)
			cfg := conn.Config{Addr: s.addr, User: s.user, Password: s.pass}
			dir, disk := "/"+s.up, filepath.Join(root, s.up)
			t.Run("auto", func(t *testing.T) { iacRoundTrip(t, cfg, dir, disk) })
			if !keepsIAC[rs.name] {
				return
			}
			cfg.TelnetIAC = conn.IACDouble
			t.Run("double", func(t *testing.T) { iacKept(t, cfg, dir, disk) })
			cfg.TelnetIAC = conn.IACRaw
			t.Run("raw", func(t *testing.T) { iacRoundTrip(t, cfg, dir, disk) })
		})
	}
}

// iacRoundTrip creates, lists, stats, reads, renames and deletes names
// with 0xFF in dir (disk on the server's disk) and checks the disk after
// each step. The file's name has two 0xFF in a row, which a reply read
// with the wrong rule (MLST from proftpd, undoubled) would shorten.
func iacRoundTrip(t *testing.T, cfg conn.Config, dir, disk string) {
	const sub, name, content = "d\xff", "f\xff\xffile", "content"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg.Timeout = 5 * time.Second
	p := conn.NewPool(cfg)
	defer p.Close()
	d := path.Join(dir, sub)
	f := path.Join(d, name)
	if err := p.Mkdir(ctx, d); err != nil {
		t.Fatal(err)
	}
	// Commit asks SIZE of the name where the server has it: the count
	// must match.
	if err := upload(ctx, p, f, []byte(content)); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(disk, sub, name)); err != nil || string(b) != content {
		t.Fatalf("on disk: %q, %v", b, err)
	}
	if names := iacList(t, p, d); len(names) != 1 || names[0] != name {
		t.Fatalf("listing of %q: %q, want %q", d, names, name)
	}
	times, err := p.Times(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if times.Listed { // MLSD, and so MLST
		e, err := p.Stat(ctx, f)
		if err != nil || !strings.HasSuffix(e.Name, name) || e.Size != int64(len(content)) {
			t.Fatalf("MLST: %+v, %v", e, err)
		}
	}
	b := make([]byte, len(content))
	if n, err := p.ReadAt(ctx, f, b, 0, int64(len(content))); err != nil || string(b[:n]) != content {
		t.Fatalf("RETR: %q, %v", b[:n], err)
	}
	if _, err := p.RenameOver(ctx, f, f+"\xff2", true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(disk, sub, name+"\xff2")); err != nil {
		t.Fatalf("after RNTO: %v", err)
	}
	if err := p.Delete(ctx, f+"\xff2"); err != nil {
		t.Fatal(err)
	}
	if err := p.Rmdir(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(disk, sub)); !os.IsNotExist(err) {
		t.Fatalf("%q after RMD: %v", sub, err)
	}
}

// iacKept checks what a server that keeps IAC IAC does with a doubled
// name: it stores and lists the doubled bytes.
func iacKept(t *testing.T, cfg conn.Config, dir, disk string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg.Timeout = 5 * time.Second
	p := conn.NewPool(cfg)
	defer p.Close()
	if err := p.Mkdir(ctx, path.Join(dir, "k\xff")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(disk, "k\xff\xff")); err != nil {
		t.Fatalf("the doubled name on disk: %v", err)
	}
	if _, err := os.Stat(filepath.Join(disk, "k\xff")); !os.IsNotExist(err) {
		t.Fatalf("the name as meant on disk: %v", err)
	}
	if names := iacList(t, p, dir); !slices.Contains(names, "k\xff\xff") {
		t.Fatalf("listing of %q: %q", dir, names)
	}
}

// iacList returns the names a listing of dir shows.
func iacList(t *testing.T, p *conn.Pool, dir string) []string {
	t.Helper()
	es, err := p.ReadDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name)
	}
	return names
}

// TestMountIACNames does the same through the mount, against ftpd.
func TestMountIACNames(t *testing.T) {
	e := newEnv(t, nil, nil)
	const name, content = "f\xffile", "content"
	p := filepath.Join(e.mnt, "d\xff", name)
	if err := os.Mkdir(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(e.root, "d\xff", name)); err != nil || string(b) != content {
		t.Fatalf("on the server's disk: %q, %v", b, err)
	}
	ents, err := os.ReadDir(filepath.Dir(p))
	if err != nil || len(ents) != 1 || ents[0].Name() != name {
		t.Fatalf("readdir: %v, %v", ents, err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Size() != int64(len(content)) {
		t.Fatalf("stat: %v, %v", fi, err)
	}
	if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, []byte(content)) {
		t.Fatalf("read: %q, %v", b, err)
	}
	if err := os.Rename(p, p+"\xff2"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p + "\xff2"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Dir(p)); err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(e.root); err != nil || len(ents) != 0 {
		t.Fatalf("the server's root after the round trip: %v, %v", ents, err)
	}
}
