package main

import (
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"ftpfs/conn"
)

// parseO parses "ftpfs mount h /m -o opts" (extra flags before), as the
// user alice.
func parseO(t *testing.T, opts string, flags ...string) (*mountConfig, error) {
	t.Helper()
	in := inputs("/home/alice", nil)
	in.username = "alice"
	return parseMountFlags(append(flags, "h", "/m", "-o", opts), in)
}

// TestMountOptionsFlags: every flag is an -o option, spelled with _ (or
// -) for -, a switch without a value, and flags and -o apply in order.
func TestMountOptionsFlags(t *testing.T) {
	viaFlags, err := parseMountFlags([]string{
		"--cache-dir", "/var/cache/ftp", "--timeout", "7s", "--connections", "2", "--dir-cache-ttl", "1m",
		"--cache-size", "1G", "--staging-size", "2G", "--no-atomic-upload", "--trust-pasv-ip", "--no-pipelining",
		"--max-listing-entries", "99", "--telnet-iac", "raw", "--debug-ftp", "--debug-fuse", "--user", "bob",
		"--password-file", "/etc/ftpfs/pw", "--tls-fingerprint", "sha256:" + strings.Repeat("ab", 32),
		"h", "/m",
	}, inputs("/home/alice", nil))
	if err != nil {
		t.Fatal(err)
	}
	viaO, err := parseO(t, "cache_dir=/var/cache/ftp,timeout=7s,connections=2,dir_cache_ttl=1m,cache_size=1G,"+
		"staging-size=2G,no_atomic_upload,trust_pasv_ip=true,no_pipelining,max_listing_entries=99,telnet_iac=raw,"+
		"debug_ftp,debug_fuse,user=bob,password_file=/etc/ftpfs/pw,tls_fingerprint=sha256:"+strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	// TLS configs hold a function: compare what they say instead.
	for _, c := range []*mountConfig{viaFlags, viaO} {
		if c.opts.Conn.TLS != conn.TLSExplicit || c.opts.Conn.TLSConfig == nil || c.opts.Conn.TLSConfig.VerifyConnection == nil {
			t.Errorf("tls_fingerprint: TLS %v, config %+v", c.opts.Conn.TLS, c.opts.Conn.TLSConfig)
		}
		c.opts.Conn.TLSConfig = nil
	}
	if !reflect.DeepEqual(viaO, viaFlags) {
		t.Errorf("-o gives\n%+v\nflags give\n%+v", viaO, viaFlags)
	}
	if viaO.opts.Conn.User != "bob" || viaO.passwordFile != "/etc/ftpfs/pw" || !viaO.debugFTP {
		t.Errorf("-o: user %q, password file %q, debug %v", viaO.opts.Conn.User, viaO.passwordFile, viaO.debugFTP)
	}

	c, err := parseO(t, "tls")
	if err != nil || c.opts.Conn.TLS != conn.TLSExplicit {
		t.Errorf("-o tls: %v, %v", c, err)
	}
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{[]string{"--timeout", "5s", "-o", "timeout=7s"}, 7 * time.Second},
		{[]string{"-o", "timeout=7s", "--timeout", "5s"}, 5 * time.Second},
		{[]string{"-o", "timeout=7s,timeout=9s"}, 9 * time.Second},
	} {
		c, err := parseMountFlags(append(tc.args, "h", "/m"), inputs("/home/alice", nil))
		if err != nil || c.opts.Conn.Timeout != tc.want {
			t.Errorf("%q: timeout %v, %v; want %v", tc.args, c.opts.Conn.Timeout, err, tc.want)
		}
	}
}

// TestMountOptionsFUSE: the options of FUSE and mount(8) that ftpfs acts
// on, the later of two winning.
func TestMountOptionsFUSE(t *testing.T) {
	c, err := parseO(t, "ro,noexec,nosuid,nodev,allow_other,uid=7,gid=8,umask=077,chmod=ignore,symlinks=raw")
	if err != nil {
		t.Fatal(err)
	}
	o := c.opts
	if !o.ReadOnly || !o.NoExec || !o.AllowOther || o.UID != 7 || o.GID != 8 || o.Umask != 0o077 || !o.ChmodIgnore || !o.RawSymlinks {
		t.Errorf("options %+v", o)
	}
	c, err = parseO(t, "ro,noexec,symlinks=raw,rw,exec,symlinks=safe")
	if err != nil {
		t.Fatal(err)
	}
	if o := c.opts; o.ReadOnly || o.NoExec || o.RawSymlinks || o.UID != 1000 || o.GID != 100 {
		t.Errorf("later options do not win, or uid/gid lost their default: %+v", o)
	}
}

// TestMountOptionsIgnored: what mount(8), mount.fuse3 and systemd pass
// changes nothing.
func TestMountOptionsIgnored(t *testing.T) {
	plain, err := parseO(t, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseO(t, "defaults,auto,noauto,user,users,nouser,owner,group,_netdev,nofail,suid,dev,noatime,relatime,"+
		"x-systemd.automount,x-systemd.idle-timeout=600,x-systemd.mount-timeout=30s,x-gvfs-show,comment=systemd.automount,,")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, plain) {
		t.Errorf("ignored options changed the mount:\n%+v\nwant\n%+v", c, plain)
	}
}

// TestMountOptionsUser: user=NAME names the FTP user, except the
// user=NAME that mount(8) adds for the local user of a user-mountable
// fstab line, which yields to a user in SERVER.
func TestMountOptionsUser(t *testing.T) {
	in := inputs("/home/alice", nil)
	in.username = "alice"
	for _, tc := range []struct {
		server, opts, want, wantErr string
	}{
		{"h", "user=bob", "bob", ""},
		{"h", "user=alice", "alice", ""},         // the local name, and no other
		{"ftp://bob@h", "user=alice", "bob", ""}, // mount(8)'s user=alice yields
		{"ftp://bob@h", "user=bob", "bob", ""},   // the same user twice
		{"ftp://bob@h", "user=carol", "", "two different users"},
		{"ftp://bob@h", "user", "bob", ""}, // fstab's user, as root mounts it
		{"h", "user=", "", "-o user=: want user=NAME"},
		{"ftp://bob@h", "user=alice --user carol", "", "two different users"},
		{"ftp://bob@h", "user=alice --user alice", "", "two different users"}, // named by hand
	} {
		opts, flags, _ := strings.Cut(tc.opts, " ")
		c, err := parseMountFlags(append([]string{tc.server, "/m", "-o", opts}, strings.Fields(flags)...), in)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s -o %s: err %v, want %q", tc.server, tc.opts, err, tc.wantErr)
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s -o %s: %v", tc.server, tc.opts, err)
		case tc.wantErr == "" && c.opts.Conn.User != tc.want:
			t.Errorf("%s -o %s: user %q, want %q", tc.server, tc.opts, c.opts.Conn.User, tc.want)
		}
	}
}

// TestMountOptionsErrors: an unknown option fails, naming it but not its
// value; a password is refused without being echoed.
func TestMountOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		opts, want string
	}{
		{"nonempty", "-o nonempty: unknown option (every flag is an -o option too"},
		{"ro,secretive=hunter2", "-o secretive: unknown option"},
		{"password=hunter2", "-o password: passwords are not taken from mount options"},
		{"Pass=hunter2", "-o Pass: passwords are not taken"},
		{"pass_word=hunter2", "-o pass_word: passwords are not taken"},
		{"o=ro", "-o o: unknown option"},
		{"f", "-o f: unknown option"},
		{"foreground", "-o foreground: mount(8) waits for the mount to return"},
		{"timeout", "-o timeout: needs a value: timeout=DUR"},
		{"cache_dir", "-o cache_dir: needs a value: cache_dir=DIR"},
		{"connections=many", "-o connections=many: invalid value"},
		{"tls=maybe", "-o tls=maybe: invalid value"},
		{"ro=1", "-o ro=1: takes no value"},
		{"uid=alice", "-o uid=alice: want a number"},
		{"telnet_iac=sometimes", "-o telnet_iac=sometimes: invalid value"},
	} {
		_, err := parseO(t, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("-o %s: err %v, want one containing %q", tc.opts, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("-o %s: the error shows the value: %v", tc.opts, err)
		}
	}
}

// TestIsMountHelperCall: the argv mount.fuse3 gives a helper is a mount;
// a mistyped command is not.
func TestIsMountHelperCall(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"ftp://u@h/", "/mnt/x", "-o", "rw,dev,suid"}, true},
		{[]string{"h:2121", "/mnt/x", "-o", "ro,nodev,nosuid"}, true},
		{[]string{"ftps://h", "/mnt/x"}, true},
		{[]string{"ftp://h", "mnt"}, true},
		{[]string{"stauts", "/mnt/x"}, false},
		{[]string{"stat", "/mnt/x", "--json"}, false},
		{[]string{"h", "mnt", "-o", "ro"}, false},
		{[]string{"-o", "ro", "ftp://h", "/m"}, false},
		{[]string{"ftp://h"}, false},
	} {
		if got := isMountHelperCall(tc.args); got != tc.want {
			t.Errorf("isMountHelperCall(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

// TestHomeDir: $HOME, unless it is unset or the /root that mount.fuse3
// sets for whoever runs it; then the user database's.
func TestHomeDir(t *testing.T) {
	for _, tc := range []struct {
		env  string
		uid  uint32
		want string
	}{
		{"/home/alice", 1000, "/home/alice"},
		{"", 1000, "/db/alice"},
		{"/root", 1000, "/db/alice"},
		{"/root", 0, "/root"},
		{"", 0, "/db/alice"},
	} {
		if got := homeDir(tc.env, tc.uid, "/db/alice"); got != tc.want {
			t.Errorf("homeDir(%q, %d) = %q, want %q", tc.env, tc.uid, got, tc.want)
		}
	}
}

// TestReadmeMountOptions: the README's table of -o options names every
// option that mountOptions knows, and nothing else; its table of mount
// flags names every flag.
func TestReadmeMountOptions(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "| `-o` option | Meaning |\n")
	if !ok {
		t.Fatal("README: no table of -o options")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	documented := map[string]bool{}
	for _, row := range strings.Split(table, "\n")[1:] {
		first, _, _ := strings.Cut(strings.TrimPrefix(row, "| "), " |")
		for _, f := range strings.Split(first, ", ") {
			name, _, _ := strings.Cut(strings.Trim(f, "`"), "=")
			documented[name] = true
		}
	}
	for name := range mountOptions {
		if !documented[name] {
			t.Errorf("README's -o table lacks %s", name)
		}
		delete(documented, name)
	}
	for name := range documented {
		t.Errorf("README's -o table has %s, which mountOptions does not know", name)
	}
	// Each flag is an -o option: the flag table is the rest of the list.
	_, mounting, _ := strings.Cut(string(b), "\n## Mounting\n")
	mounting, _, _ = strings.Cut(mounting, "\n### ftpfs unmount\n")
	rows := map[string]bool{}
	for _, l := range strings.Split(mounting, "\n") {
		if first, _, ok := strings.Cut(strings.TrimPrefix(l, "| "), " |"); ok && strings.HasPrefix(l, "| `-") {
			for _, f := range strings.Split(first, ", ") {
				name, _, _ := strings.Cut(strings.Trim(f, "`"), " ")
				rows[name] = true
			}
		}
	}
	new(mountFlags).flagSet().VisitAll(func(fl *flag.Flag) {
		if len(fl.Name) > 1 && !rows["--"+fl.Name] {
			t.Errorf("README's flag table lacks --%s", fl.Name)
		}
	})
}
