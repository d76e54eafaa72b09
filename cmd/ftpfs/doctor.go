package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"ftpfs/conn"
)

var doctorHelp = help{
	name:    "doctor",
	args:    "[--read-only] [mount flags] SERVER",
	summary: "probe a server and recommend the ftpfs mount line for it",
	about: "Logs in as ftpfs mount would (SERVER, --user, $" + passwordEnv + ", --password-stdin,\n" +
		"~/.netrc, the TLS flags) and probes what the server offers and how it behaves:\n" +
		"FEAT, MLSD/MLST, STAT and LIST listings, EPSV/PASV, TLS, its connection limit\n" +
		"(up to 16 at once), the round trip, the time zone of LIST, names; then, in a\n" +
		"scratch directory made in SERVER's path and removed afterwards, uploads,\n" +
		"SIZE, setting times, SITE CHMOD, a rename over a file, REST STOR, APPE and\n" +
		"checksums. Each finding is one line: ok, unsupported (the mount does\n" +
		"without) or PROBLEM, with the flag it calls for; the last line is the\n" +
		"ftpfs mount command to use. Every probe is bounded by --timeout.\n" +
		"Exits 1 when no login was possible, or when interrupted.\n",
	lists: func() []helpList {
		var ro bool
		mount := new(mountFlags).flagSet()
		return []helpList{
			{"flags", flagItems(doctorFlagSet(&ro), nil)},
			{"mount flags (those of the login and the probes count)", flagItems(mount, func(fl *flag.Flag) bool {
				return doctorUses[fl.Name]
			})},
		}
	},
}

// doctorUses are the mount flags that change what doctor does; the rest
// are accepted, so that a mount's command line can be given as it is,
// and carried into the recommended line.
var doctorUses = map[string]bool{
	"tls": true, "tls-insecure": true, "tls-ca": true, "tls-fingerprint": true,
	"user": true, "password-stdin": true, "timeout": true, "connections": true,
	"trust-pasv-ip": true, "telnet-iac": true, "debug-ftp": true, "max-listing-entries": true,
	"active": true, "proxy": true, "tls-client-cert": true, "tls-client-key": true, "tls-max-version": true,
	"encoding": true,
}

// doctorFlagSet binds doctor's own flags, which the mount does not have.
func doctorFlagSet(readOnly *bool) *flag.FlagSet {
	fset := flag.NewFlagSet("ftpfs doctor", flag.ContinueOnError)
	fset.BoolVar(readOnly, "read-only", false, "change nothing on the server: skip the write probes (so does -o ro)")
	return fset
}

// runDoctor is the "doctor" subcommand.
func runDoctor(ctx context.Context, args []string, stderr io.Writer) int {
	in := hostInputs()
	in.stdin = os.Stdin
	in.prompt = func(msg string) (string, error) { return promptPassword(ctx, msg) }
	return doctor(ctx, args, os.Stdout, stderr, in)
}

// doctorPlaceholder stands for the mountpoint the mount's parser wants;
// doctor mounts nothing.
const doctorPlaceholder = "MOUNTPOINT"

func doctor(ctx context.Context, args []string, stdout, stderr io.Writer, in mountInputs) int {
	readOnly, mountArgs, err := splitDoctorArgs(args)
	if err == nil {
		err = oneServer(mountArgs)
	}
	var c *mountConfig
	if err == nil {
		c, err = parseMountArgs(append(mountArgs, doctorPlaceholder), in)
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		printHelp(stdout, doctorHelp)
		return 0
	case err != nil && ctx.Err() != nil:
		fmt.Fprintln(stderr, "ftpfs doctor: interrupted")
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "ftpfs doctor: %s (see ftpfs doctor -h)\n", oneLine(err))
		return 2
	}
	for _, w := range c.warnings {
		fmt.Fprintf(stderr, "ftpfs doctor: warning: %s\n", w)
	}
	cfg := c.opts.Conn
	if c.debugFTP {
		// The limit probe logs in many connections at once.
		cfg.Trace = traceWriter{&syncWriter{w: stderr}}
	}
	o := conn.ProbeOptions{Dir: c.opts.Root, ReadOnly: readOnly || c.opts.ReadOnly}
	fmt.Fprintf(stdout, "ftpfs doctor: %s as %s\n", c.server, cfg.User)
	var advice []conn.Finding
	err = conn.Probe(ctx, cfg, o, func(f conn.Finding) {
		line := fmt.Sprintf("%-11s  %s: %s", verdictWord[f.Verdict], f.Topic, f.Detail)
		if flags := adviceFlags(f); len(flags) > 0 {
			line += " → " + strings.Join(flags, " ")
			advice = append(advice, f)
		}
		fmt.Fprintln(stdout, escapeControl(line))
	})
	if err != nil && ctx.Err() != nil {
		fmt.Fprintln(stdout, "\ninterrupted")
		return 1
	}
	if err != nil {
		fmt.Fprintf(stdout, "\nno login: nothing more to probe\n")
		if len(advice) > 0 {
			fmt.Fprintf(stdout, "to try:\n  %s\n", recommendedLine(mountArgs, advice))
		}
		return 1
	}
	fmt.Fprintf(stdout, "\nrecommended:\n  %s\n", recommendedLine(mountArgs, advice))
	return 0
}

var verdictWord = map[conn.Verdict]string{
	conn.ProbeOK: "ok", conn.ProbeUnsupported: "unsupported", conn.ProbeProblem: "PROBLEM",
}

// splitDoctorArgs takes doctor's own flags out of args (before a "--");
// the rest are the mount's.
func splitDoctorArgs(args []string) (readOnly bool, rest []string, err error) {
	fset := doctorFlagSet(&readOnly)
	for i, a := range args {
		if a == "--" {
			return readOnly, append(rest, args[i:]...), nil
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || fset.Lookup(name) == nil {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			val = "true"
		}
		if err := fset.Set(name, val); err != nil {
			return false, nil, fmt.Errorf("--%s: %v", name, err)
		}
	}
	return readOnly, rest, nil
}

// oneServer checks that the mount's arguments name one SERVER and no
// mountpoint, which the mount's parser would take for one.
func oneServer(args []string) error {
	fset := new(mountFlags).flagSet()
	fset.SetOutput(io.Discard)
	pos, err := parseInterspersed(fset, splitShortO(args))
	switch {
	case err != nil:
		return err
	case len(pos) == 0:
		return errors.New("missing SERVER")
	case len(pos) > 1:
		return fmt.Errorf("want one SERVER, got %d arguments", len(pos))
	}
	return nil
}

// adviceFlags spells a finding's advice as mount flags.
func adviceFlags(f conn.Finding) []string {
	switch f.Advice {
	case conn.AdviseNone:
		return nil
	case conn.AdviseConnections:
		return []string{"--connections", strconv.Itoa(f.N)}
	case conn.AdviseNoAtomicUpload:
		return []string{"--no-atomic-upload"}
	case conn.AdviseTrustPASVIP:
		return []string{"--trust-pasv-ip"}
	case conn.AdviseChmodIgnore:
		return []string{"-o", "chmod=ignore"}
	case conn.AdviseTLS:
		return []string{"--tls"}
	case conn.AdviseFingerprint:
		return []string{"--tls-fingerprint", f.Value}
	case conn.AdviseServerTimezone:
		return []string{"--server-timezone", f.Value}
	case conn.AdviseEncoding:
		return []string{"--encoding", f.Value}
	}
	return nil
}

// replaces are the flags of the user's command line that an advice takes
// the place of, each with whether it takes a value.
var replaces = map[conn.Advice]map[string]bool{
	conn.AdviseConnections: {"connections": true},
	conn.AdviseFingerprint: {"tls-insecure": false},
	// A zone given wrongly gives way to the one found.
	conn.AdviseServerTimezone: {"server-timezone": true},
	conn.AdviseEncoding:       {"encoding": true},
}

// recommendedLine is the mount command: the advised flags, the user's
// arguments without the flags those replace, and a mountpoint to fill in.
func recommendedLine(args []string, advice []conn.Finding) string {
	line := []string{"ftpfs", "mount"}
	drop := map[string]bool{}
	seen := map[string]bool{}
	for _, f := range advice {
		flags := adviceFlags(f)
		if key := strings.Join(flags, " "); !seen[key] {
			seen[key] = true
			line = append(line, flags...)
		}
		for name, hasVal := range replaces[f.Advice] {
			drop[name] = hasVal
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, _, inline := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if hasVal, ok := drop[name]; ok && strings.HasPrefix(a, "-") && a != "--" {
			if hasVal && !inline {
				i++ // its value
			}
			continue
		}
		line = append(line, a)
	}
	line = append(line, doctorPlaceholder)
	for i, w := range line {
		line[i] = shellQuote(w)
	}
	return strings.Join(line, " ")
}

// shellQuote quotes w for a POSIX shell where it needs it.
func shellQuote(w string) string {
	if w != "" && strings.Trim(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-[]") == "" {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}
