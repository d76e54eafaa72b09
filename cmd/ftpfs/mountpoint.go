package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"ftpfs/internal/mountinfo"
)

// checkMountpoint gives the one-line reason why mp cannot be mounted on.
func checkMountpoint(mp string) error {
	st, err := os.Stat(mp)
	switch {
	case errors.Is(err, syscall.ENOTCONN):
		return fmt.Errorf("mountpoint busy: %s holds a dead mount (run ftpfs unmount %s)", mp, mp)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("mountpoint missing: %s does not exist", mp)
	case err != nil:
		return fmt.Errorf("mountpoint: %w", err)
	case !st.IsDir():
		return fmt.Errorf("mountpoint %s is not a directory", mp)
	}
	if busy, err := isMountPoint(mp); err != nil {
		return fmt.Errorf("mountpoint: %w", err)
	} else if busy {
		return fmt.Errorf("mountpoint busy: something is mounted on %s already", mp)
	}
	return nil
}

// isMountPoint reports whether something is mounted on p: a device that
// differs from the parent's catches most mounts, /proc/self/mountinfo the
// bind mounts of the same filesystem.
func isMountPoint(p string) (bool, error) {
	var st, parent syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		return false, err
	}
	if err := syscall.Stat(filepath.Join(p, ".."), &parent); err == nil && (st.Dev != parent.Dev || st.Ino == parent.Ino) {
		return true, nil
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return false, err
	}
	return inMountinfo(real)
}

// mountinfoPath is read by inMountinfo; a variable for tests.
var mountinfoPath = mountinfo.Self

// inMountinfo reports whether p (absolute, clean) is a mount point listed
// in this process's mount table.
func inMountinfo(p string) (bool, error) {
	ms, err := mountinfo.ReadFile(mountinfoPath)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(ms, func(m mountinfo.Mount) bool { return m.Point == p }), nil
}
