package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"ftpfs/internal/testutil"
)

// TestMakeInstall runs make install into a DESTDIR, as a packager does:
// the binary carries the version git describes and prints the installed
// page with help --man, the page is the committed one and renders
// without a warning, the mount(8) helper links to mount.fuse3, and make
// uninstall removes all three.
func TestMakeInstall(t *testing.T) {
	makeCmd := testutil.NeedTool(t, "make")
	groff := testutil.NeedTool(t, "groff")
	tmp := t.TempDir()
	dest := filepath.Join(tmp, "dest")
	bin := filepath.Join(tmp, "build", "ftpfs") // not the checkout's bin/
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(makeCmd, append([]string{"-C", "../..", "DESTDIR=" + dest, "PREFIX=/usr/local", "BIN=" + bin}, args...)...)
		cmd.Env = makeEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("install")

	mode := func(rel string) os.FileMode {
		t.Helper()
		fi, err := os.Lstat(filepath.Join(dest, rel))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode()
	}
	installed := filepath.Join(dest, "usr/local/bin/ftpfs")
	page := filepath.Join(dest, "usr/local/share/man/man1/ftpfs.1")
	if m := mode("usr/local/bin/ftpfs"); m != 0o755 {
		t.Errorf("bin/ftpfs: mode %v, want -rwxr-xr-x", m)
	}
	if m := mode("usr/local/share/man/man1/ftpfs.1"); m != 0o644 {
		t.Errorf("man1/ftpfs.1: mode %v, want -rw-r--r--", m)
	}
	if m := mode("sbin/mount.fuse.ftpfs"); m&os.ModeSymlink == 0 {
		t.Errorf("sbin/mount.fuse.ftpfs: mode %v, want a symlink", m)
	} else if target, _ := os.Readlink(filepath.Join(dest, "sbin/mount.fuse.ftpfs")); target != "mount.fuse3" {
		t.Errorf("sbin/mount.fuse.ftpfs links to %q, want mount.fuse3", target)
	}

	checkMountHelper(t, dest, filepath.Dir(installed))

	// The version make build sets is git's description of the checkout;
	// without git or a checkout (a tarball), none is set.
	want := "ftpfs devel\n"
	if describe, err := exec.Command("git", "-C", "../..", "describe", "--tags", "--always", "--dirty").Output(); err == nil {
		want = "ftpfs " + strings.TrimSpace(string(describe)) + "\n"
	}
	out, err := exec.Command(installed, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), want) {
		t.Errorf("installed ftpfs --version: %q, %v; want it to start %q", out, err, want)
	}

	// The page installed is the committed one, which is what the binary
	// prints (TestDocs checks that the flag sets give it).
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	committed, _ := os.ReadFile("../../" + manPath)
	printed, err := exec.Command(installed, "help", "--man").Output()
	if err != nil || !bytes.Equal(b, committed) || !bytes.Equal(b, printed) {
		t.Errorf("installed page: %d bytes; committed %s: %d bytes; ftpfs help --man: %d bytes (%v); want the same", len(b), manPath, len(committed), len(printed), err)
	}
	checkManPage(t, groff, page)

	// Without root, an install under $HOME leaves the helper out.
	dest2 := filepath.Join(tmp, "dest2")
	cmd := exec.Command(makeCmd, "-C", "../..", "DESTDIR="+dest2, "PREFIX=/home/u/.local", "BIN="+bin, "MOUNTHELPERDIR=", "install")
	cmd.Env = makeEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install MOUNTHELPERDIR=: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dest2, "home/u/.local/bin/ftpfs")); err != nil {
		t.Error(err)
	}
	if _, err := os.Lstat(filepath.Join(dest2, "sbin")); err == nil {
		t.Error("MOUNTHELPERDIR= installed sbin/ all the same")
	}

	run("uninstall")
	for _, rel := range []string{"usr/local/bin/ftpfs", "usr/local/share/man/man1/ftpfs.1", "sbin/mount.fuse.ftpfs"} {
		if _, err := os.Lstat(filepath.Join(dest, rel)); err == nil {
			t.Errorf("make uninstall left %s", rel)
		}
	}
}

// makeEnv is the environment without what a make running the tests
// (make test) hands down to the make the test runs: its flags and
// command-line variables.
func makeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); name != "MAKEFLAGS" && name != "MFLAGS" && name != "MAKELEVEL" {
			env = append(env, kv)
		}
	}
	return env
}

// checkManPage renders the page with groff, all warnings on (-ww: groff
// 1.22 takes -wall in silence and warns of nothing), and with man -l
// where man-db is installed, and looks for every command, flag and -o
// option in the text.
func checkManPage(t *testing.T, groff, page string) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-rLL=200n", "-P-cbou", page)
	cmd.Stderr = &stderr
	text, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("groff: %v\n%s", err, stderr.Bytes())
	}
	if man, err := exec.LookPath("man"); err == nil {
		cmd := exec.Command(man, "-l", page)
		cmd.Env = append(os.Environ(), "MANWIDTH=200", "MANPAGER=cat", "PAGER=cat")
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("FTPFS(1)")) || !bytes.Contains(out, []byte("--dir-cache-ttl DUR")) {
			t.Errorf("man -l: %v\n%s", err, out)
		}
	}

	want := []string{"FTPFS(1)", "NAME", "SYNOPSIS", "COMMANDS", "MOUNT OPTIONS", "mount -t fuse.ftpfs"}
	eachList(func(_, cmd string, l helpList) {
		want = append(want, "ftpfs "+cmd)
		for _, it := range l.items {
			want = append(want, it.head)
		}
	})
	for _, o := range mountOptionDocs {
		want = append(want, o.head)
	}
	want = append(want, ignoredOptions...)
	for _, w := range want {
		if !bytes.Contains(text, []byte(w)) {
			t.Errorf("the rendered page lacks %q", w)
		}
	}
}

// checkMountHelper runs the installed mount.fuse.ftpfs as mount(8) would,
// with mount.fuse3 beside it as in /sbin: mount.fuse3 takes the type from
// the link's name and runs "ftpfs SERVER MOUNTPOINT -o OPTS" (minus
// _netdev) by the PATH, here the installed ftpfs, whose mount parsing
// answers. connections=0 stops it there, before any network.
func checkMountHelper(t *testing.T, dest, bindir string) {
	t.Helper()
	fuse3 := "/sbin/mount.fuse3"
	if _, err := os.Stat(fuse3); err != nil {
		testutil.Unavailable(t, "mount.fuse3 (package fuse3): %v", err)
	}
	sbin := filepath.Join(dest, "sbin")
	if err := os.Symlink(fuse3, filepath.Join(sbin, "mount.fuse3")); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(filepath.Join(sbin, "mount.fuse3"))
	cmd := exec.Command(filepath.Join(sbin, "mount.fuse.ftpfs"), "ftp://127.0.0.1:9/", t.TempDir(), "-o", "_netdev,x-systemd.automount,connections=0")
	cmd.Env = append(os.Environ(), "PATH="+bindir+":/usr/bin:/bin")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "ftpfs mount: --connections must be at least 1") {
		t.Errorf("mount.fuse.ftpfs SERVER DIR -o ...,connections=0: %v\n%s\nwant ftpfs mount's refusal", err, out)
	}
}
