package link

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A real server through the link: curl lists and fetches from vsftpd,
// passive (EPSV, PASV) and active (EPRT, PORT). Skipped where vsftpd or curl is missing, or
// without root (vsftpd chroots its anonymous sessions).
func TestVsftpd(t *testing.T) {
	needVsftpd(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	addr := startVsftpd(t, map[string]string{"hello.txt": "hello through the link\n"})
	l := startLink(t, addr, Options{RTT: 20 * time.Millisecond})
	for _, tc := range []struct {
		verb string
		args []string
	}{{"EPSV", nil}, {"PASV", []string{"--disable-epsv"}},
		{"EPRT", []string{"--ftp-port", "127.0.0.1"}}, {"PORT", []string{"--ftp-port", "127.0.0.1", "--disable-eprt"}}} {
		t.Run(tc.verb, func(t *testing.T) {
			l.Reset()
			base := "ftp://" + l.Addr() + "/"
			list := curl(t, append(tc.args, base)...)
			if !strings.Contains(list, "hello.txt") {
				t.Errorf("listing through the link: %q", list)
			}
			if got := curl(t, append(tc.args, base+"hello.txt")...); got != "hello through the link\n" {
				t.Errorf("file through the link: %q", got)
			}
			s := l.Stats()
			t.Logf("%d round trips, commands %v", s.RoundTrips, s.Commands)
			if s.Control != 2 || s.Data != 2 || s.Commands[tc.verb] != 2 || s.Commands["LIST"] != 1 || s.Commands["RETR"] != 1 {
				t.Errorf("stats %+v, want 2 control and 2 data connections, 2 %s, LIST and RETR", s, tc.verb)
			}
		})
	}
}

// needVsftpd skips the test where vsftpd is missing, or without root
// (vsftpd chroots its anonymous sessions) and an ftp account.
func needVsftpd(t *testing.T) {
	t.Helper()
	bin, err := exec.LookPath("vsftpd")
	if err != nil {
		bin = "/usr/sbin/vsftpd"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skip("vsftpd not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("vsftpd needs root")
	}
	if exec.Command("id", "ftp").Run() != nil {
		t.Skip("no ftp account for vsftpd's anonymous sessions")
	}
}

func curl(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command("curl", append([]string{"-sS", "--max-time", "30"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("curl %v: %v: %s", args, err, errb.String())
	}
	return out.String()
}

// startVsftpd serves files read-only to anonymous users on 127.0.0.1 and
// stops the server when the test ends.
func startVsftpd(t *testing.T, files map[string]string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "link-vsftpd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// vsftpd refuses an anonymous root its ftp user may write, and
	// chroots into it: root's, world-readable.
	root, empty := filepath.Join(dir, "root"), filepath.Join(dir, "empty")
	for _, d := range []string{dir, root, empty} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o755)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := filepath.Join(dir, "vsftpd.conf")
	lines := []string{
		"listen=YES", "listen_ipv6=NO", "listen_address=127.0.0.1",
		"listen_port=" + strconv.Itoa(port), "background=NO",
		"anonymous_enable=YES", "no_anon_password=YES", "local_enable=NO",
		"anon_root=" + root, "seccomp_sandbox=NO", "secure_chroot_dir=" + empty,
		"xferlog_enable=NO", "connect_from_port_20=NO", "ftp_username=ftp", "",
	}
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	bin, err := exec.LookPath("vsftpd")
	if err != nil {
		bin = "/usr/sbin/vsftpd"
	}
	cmd := exec.Command(bin, conf)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() {
		cmd.Process.Kill()
		cmd.Wait()
	}
	t.Cleanup(stop)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			stop() // before reading what it wrote
			t.Fatalf("vsftpd did not start: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// vsftpd closes each data connection with SO_LINGER: through a link with
// Linger, files read in passive mode one after another, each RETR sent
// with the next EPSV, cost 3 round trips each (TestLingerPassive), and
// in an active burst 2 each (TestLingerActive).
func TestVsftpdLinger(t *testing.T) {
	needVsftpd(t)
	const n = 3
	files := map[string]string{}
	for i := range n {
		files[fmt.Sprintf("f%d", i)] = string(content(1000))
	}
	addr := startVsftpd(t, files)
	l := startLink(t, addr, Options{RTT: rtt, Linger: true})
	anon := func() *client {
		c := dial(t, l.Addr())
		c.cmd("USER anonymous", 230)
		c.cmd("TYPE I", 200)
		return c
	}
	t.Run("passive", func(t *testing.T) {
		c := anon()
		l.Reset()
		start := time.Now()
		readChain(t, c, n, 1000, func(i int, _, replied time.Time) {
			within(t, fmt.Sprintf("file %d's 226", i), replied.Sub(start), time.Duration(4+3*i)*rtt)
		})
		checkStats(t, l, 3*n+1, 2*n+1)
	})
	t.Run("active", func(t *testing.T) {
		lingerBurst(t, l, anon(), n, 1000)
	})
}
