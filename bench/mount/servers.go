package main

// The servers of the link rows, all serving one tree on loopback: ftpd in
// this process (full profile, and its vsftpd profile: LIST only), and the
// real vsftpd (system binary) and proftpd (unpacked by
// scripts/test-servers.sh), each from a config of the bench's own in a
// temp dir, stopped by PID.

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"ftpfs/ftpd"
)

// server is one FTP server the link rows run against.
type server struct {
	name     string
	listOnly bool // no MLSD: exact times cost an MDTM per file
	// linger: the server closes a data connection with SO_LINGER, and
	// answers only once its FIN is acknowledged (link.Options.Linger).
	linger bool
	addr   string
	user   string
	pass   string
	// mountFlags are what the mount needs for this server.
	mountFlags []string
	stop       func()
}

// serverNames are the servers -servers accepts, in table order.
var serverNames = []string{"ftpd", "ftpd-vsftpd", "vsftpd", "proftpd"}

// startServer serves root with the named server. up (below root) is where
// uploads go; the caller made it writable for the server's sessions.
func startServer(name, root, work string) (*server, error) {
	switch name {
	case "ftpd":
		return startFtpd(name, root, ftpd.ProfileFull)
	case "ftpd-vsftpd":
		return startFtpd(name, root, ftpd.ProfileVsftpd)
	case "vsftpd":
		return startVsftpd(root, work)
	case "proftpd":
		return startProftpd(root, work)
	}
	return nil, fmt.Errorf("unknown server %q (want %s)", name, strings.Join(serverNames, ", "))
}

func startFtpd(name, root string, p ftpd.Profile) (*server, error) {
	pass := randomHex()
	cfg := ftpd.Config{Root: root, Listen: "127.0.0.1:0", Users: map[string]string{user: pass},
		MaxPerIP: -1, MaxSessions: -1, Profile: p}
	var log *os.File
	if *commandLog != "" {
		var err error
		if log, err = os.OpenFile(*commandLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
			return nil, err
		}
		cfg.CommandLog = log
	}
	srv, err := ftpd.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, err
	}
	stop := func() {
		srv.Close()
		if log != nil {
			log.Close()
		}
	}
	return &server{name: name, listOnly: p != ftpd.ProfileFull, addr: srv.Addr().String(), user: user, pass: pass,
		stop: stop}, nil
}

// startVsftpd serves root to anonymous users, who may write in up/ (which
// the ftp user owns), as the tests of fs do. Anonymous sessions cannot
// SITE CHMOD: the mount runs with chmod=ignore, as a user would.
func startVsftpd(root, work string) (*server, error) {
	bin, err := exec.LookPath("vsftpd")
	if err != nil {
		bin = "/usr/sbin/vsftpd"
	}
	dir, err := os.MkdirTemp(work, "vsftpd-")
	if err != nil {
		return nil, err
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "vsftpd.conf")
	lines := []string{
		"write_enable=YES", "anon_upload_enable=YES", "anon_mkdir_write_enable=YES",
		"anon_other_write_enable=YES", "anon_umask=022",
		"listen=YES", "listen_ipv6=NO", "listen_address=127.0.0.1",
		"listen_port=" + strconv.Itoa(port), "background=NO",
		"anonymous_enable=YES", "no_anon_password=YES", "local_enable=NO",
		"anon_root=" + root, "seccomp_sandbox=NO",
		"secure_chroot_dir=" + empty, "xferlog_enable=NO", "connect_from_port_20=NO",
		"ftp_username=" + ftpUser(), "force_dot_files=YES", "",
	}
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		return nil, err
	}
	s := &server{name: "vsftpd", listOnly: true, linger: true, user: "anonymous", pass: "bench@",
		mountFlags: []string{"-o", "chmod=ignore"}}
	s.addr, s.stop, err = runServer("vsftpd", port, bin, conf)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// startProftpd serves root to a user of its own password file, mapped to
// root (uid 0) so that it may write everywhere. DelayEngine off: the
// login delay of mod_delay would be counted against every login.
func startProftpd(root, work string) (*server, error) {
	bin := filepath.Join(testServersDir(), "usr/sbin/proftpd")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("proftpd: %w (bash scripts/test-servers.sh unpacks it)", err)
	}
	dir, err := os.MkdirTemp(work, "proftpd-")
	if err != nil {
		return nil, err
	}
	pass := randomHex()
	hash, err := exec.Command("openssl", "passwd", "-6", pass).Output()
	if err != nil {
		return nil, fmt.Errorf("openssl passwd: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(user+":"+strings.TrimSpace(string(hash))+":0:0::"+root+":/bin/sh\n"), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "group"), []byte("root:x:0:\n"), 0o644); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "proftpd.conf")
	lines := []string{
		"ServerType standalone", `ServerName "ftpfs bench"`,
		"DefaultAddress 127.0.0.1", "Port " + strconv.Itoa(port), "UseIPv6 off",
		"User root", "Group root", "RootLogin on", "Umask 022",
		"PidFile " + filepath.Join(dir, "proftpd.pid"),
		"ScoreboardFile " + filepath.Join(dir, "scoreboard"),
		"DelayEngine off", "UseReverseDNS off", "WtmpLog off", "TransferLog none",
		"SystemLog " + filepath.Join(dir, "system.log"),
		"RequireValidShell off", "AuthPAM off", "AuthOrder mod_auth_file.c",
		"AuthUserFile " + filepath.Join(dir, "passwd"),
		"AuthGroupFile " + filepath.Join(dir, "group"),
		"DefaultRoot ~", "AllowOverwrite on", "ShowSymlinks on", "ListOptions -a", "",
	}
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		return nil, err
	}
	s := &server{name: "proftpd", user: user, pass: pass}
	s.addr, s.stop, err = runServer("proftpd", port, bin, "-n", "-q", "-c", conf)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// runServer starts a server in the foreground and returns its address once
// it accepts connections, and how to stop it: SIGTERM to its PID, which
// ends its session processes too (none are left by then).
func runServer(name string, port int, bin string, args ...string) (string, func(), error) {
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr, stop, nil
		}
		select {
		case <-done:
			return "", nil, fmt.Errorf("%s exited: %s", name, out.String())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("%s did not start: %v\n%s", name, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testServersDir is where scripts/test-servers.sh unpacked proftpd.
func testServersDir() string {
	if d := os.Getenv("FTPFS_TEST_SERVERS"); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "ftpfs-test-servers")
}

// ftpUser is the unprivileged account of vsftpd's anonymous sessions.
func ftpUser() string {
	if exec.Command("id", "ftp").Run() == nil {
		return "ftp"
	}
	return "nobody"
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
