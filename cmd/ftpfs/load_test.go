package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ftpfs/ftpd"
)

// TestLoad runs 16 workers for 60 s through one mount (the real binary,
// in a process of its own, as users run it) of a server that
// allows 4 sessions per client: readers, writers, editor saves, cp -r and
// rsync -a. Every result is checked against the server's disk or the
// source; no error may surface, and no session may outlive the unmount.
func TestLoad(t *testing.T) {
	needFUSE(t)
	run := 60 * time.Second
	if testing.Short() {
		run = 10 * time.Second
	}
	files := map[string][]byte{}
	for i := range 12 {
		files[fmt.Sprintf("ro/f%02d", i)] = randBytes(uint64(60+i), mrand.IntN(4<<20))
	}
	e := startBinaryMount(t, func(root string) {
		for p, b := range files {
			os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
			os.WriteFile(filepath.Join(root, p), b, 0o644)
		}
	}, func(c *ftpd.Config) { c.MaxPerIP = 4 })
	src := t.TempDir()
	for i := range 20 {
		p := filepath.Join(src, fmt.Sprintf("d%d", i%3), fmt.Sprintf("s%02d", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, randBytes(uint64(80+i), 1000*i), 0o644)
	}

	deadline := time.Now().Add(run)
	var ops, failures atomic.Int64
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
				switch w % 5 {
				case 0: // reader
					name := fmt.Sprintf("ro/f%02d", r.IntN(12))
					var got []byte
					if got, err = os.ReadFile(filepath.Join(e.mnt, name)); err == nil && !bytes.Equal(got, files[name]) {
						err = fmt.Errorf("%s: wrong bytes", name)
					}
				case 1: // writer of new files
					data := randBytes(uint64(w*100000+i), r.IntN(2<<20))
					name := fmt.Sprintf("w%d-%d", w, i)
					if err = os.WriteFile(filepath.Join(e.mnt, name), data, 0o644); err == nil {
						err = sameOnServer(e, name, data)
					}
				case 2: // editor: temp file, fsync, rename over the target
					data := randBytes(uint64(w*100000+i), 64<<10)
					tmp, target := fmt.Sprintf(".save%d.tmp", w), fmt.Sprintf("save%d", w)
					if err = writeSync(filepath.Join(e.mnt, tmp), data); err == nil {
						if err = os.Rename(filepath.Join(e.mnt, tmp), filepath.Join(e.mnt, target)); err == nil {
							err = sameOnServer(e, target, data)
						}
					}
				case 3: // cp -r
					dst := filepath.Join(e.mnt, fmt.Sprintf("cp%d-%d", w, i))
					if out, cerr := exec.Command("cp", "-r", src, dst).CombinedOutput(); cerr != nil {
						err = fmt.Errorf("cp -r: %v %s", cerr, out)
					} else {
						err = sameTree(src, filepath.Join(e.root, filepath.Base(dst)))
					}
				default: // rsync -a into the same directory, again and again
					dst := filepath.Join(e.mnt, fmt.Sprintf("rs%d", w))
					if out, rerr := exec.Command("rsync", "-a", src+"/", dst+"/").CombinedOutput(); rerr != nil {
						err = fmt.Errorf("rsync: %v %s", rerr, out)
					} else {
						err = sameTree(src, filepath.Join(e.root, filepath.Base(dst)))
					}
				}
				ops.Add(1)
				if err != nil {
					fail(w, err)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d operations by 16 workers in %v, %d failed", ops.Load(), run, failures.Load())
	if failures.Load() > 0 {
		t.Fatalf("%d operations failed; first: %q", failures.Load(), firstErr)
	}
	e.unmount(t)
	for t0 := time.Now(); e.srv.Sessions() > 0; time.Sleep(20 * time.Millisecond) {
		if time.Since(t0) > 5*time.Second {
			t.Fatalf("%d sessions left on the server after the unmount", e.srv.Sessions())
		}
	}
}

func sameOnServer(e *binaryMount, name string, want []byte) error {
	got, err := os.ReadFile(filepath.Join(e.root, name))
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

// sameTree compares the regular files of want with those under got.
func sameTree(want, got string) error {
	return filepath.Walk(want, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		a, _ := os.ReadFile(p)
		b, err := os.ReadFile(filepath.Join(got, rel))
		if err != nil || !bytes.Equal(a, b) {
			return fmt.Errorf("%s differs on the server (%v)", rel, err)
		}
		return nil
	})
}

// binaryMount is the real binary mounting an in-process ftpd.
type binaryMount struct {
	*mountedBinary
	srv  *ftpd.Server
	root string
}

func startBinaryMount(t *testing.T, fill func(root string), mod func(*ftpd.Config)) *binaryMount {
	t.Helper()
	e := &binaryMount{root: t.TempDir()}
	fill(e.root)
	cfg := ftpd.Config{Root: e.root, Listen: "127.0.0.1:0", Users: map[string]string{"u": "p"}, LoginFailDelay: time.Millisecond}
	mod(&cfg)
	var err error
	if e.srv, err = ftpd.New(cfg); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.srv.Close() })
	e.mountedBinary = mountBinary(t, buildBinary(t), "ftp://u@"+e.srv.Addr().String()+"/", "p")
	return e
}

func randBytes(seed uint64, n int) []byte {
	r := mrand.New(mrand.NewPCG(seed, seed^0x5eed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
