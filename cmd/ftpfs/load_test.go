package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ftpfs/internal/testutil"
)

// TestLoad runs 16 workers for 60 s through one mount (the real binary,
// in a process of its own, as users run it) of a server that
// allows 4 sessions per client: readers, writers, editor saves, cp -r and
// rsync -a. Every result is checked against the server's disk or the
// source; no error may surface, and no session may outlive the unmount.
func TestLoad(t *testing.T) {
	testutil.NeedFUSE(t)
	run := 60 * time.Second
	if testing.Short() {
		run = 10 * time.Second
	}
	files := testutil.Tree{}
	for i := range 12 {
		files[fmt.Sprintf("ro/f%02d", i)] = testutil.RandBytes(uint64(60+i), mrand.IntN(4<<20))
	}
	root := t.TempDir()
	testutil.WriteTree(t, root, files)
	// The server stays out of the test's process: the workers' FUSE calls
	// wait on the mount, which waits on the server, and a Go runtime with
	// a thread stuck in a FUSE call can stop all its goroutines (go-fuse's
	// fs/api.go, "Deadlocks"). With the server in-process, a CI run saw it
	// answer nothing for 30 s at a time, the mount's timeout.
	srv := serveBinary(t, root, "--max-per-ip", "4")
	m := mountBinary(t, "ftp://u@"+srv.addr+"/", "p")
	src := t.TempDir()
	for i := range 20 {
		testutil.WriteFile(t, filepath.Join(src, fmt.Sprintf("d%d", i%3), fmt.Sprintf("s%02d", i)), testutil.RandBytes(uint64(80+i), 1000*i))
	}

	deadline := time.Now().Add(run)
	watch := watchStall(t, run+30*time.Second, m.cmd.Process.Pid, srv.pid, os.Getpid())
	var ops, failures atomic.Int64
	var slowest struct {
		sync.Mutex
		d    time.Duration
		what string
	}
	var mu sync.Mutex
	var firstErr []string
	fail := func(w int, err error) {
		failures.Add(1)
		mu.Lock()
		if len(firstErr) < 5 {
			firstErr = append(firstErr, fmt.Sprintf("worker %d: %v", w, err))
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := mrand.New(mrand.NewPCG(uint64(w), 9))
			for i := 0; time.Now().Before(deadline); i++ {
				var err error
				t0 := time.Now()
				switch w % 5 {
				case 0: // reader
					name := fmt.Sprintf("ro/f%02d", r.IntN(12))
					var got []byte
					if got, err = os.ReadFile(filepath.Join(m.mnt, name)); err == nil && !bytes.Equal(got, files[name]) {
						err = fmt.Errorf("%s: wrong bytes", name)
					}
				case 1: // writer of new files
					data := testutil.RandBytes(uint64(w*100000+i), r.IntN(2<<20))
					name := fmt.Sprintf("w%d-%d", w, i)
					if err = os.WriteFile(filepath.Join(m.mnt, name), data, 0o644); err == nil {
						err = sameOnServer(root, name, data)
					}
				case 2: // editor: temp file, fsync, rename over the target
					data := testutil.RandBytes(uint64(w*100000+i), 64<<10)
					tmp, target := fmt.Sprintf(".save%d.tmp", w), fmt.Sprintf("save%d", w)
					if err = writeSync(filepath.Join(m.mnt, tmp), data); err == nil {
						if err = os.Rename(filepath.Join(m.mnt, tmp), filepath.Join(m.mnt, target)); err == nil {
							err = sameOnServer(root, target, data)
						}
					}
				case 3: // cp -r
					dst := filepath.Join(m.mnt, fmt.Sprintf("cp%d-%d", w, i))
					if out, cerr := exec.Command("cp", "-r", src, dst).CombinedOutput(); cerr != nil {
						err = fmt.Errorf("cp -r: %v %s", cerr, out)
					} else {
						err = testutil.SameFiles(src, filepath.Join(root, filepath.Base(dst)))
					}
				default: // rsync -a into the same directory, again and again
					dst := filepath.Join(m.mnt, fmt.Sprintf("rs%d", w))
					if out, rerr := exec.Command("rsync", "-a", src+"/", dst+"/").CombinedOutput(); rerr != nil {
						err = fmt.Errorf("rsync: %v %s", rerr, out)
					} else {
						err = testutil.SameFiles(src, filepath.Join(root, filepath.Base(dst)))
					}
				}
				ops.Add(1)
				if d := time.Since(t0); d > 5*time.Second {
					slowest.Lock()
					if d > slowest.d {
						slowest.d, slowest.what = d, fmt.Sprintf("worker %d op %d (kind %d) at %s", w, i, w%5, t0.Format("15:04:05.000"))
					}
					slowest.Unlock()
				}
				if err != nil {
					fail(w, err)
				}
			}
		}()
	}
	wg.Wait()
	watch.stop(t)
	t.Logf("%d operations by 16 workers in %v, %d failed", ops.Load(), run, failures.Load())
	if slowest.d > 0 {
		t.Logf("slowest operation: %v, %s", slowest.d.Round(time.Millisecond), slowest.what)
	}
	if failures.Load() > 0 {
		t.Fatalf("%d operations failed; first: %q", failures.Load(), firstErr)
	}
	// The pool keeps its connections for a while: seeing them proves
	// that the count below sees sessions.
	if n, err := serverSessions(srv.port); err != nil || n == 0 {
		t.Fatalf("the server holds %d sessions of the mount (%v)", n, err)
	}
	m.unmount(t)
	for t0 := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		n, err := serverSessions(srv.port)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Since(t0) > 5*time.Second {
			t.Fatalf("%d sessions left on the server after the unmount", n)
		}
	}
}

func sameOnServer(root, name string, want []byte) error {
	got, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		return err
	}
	if sha256.Sum256(got) != sha256.Sum256(want) {
		return fmt.Errorf("%s: the server holds %d other bytes", name, len(got))
	}
	return nil
}

func writeSync(p string, data []byte) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// serverSessions counts the control connections that the server on the
// loopback port still holds open: its side of each, established or
// closed by the client and not yet by the server.
func serverSessions(port int) (int, error) {
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 4 {
				continue
			}
			local, state := fields[1], fields[3]
			i := strings.LastIndexByte(local, ':')
			p, err := strconv.ParseUint(local[i+1:], 16, 16)
			if err != nil || int(p) != port {
				continue
			}
			if state == "01" || state == "08" { // ESTABLISHED, CLOSE_WAIT
				n++
			}
		}
	}
	return n, nil
}
