package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ftpfs/internal/testutil"
)

// fakeHelpers puts scripts named like the fusermount helpers in a PATH of
// their own and an empty fallback dir, and restores both after the test.
func fakeHelpers(t *testing.T, inPath, inFallback map[string]string) (path, fallback string) {
	t.Helper()
	path, fallback = t.TempDir(), t.TempDir()
	for dir, scripts := range map[string]map[string]string{path: inPath, fallback: inFallback} {
		for name, version := range scripts {
			s := fmt.Sprintf("#!/bin/sh\n[ \"$1\" = -V ] && echo '%s version: %s'\n", name, version)
			testutil.WriteFile(t, filepath.Join(dir, name), []byte(s))
			os.Chmod(filepath.Join(dir, name), 0o755)
		}
	}
	t.Setenv("PATH", path)
	old := fusermountFallback
	fusermountFallback = fallback
	t.Cleanup(func() { fusermountFallback = old })
	return path, fallback
}

// TestFusermountHelper: the helper found is the one go-fuse runs, and a
// fusermount counts as FUSE 2's only when it says so.
func TestFusermountHelper(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name               string
		inPath, inFallback map[string]string
		want               string // "path/NAME" or "fallback/NAME"
		fuse3, fuse2       bool
	}{
		{"both", map[string]string{"fusermount3": "3.14.0", "fusermount": "2.9.9"}, nil, "path/fusermount3", true, false},
		{"fuse3 in /bin only", map[string]string{"fusermount": "2.9.9"}, map[string]string{"fusermount3": "3.14.0"}, "fallback/fusermount3", true, false},
		{"fuse 2 only", map[string]string{"fusermount": "2.9.9"}, nil, "path/fusermount", false, true},
		{"fusermount is fuse 3's", nil, map[string]string{"fusermount": "3.14.0"}, "fallback/fusermount", false, false},
		{"none", nil, nil, "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, fallback := fakeHelpers(t, tc.inPath, tc.inFallback)
			want := strings.NewReplacer("path", path, "fallback", fallback).Replace(tc.want)
			bin, fuse3 := fusermountHelper()
			if bin != want || fuse3 != tc.fuse3 {
				t.Errorf("fusermountHelper() = %q, %v; want %q, %v", bin, fuse3, want, tc.fuse3)
			}
			if bin != "" && isFUSE2(ctx, bin) != tc.fuse2 {
				t.Errorf("isFUSE2(%s) = %v", bin, !tc.fuse2)
			}
		})
	}
}

// TestCheckUserFUSE: what the helpers would refuse is refused first, with
// the change to make. (Run as root, access(2) grants /dev/fuse; the mount
// as a user checks a device closed to them.)
func TestCheckUserFUSE(t *testing.T) {
	ctx := context.Background()
	empty, full := t.TempDir(), t.TempDir()
	testutil.WriteFile(t, filepath.Join(full, "f"), nil)
	dev := filepath.Join(t.TempDir(), "fuse")
	testutil.WriteFile(t, dev, nil)
	old := devFuse
	defer func() { devFuse = old }()
	devFuse = dev

	fakeHelpers(t, map[string]string{"fusermount": "2.9.9"}, nil)
	if err := checkUserFUSE(ctx, empty); err != nil {
		t.Errorf("FUSE 2, empty mountpoint: %v", err)
	}
	err := checkUserFUSE(ctx, full)
	if err == nil || !strings.HasPrefix(err.Error(), full+" is not empty, and FUSE 2's ") || !strings.HasSuffix(err.Error(), "empty it, or install fuse3") {
		t.Errorf("FUSE 2, full mountpoint: %v", err)
	}
	fakeHelpers(t, map[string]string{"fusermount3": "3.14.0"}, nil)
	if err := checkUserFUSE(ctx, full); err != nil {
		t.Errorf("FUSE 3 mounts over files: %v", err)
	}
	fakeHelpers(t, nil, nil)
	if err := checkUserFUSE(ctx, empty); err == nil || err.Error() != "neither fusermount3 nor fusermount is installed: install fuse3, or mount as root" {
		t.Errorf("no helper: %v", err)
	}
	devFuse = filepath.Join(t.TempDir(), "fuse")
	if err := checkUserFUSE(ctx, empty); err == nil || err.Error() != devFuse+" is missing: the fuse kernel module is not loaded (modprobe fuse)" {
		t.Errorf("no device: %v", err)
	}
}

// TestWithHelperReason: what the helper writes on stderr goes to the log,
// and into the error of a failed mount, its path cut to its name.
func TestWithHelperReason(t *testing.T) {
	var log testutil.Buffer
	failed := errors.New("mount /m: fusermount exited with code 256\n")
	_, err := withHelperReason(&log, func() (mountHandle, error) {
		fmt.Fprintln(os.Stderr, "/usr/bin/fusermount3: user has no write access to mountpoint /m")
		return nil, failed
	})
	if want := "mount /m: fusermount exited with code 256: fusermount3: user has no write access to mountpoint /m"; err == nil || err.Error() != want || !errors.Is(err, failed) {
		t.Errorf("err = %q, want %q wrapping the mount's", err, want)
	}
	if log.String() != "/usr/bin/fusermount3: user has no write access to mountpoint /m\n" {
		t.Errorf("log: %q", log.String())
	}
	stderr := os.Stderr
	m, err := withHelperReason(&log, func() (mountHandle, error) { return newFakeMount(nil), nil })
	if m == nil || err != nil || os.Stderr != stderr {
		t.Errorf("a mount that works: %v, %v; os.Stderr restored: %v", m, err, os.Stderr == stderr)
	}
}
