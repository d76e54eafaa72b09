package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestUnmountTools checks the order of the unmount helpers with fakes that
// record their arguments.
func TestUnmountTools(t *testing.T) {
	bin := t.TempDir()
	record := filepath.Join(t.TempDir(), "calls")
	script := func(name, body string) {
		s := "#!/bin/sh\necho \"" + name + " $*\" >> " + record + "\n" + body + "\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script("fake-fusermount3", "echo 'fake-fusermount3: failed to unmount: Device or resource busy' >&2; exit 1")
	script("fake-fusermount", "exit 0")
	t.Setenv("PATH", bin)
	oldTools, oldInfo := unmountTools, mountinfoPath
	defer func() { unmountTools, mountinfoPath = oldTools, oldInfo }()
	mp := t.TempDir()
	mountinfoPath = writeFile(t, "mountinfo", "90 22 0:50 / "+mp+" rw - fuse.ftpfs ftp://h/ rw\n")

	unmountTools = []string{"fake-fusermount3", "missing-tool", "fake-fusermount"}
	if err := unmountPath(mp, true); err != nil {
		t.Fatal(err)
	}
	calls, _ := os.ReadFile(record)
	if want := "fake-fusermount3 -u -z " + mp + "\nfake-fusermount -u -z " + mp + "\n"; string(calls) != want {
		t.Errorf("calls:\n%s\nwant:\n%s", calls, want)
	}

	// Every way fails: the message gives the tool's reason and the hint.
	unmountTools = []string{"fake-fusermount3"}
	err := unmountPath(mp, false)
	if err == nil || err.Error() != mp+" is busy (a file or working directory is in use there): close it, or use --lazy" {
		t.Errorf("err = %v", err)
	}

	script("fake-fusermount3", "echo \"$0: entry for $2 not found in /etc/mtab\" >&2; exit 1")
	if err := unmountPath(mp, false); err == nil || !strings.HasPrefix(err.Error(), mp+": fake-fusermount3: entry for "+mp+" not found in /etc/mtab") {
		t.Errorf("err = %v", err)
	}

	if err := unmountPath("/not/mounted", false); err == nil || err.Error() != "/not/mounted is not mounted" {
		t.Errorf("not mounted: err = %v", err)
	}
}

// TestUnmountRealMount mounts a tmpfs (root only) to check the busy
// mountpoint check and the whole unmount chain on a real mount.
func TestUnmountRealMount(t *testing.T) {
	mp := t.TempDir()
	if err := syscall.Mount("tmpfs", mp, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	defer syscall.Unmount(mp, syscall.MNT_DETACH)
	if err := checkMountpoint(mp); err == nil || !strings.HasPrefix(err.Error(), "mountpoint busy") {
		t.Errorf("checkMountpoint on a tmpfs: %v", err)
	}
	var out bytes.Buffer
	if code := runUnmount(context.Background(), []string{mp}, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	if ok, _ := inMountinfo(mp); ok {
		t.Error("still mounted")
	}
	out.Reset()
	if code := runUnmount(context.Background(), []string{mp}, &out); code != 1 || out.String() != "ftpfs unmount: "+mp+" is not mounted\n" {
		t.Errorf("second unmount: exit %d, %q", code, out.String())
	}
}
