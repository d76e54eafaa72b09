// Package private keeps the mount's local files (the cache directory, its
// staging directory, the log and the staged copies' descriptions) out of
// other local users' reach. Another user who could pre-create the cache
// directory, plant a symlink in it or swap it through a parent they can
// write would otherwise make the mount append to, or overwrite, a file of
// their choosing with the mount's rights.
//
// The rules: a private directory is a real directory (not a symlink),
// owned by this user, not writable by group or others; every directory
// above it, along the path as given and along its resolved path, is owned
// by root or this user and not writable by group or others unless sticky
// (as /tmp is: others there cannot rename or remove what is ours). Then
// no one else can swap the directory or a parent after the check, so the
// paths checked once stay ours. Files inside are never written through a
// symlink: OpenAppend opens with O_NOFOLLOW, WriteFile writes a new file
// and renames it over the name.
package private

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// MkdirAll makes dir, and the missing directories above it, with mode
// 0700, then checks it as CheckDir does. An existing dir is not created
// again but must pass the same check.
func MkdirAll(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	return CheckDir(dir)
}

// CheckDir reports why dir cannot hold this user's private files, or nil.
// A missing dir gives an error that matches fs.ErrNotExist.
func CheckDir(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symlink, not a directory of its own", dir)
	case !st.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	if uid := owner(st); uid != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, not by this user (uid %d)", dir, uid, os.Geteuid())
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %#o): chmod go-w it", dir, st.Mode().Perm())
	}
	return checkParents(dir)
}

// checkParents checks the directories above dir, along the path as given
// and along the path its symlinks resolve to: whoever can rename entries
// in either can swap dir for one of their own after the check.
func checkParents(dir string) error {
	parent := filepath.Dir(dir)
	real, err := filepath.EvalSymlinks(parent)
	if err != nil {
		return err
	}
	for _, start := range []string{parent, real} {
		for p := start; ; p = filepath.Dir(p) {
			st, err := os.Stat(p)
			if err != nil {
				return err
			}
			if uid := owner(st); uid != 0 && uid != os.Geteuid() {
				// Its owner can rename what is in it, sticky or not.
				return fmt.Errorf("%s, above %s, is owned by uid %d, neither root nor this user (uid %d)", p, dir, uid, os.Geteuid())
			}
			if st.Mode().Perm()&0o022 != 0 && st.Mode()&fs.ModeSticky == 0 {
				return fmt.Errorf("%s, above %s, is writable by group or others and not sticky (mode %#o): chmod go-w it", p, dir, st.Mode().Perm())
			}
			if p == filepath.Dir(p) {
				break
			}
		}
	}
	return nil
}

// OpenAppend opens the file name for appending, creating it with mode
// 0600: never through a symlink, and only a regular file of this user's
// with one link (a hard link to another file appends to that file).
func OpenAppend(name string) (*os.File, error) {
	// O_NONBLOCK: a FIFO planted there fails at once instead of hanging.
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symlink", name)
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil {
		err = checkFile(name, st)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkFile reports why the file st describes is not this user's own
// regular file.
func checkFile(name string, st fs.FileInfo) error {
	switch {
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", name)
	case owner(st) != os.Geteuid():
		return fmt.Errorf("%s is owned by uid %d, not by this user (uid %d)", name, owner(st), os.Geteuid())
	case st.Sys().(*syscall.Stat_t).Nlink > 1:
		return fmt.Errorf("%s has other hard links", name)
	}
	return nil
}

// WriteFile writes data to a new file, mode 0600, in name's directory and
// renames it over name. Whatever was at name, a symlink included, is
// replaced, never written through.
func WriteFile(name string, data []byte) error {
	// CreateTemp opens with O_CREATE|O_EXCL, which fails on any existing
	// name, a symlink included, so the temporary file is ours alone. Its
	// name does not end like name, so readers of the directory skip it.
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// owner is the uid of the file st describes.
func owner(st fs.FileInfo) int {
	return int(st.Sys().(*syscall.Stat_t).Uid)
}
