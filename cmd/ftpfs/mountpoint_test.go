package main

import (
	"path/filepath"
	"testing"
)

func TestCheckMountpoint(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, "f", "x")
	for _, tc := range []struct {
		mp, want string
	}{
		{dir, ""},
		{filepath.Join(dir, "nope"), "mountpoint missing: " + filepath.Join(dir, "nope") + " does not exist"},
		{file, "mountpoint " + file + " is not a directory"},
		{"/", "mountpoint busy: something is mounted on / already"},
		{"/proc", "mountpoint busy: something is mounted on /proc already"},
	} {
		err := checkMountpoint(tc.mp)
		if (err == nil) != (tc.want == "") || (err != nil && err.Error() != tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.mp, err, tc.want)
		}
	}
}

func TestInMountinfo(t *testing.T) {
	p := writeFile(t, "mountinfo",
		"22 1 0:21 / /proc rw,nosuid - proc proc rw\n"+
			`90 22 0:50 / /mnt/my\040site rw - fuse.ftpfs ftp://h/ rw`+"\n")
	old := mountinfoPath
	mountinfoPath = p
	defer func() { mountinfoPath = old }()
	for mp, want := range map[string]bool{"/proc": true, "/mnt/my site": true, "/mnt/my": false, "/mnt": false} {
		if got, err := inMountinfo(mp); err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", mp, got, err, want)
		}
	}
}
