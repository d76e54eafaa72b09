package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"strings"
	"testing"
)

func TestMountUsage(t *testing.T) {
	var out bytes.Buffer
	if code := runMount(context.Background(), []string{"-h"}, &out); code != 0 {
		t.Errorf("exit %d", code)
	}
	for _, s := range []string{"usage: ftpfs mount [flags] SERVER MOUNTPOINT", "-f, --foreground", "--cache-size BYTES", "-o OPTS", "--timeout DUR", "(default 30s)", passwordEnv} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("usage lacks %q:\n%s", s, out.String())
		}
	}
	out.Reset()
	if code := dispatch(context.Background(), []string{"help"}, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "mount [flags] SERVER MOUNTPOINT") || !strings.Contains(out.String(), "unmount [--lazy] MOUNTPOINT") {
		t.Errorf("help: %d %q", code, out.String())
	}
}

func TestRunUnmountUsage(t *testing.T) {
	var out bytes.Buffer
	if code := runUnmount(context.Background(), nil, &out); code != 2 || !strings.Contains(out.String(), "want one MOUNTPOINT") {
		t.Errorf("no args: %d %q", code, out.String())
	}
	out.Reset()
	if code := runUnmount(context.Background(), []string{"-h"}, &out); code != 0 || !strings.Contains(out.String(), "--lazy") {
		t.Errorf("-h: %d %q", code, out.String())
	}
}

func TestRunServeUsage(t *testing.T) {
	var out bytes.Buffer
	if code := runServe(context.Background(), []string{"-h"}, &out); code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	for _, s := range []string{"usage: ftpfs serve", "--listen HOST:PORT", "--pasv-ports MIN-MAX", "--fault-stall-after N", passwordEnv} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("usage lacks %q:\n%s", s, out.String())
		}
	}
}

// TestHelp: every command's help comes from the one printer, with its
// synopsis first and each of its flags listed, and "ftpfs help" lists
// every command.
func TestHelp(t *testing.T) {
	flagSets := map[string]*flag.FlagSet{
		"mount":   new(mountFlags).flagSet(),
		"unmount": unmountFlagSet(new(bool)),
		"serve":   new(serveFlags).flagSet(),
		"status":  statusFlagSet(new(string)),
		"version": versionFlagSet(),
		"doctor":  doctorFlagSet(new(bool)),
		"stats":   statsFlagSet(new(statsFlags)),
	}
	var all bytes.Buffer
	if code := dispatch(context.Background(), []string{"help"}, &all, io.Discard); code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	if len(commands) != len(flagSets) {
		t.Fatalf("%d commands, %d flag sets", len(commands), len(flagSets))
	}
	for _, c := range commands {
		synopsis := strings.TrimSpace(c.help.name + " " + c.help.args)
		if !strings.Contains(all.String(), "\n  "+synopsis+"\n        "+c.help.summary+"\n") {
			t.Errorf("ftpfs help lacks %q:\n%s", synopsis, all.String())
		}
		var out bytes.Buffer
		printHelp(&out, c.help)
		if !strings.HasPrefix(out.String(), "usage: ftpfs "+synopsis+"\n") {
			t.Errorf("%s: help starts %q", c.help.name, out.String())
		}
		flagSets[c.help.name].VisitAll(func(fl *flag.Flag) {
			long := "--" + fl.Name
			if len(fl.Name) == 1 {
				long = "-" + fl.Name
			}
			if !strings.Contains(out.String(), "  "+long) && !strings.Contains(out.String(), ", "+long) {
				t.Errorf("%s: help lacks %s:\n%s", c.help.name, long, out.String())
			}
		})
	}

	// status answers -h on stdout, as before.
	var out, errb bytes.Buffer
	if code := status([]string{"-h"}, &out, &errb, inputs("/home/u", nil)); code != 0 || !strings.HasPrefix(out.String(), "usage: ftpfs status [--cache-dir DIR]\n") || !strings.Contains(out.String(), "--cache-dir DIR") {
		t.Errorf("status -h: %d %q %q", code, out.String(), errb.String())
	}
}
