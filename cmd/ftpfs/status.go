package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"ftpfs/fs"
)

// runStatus lists the staged copies of failed uploads in the cache
// directory: the bytes that are on this machine but not on the server.
func runStatus(_ context.Context, args []string, stderr io.Writer) int {
	return status(args, os.Stdout, stderr, hostInputs())
}

// statusFlagSet binds the flags of "ftpfs status".
func statusFlagSet(dir *string) *flag.FlagSet {
	fset := flag.NewFlagSet("ftpfs status", flag.ContinueOnError)
	fset.StringVar(dir, "cache-dir", "", "the cache `DIR` the mounts used (default $XDG_CACHE_HOME/ftpfs or ~/.cache/ftpfs)")
	return fset
}

func status(args []string, stdout, stderr io.Writer, in mountInputs) int {
	var dir string
	fset := statusFlagSet(&dir)
	fset.SetOutput(io.Discard)
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stdout, statusHelp)
			return 0
		}
		fmt.Fprintln(stderr, "ftpfs status:", err)
		return 2
	}
	if dir == "" {
		if dir = fs.DefaultCacheDir(in.lookupEnv, in.home); dir == "" {
			fmt.Fprintln(stderr, "ftpfs status: no home directory: give --cache-dir")
			return 2
		}
	}
	// StagedCopies refuses a staging dir that is not private.
	copies, err := fs.StagedCopies(dir)
	if err != nil {
		fmt.Fprintln(stderr, "ftpfs status:", oneLine(err))
		return 1
	}
	if len(copies) == 0 {
		fmt.Fprintln(stdout, "no staged uploads pending")
		return 0
	}
	fmt.Fprintf(stdout, "%d file(s) not on the server; their bytes are kept here:\n", len(copies))
	for _, c := range copies {
		// The path is a name the server chose: escaped for the terminal.
		fmt.Fprintf(stdout, "%s  %s/%s  %d bytes  %s\n", c.Time.Local().Format("2006-01-02 15:04:05"), escapeControl(c.Server), escapeControl(c.Path), c.Size, escapeControl(c.File))
	}
	return 0
}
