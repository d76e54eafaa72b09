package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// unmountFlagSet binds the flags of "ftpfs unmount".
func unmountFlagSet(lazy *bool) *flag.FlagSet {
	fset := flag.NewFlagSet("ftpfs unmount", flag.ContinueOnError)
	fset.BoolVar(lazy, "lazy", false, "detach now; the kernel finishes once no file there is in use (fusermount -z, MNT_DETACH)")
	fset.BoolVar(lazy, "z", false, "same as --lazy")
	return fset
}

// runUnmount is the "unmount" subcommand.
func runUnmount(_ context.Context, args []string, stderr io.Writer) int {
	var lazy bool
	arg, rc, done := parseOneMountpoint(unmountFlagSet(&lazy), args, unmountHelp, stderr, stderr, nil)
	if done {
		return rc
	}
	// Abs, not EvalSymlinks: stat fails on a dead FUSE mount (ENOTCONN),
	// and unmounting it is the point.
	mp, err := filepath.Abs(arg)
	if err == nil {
		err = unmountPath(mp, lazy)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ftpfs unmount: %s\n", oneLine(err))
		return 1
	}
	return 0
}

// unmountTools are tried in order; fusermount (FUSE 2) may be all an older
// system has. A variable for tests.
var unmountTools = []string{"fusermount3", "fusermount"}

// unmountPath unmounts mp: with the setuid fusermount tools, which let a
// user unmount what they mounted, then with umount(2) when root, which
// also handles mounts the tools refuse.
func unmountPath(mp string, lazy bool) error {
	if mounted, err := inMountinfo(mp); err == nil && !mounted {
		return fmt.Errorf("%s is not mounted", mp)
	}
	var reasons []string
	add := func(s string) {
		if !slices.Contains(reasons, s) {
			reasons = append(reasons, s)
		}
	}
	for _, tool := range unmountTools {
		bin, err := exec.LookPath(tool)
		if err != nil {
			continue
		}
		args := []string{"-u"}
		if lazy {
			args = append(args, "-z")
		}
		out, err := exec.Command(bin, append(args, mp)...).CombinedOutput()
		if err == nil {
			return nil
		}
		msg, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		msg = strings.TrimPrefix(strings.TrimPrefix(msg, bin+": "), tool+": ")
		if msg == "" {
			msg = err.Error()
		}
		add(tool + ": " + msg)
	}
	if os.Geteuid() == 0 {
		flags := 0
		if lazy {
			flags = syscall.MNT_DETACH
		}
		err := syscall.Unmount(mp, flags)
		if err == nil {
			return nil
		}
		add("umount: " + err.Error())
	}
	if len(reasons) == 0 {
		return errors.New("neither fusermount3 nor fusermount is installed, and umount(2) needs root")
	}
	msg := strings.Join(reasons, "; ")
	// Every tool says the same about a busy mount: one line of advice is
	// clearer than three echoes.
	if strings.Contains(strings.ToLower(msg), "busy") {
		if lazy {
			return fmt.Errorf("%s is busy", mp)
		}
		return fmt.Errorf("%s is busy (a file or working directory is in use there): close it, or use --lazy", mp)
	}
	return fmt.Errorf("%s: %s", mp, msg)
}
