package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"

	"ftpfs/internal/private"
)

// defaultLogSize is where the background mount's log starts anew: a
// mount that runs for months with --debug-ftp must not fill the disk.
const defaultLogSize = 10 << 20

// rotatingLog is the background mount's log file. When a write would take
// it past max bytes, the file is renamed to NAME.1 (replacing the one
// before, so one old file is kept) and a new NAME is started; a single
// write larger than max still goes whole into a file of its own. The new
// file is opened as the first was (private.OpenAppend: never through a
// symlink, only a file of this user's), and the descriptors in stdio are
// pointed at it, so that what the runtime writes to stderr (a panic)
// lands in the current file too.
type rotatingLog struct {
	path  string
	max   int64
	stdio []int

	mu   sync.Mutex
	f    *os.File // GUARDED_BY(mu)
	size int64    // GUARDED_BY(mu): bytes in f, as far as this process wrote them
}

func openRotatingLog(path string, max int64, stdio ...int) (*rotatingLog, error) {
	if max <= 0 {
		return nil, errors.New("log size must be positive")
	}
	f, err := private.OpenAppend(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &rotatingLog{path: path, max: max, stdio: stdio, f: f, size: fi.Size()}, nil
}

func (l *rotatingLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.size > 0 && l.size+int64(len(p)) > l.max {
		if err := l.rotate(); err != nil {
			// Keep logging where we are, and say why once per max bytes
			// rather than once per line.
			msg := fmt.Sprintf("ftpfs mount: log rotation failed, still writing here: %s\n", escapeControl(err.Error()))
			n, _ := l.f.WriteString(msg)
			l.size = int64(n)
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

// rotate makes the current file NAME.1 and starts NAME.
func (l *rotatingLog) rotate() error {
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		return err
	}
	f, err := private.OpenAppend(l.path)
	if err != nil {
		return err
	}
	for _, fd := range l.stdio {
		if err := syscall.Dup3(int(f.Fd()), fd, 0); err != nil {
			f.Close()
			return fmt.Errorf("dup3 to %d: %w", fd, err)
		}
	}
	l.f.Close()
	l.f, l.size = f, 0
	return nil
}

func (l *rotatingLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// logLevel is the flag --log-level: the least severe records the mount
// logs.
type logLevel slog.Level

func (l *logLevel) String() string { return strings.ToLower(slog.Level(*l).String()) }

func (l *logLevel) Set(s string) error {
	for _, v := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		if strings.EqualFold(s, v.String()) {
			*l = logLevel(v)
			return nil
		}
	}
	return errors.New("want debug, info, warn or error")
}
