package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ftpfs/fs"
	"ftpfs/internal/testutil"
)

// Environment of the re-executed test binary that plays the background
// mount: what its fake mount does, and where it reports.
const (
	fakeModeEnv = "FTPFS_TEST_FAKE_MOUNT" // ok, fail, crash, hang
	fakeDirEnv  = "FTPFS_TEST_FAKE_DIR"
)

// TestMain turns the test binary into the background mount when the parent
// (a test calling startDaemon) re-executes it, with a fake in place of
// fs.Mount: the handshake is tested without FUSE.
func TestMain(m *testing.M) {
	if _, ok := os.LookupEnv(daemonEnv); ok {
		dir := os.Getenv(fakeDirEnv)
		mountFS = func(ctx context.Context, mp string, o fs.Options) (mountHandle, error) {
			os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o600)
			switch os.Getenv(fakeModeEnv) {
			case "ok":
				os.WriteFile(filepath.Join(dir, "creds"), []byte(o.Conn.User+"\n"+o.Conn.Password), 0o600)
				return newFakeMount(func() { os.WriteFile(filepath.Join(dir, "unmounted"), nil, 0o600) }), nil
			case "fail":
				return nil, errors.New("530 Login\nincorrect")
			case "hostile": // a reply that would drive a terminal
				return nil, errors.New("530 \x1b]0;owned\a\rLogin\x7f")
			case "crash":
				os.Exit(3)
			case "hang":
				<-ctx.Done()
				return nil, ctx.Err()
			}
			return nil, errors.New("unknown fake mode")
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// fakeMount stands in for fs.Mounted: Wait blocks until Unmount or
// outside() is called.
type fakeMount struct {
	once      sync.Once
	done      chan struct{}
	onUnmount func()
	unmounts  int
	mu        sync.Mutex
}

func newFakeMount(onUnmount func()) *fakeMount {
	return &fakeMount{done: make(chan struct{}), onUnmount: onUnmount}
}

func (f *fakeMount) Wait() { <-f.done }

// Stats makes the fake serve ftpfs stats, with a name to recognise it.
func (f *fakeMount) Stats() fs.Stats { return fs.Stats{Server: "ftp://fake/"} }

func (f *fakeMount) Unmount() error {
	f.mu.Lock()
	f.unmounts++
	f.mu.Unlock()
	f.once.Do(func() {
		if f.onUnmount != nil {
			f.onUnmount()
		}
		close(f.done)
	})
	return nil
}

// outside is an unmount by fusermount -u: Wait returns, Unmount was not
// called.
func (f *fakeMount) outside() { f.once.Do(func() { close(f.done) }) }

// inputs returns mountInputs for tests: only vars in the environment, no
// terminal unless prompt is set.
func inputs(home string, vars map[string]string) mountInputs {
	return mountInputs{lookupEnv: env(vars), home: home, uid: 1000, gid: 100}
}

func TestFuseConfAllowsOther(t *testing.T) {
	if fuseConfAllowsOther("# user_allow_other\n#user_allow_other\n") {
		t.Error("commented-out line counted")
	}
	if !fuseConfAllowsOther("mount_max = 10\n  user_allow_other  \n") {
		t.Error("user_allow_other not found")
	}
}

// TestMountForeground runs "ftpfs mount -f" in-process with a fake mount:
// it mounts with the parsed options, logs, and unmounts on a signal (ctx)
// or exits when unmounted from outside.
func TestMountForeground(t *testing.T) {
	const secret = "fg-s3cret"
	t.Setenv("HOME", t.TempDir())
	t.Setenv(passwordEnv, secret)
	mp := t.TempDir()
	cacheDir := filepath.Join(t.TempDir(), "cache")

	for _, how := range []string{"signal", "outside"} {
		t.Run(how, func(t *testing.T) {
			fake := newFakeMount(nil)
			var got fs.Options
			mounted := make(chan struct{})
			old := mountFS
			mountFS = func(ctx context.Context, p string, o fs.Options) (mountHandle, error) {
				if p != mp {
					t.Errorf("mountpoint %q, want %q", p, mp)
				}
				got = o
				close(mounted)
				return fake, nil
			}
			defer func() { mountFS = old }()

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stderr testutil.Buffer
			done := make(chan int, 1)
			go func() {
				done <- runMount(ctx, []string{"-f", "--debug-ftp", "--cache-dir", cacheDir, "ftp://alice@127.0.0.1:2121/", mp}, &stderr)
			}()
			select {
			case <-mounted:
			case code := <-done:
				t.Fatalf("exit %d before mounting: %s", code, stderr.String())
			}
			if how == "signal" {
				cancel()
			} else {
				fake.outside()
			}
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("exit %d, want 0; stderr:\n%s", code, stderr.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("still running 10s after the unmount")
			}
			if wantUnmounts := map[string]int{"signal": 1, "outside": 0}[how]; fake.unmounts != wantUnmounts {
				t.Errorf("Unmount called %d times, want %d", fake.unmounts, wantUnmounts)
			}
			if got.Conn.User != "alice" || got.Conn.Password != secret || got.Conn.Trace == nil || got.Logger == nil || got.CacheDir != cacheDir {
				t.Errorf("options: %+v", got)
			}
			if st, err := os.Stat(cacheDir); err != nil || st.Mode().Perm() != 0o700 {
				t.Errorf("cache dir: %v, %v", st, err)
			}
			out := stderr.String()
			if !strings.Contains(out, "msg=mounted") || strings.Contains(out, secret) {
				t.Errorf("stderr lacks the mounted line or shows the password:\n%s", out)
			}
		})
	}
}

func TestRunMountErrorsAreOneLine(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"ftp://u:topsecret@h", "/m"}, 2, "ftpfs mount: refusing a password in the URL"},
		{[]string{"h", filepath.Join(t.TempDir(), "x")}, 1, "ftpfs mount: mountpoint missing: "},
		{[]string{"h", "/"}, 1, "ftpfs mount: mountpoint busy: "},
	} {
		var out bytes.Buffer
		if code := runMount(context.Background(), tc.args, &out); code != tc.code {
			t.Errorf("%q: exit %d, want %d", tc.args, code, tc.code)
		}
		if got := out.String(); !strings.HasPrefix(got, tc.want) || strings.Count(got, "\n") != 1 || strings.Contains(got, "topsecret") {
			t.Errorf("%q: stderr %q, want one line starting %q", tc.args, got, tc.want)
		}
	}
}
