package fs

// Real FTP servers, each started by the test on loopback with a config of
// its own in a temp dir and stopped by PID: vsftpd from the system, and
// proftpd and pure-ftpd unpacked from their Debian packages (they conflict
// with vsftpd at the dpkg level, so scripts/test-servers.sh unpacks them
// instead of installing them; .ci/run calls it). The mount's read and
// write suites run against each with the same assertions.

import (
	"bytes"
	"errors"
	"fmt"
	"ftpfs/internal/testutil"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// served is what a test needs to mount a real server.
type served struct {
	addr, user, pass string
	mods             []func(*Options) // what the mount needs for this server
	// up is where uploads may go and refused a directory that refuses
	// them, both below the served root ("" for the root itself).
	up, refused string
	implicitTLS bool // TLS from the first byte (ftps://), not AUTH TLS
}

type realServer struct {
	name string
	// start serves root, whose tree the test has written; it may change
	// the owner of the files, never their content. With tc, the server
	// requires TLS (explicit, AUTH TLS) for logins and data.
	start func(t testing.TB, root string, tc *testutil.Cert) served
}

var realServers = []realServer{
	{"vsftpd", startVsftpd},
	{"proftpd", startProftpd},
	{"pure-ftpd", startPureFtpd},
}

func TestRealServers(t *testing.T) {
	testutil.NeedFUSE(t)
	testutil.NeedRoot(t, "for the real servers, which chroot and change user")
	for _, rs := range realServers {
		t.Run(rs.name, func(t *testing.T) {
			t.Run("read", func(t *testing.T) { realRead(t, rs) })
			t.Run("write", func(t *testing.T) { realWrite(t, rs) })
		})
	}
}

// eachRealServer runs fn as a subtest for each real server, with the
// root it needs to run them.
func eachRealServer(t *testing.T, fn func(t *testing.T, rs realServer)) {
	testutil.NeedFUSE(t)
	testutil.NeedRoot(t, "for the real servers, which chroot and change user")
	for _, rs := range realServers {
		t.Run(rs.name, func(t *testing.T) { fn(t, rs) })
	}
}

// realRead compares the sample tree as the server shows it through the
// mount with the tree on its disk.
func realRead(t *testing.T, rs realServer) {
	root := t.TempDir()
	sampleTree(t)(root)
	// Servers that run sessions as an unprivileged user must read it all.
	os.Chmod(filepath.Join(root, "-leading-dash"), 0o644)
	s := rs.start(t, root, nil)
	_, mnt, _ := mountAt(t, s.addr, s.user, s.pass, s.mods...)
	compareTreesReadOnly(t, root, mnt)
}

// realWrite runs the write suite's tools through the mount and checks the
// server's disk right after each returns.
func realWrite(t *testing.T, rs realServer) {
	root := t.TempDir()
	s := rs.start(t, root, nil)
	mods := append([]func(*Options){func(o *Options) {
		o.Root, o.CacheDir = "/"+s.up, t.TempDir()
	}}, s.mods...)
	_, mnt, _ := mountAt(t, s.addr, s.user, s.pass, mods...)
	disk := filepath.Join(root, s.up)

	src := t.TempDir()
	sampleTree(t)(src)
	for _, l := range []string{"dangling", "link to file", "link to dir"} {
		os.Remove(filepath.Join(src, l))
	}
	if out, err := exec.Command("cp", "-r", src+"/.", filepath.Join(mnt, "cp")).CombinedOutput(); err != nil {
		t.Fatalf("cp -r: %v\n%s", err, out)
	}
	if err := testutil.SameFiles(src, filepath.Join(disk, "cp")); err != nil {
		t.Errorf("cp -r: %v", err)
	}
	for i := range 2 {
		out, err := exec.Command("rsync", "-a", "--stats", src+"/", filepath.Join(mnt, "rs")+"/").CombinedOutput()
		if err != nil {
			t.Fatalf("rsync: %v\n%s", err, out)
		}
		if i == 1 && !strings.Contains(string(out), "Number of regular files transferred: 0") {
			t.Fatalf("second rsync -a transferred files:\n%s", out)
		}
	}
	if err := testutil.SameFiles(src, filepath.Join(disk, "rs")); err != nil {
		t.Errorf("rsync -a: %v", err)
	}
	// A server that sets no time on directories leaves it to the mount.
	dt := time.Date(2017, 7, 7, 7, 7, 7, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(mnt, "rs", "dir one"), dt, dt); err != nil {
		t.Fatalf("utimens of a directory: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(mnt, "rs", "dir one")); err != nil || !fi.ModTime().Equal(dt) {
		t.Fatalf("directory time through the mount: %v %v", fi.ModTime(), err)
	}

	// dd, and a random write into the result.
	data := testutil.RandBytes(11, 5<<20)
	p := filepath.Join(mnt, "big.bin")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("patched"), 4<<20)
	copy(data[4<<20:], "patched")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(disk, "big.bin")); !bytes.Equal(got, data) {
		t.Fatal("random write differs on the server's disk")
	}
	// An editor's save: temp file, fsync, rename over the target.
	for i := range 3 {
		content := []byte(strings.Repeat("save "+strconv.Itoa(i)+"\n", 1000))
		tmp := filepath.Join(mnt, ".notes.swp")
		if err := os.WriteFile(tmp, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(mnt, "notes.txt")); err != nil {
			t.Fatalf("rename over the target: %v", err)
		}
		if got, _ := os.ReadFile(filepath.Join(disk, "notes.txt")); !bytes.Equal(got, content) {
			t.Fatalf("save %d differs on the server's disk", i)
		}
	}

	// An upload the server refuses fails promptly with EACCES, even
	// when the bytes went out before the refusal was read.
	_, top, _ := mountAt(t, s.addr, s.user, s.pass, append([]func(*Options){func(o *Options) {
		o.CacheDir = t.TempDir()
	}}, s.mods...)...)
	t0 := time.Now()
	err = os.WriteFile(filepath.Join(top, s.refused, "refused.bin"), testutil.RandBytes(12, 8<<20), 0o644)
	if !errors.Is(err, syscall.EACCES) && !errors.Is(err, syscall.EPERM) {
		t.Fatalf("upload into a directory the server refuses: %v, want EACCES", err)
	}
	if d := time.Since(t0); d > 4*time.Second {
		t.Fatalf("a refused upload took %v", d)
	}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tmpPrefix) {
			t.Errorf("temporary upload left on %s: %s", rs.name, p)
		}
		return nil
	})
}

// startVsftpd serves root with the system's vsftpd to anonymous users:
// read-only at the root, uploads into up/, which the ftp user owns.
func startVsftpd(t testing.TB, root string, tc *testutil.Cert) served {
	t.Helper()
	return vsftpdWith(t, root, tc, nil, nil)
}

// vsftpdWith is startVsftpd with more lines of config and of environment.
func vsftpdWith(t testing.TB, root string, tc *testutil.Cert, conf, env []string) served {
	t.Helper()
	bin, err := exec.LookPath("vsftpd")
	if err != nil {
		bin = "/usr/sbin/vsftpd"
	}
	needServer(t, bin)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	// vsftpd chroots anonymous sessions and refuses a root writable by
	// its ftp user; the tree is root's and world-readable.
	for _, p := range []string{dir, root} {
		os.Chmod(p, 0o755)
	}
	up := filepath.Join(root, "up")
	if err := os.MkdirAll(up, 0o755); err != nil {
		t.Fatal(err)
	}
	chown(t, ftpUser(t), up)
	port := freePort(t)
	file := filepath.Join(dir, "vsftpd.conf")
	testutil.WriteFile(t, file, []byte(strings.Join(append(append(conf,
		"write_enable=YES", "anon_upload_enable=YES", "anon_mkdir_write_enable=YES",
		"anon_other_write_enable=YES", "anon_umask=022",
		"listen=YES", "listen_ipv6=NO", "listen_address=127.0.0.1",
		"listen_port="+strconv.Itoa(port), "background=NO",
		"anonymous_enable=YES", "no_anon_password=YES", "local_enable=NO",
		"anon_root="+root, "seccomp_sandbox=NO",
		"secure_chroot_dir="+empty, "xferlog_enable=NO", "connect_from_port_20=NO",
		"ftp_username="+ftpUser(t), "force_dot_files=YES", "",
	), vsftpdTLS(tc)...), "\n")))
	os.Chmod(file, 0o600)
	addr := runServerEnv(t, "vsftpd", port, env, bin, file)
	// Anonymous sessions cannot SITE CHMOD on vsftpd: chmod=ignore.
	return served{addr: addr, user: "anonymous", pass: "test@",
		mods: []func(*Options){func(o *Options) { o.ChmodIgnore = true }},
		up:   "up", refused: ""}
}

// startProftpd serves root with proftpd to a user of its own password
// file, who may write everywhere but in ro/.
func startProftpd(t testing.TB, root string, tc *testutil.Cert) served {
	t.Helper()
	return startProftpdWith(t, root, tc, "")
}

// startProftpdWith is startProftpd that, with clientCA (a PEM file),
// demands a client certificate it signed (TLSVerifyClient on), and has
// the extra lines of configuration.
func startProftpdWith(t testing.TB, root string, tc *testutil.Cert, clientCA string, extra ...string) served {
	t.Helper()
	bin := filepath.Join(testServersDir(), "usr/sbin/proftpd")
	needServer(t, bin)
	dir := t.TempDir()
	hash, err := exec.Command("openssl", "passwd", "-6", testPass).Output()
	if err != nil {
		t.Fatalf("openssl passwd: %v", err)
	}
	// The user maps to root, so that the test can read what it wrote.
	testutil.WriteFile(t, filepath.Join(dir, "passwd"), []byte(testUser+":"+strings.TrimSpace(string(hash))+":0:0::"+root+":/bin/sh\n"))
	testutil.WriteFile(t, filepath.Join(dir, "group"), []byte("root:x:0:\n"))
	os.Chmod(filepath.Join(dir, "passwd"), 0o600)
	ro := filepath.Join(root, "ro")
	if err := os.MkdirAll(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := filepath.Join(dir, "proftpd.conf")
	testutil.WriteFile(t, conf, []byte(strings.Join(append([]string{
		"ServerType standalone", `ServerName "ftpfs test"`,
		"DefaultAddress 127.0.0.1", "Port " + strconv.Itoa(port), "UseIPv6 off",
		"User root", "Group root", "RootLogin on", "Umask 022",
		"PidFile " + filepath.Join(dir, "proftpd.pid"),
		"ScoreboardFile " + filepath.Join(dir, "scoreboard"),
		"DelayTable none", "WtmpLog off", "TransferLog none",
		"SystemLog " + filepath.Join(dir, "system.log"),
		"RequireValidShell off", "AuthPAM off", "AuthOrder mod_auth_file.c",
		"AuthUserFile " + filepath.Join(dir, "passwd"),
		"AuthGroupFile " + filepath.Join(dir, "group"),
		"DefaultRoot ~", "AllowOverwrite on", "ShowSymlinks on",
		"ListOptions -a",
		// mod_copy (SITE CPFR/CPTO) is in Debian's proftpd-core.
		"ModulePath " + filepath.Join(testServersDir(), "usr/lib/proftpd"), "LoadModule mod_copy.c",
		"<Directory " + ro + ">", "<Limit WRITE>", "DenyAll", "</Limit>", "</Directory>", "",
	}, slices.Concat(proftpdDigest(), proftpdTLS(tc, dir, clientCA), extra)...), "\n")))
	addr := runServer(t, "proftpd", port, bin, "-n", "-q", "-c", conf)
	return served{addr: addr, user: testUser, pass: testPass, refused: "ro"}
}

// proftpdDigest loads mod_digest, Debian's module for HASH and the X
// digest commands, where the unpacked package has it.
func proftpdDigest() []string {
	mods := filepath.Join(testServersDir(), "usr/lib/proftpd")
	if _, err := os.Stat(filepath.Join(mods, "mod_digest.so")); err != nil {
		return nil
	}
	// ModulePath is in startProftpdWith's config.
	return []string{"LoadModule mod_digest.c", "DigestEngine on", ""}
}

// startPureFtpd serves root with pure-ftpd to a virtual user (a PureDB
// file), who runs as nobody: the tree is given to nobody, but for ro/.
func startPureFtpd(t testing.TB, root string, tc *testutil.Cert) served {
	t.Helper()
	base := testServersDir()
	bin := filepath.Join(base, "usr/sbin/pure-ftpd")
	needServer(t, bin)
	dir := t.TempDir()
	uid, gid := ids(t, "nobody")
	chown(t, "nobody:"+strconv.Itoa(gid), root)
	// pure-pw would hash with argon2id, which costs seconds per login
	// here: a SHA-512 crypt hash, which pure-ftpd takes as well.
	hash, err := exec.Command("openssl", "passwd", "-6", testPass).Output()
	if err != nil {
		t.Fatalf("openssl passwd: %v", err)
	}
	passwd := filepath.Join(dir, "passwd")
	testutil.WriteFile(t, passwd, []byte(fmt.Sprintf("%s:%s:%d:%d::%s/./::::::::::::\n", testUser, strings.TrimSpace(string(hash)), uid, gid, root)))
	pw := exec.Command(filepath.Join(base, "usr/bin/pure-pw"), "mkdb", filepath.Join(dir, "users.pdb"), "-f", passwd)
	if out, err := pw.CombinedOutput(); err != nil {
		t.Fatalf("pure-pw mkdb: %v\n%s", err, out)
	}
	ro := filepath.Join(root, "ro")
	if err := os.MkdirAll(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	args := []string{"-S", "127.0.0.1," + strconv.Itoa(port), "-l", "puredb:" + filepath.Join(dir, "users.pdb"),
		"-E", "-A", "-H", "-4", "-D", "-g", filepath.Join(dir, "pure-ftpd.pid")}
	if tc != nil {
		// TLS required for logins and data.
		args = append(args, "-Y", "3", "-2", tc.CertFile+","+tc.KeyFile)
	}
	addr := runServer(t, "pure-ftpd", port, bin, args...)
	return served{addr: addr, user: testUser, pass: testPass, refused: "ro"}
}

// testServersDir is where scripts/test-servers.sh unpacked proftpd and
// pure-ftpd.
func testServersDir() string { return testutil.UnpackedDir() }

// needServer ends the test when bin is missing: .ci/run installs the
// servers, scripts/test-servers.sh unpacks proftpd and pure-ftpd.
func needServer(t testing.TB, bin string) {
	t.Helper()
	if _, err := os.Stat(bin); err != nil {
		testutil.Unavailable(t, "%s not installed (bash scripts/test-servers.sh): %v", bin, err)
	}
}

// runServer starts a server in the foreground, stops it by PID at cleanup
// and returns its address once it accepts connections.
func runServer(t testing.TB, name string, port int, bin string, args ...string) string {
	t.Helper()
	return runServerEnv(t, name, port, nil, bin, args...)
}

// runServerEnv is runServer with env added to the server's environment.
func runServerEnv(t testing.TB, name string, port int, env []string, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out := &testutil.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testutil.LogOnFailure(t, name+" output", out, 20)
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start: %v\n%s", name, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ftpUser is an unprivileged account for vsftpd's anonymous sessions.
func ftpUser(t testing.TB) string {
	for _, u := range []string{"ftp", "nobody"} {
		if exec.Command("id", u).Run() == nil {
			return u
		}
	}
	testutil.Unavailable(t, "no ftp or nobody account")
	return ""
}

func ids(t testing.TB, user string) (uid, gid int) {
	t.Helper()
	for i, flag := range []string{"-u", "-g"} {
		out, err := exec.Command("id", flag, user).Output()
		n, cerr := strconv.Atoi(strings.TrimSpace(string(out)))
		if err != nil || cerr != nil {
			t.Fatalf("id %s %s: %v %v", flag, user, err, cerr)
		}
		if i == 0 {
			uid = n
		} else {
			gid = n
		}
	}
	return uid, gid
}

func chown(t testing.TB, owner, path string) {
	t.Helper()
	if out, err := exec.Command("chown", "-R", owner, path).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
