package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"ftpfs/fs"
	"ftpfs/internal/private"
)

// mountHandle is what the command needs of a mount; fs.Mounted has it, and
// tests replace mountFS to run without FUSE.
type mountHandle interface {
	Wait()
	Unmount() error
}

// mountFS mounts; a variable so that tests can inject a fake.
var mountFS = func(ctx context.Context, mountpoint string, o fs.Options) (mountHandle, error) {
	m, err := fs.Mount(ctx, mountpoint, o)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return m, nil
}

// runMount is the "mount" subcommand.
func runMount(ctx context.Context, args []string, stderr io.Writer) int {
	if fd, ok := os.LookupEnv(daemonEnv); ok {
		return runDaemonChild(ctx, args, fd, stderr)
	}
	in := hostInputs()
	in.stdin = os.Stdin
	in.prompt = func(msg string) (string, error) { return promptPassword(ctx, msg) }
	c, err := parseMountArgs(args, in)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stderr, mountHelp)
		return 0
	}
	if err != nil && ctx.Err() != nil { // Ctrl-C at the password prompt
		fmt.Fprintln(stderr, "ftpfs mount: interrupted")
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "ftpfs mount: %s (see ftpfs mount -h)\n", oneLine(err))
		return 2
	}
	if w := plainTextWarning(c); w != "" {
		c.warnings = append(c.warnings, w)
	}
	for _, w := range c.warnings {
		fmt.Fprintf(stderr, "ftpfs mount: warning: %s\n", w)
	}
	if err := checkMountpoint(c.mountpoint); err != nil {
		fmt.Fprintf(stderr, "ftpfs mount: %s\n", oneLine(err))
		return 1
	}
	if os.Geteuid() != 0 {
		if err := checkUserFUSE(ctx, c.mountpoint); err != nil {
			fmt.Fprintf(stderr, "ftpfs mount: %s\n", oneLine(err))
			return 1
		}
	}
	if c.opts.AllowOther && os.Geteuid() != 0 {
		conf, _ := os.ReadFile("/etc/fuse.conf")
		if !fuseConfAllowsOther(string(conf)) {
			fmt.Fprintln(stderr, "ftpfs mount: -o allow_other needs a line user_allow_other in /etc/fuse.conf (or root)")
			return 1
		}
	}
	// Private (0700, this user's, no symlink): the cache holds file
	// contents, the log holds paths, and another user must not choose
	// where they go.
	if err := private.MkdirAll(c.opts.CacheDir); err != nil {
		fmt.Fprintf(stderr, "ftpfs mount: cache dir: %s\n", oneLine(err))
		return 1
	}
	if c.foreground {
		return mountForeground(ctx, c, stderr)
	}
	p, err := startDaemon(ctx, args, c)
	if err != nil {
		fmt.Fprintf(stderr, "ftpfs mount: %s\n", oneLine(err))
		return 1
	}
	p.Release()
	return 0
}

// fuseConfAllowsOther reports whether /etc/fuse.conf lets users mount with
// allow_other; fusermount3 would otherwise fail with a vaguer message.
func fuseConfAllowsOther(conf string) bool {
	for _, l := range strings.Split(conf, "\n") {
		if strings.TrimSpace(l) == "user_allow_other" {
			return true
		}
	}
	return false
}

// newMountLogger logs to w at --log-level, at debug level when a debug
// flag asks for it.
func newMountLogger(w io.Writer, c *mountConfig) *slog.Logger {
	level := c.logLevel
	if c.debugFTP || c.opts.Debug {
		level = slog.LevelDebug
	}
	return slog.New(newSafeTextHandler(w, level)).With("mountpoint", c.mountpoint)
}

// withLogging points the mount's logs, and the FTP trace when asked, at w.
func withLogging(c *mountConfig, w io.Writer) *slog.Logger {
	logger := newMountLogger(w, c)
	c.opts.Logger = logger
	c.opts.Conn.Logger = logger
	if c.debugFTP {
		c.opts.Conn.Trace = traceWriter{w}
	}
	return logger
}

// mountForeground mounts in this process and serves until a signal or an
// unmount from outside.
func mountForeground(ctx context.Context, c *mountConfig, stderr io.Writer) int {
	w := &syncWriter{w: stderr}
	logger := withLogging(c, w)
	st, err := listenStats(c, logger)
	if err != nil {
		fmt.Fprintf(w, "ftpfs mount: %s\n", oneLine(err))
		return 1
	}
	m, err := mountFS(ctx, c.mountpoint, c.opts)
	if err != nil {
		st.close()
		fmt.Fprintf(w, "ftpfs mount: %s\n", oneLine(err))
		return 1
	}
	logger.Info("mounted", "server", c.opts.FsName)
	return serveWithStats(ctx, m, st, logger)
}

// serveMount waits until the mount goes away: unmounted from outside, or
// ctx cancelled (SIGINT, SIGTERM), which unmounts. An unmount that fails
// (EBUSY) keeps serving: exiting would leave a dead mount behind.
func serveMount(ctx context.Context, m mountHandle, logger *slog.Logger) int {
	done := make(chan struct{})
	go func() {
		m.Wait()
		close(done)
	}()
	select {
	case <-done: // Wait has closed the FTP connections too
		logger.Info("unmounted from outside")
		return 0
	case <-ctx.Done():
	}
	for {
		logger.Info("signal: unmounting")
		err := m.Unmount()
		if err == nil {
			<-done
			return 0
		}
		logger.Error("unmount failed; still mounted: close the files open there, or use ftpfs unmount --lazy", "err", err)
		select {
		case <-done:
			return 0
		case <-time.After(5 * time.Second):
		}
	}
}
