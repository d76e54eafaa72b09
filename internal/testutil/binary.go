package testutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The ftpfs binary is built once per `go test` run. The go command runs
// the test binaries of a run as its children, several at once: they share
// a directory named after it (its PID and start time, which no later
// process repeats), and the first to lock it builds there. The directory
// is never reused by another run, so the binary cannot be stale the way
// one found by a hash of the sources could be (toolchain, flags and
// environment are inputs too); directories of runs that ended are removed.
// A test binary not started by the go command shares with no one.

// launch is the test process as it started, before a test changed HOME,
// PATH or the working directory: the build follows none of them (a HOME
// of a temp dir would mean a cold build cache, or no go command at all).
var launch = struct {
	env        []string
	dir, goCmd string
	base       string // holds a directory per run
}{env: os.Environ()}

func init() {
	launch.dir, _ = os.Getwd()
	launch.goCmd, _ = exec.LookPath("go")
	if d, err := os.UserCacheDir(); err == nil {
		launch.base = filepath.Join(d, "ftpfs-test")
	} else {
		launch.base = filepath.Join(os.TempDir(), fmt.Sprintf("ftpfs-test-%d", os.Geteuid()))
	}
}

var binary struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the path of the ftpfs command built from this module's
// source, for tests that run it as a user does.
func Binary(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() {
		start := time.Now()
		var built bool
		binary.path, built, binary.err = buildOnce(launch.base)
		if built {
			t.Logf("built %s in %v", binary.path, time.Since(start).Round(time.Millisecond))
		}
	})
	if binary.err != nil {
		t.Fatalf("build ftpfs: %v", binary.err)
	}
	return binary.path
}

// buildOnce returns the run's binary, and whether this call built it.
func buildOnce(base string) (bin string, built bool, err error) {
	if err := privateDir(base); err != nil {
		return "", false, err
	}
	owner := os.Getppid()
	if !isGoCommand(owner) {
		owner = os.Getpid()
	}
	key, err := processKey(owner)
	if err != nil {
		return "", false, fmt.Errorf("naming this run's directory: %w", err)
	}
	removeEnded(base)
	dir := filepath.Join(base, key)
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", false, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", false, err
	}
	defer lock.Close() // and the lock with it
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", false, err
	}
	bin = filepath.Join(dir, "ftpfs")
	if _, err := os.Stat(bin); err == nil {
		return bin, false, nil
	}
	// Into place by rename: a build that dies half-way leaves no binary
	// that the next test process would take for done.
	tmp := bin + ".tmp"
	if launch.goCmd == "" {
		return "", false, errors.New("no go command in PATH")
	}
	cmd := exec.Command(launch.goCmd, "build", "-o", tmp, "ftpfs/cmd/ftpfs")
	cmd.Dir, cmd.Env = launch.dir, launch.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", false, fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, true, os.Rename(tmp, bin)
}

// privateDir makes dir if needed and checks that only this user can
// change it: the binary found there is run, as root in CI.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !st.IsDir() || !ok || int(sys.Uid) != os.Geteuid() || st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is not a directory of this user's alone (%v)", dir, st.Mode())
	}
	return nil
}

func isGoCommand(pid int) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return err == nil && strings.TrimSpace(string(comm)) == "go"
}

// processKey names a process for as long as it lives: its PID and its
// start time in clock ticks since boot (field 22 of /proc/PID/stat).
func processKey(pid int) (string, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	// The command name, in parentheses, may hold spaces: count after it.
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(f) < 20 {
		return "", fmt.Errorf("/proc/%d/stat: %q", pid, stat)
	}
	return fmt.Sprintf("%d-%s", pid, f[19]), nil
}

var runDirName = regexp.MustCompile(`^([0-9]+)-[0-9]+$`)

// removeEnded removes the directories of runs whose process has ended.
func removeEnded(base string) {
	ents, _ := os.ReadDir(base)
	for _, e := range ents {
		m := runDirName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		key, err := processKey(pid)
		if errors.Is(err, os.ErrNotExist) || err == nil && key != e.Name() {
			os.RemoveAll(filepath.Join(base, e.Name()))
		}
	}
}
