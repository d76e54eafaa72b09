package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// env returns a lookupEnv that sees only vars.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseServeFlagsDefaults(t *testing.T) {
	o, err := parseServeFlags([]string{"--anonymous", "srv"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := ftpd.Config{Listen: "127.0.0.1:2121", Anonymous: true, Profile: ftpd.ProfileFull}
	if !reflect.DeepEqual(o.cfg, want) {
		t.Errorf("cfg = %+v, want %+v", o.cfg, want)
	}
	if o.dir != "srv" || o.commandLog != "" || o.tlsCert != "" {
		t.Errorf("options = %+v", o)
	}
}

func TestParseServeFlagsPassword(t *testing.T) {
	const secret = "correct horse"
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    string // password of user u; "" means an error is expected
		wantErr string
	}{
		{name: "env", args: []string{"--user", "u"}, env: map[string]string{passwordEnv: secret}, want: secret},
		{name: "file", args: []string{"--user", "u", "--password-file", "FILE:" + secret + "\n"}, want: secret},
		{name: "file CRLF and more lines", args: []string{"--user", "u", "--password-file", "FILE:" + secret + "\r\nignored\n"}, want: secret},
		{name: "file wins over env", args: []string{"--user", "u", "--password-file", "FILE:" + secret}, env: map[string]string{passwordEnv: "other"}, want: secret},
		{name: "missing", args: []string{"--user", "u"}, wantErr: passwordEnv},
		{name: "empty env", args: []string{"--user", "u"}, env: map[string]string{passwordEnv: ""}, wantErr: passwordEnv},
		{name: "empty file", args: []string{"--user", "u", "--password-file", "FILE:\n" + secret}, wantErr: "empty"},
		{name: "no such file", args: []string{"--user", "u", "--password-file", "/nonexistent/pw"}, wantErr: "password file"},
		{name: "file without user", args: []string{"--anonymous", "--password-file", "FILE:" + secret}, wantErr: "--password-file needs --user"},
		{name: "file read-only", args: []string{"--user", "u", "--password-file", "FILE0400:" + secret}, want: secret},
		{name: "file readable by others", args: []string{"--user", "u", "--password-file", "FILE0644:" + secret}, wantErr: "readable by group or others (mode 0644): chmod 600 it"},
		{name: "file readable by group", args: []string{"--user", "u", "--password-file", "FILE0640:" + secret}, wantErr: "readable by group or others (mode 0640)"},
		{name: "file writable by others", args: []string{"--user", "u", "--password-file", "FILE0602:" + secret}, wantErr: "writable by group or others (mode 0602)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string(nil), tc.args...)
			for i, a := range args {
				if content, ok := strings.CutPrefix(a, "FILE:"); ok {
					args[i] = writeFile(t, "pw", content)
				}
				if rest, ok := strings.CutPrefix(a, "FILE0"); ok {
					mode, _ := strconv.ParseUint(rest[:3], 8, 32)
					args[i] = writeFile(t, "pw", rest[4:])
					if err := os.Chmod(args[i], os.FileMode(mode)); err != nil {
						t.Fatal(err)
					}
				}
			}
			o, err := parseServeFlags(append(args, "srv"), env(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q is not one line without the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := map[string]string{"u": tc.want}; !reflect.DeepEqual(o.cfg.Users, want) {
				t.Errorf("users = %q, want %q", o.cfg.Users, want)
			}
		})
	}
}

// TestPasswordFileOwner refuses a password file another user owns: that
// user can read and change it whatever its mode.
func TestPasswordFileOwner(t *testing.T) {
	p := writeFile(t, "pw", "secret\n")
	if os.Getuid() != 0 {
		// Only root can give a file away; for others the mode check
		// (tested above) is what stops a file they did not write.
		t.Log("not root: cannot make a file owned by someone else")
		return
	}
	if err := os.Chown(p, 65534, -1); err != nil {
		t.Fatal(err)
	}
	_, err := parseServeFlags([]string{"--user", "u", "--password-file", p, "srv"}, env(nil))
	if want := "password file " + p + " is owned by uid 65534, not by you (uid 0): chown it or use your own"; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
	home := t.TempDir()
	netrcPath := filepath.Join(home, ".netrc")
	if err := os.WriteFile(netrcPath, []byte("default login u password p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(netrcPath, 65534, -1); err != nil {
		t.Fatal(err)
	}
	if _, err := readNetrc(env(nil), home); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Errorf("netrc of another user: err = %v", err)
	}
}

func TestParseServeFlagsConfig(t *testing.T) {
	o, err := parseServeFlags([]string{
		"--listen", "127.0.0.1:0",
		"--anonymous",
		"--read-only",
		"--log-commands", "-",
		"--tls-cert", "c.pem", "--tls-key", "k.pem",
		"--implicit-tls-listen", "127.0.0.1:990",
		"--tls-required",
		"--pasv-ports", "50000-50010",
		"--max-sessions", "7",
		"--max-per-ip", "-1",
		"--max-unauthenticated", "3",
		"--login-timeout", "10s",
		"--idle-timeout", "90s",
		"--data-timeout", "2s",
		"--profile", "dos",
		"srv",
	}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := ftpd.Config{
		Listen:             "127.0.0.1:0",
		ImplicitTLSListen:  "127.0.0.1:990",
		TLSRequired:        true,
		Anonymous:          true,
		ReadOnly:           true,
		PassivePortMin:     50000,
		PassivePortMax:     50010,
		MaxSessions:        7,
		MaxPerIP:           -1,
		MaxUnauthenticated: 3,
		LoginTimeout:       10 * time.Second,
		IdleTimeout:        90 * time.Second,
		DataTimeout:        2 * time.Second,
		Profile:            ftpd.ProfileDOS,
	}
	if !reflect.DeepEqual(o.cfg, want) {
		t.Errorf("cfg =\n%+v\nwant\n%+v", o.cfg, want)
	}
	if o.commandLog != "-" || o.tlsCert != "c.pem" || o.tlsKey != "k.pem" {
		t.Errorf("options = %+v", o)
	}
}

func TestParseServeFlagsFaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want ftpd.Faults
	}{
		{name: "none", want: ftpd.Faults{}},
		{
			name: "all",
			args: []string{
				"--fault-reply-delay", "150ms",
				"--fault-data-rate", "1048576",
				"--fault-drop-data-after", "4096",
				"--fault-close-control-after", "3",
				"--fault-max-sessions", "2",
				"--fault-stor-full-after", "8192",
				"--fault-stall-after", "100",
				"--fault-quota-after", "4096",
				"--fault-refuse", "retr:451",
				"--fault-no-overwrite",
				"--fault-two-abort-replies",
			},
			want: ftpd.Faults{
				ReplyDelay:        150 * time.Millisecond,
				DataRate:          1 << 20,
				DropDataAfter:     4096,
				CloseControlAfter: 3,
				MaxSessions:       2,
				StorFullAfter:     8192,
				Stall:             true,
				StallAfter:        100,
				QuotaAfter:        4096,
				RefuseVerb:        "RETR",
				RefuseCode:        451,
				NoOverwrite:       true,
				TwoAbortReplies:   true,
			},
		},
		// Stalling before the first byte must be expressible.
		{name: "stall at 0", args: []string{"--fault-stall-after", "0"}, want: ftpd.Faults{Stall: true}},
		// The single-dash spelling is the same flag.
		{name: "single dash", args: []string{"-fault-data-rate", "10"}, want: ftpd.Faults{DataRate: 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"--anonymous"}, tc.args...), "srv")
			o, err := parseServeFlags(args, env(nil))
			if err != nil {
				t.Fatal(err)
			}
			if o.cfg.Faults != tc.want {
				t.Errorf("faults = %+v, want %+v", o.cfg.Faults, tc.want)
			}
		})
	}
}

func TestParseServeFlagsQuota(t *testing.T) {
	o, err := parseServeFlags([]string{"--anonymous", "--quota", "1048576", "srv"}, env(nil))
	if err != nil || o.cfg.Quota != 1<<20 {
		t.Fatalf("--quota 1048576: %v, %v; want a quota of 1 MiB", o, err)
	}
}

func TestParseServeFlagsProfile(t *testing.T) {
	for _, p := range []ftpd.Profile{ftpd.ProfileFull, ftpd.ProfileVsftpd, ftpd.ProfileDOS} {
		o, err := parseServeFlags([]string{"--anonymous", "--profile", string(p), "srv"}, env(nil))
		if err != nil {
			t.Fatalf("--profile %s: %v", p, err)
		}
		if o.cfg.Profile != p {
			t.Errorf("--profile %s: got %q", p, o.cfg.Profile)
		}
	}
	_, err := parseServeFlags([]string{"--anonymous", "--profile", "proftpd", "srv"}, env(nil))
	if err == nil || !strings.Contains(err.Error(), "profile") || !strings.Contains(err.Error(), "vsftpd") {
		t.Errorf("--profile proftpd: err = %v, want one naming the flag and the choices", err)
	}
}

func TestParseServeFlagsErrors(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--anonymous"}, "missing DIR"},
		{[]string{"--anonymous", "a", "b"}, "want one DIR"},
		{[]string{"--anonymous", "srv", "--read-only"}, "flags go before DIR"},
		{[]string{"srv"}, "--user NAME or --anonymous"},
		{[]string{"--anonymous", "--no-such-flag", "srv"}, "no-such-flag"},
		{[]string{"--anonymous", "--tls-cert", "c.pem", "srv"}, "go together"},
		{[]string{"--anonymous", "--tls-key", "k.pem", "srv"}, "go together"},
		{[]string{"--anonymous", "--implicit-tls-listen", ":990", "srv"}, "needs --tls-cert"},
		{[]string{"--anonymous", "--pasv-ports", "5000", "srv"}, "MIN-MAX"},
		{[]string{"--anonymous", "--pasv-ports", "6000-5000", "srv"}, "MIN-MAX"},
		{[]string{"--anonymous", "--pasv-ports", "0-10", "srv"}, "MIN-MAX"},
		{[]string{"--anonymous", "--pasv-ports", "1-70000", "srv"}, "MIN-MAX"},
		{[]string{"--anonymous", "--idle-timeout", "-1s", "srv"}, "--idle-timeout"},
		{[]string{"--anonymous", "--idle-timeout", "5", "srv"}, "idle-timeout"},
		{[]string{"--anonymous", "--fault-data-rate", "-5", "srv"}, "--fault-data-rate"},
		{[]string{"--anonymous", "--fault-stall-after", "-1", "srv"}, "--fault-stall-after"},
		{[]string{"--anonymous", "--max-sessions", "many", "srv"}, "max-sessions"},
		{[]string{"--anonymous", "--fault-refuse", "RETR", "srv"}, "VERB:CODE"},
		{[]string{"--anonymous", "--fault-refuse", "RETR:99", "srv"}, "VERB:CODE"},
		{[]string{"--anonymous", "--fault-refuse", ":451", "srv"}, "VERB:CODE"},
		{[]string{"--anonymous", "--fault-quota-after", "-1", "srv"}, "--fault-quota-after"},
		{[]string{"--anonymous", "--quota", "-1", "srv"}, "--quota"},
		{[]string{"--anonymous", "--tls-required", "srv"}, "--tls-required needs --tls-cert"},
		{[]string{"--anonymous", "--login-timeout", "-1s", "srv"}, "--login-timeout"},
		// Anyone could log in as that user with any password.
		{[]string{"--anonymous", "--user", "ftp", "srv"}, "--user ftp and --anonymous conflict: ftp is an anonymous login name"},
		{[]string{"--user", "anonymous", "--anonymous", "srv"}, "--user anonymous and --anonymous conflict"},
	} {
		_, err := parseServeFlags(tc.args, env(nil))
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: err = %v, want one mentioning %q", tc.args, err, tc.wantErr)
		}
	}
}

// TestRunServeMissingPassword checks the exit status and the single line a
// user sees when the password is missing.
func TestRunServeMissingPassword(t *testing.T) {
	t.Setenv(passwordEnv, "")
	os.Unsetenv(passwordEnv)
	var out bytes.Buffer
	if code := runServe(context.Background(), []string{"--user", "u", t.TempDir()}, &out); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if got := out.String(); strings.Count(got, "\n") != 1 || !strings.HasPrefix(got, "ftpfs serve: ") || !strings.Contains(got, passwordEnv) {
		t.Errorf("output %q, want one line naming %s", got, passwordEnv)
	}
}

var servingLine = regexp.MustCompile(`(?m)^ftpfs serve: serving .* on ftp://(\S+)$`)

// stderrCapture records what runServe writes and hands over the address
// from the readiness line once it appears.
type stderrCapture struct {
	testutil.Buffer
	addr chan string
	sent atomic.Bool
}

func (c *stderrCapture) Write(p []byte) (int, error) {
	n, err := c.Buffer.Write(p)
	if !c.sent.Load() {
		if m := servingLine.FindStringSubmatch(c.String()); m != nil && c.sent.CompareAndSwap(false, true) {
			c.addr <- m[1]
		}
	}
	return n, err
}

// TestRunServe runs the subcommand in-process, as a user would start it,
// logs in as a user and anonymously, and stops it the way a signal does.
func TestRunServe(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const secret = "s3cret-Pw"
	t.Setenv(passwordEnv, secret)
	logPath := filepath.Join(t.TempDir(), "commands.log")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &stderrCapture{addr: make(chan string, 1)}
	done := make(chan int, 1)
	go func() {
		done <- runServe(ctx, []string{
			"--listen", "127.0.0.1:0", "--user", "u", "--anonymous", "--log-commands", logPath, dir,
		}, stderr)
	}()

	var addr string
	select {
	case addr = <-stderr.addr:
	case code := <-done:
		t.Fatalf("exited with %d before serving; stderr:\n%s", code, stderr)
	case <-time.After(10 * time.Second):
		t.Fatalf("no readiness line after 10s; stderr:\n%s", stderr)
	}

	login := func(user, pass string) *ftp.ServerConn {
		t.Helper()
		c, err := ftp.Dial(addr, ftp.DialWithTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login(user, pass); err != nil {
			t.Fatalf("login %s: %v", user, err)
		}
		return c
	}
	retr := func(c *ftp.ServerConn, name string) string {
		t.Helper()
		r, err := c.Retr(name)
		if err != nil {
			t.Fatalf("RETR %s: %v", name, err)
		}
		defer r.Close()
		var b bytes.Buffer
		if _, err := b.ReadFrom(r); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}

	c := login("u", secret)
	if got := retr(c, "hello.txt"); got != "hello\n" {
		t.Errorf("RETR hello.txt = %q", got)
	}
	if err := c.Stor("up.txt", strings.NewReader("up\n")); err != nil {
		t.Errorf("STOR as u: %v", err)
	}
	c.Quit()
	if b, err := os.ReadFile(filepath.Join(dir, "up.txt")); err != nil || string(b) != "up\n" {
		t.Errorf("uploaded file: %q, %v", b, err)
	}

	a := login("anonymous", "guest@")
	if got := retr(a, "hello.txt"); got != "hello\n" {
		t.Errorf("anonymous RETR hello.txt = %q", got)
	}
	if err := a.Stor("anon.txt", strings.NewReader("x")); err == nil {
		t.Error("anonymous STOR succeeded; anonymous must be read-only")
	}
	a.Quit()

	// A user name is the client's text, and the server logs it on a
	// failed login: a control character in it must reach stderr as text
	// (slog's TextHandler alone writes a DEL as it is).
	const hostile = "evil\x7f"
	if c, err := ftp.Dial(addr, ftp.DialWithTimeout(5*time.Second)); err != nil {
		t.Fatal(err)
	} else {
		if err := c.Login(hostile, "wrong"); err == nil {
			t.Error("login with a wrong password succeeded")
		}
		c.Quit()
	}

	cancel() // what SIGINT does in main
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after cancel, want 0; stderr:\n%s", code, stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after cancel")
	}

	cmdlog, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m) RETR hello\.txt$`).Match(cmdlog) || !regexp.MustCompile(`(?m) PASS `).Match(cmdlog) {
		t.Errorf("command log lacks RETR or PASS lines:\n%s", cmdlog)
	}
	if out := stderr.String(); strings.Contains(out, "\x7f") || !strings.Contains(out, `evil\x7f`) {
		t.Errorf("stderr does not show the hostile user name escaped:\n%q", out)
	}
	for what, s := range map[string]string{"command log": string(cmdlog), "stderr": stderr.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("%s contains the password:\n%s", what, s)
		}
	}
}
