package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseNetrc(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []netrcEntry
	}{
		{name: "empty", in: "", want: nil},
		{name: "one line", in: "machine h login u password p", want: []netrcEntry{{"h", "u", "p"}}},
		{
			name: "any whitespace, several entries",
			in:   "machine a\n\tlogin ua\r\n  password pa\fmachine b login ub\vpassword pb\n",
			want: []netrcEntry{{"a", "ua", "pa"}, {"b", "ub", "pb"}},
		},
		{
			name: "default and account",
			in:   "machine a login u account acct password p\ndefault login anonymous password me@example.org\n",
			want: []netrcEntry{{"a", "u", "p"}, {"", "anonymous", "me@example.org"}},
		},
		{
			name: "quoted tokens with escapes",
			in:   `machine h login "a user" password "pa ss\"w\\ord"`,
			want: []netrcEntry{{"h", "a user", `pa ss"w\ord`}},
		},
		{
			name: "macdef body skipped up to the blank line",
			in:   "macdef init\nmachine evil login x password y\ncd /\n\nmachine h login u password p\n",
			want: []netrcEntry{{"h", "u", "p"}},
		},
		{
			name: "macdef blank line with spaces, inside an entry",
			in:   "machine h login u macdef m\n  bin\n   \npassword p\n",
			want: []netrcEntry{{"h", "u", "p"}},
		},
		{
			name: "macdef at the end",
			in:   "machine h login u password p\nmacdef m\nls",
			want: []netrcEntry{{"h", "u", "p"}},
		},
		{
			name: "comments where a keyword goes; # in a value is a value",
			in:   "# my hosts\nmachine h # the box\nlogin u password #secret\n#machine x login y\n",
			want: []netrcEntry{{"h", "u", "#secret"}},
		},
		{
			name: "entry without login",
			in:   "machine h password p",
			want: []netrcEntry{{"h", "", "p"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseNetrc(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseNetrcErrors(t *testing.T) {
	const secret = "s3cr3t"
	for _, tc := range []struct {
		in, wantErr string
	}{
		// An unquoted password with a space leaves a piece where a keyword
		// belongs: the message must not quote it.
		{"machine h login u password pw " + secret, "line 1: unknown keyword"},
		{"machine h\nlogin u\n" + secret, "line 3: unknown keyword"},
		{"login u password " + secret, "line 1: login before any machine"},
		{"machine h password", "line 1: password without a value"},
		{"machine h\n\npassword \"" + secret + "\n", "line 3: unterminated quoted token"},
	} {
		_, err := parseNetrc(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: err = %v, want one containing %q", tc.in, err, tc.wantErr)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %q quotes the file or spans lines", tc.in, err)
		}
	}
}

func TestNetrcLookup(t *testing.T) {
	n := &netrc{entries: []netrcEntry{
		{"h", "alice", "pa"},
		{"H2", "", "p2"},
		{"h", "bob", "pb"},
		{"", "carol", "pc"},
		{"", "", "pdefault"},
	}}
	for _, tc := range []struct {
		host, user string
		want       netrcEntry
		ok         bool
	}{
		{"h", "", netrcEntry{"h", "alice", "pa"}, true}, // first machine entry
		{"h", "bob", netrcEntry{"h", "bob", "pb"}, true},
		{"h", "carol", netrcEntry{"", "carol", "pc"}, true}, // no machine entry for carol: default
		{"h", "dave", netrcEntry{"", "", "pdefault"}, true}, // a default without login fits all
		{"h2", "anyone", netrcEntry{"H2", "", "p2"}, true},  // host names ignore case
		{"other", "", netrcEntry{"", "carol", "pc"}, true},
	} {
		got, ok := n.lookup(tc.host, tc.user)
		if ok != tc.ok || got != tc.want {
			t.Errorf("lookup(%q, %q) = %+v, %v; want %+v, %v", tc.host, tc.user, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := (&netrc{entries: []netrcEntry{{"h", "alice", "pa"}}}).lookup("h", "bob"); ok {
		t.Error("lookup for a user no entry names succeeded")
	}
}

func TestReadNetrc(t *testing.T) {
	home := t.TempDir()
	p := filepath.Join(home, ".netrc")
	noEnv := env(nil)

	if n, err := readNetrc(noEnv, home); n != nil || err != nil {
		t.Errorf("absent ~/.netrc: %v, %v; want nothing", n, err)
	}
	if n, err := readNetrc(noEnv, ""); n != nil || err != nil {
		t.Errorf("no home: %v, %v; want nothing", n, err)
	}
	if err := os.WriteFile(p, []byte("machine h login u password secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := readNetrc(noEnv, home)
	if err != nil || n == nil || len(n.entries) != 1 || n.name != "~/.netrc" {
		t.Fatalf("mode 0600: %+v, %v", n, err)
	}

	for _, tc := range []struct {
		mode os.FileMode
		want string
	}{
		{0o644, "~/.netrc is readable by group or others (mode 0644): chmod 600 it"},
		{0o640, "~/.netrc is readable by group or others (mode 0640): chmod 600 it"},
		{0o602, "~/.netrc is writable by group or others (mode 0602): chmod 600 it"},
		{0o610, "~/.netrc is accessible by group or others (mode 0610): chmod 600 it"},
	} {
		if err := os.Chmod(p, tc.mode); err != nil {
			t.Fatal(err)
		}
		if _, err := readNetrc(noEnv, home); err == nil || err.Error() != tc.want {
			t.Errorf("mode %04o: err = %v, want %q", tc.mode, err, tc.want)
		}
	}
	os.Chmod(p, 0o600)

	// $NETRC names another file, which then must exist.
	other := filepath.Join(t.TempDir(), "netrc")
	if _, err := readNetrc(env(map[string]string{"NETRC": other}), home); err == nil || !strings.Contains(err.Error(), other) {
		t.Errorf("missing $NETRC: err = %v, want one naming it", err)
	}
	os.WriteFile(other, []byte("default login x password y"), 0o400)
	n, err = readNetrc(env(map[string]string{"NETRC": other}), home)
	if err != nil || n.entries[0].login != "x" || n.name != other {
		t.Errorf("$NETRC: %+v, %v", n, err)
	}

	// A syntax error names the file and the line.
	os.WriteFile(p, []byte("machine h\nport 21\n"), 0o600)
	if _, err := readNetrc(noEnv, home); err == nil || err.Error() != "~/.netrc line 2: unknown keyword (want machine, default, login, password, account or macdef)" {
		t.Errorf("syntax error: %v", err)
	}
}

func FuzzParseNetrc(f *testing.F) {
	f.Add("machine h login u password p\ndefault login a password b")
	f.Add("macdef x\nfoo\n\nmachine \"q\\\"\" login u")
	f.Fuzz(func(t *testing.T, s string) {
		entries, err := parseNetrc(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		n := &netrc{entries: entries}
		n.lookup("h", "")
	})
}
