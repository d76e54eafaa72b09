package fs

import (
	"bytes"
	"context"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestFsx is a seeded model-based test in the spirit of fsx: random
// writes, truncates, reads, mmap reads and writes, fsyncs, and close and
// reopen, on one file through the mount, each checked against a model of
// the file in memory; after every close, the server's copy is checked
// too.
func TestFsx(t *testing.T) {
	ops := 10000
	if testing.Short() {
		ops = 2000
	}
	// The mount's default timeout, not the harness's 5 s: this test is
	// about bytes, and a loaded CI machine must not turn into a failure.
	e := newEnv(t, nil, nil, func(o *Options) { o.CacheDir = t.TempDir(); o.Conn.Timeout = 30 * time.Second })
	// The operations run in a child process: a page fault of an mmap on
	// the mount is served by this process, and a faulting thread of its
	// own could never be stopped by the Go runtime (go-fuse's
	// "Deadlocks" notes).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FTPFS_FSX_CHILD="+fmt.Sprintf("%d|%s|%s", ops, e.mnt, e.root))
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("fsx child: %v", err)
	}
	noUploadsLeft(t, e)
}

// TestMain runs the fsx child when asked to.
func TestMain(m *testing.M) {
	if spec := os.Getenv("FTPFS_FSX_CHILD"); spec != "" {
		parts := strings.SplitN(spec, "|", 3)
		ops, _ := strconv.Atoi(parts[0])
		if err := fsx(ops, parts[1], parts[2]); err != nil {
			fmt.Println("FAIL:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fsx runs the operations on mnt, checking the server's copy under root.
func fsx(ops int, mnt, root string) error {
	p := filepath.Join(mnt, "fsx.bin")
	r := mrand.New(mrand.NewPCG(42, 4242))
	const maxSize = 1 << 20
	var model []byte
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	counts := map[string]int{}
	var failure error
	fail := func(op int, what string, a ...any) {
		failure = fmt.Errorf("op %d (%v so far): %s", op, counts, fmt.Sprintf(what, a...))
	}
	for i := range ops {
		switch k := r.IntN(100); {
		case k < 35: // write
			off := r.Int64N(maxSize)
			n := 1 + r.IntN(64<<10)
			if off+int64(n) > maxSize {
				n = int(maxSize - off)
			}
			buf := make([]byte, n)
			for j := range buf {
				buf[j] = byte(r.Uint32())
			}
			if _, err := f.WriteAt(buf, off); err != nil {
				fail(i, "write %d at %d: %v", n, off, err)
				return failure
			}
			if end := off + int64(n); end > int64(len(model)) {
				model = append(model, make([]byte, end-int64(len(model)))...)
			}
			copy(model[off:], buf)
			counts["write"]++
		case k < 45: // truncate
			size := r.Int64N(maxSize)
			if err := f.Truncate(size); err != nil {
				fail(i, "truncate %d: %v", size, err)
				return failure
			}
			if size < int64(len(model)) {
				model = model[:size]
			} else {
				model = append(model, make([]byte, size-int64(len(model)))...)
			}
			counts["truncate"]++
		case k < 75: // read
			if len(model) == 0 {
				continue
			}
			off := r.Int64N(int64(len(model)))
			n := 1 + r.IntN(128<<10)
			buf := make([]byte, n)
			got, err := f.ReadAt(buf, off)
			want := model[off:min(int64(len(model)), off+int64(n))]
			if (err != nil && got != len(want)) || !bytes.Equal(buf[:got], want) {
				fail(i, "read %d at %d: %d bytes (%v), want %d", n, off, got, err, len(want))
				return failure
			}
			counts["read"]++
		case k < 85: // mmap read or write
			if len(model) == 0 {
				continue
			}
			m, err := syscall.Mmap(int(f.Fd()), 0, len(model), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
			if err != nil {
				fail(i, "mmap: %v", err)
				return failure
			}
			off := r.IntN(len(model))
			n := min(1+r.IntN(16<<10), len(model)-off)
			if r.IntN(2) == 0 {
				if !bytes.Equal(m[off:off+n], model[off:off+n]) {
					syscall.Munmap(m)
					fail(i, "mmap read %d at %d differs", n, off)
					return failure
				}
				counts["mmap read"]++
			} else {
				for j := off; j < off+n; j++ {
					b := byte(r.Uint32())
					m[j], model[j] = b, b
				}
				if err := msync(m); err != nil {
					fail(i, "msync: %v", err)
					return failure
				}
				counts["mmap write"]++
			}
			syscall.Munmap(m)
		case k < 90: // fsync
			if err := f.Sync(); err != nil {
				fail(i, "fsync: %v", err)
				return failure
			}
			counts["fsync"]++
		default: // close and reopen: the server must hold the model
			if err := f.Close(); err != nil {
				fail(i, "close: %v", err)
				return failure
			}
			got, err := os.ReadFile(filepath.Join(root, "fsx.bin"))
			if err != nil || !bytes.Equal(got, model) {
				fail(i, "after close the server has %d bytes (%v), want %d", len(got), err, len(model))
				return failure
			}
			if f, err = os.OpenFile(p, os.O_RDWR, 0); err != nil {
				fail(i, "reopen: %v", err)
				return failure
			}
			counts["close+reopen"]++
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	got, _ := os.ReadFile(filepath.Join(root, "fsx.bin"))
	if !bytes.Equal(got, model) {
		return fmt.Errorf("final: the server has %d bytes, want %d", len(got), len(model))
	}
	through, _ := os.ReadFile(p)
	if !bytes.Equal(through, model) {
		return fmt.Errorf("final: the mount shows %d bytes, want %d", len(through), len(model))
	}
	fmt.Printf("%d operations, 0 mismatches: %v\n", ops, counts)
	return nil
}

func msync(b []byte) error { return unix.Msync(b, unix.MS_SYNC) }
