package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
)

// passwordEnv names the environment variable holding the password of
// --user: a password on argv would be visible to every local user in ps.
const passwordEnv = "FTPFS_PASSWORD"

// mountInputs is everything parsing reads besides the arguments, so that
// tests control it.
type mountInputs struct {
	lookupEnv func(string) (string, bool)
	stdin     io.Reader // for --password-stdin
	home      string    // for ~/.netrc and ~/.cache; "" if unknown
	uid, gid  uint32    // defaults of -o uid=, gid=
	username  string    // the login name of uid, "" if unknown
	// prompt asks for a password on the terminal without echo; nil or
	// errNoTerminal when there is none.
	prompt func(msg string) (string, error)
}

// parseInterspersed parses flags before, between and after the positional
// arguments, as sshfs users expect ("ftpfs mount host /mnt -o ro"); "--"
// ends the flags.
func parseInterspersed(fset *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fset.Parse(args); err != nil {
			return nil, err
		}
		rest := fset.Args()
		if n := len(args) - len(rest); len(rest) == 0 || (n > 0 && args[n-1] == "--") {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// parseOneMountpoint parses the arguments of a command that takes flags
// and one MOUNTPOINT, with check for what the flags must satisfy. When
// done, the command ends with rc: it printed its help on helpOut (0) or
// a usage error on stderr (2).
func parseOneMountpoint(fset *flag.FlagSet, args []string, h help, helpOut, stderr io.Writer, check func() error) (mp string, rc int, done bool) {
	fset.SetOutput(io.Discard)
	pos, err := parseInterspersed(fset, args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(helpOut, h)
		return "", 0, true
	}
	if err == nil && len(pos) != 1 {
		err = errors.New("want one MOUNTPOINT")
	}
	if err == nil && check != nil {
		err = check()
	}
	if err != nil {
		fmt.Fprintf(stderr, "ftpfs %s: %s (see ftpfs %s -h)\n", h.name, oneLine(err), h.name)
		return "", 2, true
	}
	return pos[0], 0, false
}

// hostInputs are the mountInputs of this process, without stdin or prompt.
func hostInputs() mountInputs {
	in := mountInputs{lookupEnv: os.LookupEnv, uid: uint32(os.Getuid()), gid: uint32(os.Getgid())}
	var dbHome string
	if u, err := user.LookupId(strconv.Itoa(os.Getuid())); err == nil {
		in.username, dbHome = u.Username, u.HomeDir
	}
	in.home = homeDir(os.Getenv("HOME"), in.uid, dbHome)
	return in
}

// homeDir is the home directory: $HOME (env), else the one of the user
// database (db). mount(8) clears $HOME, and mount.fuse3 then sets it to
// /root, whoever runs it: a user's mount from fstab would look for
// /root/.netrc.
func homeDir(env string, uid uint32, db string) string {
	if env == "" || (env == "/root" && uid != 0) {
		return db
	}
	return env
}

// oneLine flattens an error message: the parent relays the child's reason
// in one line, and every message of this command is one line. What the
// server put in it cannot drive the terminal: controls are escaped.
func oneLine(err error) string {
	return escapeControl(strings.Join(strings.Fields(err.Error()), " "))
}

// syncWriter serialises writes: the logger, the command log and the
// readiness line can all go to stderr from different goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
