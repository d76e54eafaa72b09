package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCredentials checks where the user and the password come from, in
// order: --password-file, $FTPFS_PASSWORD, --password-stdin, ~/.netrc, the
// terminal.
func TestCredentials(t *testing.T) {
	const secret = "s3cret pw"
	const netrcData = "machine example.org login alice password netrc-alice\n" +
		"machine example.org login bob password netrc-bob\n" +
		"machine other.org password only-pw\n" +
		"default login anonymous password guest@\n"
	for _, tc := range []struct {
		name     string
		args     []string
		env      map[string]string
		stdin    string
		netrc    string // contents of ~/.netrc; "" for none
		pwFile   string // contents of the --password-file, MODE: first if not 0600; "" for none
		prompt   string // what the terminal answers; "" for no terminal
		user, pw string
		wantErr  string
		warn     string
	}{
		{name: "env", args: []string{"ftp://alice@example.org"}, env: map[string]string{passwordEnv: secret}, netrc: netrcData, user: "alice", pw: secret},
		{name: "env wins over stdin", args: []string{"--password-stdin", "ftp://alice@example.org"}, env: map[string]string{passwordEnv: secret}, stdin: "other\n", user: "alice", pw: secret},
		{name: "stdin", args: []string{"--password-stdin", "--user", "alice", "example.org"}, stdin: secret + "\r\nmore\n", netrc: netrcData, user: "alice", pw: secret},
		{name: "stdin without newline", args: []string{"--password-stdin", "alice@example.org"}, stdin: secret, user: "alice", pw: secret},
		{name: "empty env is unset", args: []string{"alice@example.org"}, env: map[string]string{passwordEnv: ""}, netrc: netrcData, user: "alice", pw: "netrc-alice"},
		{name: "netrc for the named user", args: []string{"bob@example.org"}, netrc: netrcData, prompt: "typed", user: "bob", pw: "netrc-bob"},
		{name: "netrc gives the user", args: []string{"example.org"}, netrc: netrcData, user: "alice", pw: "netrc-alice"},
		{name: "netrc user, env password", args: []string{"example.org"}, env: map[string]string{passwordEnv: secret}, netrc: netrcData, user: "alice", pw: secret},
		{name: "netrc default", args: []string{"elsewhere.org"}, netrc: netrcData, user: "anonymous", pw: "guest@"},
		{name: "netrc entry without login", args: []string{"carol@other.org"}, netrc: netrcData, user: "carol", pw: "only-pw"},
		{name: "prompt when netrc lacks the user", args: []string{"dave@example.org"}, netrc: "machine example.org login alice password x\n", prompt: secret, user: "dave", pw: secret},
		{name: "prompt", args: []string{"alice@example.org"}, prompt: secret, user: "alice", pw: secret},
		{name: "anonymous", args: []string{"example.org"}},
		{name: "anonymous ignores env", args: []string{"example.org"}, env: map[string]string{passwordEnv: secret}, warn: "logging in anonymously"},
		{name: "no terminal", args: []string{"alice@example.org"}, wantErr: `no password for user "alice" and no terminal to ask on: set $FTPFS_PASSWORD, use --password-stdin or add it to ~/.netrc`},
		{name: "stdin without user", args: []string{"--password-stdin", "example.org"}, stdin: secret, wantErr: "--password-stdin: no user"},
		{name: "empty stdin", args: []string{"--password-stdin", "alice@example.org"}, stdin: "\n" + secret, wantErr: "first line of stdin is empty"},
		{name: "netrc readable by others", args: []string{"example.org"}, netrc: "0644:" + netrcData, wantErr: "~/.netrc is readable by group or others (mode 0644): chmod 600 it"},
		{name: "password file", args: []string{"alice@example.org"}, pwFile: secret + "\nmore\n", netrc: netrcData, user: "alice", pw: secret},
		{name: "password file read-only", args: []string{"alice@example.org"}, pwFile: "0400:" + secret, user: "alice", pw: secret},
		{name: "password file wins over env", args: []string{"alice@example.org"}, env: map[string]string{passwordEnv: "other"}, pwFile: secret, user: "alice", pw: secret},
		{name: "password file with netrc user", args: []string{"example.org"}, pwFile: secret, netrc: netrcData, user: "alice", pw: secret},
		{name: "password file readable by group", args: []string{"alice@example.org"}, pwFile: "0640:" + secret, wantErr: "is readable by group or others (mode 0640): chmod 600 it"},
		{name: "password file executable", args: []string{"alice@example.org"}, pwFile: "0700:" + secret, wantErr: "has mode 0700, not 0600 or 0400: chmod 600 it"},
		{name: "password file empty", args: []string{"alice@example.org"}, pwFile: "\n" + secret, wantErr: "first line is empty"},
		{name: "password file and stdin", args: []string{"--password-stdin", "alice@example.org"}, pwFile: secret, stdin: secret, wantErr: "use one of them"},
		{name: "password file without user", args: []string{"example.org"}, pwFile: secret, wantErr: "--password-file: no user"},
		{name: "netrc not read when env has the password", args: []string{"alice@example.org"}, env: map[string]string{passwordEnv: secret}, netrc: "0644:" + netrcData, user: "alice", pw: secret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			if tc.netrc != "" {
				writeSecret(t, home, ".netrc", tc.netrc)
			}
			args := tc.args
			if tc.pwFile != "" {
				p := writeSecret(t, home, "pw", tc.pwFile)
				args = append([]string{"-o", "password_file=" + p}, args...)
			}
			in := inputs(home, tc.env)
			in.stdin = strings.NewReader(tc.stdin)
			in.prompt = func(string) (string, error) {
				if tc.prompt == "" {
					return "", errNoTerminal
				}
				return tc.prompt, nil
			}
			c, err := parseMountArgs(append(args, "/m"), in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q is not one line without the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.opts.Conn.User != tc.user || c.opts.Conn.Password != tc.pw {
				t.Errorf("user %q password %q, want %q %q", c.opts.Conn.User, c.opts.Conn.Password, tc.user, tc.pw)
			}
			if got := strings.Join(c.warnings, "|"); (tc.warn == "") != (got == "") || !strings.Contains(got, tc.warn) {
				t.Errorf("warnings %q, want %q", got, tc.warn)
			}
		})
	}
}

// writeSecret writes data to dir/name, mode 0600 or the one data starts
// with ("0644:..."), and returns the path.
func writeSecret(t *testing.T, dir, name, data string) string {
	t.Helper()
	mode := os.FileMode(0o600)
	if m, rest, ok := strings.Cut(data, ":"); ok && len(m) == 4 {
		n, _ := strconv.ParseUint(m, 8, 32)
		mode, data = os.FileMode(n), rest
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPlainTextWarning(t *testing.T) {
	in := inputs("/home/u", map[string]string{passwordEnv: "pw"})
	for _, tc := range []struct {
		args []string
		warn bool
	}{
		{[]string{"alice@example.org"}, true},
		{[]string{"--tls", "alice@example.org"}, false},
		{[]string{"ftps://alice@example.org"}, false},
		{[]string{"alice@127.0.0.1"}, false},
		{[]string{"alice@[::1]"}, false},
		{[]string{"alice@localhost"}, false},
		{[]string{"example.org"}, false}, // anonymous
	} {
		c, err := parseMountArgs(append(tc.args, "/m"), in)
		if err != nil {
			t.Fatal(err)
		}
		if got := plainTextWarning(c) != ""; got != tc.warn {
			t.Errorf("%q: warning %v, want %v", tc.args, got, tc.warn)
		}
	}
}
