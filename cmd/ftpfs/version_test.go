package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"ftpfs/internal/testutil"
)

func TestVersionText(t *testing.T) {
	fuse := &debug.Module{Path: goFuseModule, Version: "v2.12.1"}
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-12-03T04:00:00Z"}, {Key: "vcs.modified", Value: "true"}}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		name     string
		bi       *debug.BuildInfo
		override string
		want     string
	}{
		{"local build", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Deps: []*debug.Module{fuse}, Settings: vcs}, "",
			"ftpfs devel\ncommit 0123abcd 2026-12-03T04:00:00Z (modified)\ngo1.26.8 " + platform + "\ngo-fuse v2.12.1\n"},
		{"go install", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Deps: []*debug.Module{fuse}}, "",
			"ftpfs v1.2.3\ngo1.26.8 " + platform + "\ngo-fuse v2.12.1\n"},
		{"-X override", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Deps: []*debug.Module{fuse},
			Settings: vcs[:1]}, "v2.0.0",
			"ftpfs v2.0.0\ncommit 0123abcd\ngo1.26.8 " + platform + "\ngo-fuse v2.12.1\n"},
		{"replaced go-fuse", &debug.BuildInfo{GoVersion: "go1.26.8", Deps: []*debug.Module{{Path: goFuseModule, Version: "v2.12.1", Replace: &debug.Module{Path: "../go-fuse"}}}}, "",
			"ftpfs devel\ngo1.26.8 " + platform + "\ngo-fuse v2.12.1 => ../go-fuse\n"},
		{"no build info", nil, "",
			"ftpfs devel\n" + runtime.Version() + " " + platform + "\ngo-fuse unknown\n"},
	} {
		if got := versionText(tc.bi, tc.override); got != tc.want {
			t.Errorf("%s:\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
	var out, errOut bytes.Buffer
	if code := dispatch(context.Background(), []string{"--version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "ftpfs ") || errOut.Len() > 0 {
		t.Errorf("--version: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	if code := dispatch(context.Background(), []string{"version", "extra"}, &out, &errOut); code != 2 {
		t.Errorf("version extra: exit %d, want 2", code)
	}
}

// goFuseRequired is the go-fuse version go.mod requires.
func goFuseRequired(t *testing.T) string {
	t.Helper()
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(goFuseModule) + `\s+(\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod requires no go-fuse")
	}
	return string(m[1])
}

// TestVersionBinary runs the built binary as a user would: --version and
// the version command print the same, with the Go that built it and the
// go-fuse of go.mod; a build that sets main.version shows it.
func TestVersionBinary(t *testing.T) {
	bin := testutil.Binary(t)
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("--version: %v", err)
	}
	if cmd, err := exec.Command(bin, "version").Output(); err != nil || string(cmd) != string(out) {
		t.Errorf("version: %q, %v; --version said %q", cmd, err, out)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	want := []string{runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH, "go-fuse " + goFuseRequired(t)}
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "ftpfs ") || strings.Join(lines[len(lines)-2:], "\n") != strings.Join(want, "\n") {
		t.Errorf("--version printed\n%s\nwant ftpfs VERSION, then\n%s", out, strings.Join(want, "\n"))
	}

	// The version a release build sets.
	custom := filepath.Join(t.TempDir(), "ftpfs")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7-test", "-o", custom, ".")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	if out, err := exec.Command(custom, "--version").Output(); err != nil || !strings.HasPrefix(string(out), "ftpfs v9.8.7-test\n") {
		t.Errorf("built with -X main.version: %q, %v", out, err)
	}
}
