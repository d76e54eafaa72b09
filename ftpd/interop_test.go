package ftpd

// Interoperability with real FTP clients (curl, lftp) run as subprocesses.
// Credentials go through a 0600 netrc file (curl) or a script file (lftp),
// never through argv, where any local user could read them.

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"ftpfs/internal/testutil"
)

// runClient runs an external client with a deadline and returns its
// stdout; on failure it fails the test with everything needed to see why.
func runClient(t *testing.T, h *harness, timeout time.Duration, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = clientEnv(t)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v (ctx: %v)\nstderr:\n%s\nstdout:\n%s\nserver commands:\n%s",
			name, strings.Join(args, " "), err, ctx.Err(),
			testutil.Tail(stderr.String(), 40), testutil.Tail(stdout.String(), 40), testutil.Tail(h.Log.String(), 60))
	}
	return stdout.Bytes()
}

// curl runs curl against h with the netrc credentials.
func curl(t *testing.T, h *harness, args ...string) []byte {
	t.Helper()
	bin := testutil.NeedTool(t, "curl")
	// -q must come first: it disables ~/.curlrc.
	base := []string{"-q", "--silent", "--show-error",
		"--netrc-file", writeNetrc(t, testUser, testPass),
		"--connect-timeout", "10", "--max-time", "60"}
	return runClient(t, h, 90*time.Second, bin, append(base, args...)...)
}

// ftpURL builds a URL for a slash-separated path, escaping each segment
// (curl unescapes them before sending CWD/RETR/STOR).
func ftpURL(scheme, addr, p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return scheme + "://" + addr + "/" + strings.Join(segs, "/")
}

// curlHarness starts a server, with TLS when secure, and returns the
// arguments that make curl trust it.
func curlHarness(t *testing.T, secure bool) (*harness, []string) {
	t.Helper()
	if !secure {
		return startHarness(t), nil
	}
	mod, cert := withTLS(t)
	return startHarness(t, mod), []string{"--cacert", cert}
}

// checkVerbs asserts which commands the client sent, from the command log.
func checkVerbs(t *testing.T, h *harness, want, deny []string) {
	t.Helper()
	for _, v := range want {
		if !h.Log.has(v) {
			t.Errorf("client did not send %s; commands: %q", v, h.Log.commands())
		}
	}
	for _, v := range deny {
		if h.Log.has(v) {
			t.Errorf("client sent %s; commands: %q", v, h.Log.commands())
		}
	}
}

func TestInteropCurlDownload(t *testing.T) {
	testutil.NeedTool(t, "curl")
	content := testutil.RandBytes(10, 1<<20+12345)
	cases := []struct {
		name     string
		tls      bool
		implicit bool
		args     []string
		want     []string
		deny     []string
	}{
		{name: "epsv", want: []string{"EPSV", "RETR"}, deny: []string{"PASV", "PORT", "EPRT", "AUTH"}},
		{name: "pasv", args: []string{"--disable-epsv"},
			want: []string{"PASV", "RETR"}, deny: []string{"EPSV", "PORT", "EPRT"}},
		{name: "port", args: []string{"-P", "127.0.0.1", "--disable-eprt"},
			want: []string{"PORT", "RETR"}, deny: []string{"EPRT", "PASV", "EPSV"}},
		{name: "eprt", args: []string{"-P", "127.0.0.1"},
			want: []string{"EPRT", "RETR"}, deny: []string{"PORT", "PASV", "EPSV"}},
		{name: "explicit-tls", tls: true, args: []string{"--ssl-reqd"},
			want: []string{"AUTH", "PBSZ", "PROT", "RETR"}},
		{name: "explicit-tls-pasv", tls: true, args: []string{"--ssl-reqd", "--disable-epsv"},
			want: []string{"AUTH", "PROT", "PASV", "RETR"}, deny: []string{"EPSV"}},
		{name: "implicit-tls", tls: true, implicit: true,
			want: []string{"PBSZ", "PROT", "RETR"}, deny: []string{"AUTH"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, tlsArgs := curlHarness(t, tc.tls)
			testutil.WriteFile(t, filepath.Join(h.Root, "pub", "data.bin"), content)
			scheme, addr := "ftp", h.Addr().String()
			if tc.implicit {
				scheme, addr = "ftps", h.ImplicitTLSAddr().String()
			}
			out := filepath.Join(t.TempDir(), "out")
			args := append(append(tlsArgs, tc.args...), "-o", out, ftpURL(scheme, addr, "pub/data.bin"))
			curl(t, h, args...)
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := testutil.SameBytes(got, content); err != nil {
				t.Error(err)
			}
			checkVerbs(t, h, tc.want, tc.deny)
			if tc.tls {
				// Data must be protected too, not only the control channel.
				if p := h.Log.args("PROT"); len(p) == 0 || !strings.EqualFold(p[len(p)-1], "P") {
					t.Errorf("PROT arguments %q, want P", p)
				}
			}
		})
	}
}

func TestInteropCurlResume(t *testing.T) {
	testutil.NeedTool(t, "curl")
	h := startHarness(t)
	content := testutil.RandBytes(11, 2<<20+777)
	testutil.WriteFile(t, filepath.Join(h.Root, "resume.bin"), content)
	const have = 700_001
	out := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(out, content[:have], 0o644); err != nil {
		t.Fatal(err)
	}
	curl(t, h, "-C", "-", "-o", out, ftpURL("ftp", h.Addr().String(), "resume.bin"))
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.SameBytes(got, content); err != nil {
		t.Error(err)
	}
	if rest := h.Log.args("REST"); len(rest) != 1 || rest[0] != strconv.Itoa(have) {
		t.Errorf("REST arguments %q, want [%d]", rest, have)
	}
	checkVerbs(t, h, []string{"RETR"}, nil)
}

func TestInteropCurlUpload(t *testing.T) {
	testutil.NeedTool(t, "curl")
	old := []byte("first line\n")
	cases := []struct {
		name     string
		tls      bool
		implicit bool
		remote   string
		existing []byte // remote content before the upload, nil for none
		args     []string
		verb     string
	}{
		{name: "stor", remote: "incoming/new.bin", verb: "STOR"},
		{name: "stor-utf8-space", remote: "incoming/ü p 日本.bin", verb: "STOR"},
		{name: "stor-replaces", remote: "incoming/old.bin", existing: testutil.RandBytes(12, 3<<20), verb: "STOR"},
		{name: "append", remote: "incoming/log.txt", existing: old, args: []string{"--append"}, verb: "APPE"},
		{name: "explicit-tls", tls: true, remote: "incoming/tls.bin", args: []string{"--ssl-reqd"}, verb: "STOR"},
		{name: "implicit-tls", tls: true, implicit: true, remote: "incoming/itls.bin", verb: "STOR"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, tlsArgs := curlHarness(t, tc.tls)
			if err := os.MkdirAll(filepath.Join(h.Root, "incoming"), 0o755); err != nil {
				t.Fatal(err)
			}
			remote := filepath.Join(h.Root, filepath.FromSlash(tc.remote))
			if tc.existing != nil {
				testutil.WriteFile(t, remote, tc.existing)
			}
			body := testutil.RandBytes(uint64(20+i), 1<<20+i*4099)
			local := filepath.Join(t.TempDir(), "upload")
			if err := os.WriteFile(local, body, 0o644); err != nil {
				t.Fatal(err)
			}
			scheme, addr := "ftp", h.Addr().String()
			if tc.implicit {
				scheme, addr = "ftps", h.ImplicitTLSAddr().String()
			}
			args := append(append(tlsArgs, tc.args...), "-T", local, ftpURL(scheme, addr, tc.remote))
			curl(t, h, args...)
			want := body
			if tc.verb == "APPE" {
				want = append(append([]byte{}, tc.existing...), body...)
			}
			got, err := os.ReadFile(remote)
			if err != nil {
				t.Fatal(err)
			}
			if err := testutil.SameBytes(got, want); err != nil {
				t.Error(err)
			}
			checkVerbs(t, h, []string{tc.verb}, nil)
		})
	}
}

// mlsdEntry is one parsed MLSD line: facts with lower-case names.
type mlsdEntry struct {
	facts map[string]string
	name  string
}

func parseMLSD(t *testing.T, out []byte) []mlsdEntry {
	t.Helper()
	var ents []mlsdEntry
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		// RFC 3659 7.2: facts end with ';', then one space, then the name,
		// which may itself contain spaces.
		factStr, name, ok := strings.Cut(line, " ")
		if !ok || !strings.HasSuffix(factStr, ";") {
			t.Errorf("malformed MLSD line %q", line)
			continue
		}
		e := mlsdEntry{facts: map[string]string{}, name: name}
		for _, f := range strings.Split(strings.TrimSuffix(factStr, ";"), ";") {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				t.Errorf("malformed fact %q in %q", f, line)
				continue
			}
			e.facts[strings.ToLower(k)] = v
		}
		ents = append(ents, e)
	}
	return ents
}

func TestInteropCurlMLSD(t *testing.T) {
	testutil.NeedTool(t, "curl")
	h := startHarness(t)
	dir := filepath.Join(h.Root, "m")
	type want struct {
		dir   bool
		size  int
		mode  os.FileMode
		mtime time.Time
	}
	wants := map[string]want{
		"plain.txt":      {size: 1234, mode: 0o640, mtime: time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)},
		"with space.bin": {size: 0, mode: 0o600, mtime: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)},
		"ünï日本.txt":      {size: 5, mode: 0o644, mtime: time.Date(2024, 12, 31, 23, 59, 58, 0, time.UTC)},
		"sub dir":        {dir: true, mode: 0o750, mtime: time.Date(2019, 6, 7, 8, 9, 10, 0, time.UTC)},
	}
	for name, w := range wants {
		p := filepath.Join(dir, name)
		if w.dir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		} else {
			testutil.WriteFile(t, p, testutil.RandBytes(30, w.size))
		}
		if err := os.Chmod(p, w.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, w.mtime, w.mtime); err != nil {
			t.Fatal(err)
		}
	}
	out := curl(t, h, "-X", "MLSD", ftpURL("ftp", h.Addr().String(), "m/"))
	t.Logf("MLSD output:\n%s", out)
	checkVerbs(t, h, []string{"MLSD"}, []string{"LIST", "NLST"})

	seen := map[string]bool{}
	uniques := map[string]string{}
	for _, e := range parseMLSD(t, out) {
		typ := strings.ToLower(e.facts["type"])
		if typ == "cdir" || typ == "pdir" {
			continue
		}
		w, ok := wants[e.name]
		if !ok {
			t.Errorf("unexpected MLSD entry %q", e.name)
			continue
		}
		if seen[e.name] {
			t.Errorf("MLSD lists %q twice", e.name)
		}
		seen[e.name] = true
		if wantType := map[bool]string{true: "dir", false: "file"}[w.dir]; typ != wantType {
			t.Errorf("%q: type=%q, want %q", e.name, e.facts["type"], wantType)
		}
		if !w.dir && e.facts["size"] != strconv.Itoa(w.size) {
			t.Errorf("%q: size=%q, want %d", e.name, e.facts["size"], w.size)
		}
		// modify is YYYYMMDDHHMMSS[.sss] in UTC (RFC 3659 2.3).
		mod := e.facts["modify"]
		if mt, err := time.Parse("20060102150405", mod[:min(len(mod), 14)]); err != nil || !mt.Equal(w.mtime) {
			t.Errorf("%q: modify=%q, want %s (%v)", e.name, mod, w.mtime.Format("20060102150405"), err)
		}
		perm := e.facts["perm"]
		needPerm := "r"
		if w.dir {
			needPerm = "el"
		}
		for _, p := range needPerm {
			if !strings.ContainsRune(perm, p) {
				t.Errorf("%q: perm=%q lacks %q", e.name, perm, p)
			}
		}
		if u := e.facts["unique"]; u == "" {
			t.Errorf("%q: no unique fact: %v", e.name, e.facts)
		} else if other, dup := uniques[u]; dup {
			t.Errorf("%q and %q share unique=%q", e.name, other, u)
		} else {
			uniques[u] = e.name
		}
		if m, err := strconv.ParseUint(e.facts["unix.mode"], 8, 32); err != nil || os.FileMode(m)&os.ModePerm != w.mode {
			t.Errorf("%q: UNIX.mode=%q, want %04o (%v)", e.name, e.facts["unix.mode"], w.mode, err)
		}
	}
	for name := range wants {
		if !seen[name] {
			t.Errorf("MLSD lacks %q; output:\n%s", name, out)
		}
	}
}

func TestInteropCurlList(t *testing.T) {
	testutil.NeedTool(t, "curl")
	h := startHarness(t)
	const dir = "dir with space"
	files := map[string][]byte{
		"ünï 日本.txt":     []byte("seventeen bytes!\n"),
		"plain name.txt": []byte("x"),
	}
	for name, data := range files {
		testutil.WriteFile(t, filepath.Join(h.Root, dir, name), data)
	}
	if err := os.Mkdir(filepath.Join(h.Root, dir, "sub dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	u := ftpURL("ftp", h.Addr().String(), dir+"/")

	t.Run("LIST", func(t *testing.T) {
		out := string(curl(t, h, u))
		lines := strings.Split(strings.TrimRight(out, "\r\n"), "\n")
		find := func(name string) string {
			for _, l := range lines {
				if l = strings.TrimRight(l, "\r"); strings.HasSuffix(l, " "+name) {
					return l
				}
			}
			t.Errorf("LIST has no line for %q:\n%s", name, out)
			return ""
		}
		for name, data := range files {
			l := find(name)
			if l == "" {
				continue
			}
			// Unix ls -l: perms, links, owner, group, size, month, day, time.
			f := strings.Fields(l)
			if l[0] != '-' || len(f) < 9 || f[4] != strconv.Itoa(len(data)) {
				t.Errorf("LIST line %q: want a regular file of %d bytes in ls -l form", l, len(data))
			}
		}
		if l := find("sub dir"); l != "" && l[0] != 'd' {
			t.Errorf("LIST line %q: want a directory", l)
		}
		if len(lines) != 3 {
			t.Errorf("LIST has %d lines, want 3:\n%s", len(lines), out)
		}
		checkVerbs(t, h, []string{"LIST"}, nil)
	})

	t.Run("NLST", func(t *testing.T) {
		out := string(curl(t, h, "--list-only", u))
		var got []string
		for _, l := range strings.Split(strings.TrimRight(out, "\r\n"), "\n") {
			got = append(got, strings.TrimRight(l, "\r"))
		}
		sort.Strings(got)
		want := []string{"plain name.txt", "sub dir", "ünï 日本.txt"}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("NLST names %q, want %q", got, want)
		}
		checkVerbs(t, h, []string{"NLST"}, nil)
	})
}

// lftpScript runs an lftp script from a 0600 file: the password stays out
// of argv and the process list.
func lftpScript(t *testing.T, h *harness, settings []string, commands ...string) string {
	t.Helper()
	bin := testutil.NeedTool(t, "lftp")
	script := append([]string{
		"set cmd:fail-exit yes",
		"set net:timeout 15",
		"set net:max-retries 2",
		"set net:reconnect-interval-base 1",
		"set net:reconnect-interval-max 1",
	}, settings...)
	script = append(script, fmt.Sprintf("open -u %s,%s ftp://%s", testUser, testPass, h.Addr()))
	script = append(script, commands...)
	script = append(script, "bye")
	f := filepath.Join(t.TempDir(), "script.lftp")
	if err := os.WriteFile(f, []byte(strings.Join(script, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return string(runClient(t, h, 3*time.Minute, bin, "-f", f))
}

// lftpQuote quotes an argument for lftp's command parser.
func lftpQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func TestInteropLftpMirror(t *testing.T) {
	testutil.NeedTool(t, "lftp")
	for _, secure := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "explicit-tls"}[secure]
		t.Run(name, func(t *testing.T) {
			var mods []func(*Config)
			settings := []string{"set ftp:ssl-allow no"}
			if secure {
				mod, cert := withTLS(t)
				mods = append(mods, mod)
				settings = []string{
					"set ftp:ssl-force yes",
					"set ftp:ssl-protect-data yes",
					"set ftp:ssl-protect-list yes",
					"set ssl:verify-certificate yes",
					"set ssl:ca-file " + lftpQuote(cert),
				}
			}
			h := startHarness(t, mods...)
			tree := sampleTree()
			src := filepath.Join(h.Root, "src tree")
			testutil.WriteTree(t, src, tree)
			localSrc := filepath.Join(t.TempDir(), "local src")
			testutil.WriteTree(t, localSrc, tree)
			down := filepath.Join(t.TempDir(), "down")

			out := lftpScript(t, h, settings,
				"mirror --verbose "+lftpQuote("/src tree")+" "+lftpQuote(down),
				"mirror -R --verbose "+lftpQuote(localSrc)+" "+lftpQuote("/up tree"),
			)
			t.Logf("lftp output:\n%s", testutil.Tail(out, 30))
			if err := testutil.SameTree(src, down); err != nil {
				t.Error(err)
			}
			if err := testutil.SameTree(localSrc, filepath.Join(h.Root, "up tree")); err != nil {
				t.Error(err)
			}
			checkVerbs(t, h, []string{"RETR", "STOR", "MKD"}, nil)
			if secure {
				checkVerbs(t, h, []string{"AUTH", "PROT"}, nil)
			}
		})
	}
}
