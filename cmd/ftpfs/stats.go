package main

// ftpfs stats: the figures of a running mount, read from its socket in
// the cache dir (stats_serve.go), rendered for a person (stats_render.go)
// or as JSON for scripts.
//
// ftpfs status stays a command of its own: it reads the staged copies of
// failed uploads from the cache dir, which it can do with no mount
// running (after a crash, before a remount), while stats needs a live
// mount. stats counts those copies and points at status for the list.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"

	ftpfs "ftpfs/fs"
	"ftpfs/internal/private"
	"golang.org/x/sys/unix"
)

var statsHelp = help{
	name:    "stats",
	args:    "[--json] [--watch] [--cache-dir DIR] MOUNTPOINT",
	summary: "show what a running mount is doing: connections, transfers, uploads, caches, commands, errors",
	about: "Asks the mount at MOUNTPOINT, over a socket in its cache dir, for its figures since it\n" +
		"started. Round trips are the waits on the server: each flight of commands (a pipelined\n" +
		"batch is one) and each TCP connection opened, summed over connections.\n" +
		"'ftpfs status' lists the uploads that failed, mounted or not.\n",
	lists: flagList(func() *flag.FlagSet { return statsFlagSet(new(statsFlags)) }),
}

type statsFlags struct {
	cacheDir string
	json     bool
	watch    bool
	interval time.Duration
}

func statsFlagSet(f *statsFlags) *flag.FlagSet {
	fset := flag.NewFlagSet("ftpfs stats", flag.ContinueOnError)
	fset.StringVar(&f.cacheDir, "cache-dir", "", "the cache `DIR` the mount uses (default $XDG_CACHE_HOME/ftpfs or ~/.cache/ftpfs)")
	fset.BoolVar(&f.json, "json", false, "print the figures as JSON, one object a line")
	fset.BoolVar(&f.watch, "watch", false, "print them again every --interval until interrupted")
	fset.DurationVar(&f.interval, "interval", time.Second, "wait `DUR` between two prints of --watch")
	return fset
}

func runStats(ctx context.Context, args []string, stderr io.Writer) int {
	tty := isTerminal(os.Stdout)
	return stats(ctx, args, os.Stdout, stderr, hostInputs(), tty, terminalWidth(os.Stdout))
}

// stats is the command; tty says whether stdout is a terminal (bars, and
// --watch redraws) and width how wide it is.
func stats(ctx context.Context, args []string, stdout, stderr io.Writer, in mountInputs, tty bool, width int) int {
	var f statsFlags
	mp, rc, done := parseOneMountpoint(statsFlagSet(&f), args, statsHelp, stdout, stderr, func() error {
		if f.interval <= 0 {
			return errors.New("--interval must be positive")
		}
		return nil
	})
	if done {
		return rc
	}
	if f.cacheDir == "" {
		if f.cacheDir = ftpfs.DefaultCacheDir(in.lookupEnv, in.home); f.cacheDir == "" {
			fmt.Fprintln(stderr, "ftpfs stats: no home directory: give --cache-dir")
			return 2
		}
	}
	for first := true; ; first = false {
		r, err := fetchStats(ctx, f.cacheDir, mp)
		if err != nil {
			fmt.Fprintf(stderr, "ftpfs stats: %s\n", oneLine(err))
			return 1
		}
		switch {
		case f.json:
			json.NewEncoder(stdout).Encode(r)
		case tty && f.watch:
			io.WriteString(stdout, "\x1b[H\x1b[2J") // home, clear: redraw in place
			renderStats(stdout, r, true, width, time.Local)
		default:
			if !first {
				fmt.Fprintln(stdout)
			}
			renderStats(stdout, r, tty, width, time.Local)
		}
		if !f.watch {
			return 0
		}
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(f.interval):
		}
	}
}

// fetchStats asks the mount at mountpoint for its figures.
func fetchStats(ctx context.Context, cacheDir, mountpoint string) (statsReport, error) {
	var r statsReport
	// Only a socket in a private dir, made by this user: another user's
	// could feed us figures of their choosing.
	if err := private.CheckDir(cacheDir); err != nil {
		return r, fmt.Errorf("cache dir: %w", err)
	}
	path := statsSocket(cacheDir, mountpoint)
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return r, fmt.Errorf("no ftpfs mount at %s using the cache dir %s (a mount with another --cache-dir needs it here too)", mountpoint, cacheDir)
	}
	if err != nil {
		return r, err
	}
	if st.Mode().Type() != fs.ModeSocket || int(st.Sys().(*syscall.Stat_t).Uid) != os.Geteuid() {
		return r, fmt.Errorf("%s is not a socket of this user's", path)
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return r, fmt.Errorf("the mount at %s does not answer (%v): is it still mounted?", mountpoint, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := json.NewDecoder(c).Decode(&r); err != nil {
		return r, fmt.Errorf("reading the figures of %s: %w", mountpoint, err)
	}
	return r, nil
}

// isTerminal says whether f is a terminal.
func isTerminal(f *os.File) bool {
	var t syscall.Termios
	return termios(f, syscall.TCGETS, &t) == nil
}

// terminalWidth is f's width in columns, 80 when it cannot tell.
func terminalWidth(f *os.File) int {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Col == 0 {
		return 80
	}
	return int(ws.Col)
}
