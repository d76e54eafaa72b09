package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"ftpfs/internal/private"
)

// daemonEnv marks the background child of "ftpfs mount" and names the file
// descriptor of its socket to the parent. The socket, not argv or the
// environment, carries the credentials: argv is world-readable in /proc.
const daemonEnv = "FTPFS_DAEMON_FD"

// daemonLog is the background mount's log, inside the cache directory.
const daemonLog = "mount.log"

// daemonHello is what the parent sends its background child: the
// credentials it resolved (perhaps by prompting), which argv must never
// carry.
type daemonHello struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// daemonWait bounds how long the parent waits for the child's answer:
// connecting and logging in take a few exchanges, each bounded by timeout.
func daemonWait(timeout time.Duration) time.Duration { return 2*timeout + 10*time.Second }

// startDaemon starts this program again as the background mount and waits
// for its answer. On success the child serves the mount and its process is
// returned; on failure the child is gone, nothing is mounted, and the error
// is the child's one-line reason.
func startDaemon(ctx context.Context, args []string, c *mountConfig) (*os.Process, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	// Non-blocking, so that the runtime poller honours read deadlines.
	syscall.SetNonblock(fds[0], true)
	ours := os.NewFile(uintptr(fds[0]), "ftpfs-daemon")
	theirs := os.NewFile(uintptr(fds[1]), "ftpfs-daemon")
	defer ours.Close()

	logPath := filepath.Join(c.opts.CacheDir, daemonLog)
	// Never through a symlink, nor into a file that is not ours alone.
	logf, err := private.OpenAppend(logPath)
	if err != nil {
		theirs.Close()
		return nil, fmt.Errorf("log: %w", err)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		theirs.Close()
		logf.Close()
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:   exe,
		Args:   append([]string{os.Args[0], "mount"}, args...),
		Env:    daemonEnviron(os.Environ()),
		Stdin:  devnull,
		Stdout: logf,
		Stderr: logf,
		// ExtraFiles[0] is fd 3 in the child.
		ExtraFiles: []*os.File{theirs},
		// A new session: no controlling terminal, no SIGINT or SIGHUP from
		// the shell that started it.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	markInheritedCloseOnExec()
	err = cmd.Start()
	theirs.Close()
	logf.Close()
	devnull.Close()
	if err != nil {
		return nil, fmt.Errorf("start the mount process: %w", err)
	}

	hello, _ := json.Marshal(daemonHello{User: c.opts.Conn.User, Password: c.opts.Conn.Password})
	ours.SetDeadline(time.Now().Add(daemonWait(c.opts.Conn.Timeout)))
	stop := context.AfterFunc(ctx, func() { ours.SetDeadline(time.Now()) })
	defer stop()
	var line string
	if _, err = ours.Write(append(hello, '\n')); err == nil {
		line, err = bufio.NewReader(ours).ReadString('\n')
	}

	switch reason, isErr := strings.CutPrefix(line, "error: "); {
	case line == "ok\n":
		return cmd.Process, nil
	case isErr && err == nil:
		reapChild(cmd)
		return nil, errors.New(strings.TrimSpace(reason))
	case errors.Is(err, os.ErrDeadlineExceeded):
		cmd.Process.Signal(syscall.SIGTERM) // the child unmounts if it got that far
		reapChild(cmd)
		// The child may have mounted after all, just before it died.
		if ok, _ := isMountPoint(c.mountpoint); ok {
			unmountPath(c.mountpoint, true)
		}
		if ctx.Err() != nil {
			return nil, errors.New("interrupted")
		}
		return nil, fmt.Errorf("no answer from the mount process within %v (log: %s)", daemonWait(c.opts.Conn.Timeout), logPath)
	default:
		state := reapChild(cmd)
		return nil, fmt.Errorf("the mount process ended (%v) before mounting (log: %s)", state, logPath)
	}
}

// markInheritedCloseOnExec sets close-on-exec on every descriptor above
// stderr. Descriptors this process inherited lack it, and exec would pass
// them on to the daemon, which would hold, say, the pipe of a script that
// waits for EOF, for the mount's whole life.
func markInheritedCloseOnExec() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// daemonEnviron is the child's environment: the parent's, minus the
// password (the socket carries it, and /proc/PID/environ would keep it for
// the mount's lifetime), plus the marker.
func daemonEnviron(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if strings.HasPrefix(kv, passwordEnv+"=") || strings.HasPrefix(kv, daemonEnv+"=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, daemonEnv+"=3")
}

// reapChild waits for the child to exit, asking it with SIGTERM (it then
// unmounts) and insisting with SIGKILL if it does not.
func reapChild(cmd *exec.Cmd) string {
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	for _, sig := range []syscall.Signal{0, syscall.SIGTERM, syscall.SIGKILL} {
		if sig != 0 {
			cmd.Process.Signal(sig)
		}
		select {
		case <-done:
			return cmd.ProcessState.String()
		case <-time.After(5 * time.Second):
		}
	}
	<-done
	return cmd.ProcessState.String()
}

// runDaemonChild is the background mount: it gets the credentials from
// its parent, mounts, answers "ok" or "error: REASON", and serves.
func runDaemonChild(ctx context.Context, args []string, fdStr string, stderr io.Writer) int {
	fd, err := strconv.Atoi(fdStr)
	if err != nil || fd < 3 {
		fmt.Fprintf(stderr, "ftpfs mount: bad %s\n", daemonEnv)
		return 2
	}
	// Not inherited by fusermount3 or anything else this process starts.
	syscall.CloseOnExec(fd)
	parent := os.NewFile(uintptr(fd), "ftpfs-daemon")
	defer parent.Close()
	// stderr is the log the parent opened, until the rotating one is open.
	var w io.Writer = &syncWriter{w: stderr}
	fail := func(err error) int {
		fmt.Fprintf(parent, "error: %s\n", oneLine(err))
		fmt.Fprintf(w, "ftpfs mount: %s\n", oneLine(err))
		return 1
	}

	var hello daemonHello
	line, err := bufio.NewReader(parent).ReadString('\n')
	if err != nil {
		return fail(fmt.Errorf("reading from the parent: %w", err))
	}
	if err := json.Unmarshal([]byte(line), &hello); err != nil {
		return fail(fmt.Errorf("reading from the parent: %w", err))
	}
	c, err := parseMountFlags(args, hostInputs())
	if err != nil {
		return fail(err)
	}
	c.opts.Conn.User, c.opts.Conn.Password = hello.User, hello.Password
	// Stdout and stderr follow the log when it rotates: a panic lands in
	// the current file.
	rl, err := openRotatingLog(filepath.Join(c.opts.CacheDir, daemonLog), c.logSize, 1, 2)
	if err != nil {
		return fail(fmt.Errorf("log: %w", err))
	}
	defer rl.Close()
	w = rl
	// go-fuse's --debug-fuse lines go through the log package.
	log.SetOutput(rl)
	// Hold no directory busy: the mount may outlive any working directory.
	os.Chdir("/")

	logger := withLogging(c, w)
	st, err := listenStats(c, logger)
	if err != nil {
		return fail(err)
	}
	m, err := withHelperReason(w, func() (mountHandle, error) { return mountFS(ctx, c.mountpoint, c.opts) })
	if err != nil {
		st.close()
		return fail(err)
	}
	if _, err := io.WriteString(parent, "ok\n"); err != nil {
		// The parent gave up and told the user the mount failed: make it so.
		logger.Error("parent gone after mounting; unmounting", "err", err)
		m.Unmount()
		st.close()
		return 1
	}
	parent.Close()
	logger.Info("mounted", "server", c.opts.FsName, "pid", os.Getpid())
	return serveWithStats(ctx, m, st, logger)
}
