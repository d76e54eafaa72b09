// Command ftpfs mounts FTP servers as a filesystem (FUSE) and carries the
// FTP server its tests run against.
//
// Usage:
//
//	ftpfs mount [flags] SERVER MOUNTPOINT    mount an FTP server
//	ftpfs unmount [--lazy] MOUNTPOINT        unmount it
//	ftpfs serve [flags] DIR                  serve DIR over FTP
//	ftpfs status [--cache-dir DIR]           list uploads that failed
//	ftpfs stats [--json] [--watch] MOUNTPOINT  what a running mount is doing
//	ftpfs doctor [flags] SERVER              probe a server, recommend a mount line
//	ftpfs version                            versions of ftpfs, Go and go-fuse
//	ftpfs SERVER MOUNTPOINT -o OPTS          ftpfs mount, as mount(8) runs it
//
// Each subcommand parses its own flags; "ftpfs SUBCOMMAND -h" lists them.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// A command is one subcommand. run gets the arguments after the subcommand
// name and returns the exit status; ctx is cancelled on SIGINT or SIGTERM.
type command struct {
	help help // its name, synopsis and help text
	run  func(ctx context.Context, args []string, stderr io.Writer) int
}

// commands is the dispatch table.
var commands = []command{
	{mountHelp, runMount},
	{unmountHelp, runUnmount},
	{serveHelp, runServe},
	{statusHelp, runStatus},
	{statsHelp, runStats},
	{versionHelp, runVersion},
	{doctorHelp, runDoctor},
}

func main() {
	// The first signal cancels ctx so that subcommands shut down cleanly;
	// stop() then restores the default, so a second Ctrl-C kills at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	os.Exit(dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// dispatch runs the subcommand named by args[0].
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && args[1] == "--man" {
			writeMan(stdout)
			return 0
		}
		if len(args) > 1 {
			// help COMMAND is COMMAND -h, its help on stdout.
			for _, c := range commands {
				if c.help.name == args[1] {
					return c.run(ctx, []string{"-h"}, stdout)
				}
			}
		}
		usage(stdout)
		return 0
	case "-version", "--version":
		printVersion(stdout)
		return 0
	}
	for _, c := range commands {
		if c.help.name == args[0] {
			return c.run(ctx, args[1:], stderr)
		}
	}
	if isMountHelperCall(args) { // mount(8) through mount.fuse3
		return runMount(ctx, args, stderr)
	}
	fmt.Fprintf(stderr, "ftpfs: unknown command %q (run 'ftpfs help')\n", args[0])
	return 2
}

// usage lists the commands.
func usage(w io.Writer) {
	printHelp(w, mainHelp())
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'ftpfs COMMAND -h' for the flags of a command, 'ftpfs help --man | man -l -' for the manual.")
}
