package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// help is one command's help text: printHelp prints it for "-h", and
// "ftpfs help" lists every command by its name, args and summary.
type help struct {
	name, args string // "mount", "[flags] SERVER MOUNTPOINT"
	summary    string // one line
	about      string // paragraphs between the synopsis and the lists
	// lists returns the flag lists, from a fresh flag set, so that the
	// defaults shown are those a parse starts from.
	lists func() []helpList
}

// helpList is a titled list of items: flags, or commands.
type helpList struct {
	title string
	items []helpItem
}

// helpItem is one flag ("--timeout DUR") or command, and what it does.
// A flag's item also names its flag set, the flag and its argument, by
// which the manual and the README find its note (flagNotes) and set it.
type helpItem struct {
	head, text     string
	set, flag, arg string // "ftpfs mount", "timeout", "DUR"; "" for a command
}

// printHelp prints h, every command's help in the same layout.
func printHelp(w io.Writer, h help) {
	fmt.Fprintf(w, "usage: %s\n", strings.Join(strings.Fields("ftpfs "+h.name+" "+h.args), " "))
	if h.about != "" {
		fmt.Fprintf(w, "\n%s", h.about)
	}
	if h.lists == nil {
		return
	}
	for _, l := range h.lists() {
		fmt.Fprintf(w, "\n%s:\n", l.title)
		for _, it := range l.items {
			fmt.Fprintf(w, "  %s\n        %s\n", it.head, it.text)
		}
	}
}

// flagItems lists the flags of fset that keep accepts (all when nil), spelled
// as the documentation spells them: two dashes for a long name, one for a
// letter. A letter whose usage is "same as --NAME" is shown with NAME.
func flagItems(fset *flag.FlagSet, keep func(*flag.Flag) bool) []helpItem {
	short := map[string]string{} // long name → its one-letter alias
	fset.VisitAll(func(fl *flag.Flag) {
		if long, ok := strings.CutPrefix(fl.Usage, "same as --"); ok && len(fl.Name) == 1 && fset.Lookup(long) != nil {
			short[long] = fl.Name
		}
	})
	var items []helpItem
	fset.VisitAll(func(fl *flag.Flag) {
		if keep != nil && !keep(fl) {
			return
		}
		head := "--" + fl.Name
		if len(fl.Name) == 1 {
			if short[strings.TrimPrefix(fl.Usage, "same as --")] == fl.Name {
				return // shown with its long name
			}
			head = "-" + fl.Name
		} else if s, ok := short[fl.Name]; ok {
			head = "-" + s + ", " + head
		}
		arg, text := flag.UnquoteUsage(fl)
		if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() && arg != "" {
			// A switch that may take a value too: --active, --active=ADDR.
			head, arg = head+", "+head+"="+arg, ""
		}
		if arg != "" {
			head += " " + arg
		}
		switch fl.DefValue {
		case "", "0", "0s", "false":
		default:
			text += fmt.Sprintf(" (default %s)", fl.DefValue)
		}
		items = append(items, helpItem{head: head, text: text, set: fset.Name(), flag: fl.Name, arg: arg})
	})
	return items
}

// flagList is the lists of a command whose flags make one list.
func flagList(flagSet func() *flag.FlagSet) func() []helpList {
	return func() []helpList { return []helpList{{"flags", flagItems(flagSet(), nil)}} }
}

// mainHelp is "ftpfs help": the commands.
func mainHelp() help {
	return help{
		args: "COMMAND [flags] ARGS",
		lists: func() []helpList {
			l := helpList{title: "commands"}
			for _, c := range commands {
				l.items = append(l.items, helpItem{head: strings.TrimSpace(c.help.name + " " + c.help.args), text: c.help.summary})
			}
			return []helpList{l}
		},
	}
}

var mountHelp = help{
	name:    "mount",
	args:    "[flags] SERVER MOUNTPOINT",
	summary: "mount an FTP server (in the background unless -f)",
	about: "SERVER is host, host:port, [v6addr]:port, ftp://[user@]host[:port][/path],\n" +
		"or ftps://... for implicit TLS (port 990). The password comes from --password-file,\n" +
		"$" + passwordEnv + ", --password-stdin, ~/.netrc (or $NETRC) or a prompt, never from the command line.\n" +
		"The mount runs in the background (log: CACHE_DIR/" + daemonLog + ") until 'ftpfs unmount MOUNTPOINT'.\n" +
		"mount(8) runs it as 'ftpfs SERVER MOUNTPOINT -o OPTS' for an fstab line of type fuse.ftpfs.\n",
	lists: flagList(func() *flag.FlagSet { return new(mountFlags).flagSet() }),
}

var unmountHelp = help{
	name:    "unmount",
	args:    "[--lazy] MOUNTPOINT",
	summary: "unmount a mount made by ftpfs mount",
	about:   "Unmounts with fusermount3 -u, fusermount -u, or umount(2) when root.\n",
	lists:   flagList(func() *flag.FlagSet { return unmountFlagSet(new(bool)) }),
}

var serveHelp = help{
	name:    "serve",
	args:    "[flags] DIR",
	summary: "serve DIR over FTP (the server the tests and benchmarks use)",
	about: "Serves DIR over FTP until SIGINT or SIGTERM. The password of --user\n" +
		"comes from $" + passwordEnv + " or --password-file, never from the command line.\n",
	lists: func() []helpList {
		var f serveFlags
		fset := f.flagSet()
		fault := func(fl *flag.Flag) bool { return strings.HasPrefix(fl.Name, "fault-") }
		return []helpList{
			{"flags", flagItems(fset, func(fl *flag.Flag) bool { return !fault(fl) })},
			{"fault injection", flagItems(fset, fault)},
		}
	},
}

var statusHelp = help{
	name:    "status",
	args:    "[--cache-dir DIR]",
	summary: "list files whose upload failed, kept in the cache dir",
	about:   "Lists the files whose upload failed and whose bytes are kept in DIR/staging.\n",
	lists:   flagList(func() *flag.FlagSet { return statusFlagSet(new(string)) }),
}
