package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// An ordinary user mounts through fusermount3 (FUSE 3) or fusermount
// (FUSE 2), set-user-ID root helpers that go-fuse runs. When one fails it
// exits 1 and says why on stderr only: go-fuse reports "fusermount exited
// with code 256". These checks refuse, before the login, what the helpers
// would refuse, and say what to change.

// Where go-fuse looks for the helpers when PATH has none; variables for
// tests.
var (
	fusermountFallback = "/bin"
	devFuse            = "/dev/fuse"
)

// checkUserFUSE gives the reason why this user, not root (who mounts
// without the helpers), cannot mount on mp; nil if none is known.
func checkUserFUSE(ctx context.Context, mp string) error {
	// access(2) checks as the real user, as the helpers open the device.
	switch err := unix.Access(devFuse, unix.R_OK|unix.W_OK); {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%s is missing: the fuse kernel module is not loaded (modprobe fuse)", devFuse)
	case err != nil:
		return fmt.Errorf("%s: %v: fusermount opens it as the user who mounts, so it must be mode 0666 (udev's rule from the fuse3 package makes it so; in a container, chmod 0666 %s)", devFuse, err, devFuse)
	}
	bin, fuse3 := fusermountHelper()
	if bin == "" {
		return errors.New("neither fusermount3 nor fusermount is installed: install fuse3, or mount as root")
	}
	if fuse3 || !isFUSE2(ctx, bin) {
		return nil
	}
	// FUSE 2's helper refuses a directory that holds anything unless told
	// "nonempty", an option FUSE 3 dropped (mounting over files is allowed
	// there).
	d, err := os.Open(mp)
	if err != nil {
		return nil // checkMountpoint reports it
	}
	defer d.Close()
	if names, _ := d.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("%s is not empty, and FUSE 2's %s (no fusermount3 is installed) mounts only on an empty directory: empty it, or install fuse3", mp, bin)
	}
	return nil
}

// fusermountHelper returns the helper go-fuse will run, as go-fuse picks
// it (fusermount3, else fusermount; each in PATH, else in /bin), and
// whether it is fusermount3.
func fusermountHelper() (bin string, fuse3 bool) {
	for _, name := range []string{"fusermount3", "fusermount"} {
		for _, p := range []string{name, filepath.Join(fusermountFallback, name)} {
			if bin, err := exec.LookPath(p); err == nil {
				return bin, name == "fusermount3"
			}
		}
	}
	return "", false
}

// isFUSE2 reports whether the helper at bin says it is FUSE 2's: on many
// systems fusermount is a link to fusermount3.
func isFUSE2(ctx context.Context, bin string) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-V").CombinedOutput()
	return strings.Contains(string(out), "version: 2.")
}

// withHelperReason runs mount with os.Stderr, which go-fuse hands to
// fusermount, on a pipe copied to log. A background mount's stderr is its
// log, so the user would hear only "fusermount exited with code 256":
// the error returned carries what the helper said.
func withHelperReason(log io.Writer, mount func() (mountHandle, error)) (mountHandle, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return mount()
	}
	var said helperLines
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer r.Close()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			fmt.Fprintln(log, sc.Text())
			said.add(sc.Text())
		}
	}()
	stderr := os.Stderr
	os.Stderr = w
	m, err := mount()
	os.Stderr = stderr
	w.Close()
	select {
	case <-done:
	case <-time.After(time.Second): // something the helper started holds the pipe
	}
	if reason := said.String(); err != nil && reason != "" {
		err = &helperError{err: err, said: reason}
	}
	return m, err
}

// helperError is a failed mount and what the helper said of it.
type helperError struct {
	err  error
	said string
}

// Error trims go-fuse's trailing newline.
func (e *helperError) Error() string { return strings.TrimSpace(e.err.Error()) + ": " + e.said }
func (e *helperError) Unwrap() error { return e.err }

// helperLines keeps the first lines a helper wrote, its path shortened to
// its name ("/usr/bin/fusermount3: x" is "fusermount3: x").
type helperLines struct {
	mu    sync.Mutex
	lines []string
}

func (h *helperLines) add(l string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if prog, msg, ok := strings.Cut(l, ": "); ok && strings.HasPrefix(prog, "/") {
		l = filepath.Base(prog) + ": " + msg
	}
	if l = strings.TrimSpace(l); l != "" && len(h.lines) < 5 {
		h.lines = append(h.lines, l)
	}
}

func (h *helperLines) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.lines, "; ")
}
