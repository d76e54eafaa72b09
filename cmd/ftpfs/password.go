package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"ftpfs/conn"
)

var errNoTerminal = errors.New("no terminal")

// resolveCredentials finds the user, when none was named, and the
// password. The user comes from SERVER or --user, else from ~/.netrc,
// else anonymous. The password comes from --password-file, which was
// asked for by name, then $FTPFS_PASSWORD, then --password-stdin, then
// ~/.netrc, then a prompt on the terminal.
func resolveCredentials(c *mountConfig, in mountInputs) error {
	cc := &c.opts.Conn
	if c.passwordFile != "" && c.passwordStdin {
		return errors.New("--password-file and --password-stdin each give the password: use one of them")
	}
	envPW, _ := in.lookupEnv(passwordEnv)
	needNetrc := cc.User == "" || (envPW == "" && !c.passwordStdin && c.passwordFile == "")
	var entry *netrcEntry
	if needNetrc {
		n, err := readNetrc(in.lookupEnv, in.home)
		if err != nil {
			return err
		}
		if n != nil {
			if e, ok := n.lookup(c.server.host, cc.User); ok {
				entry = &e
			}
		}
	}
	if cc.User == "" && entry != nil {
		cc.User = entry.login
	}
	c.server.user = cc.User

	if cc.User == "" { // anonymous: conn supplies the conventional password
		for flag, set := range map[string]bool{"--password-stdin": c.passwordStdin, "--password-file": c.passwordFile != ""} {
			if set {
				return fmt.Errorf("%s: no user to log in as: give ftp://USER@host or --user", flag)
			}
		}
		if envPW != "" {
			c.warnings = append(c.warnings, fmt.Sprintf("$%s is set but no user is named: logging in anonymously", passwordEnv))
		}
		if entry != nil {
			cc.Password = entry.password
		}
		return nil
	}

	switch {
	case c.passwordFile != "":
		pw, err := readPasswordFile(c.passwordFile)
		if err != nil {
			return err
		}
		cc.Password = pw
	case envPW != "":
		cc.Password = envPW
	case c.passwordStdin:
		pw, err := readPasswordLine(in.stdin)
		if err != nil {
			return err
		}
		cc.Password = pw
	case entry != nil && entry.password != "":
		cc.Password = entry.password
	default:
		var err error = errNoTerminal
		var pw string
		if in.prompt != nil {
			pw, err = in.prompt(fmt.Sprintf("Password for %s@%s: ", cc.User, c.server.host))
		}
		switch {
		case errors.Is(err, errNoTerminal):
			return fmt.Errorf("no password for user %q and no terminal to ask on: set $%s, use --password-stdin or add it to ~/.netrc", cc.User, passwordEnv)
		case err != nil:
			return fmt.Errorf("password prompt: %w", err)
		case pw == "":
			return errors.New("empty password")
		}
		cc.Password = pw
	}
	return nil
}

// readPasswordFile reads the password from the first line of file,
// which must be the caller's alone (readSecretFile). Errors never quote
// the file's content.
func readPasswordFile(file string) (string, error) {
	b, err := readSecretFile(file, "password file "+file)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if pw := strings.TrimSuffix(line, "\r"); pw != "" {
		return pw, nil
	}
	return "", fmt.Errorf("password file %s: first line is empty", file)
}

// readPasswordLine reads the first line of r, without its line ending.
func readPasswordLine(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("--password-stdin: no stdin")
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("--password-stdin: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("--password-stdin: the first line of stdin is empty")
	}
	return line, nil
}

// plainTextWarning is the warning for a password sent in clear beyond
// this machine; "" when there is nothing to warn about.
func plainTextWarning(c *mountConfig) string {
	cc := &c.opts.Conn
	if cc.TLS != conn.TLSNone || cc.User == "" || cc.User == "anonymous" || cc.User == "ftp" {
		return ""
	}
	if ip := net.ParseIP(c.server.host); c.server.host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return ""
	}
	return "plain FTP: the password and the data cross the network unencrypted (use --tls or ftps:// if the server offers it)"
}

// promptPassword asks on the terminal with echo off, as ssh does: on
// /dev/tty, so that it works whatever stdin is. Ctrl-C cancels ctx, and
// the terminal is restored before returning.
func promptPassword(ctx context.Context, msg string) (string, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", errNoTerminal
	}
	defer tty.Close()
	var saved syscall.Termios
	if err := termios(tty, syscall.TCGETS, &saved); err != nil {
		return "", errNoTerminal
	}
	quiet := saved
	quiet.Lflag &^= syscall.ECHO
	quiet.Lflag |= syscall.ECHONL // the newline still shows
	if err := termios(tty, syscall.TCSETS, &quiet); err != nil {
		return "", err
	}
	defer termios(tty, syscall.TCSETS, &saved)
	fmt.Fprint(tty, msg)

	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(tty).ReadString('\n')
		ch <- result{line, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil && r.err != io.EOF {
			return "", r.err
		}
		return strings.TrimSuffix(strings.TrimSuffix(r.line, "\n"), "\r"), nil
	case <-ctx.Done():
		fmt.Fprintln(tty)
		return "", errors.New("interrupted")
	}
}

// termios runs the TCGETS or TCSETS ioctl on f through SyscallConn, which,
// unlike Fd, leaves the file in non-blocking mode (so Close interrupts a
// read).
func termios(f *os.File, req uintptr, t *syscall.Termios) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(unsafe.Pointer(t)))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// readSecretFile reads a file of passwords (a netrc, a password file),
// refusing it unless it is the caller's alone: owned by the caller, who
// alone can then read or change it, with no group or other permission
// bit. Errors start with name, how the caller calls the file.
func readSecretFile(path, name string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is in name already
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		what := "accessible"
		switch {
		case perm&0o044 != 0:
			what = "readable"
		case perm&0o022 != 0:
			what = "writable"
		}
		return nil, fmt.Errorf("%s is %s by group or others (mode %04o): chmod 600 it", name, what, perm)
	} else if perm != 0o600 && perm != 0o400 {
		// A secret is data: an execute bit, or none to read it, says the
		// file is not what it should be.
		return nil, fmt.Errorf("%s has mode %04o, not 0600 or 0400: chmod 600 it", name, perm)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Getuid() {
		return nil, fmt.Errorf("%s is owned by uid %d, not by you (uid %d): chown it or use your own", name, sys.Uid, os.Getuid())
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}
