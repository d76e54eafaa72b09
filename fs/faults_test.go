package fs

// The fault matrix: each case injects one fault into ftpd while the mount
// reads, writes or lists, and checks the same things: the syscall returns
// within twice the timeout (plus the time its bytes need), a read gives
// the right bytes or an errno, a write leaves the old content or the new
// one under the name and never a part, and the same mount serves
// normally once the fault is gone.

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

const faultTimeout = time.Second

func TestFaultMatrix(t *testing.T) {
	old := testutil.RandBytes(31, 300<<10)
	big := testutil.RandBytes(32, 2<<20)
	cases := []struct {
		name  string
		fault ftpd.Faults
		op    string        // read, write or list
		fails bool          // the operation must fail
		errno syscall.Errno // and with this errno (0: any)
		clear time.Duration // the fault goes away by itself after this long
	}{
		{name: "control connection dropped mid-command, read", op: "read", fault: ftpd.Faults{CloseControlAfter: 3}},
		{name: "control connection dropped mid-command, write", op: "write", fault: ftpd.Faults{CloseControlAfter: 3}},
		{name: "control connection dropped mid-command, list", op: "list", fault: ftpd.Faults{CloseControlAfter: 3}},
		{name: "data connection dropped mid-RETR", op: "read", fault: ftpd.Faults{DropDataAfter: 700 << 10}},
		// The upload goes on from the server's size after each drop.
		{name: "data connection dropped mid-STOR", op: "write", fault: ftpd.Faults{DropDataAfter: 100 << 10}},
		{name: "upload damaged on the server", op: "write", fault: ftpd.Faults{CorruptStor: true}, fails: true, errno: syscall.EIO},
		{name: "disk full mid-STOR (552)", op: "write", fault: ftpd.Faults{StorFullAfter: 100 << 10}, fails: true, errno: syscall.ENOSPC},
		{name: "452 on STOR", op: "write", fault: ftpd.Faults{RefuseVerb: "STOR", RefuseCode: 452}, fails: true, errno: syscall.ENOSPC},
		{name: "quota exceeded mid-STOR (552)", op: "write", fault: ftpd.Faults{QuotaAfter: 100 << 10}, fails: true, errno: syscall.EDQUOT},
		{name: "data connection refused (425)", op: "read", fault: ftpd.Faults{RefuseVerb: "RETR", RefuseCode: 425}, fails: true},
		{name: "450 on RETR, passing", op: "read", fault: ftpd.Faults{RefuseVerb: "RETR", RefuseCode: 450}, clear: 300 * time.Millisecond},
		{name: "451 on MLSD, passing", op: "list", fault: ftpd.Faults{RefuseVerb: "MLSD", RefuseCode: 451}, clear: 300 * time.Millisecond},
		{name: "550 on RETR, at once", op: "read", fault: ftpd.Faults{RefuseVerb: "RETR", RefuseCode: 550}, fails: true, errno: syscall.ENOENT},
		{name: "553 on STOR, at once", op: "write", fault: ftpd.Faults{RefuseVerb: "STOR", RefuseCode: 553}, fails: true, errno: syscall.EACCES},
		{name: "RNTO over an existing file refused", op: "write", fault: ftpd.Faults{NoOverwrite: true}},
		{name: "REST refused", op: "pread", fault: ftpd.Faults{RefuseVerb: "REST", RefuseCode: 502}},
		{name: "426 and then 226 on abort", op: "pread", fault: ftpd.Faults{TwoAbortReplies: true}},
		{name: "transfer stalls forever, RETR", op: "read", fault: ftpd.Faults{Stall: true, StallAfter: 100 << 10}, fails: true},
		{name: "transfer stalls forever, STOR", op: "write", fault: ftpd.Faults{Stall: true, StallAfter: 100 << 10}, fails: true},
		{name: "transfer stalls forever, listing", op: "list", fault: ftpd.Faults{Stall: true}, fails: true},
		{name: "data connection dropped mid-listing", op: "list", fault: ftpd.Faults{DropDataAfter: 20}, fails: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(root string) {
				testutil.WriteFile(t, filepath.Join(root, "target"), old)
				testutil.WriteFile(t, filepath.Join(root, "big"), big)
				testutil.WriteFile(t, filepath.Join(root, "dir", "a"), []byte("a"))
			}, nil, func(o *Options) { o.Conn.Timeout = faultTimeout })
			// Names are known before the fault; data and the
			// subdirectory's listing are not (a readdir of the root
			// would prefetch it).
			for _, n := range []string{"big", "target", "dir"} {
				if _, err := os.Stat(filepath.Join(e.mnt, n)); err != nil {
					t.Fatal(err)
				}
			}
			e.srv.SetFaults(tc.fault)
			if tc.clear > 0 {
				time.AfterFunc(tc.clear, func() { e.srv.SetFaults(ftpd.Faults{}) })
			}
			next := testutil.RandBytes(33, 1<<20)
			err, d := faultOp(t, e, tc.op, big, next)
			e.srv.SetFaults(ftpd.Faults{})
			// Each syscall: twice the timeout, and a little for the
			// bytes (an upload gets more by its size: 1 MiB here).
			if bound := 2*faultTimeout + 300*time.Millisecond; d > bound {
				t.Errorf("a syscall of %s took %v, more than %v", tc.op, d, bound)
			}
			switch {
			case tc.fails && err == nil:
				t.Errorf("%s succeeded despite the fault", tc.op)
			case tc.fails && tc.errno != 0 && !errors.Is(err, tc.errno):
				t.Errorf("%s: %v, want %v", tc.op, err, tc.errno)
			case !tc.fails && tc.clear > 0 && err != nil:
				t.Errorf("%s: %v, want a retry past the passing fault", tc.op, err)
			}
			t.Logf("%s: %v after %v", tc.op, err, d.Round(time.Millisecond))
			// Never a part under the name: the old content or the new.
			if got, _ := os.ReadFile(filepath.Join(e.root, "target")); !bytes.Equal(got, old) && !bytes.Equal(got, next) {
				t.Errorf("the server holds %d bytes of neither version under the name", len(got))
			}
			if tc.op == "write" && err == nil {
				if got, _ := os.ReadFile(filepath.Join(e.root, "target")); !bytes.Equal(got, next) {
					t.Error("write returned 0 but the server does not hold it")
				}
			}
			// The same mount serves normally now.
			if got, err := os.ReadFile(filepath.Join(e.mnt, "big")); err != nil || !bytes.Equal(got, big) {
				t.Fatalf("after the fault, read: %d bytes, %v", len(got), err)
			}
			if err := writeAndCloseErr(filepath.Join(e.mnt, "after"), next); err != nil {
				t.Fatalf("after the fault, write: %v", err)
			}
			if got := names(t, filepath.Join(e.mnt, "dir")); len(got) != 1 {
				t.Fatalf("after the fault, list: %q", got)
			}
		})
	}
}

// faultOp runs op through the mount and returns its error and the
// longest any one of its syscalls took.
func faultOp(t *testing.T, e *env, op string, big, next []byte) (error, time.Duration) {
	var longest time.Duration
	timed := func(f func() error) error {
		t0 := time.Now()
		err := f()
		longest = max(longest, time.Since(t0))
		return err
	}
	switch op {
	case "read", "pread":
		var f *os.File
		err := timed(func() (err error) { f, err = os.Open(filepath.Join(e.mnt, "big")); return err })
		if err != nil {
			return err, longest
		}
		defer f.Close()
		if op == "pread" {
			b := make([]byte, 4096)
			at := int64(1<<20 + 12345)
			if err := timed(func() error { _, err := f.ReadAt(b, at); return err }); err != nil {
				return err, longest
			}
			if !bytes.Equal(b, big[at:at+4096]) {
				t.Fatal("pread returned wrong bytes")
			}
			return nil, longest
		}
		var got []byte
		buf := make([]byte, 128<<10)
		for {
			var n int
			err := timed(func() (err error) { n, err = f.Read(buf); return err })
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				return err, longest
			}
		}
		if !bytes.Equal(got, big) {
			t.Fatalf("read returned %d bytes, not the file's %d", len(got), len(big))
		}
		return nil, longest
	case "write":
		var f *os.File
		err := timed(func() (err error) {
			f, err = os.OpenFile(filepath.Join(e.mnt, "target"), os.O_WRONLY|os.O_TRUNC, 0)
			return err
		})
		if err != nil {
			return err, longest
		}
		for off := 0; off < len(next); off += 128 << 10 {
			if err := timed(func() error { _, err := f.Write(next[off : off+128<<10]); return err }); err != nil {
				f.Close()
				return err, longest
			}
		}
		return timed(f.Close), longest
	case "list":
		return timed(func() error { _, err := os.ReadDir(filepath.Join(e.mnt, "dir")); return err }), longest
	}
	t.Fatalf("unknown op %q", op)
	return nil, 0
}

func writeAndCloseErr(p string, data []byte) error {
	_, err := writeAndClose(p, data)
	return err
}

// TestConnectionLimit: a server that allows 2 sessions answers 421 to the
// rest, at login, while 16 readers and a tree walk run: all complete with
// the right bytes, and nothing deadlocks.
func TestConnectionLimit(t *testing.T) {
	files := testutil.Tree{}
	for i := range 16 {
		files[filepath.Join("r", string(rune('a'+i)))] = testutil.RandBytes(uint64(40+i), 1<<20+i)
	}
	e := newEnv(t, func(root string) {
		testutil.WriteTree(t, root, files)
		for i := range 10 {
			testutil.WriteFile(t, filepath.Join(root, "tree", string(rune('a'+i)), "f"), []byte("x"))
		}
	}, []func(*ftpd.Config){func(c *ftpd.Config) { c.Faults.MaxSessions = 2 }},
		func(o *Options) { o.Conn.MaxConns = 8 })
	var wg sync.WaitGroup
	errs := make(chan error, 17)
	for p, want := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := os.ReadFile(filepath.Join(e.mnt, p))
			if err == nil && !bytes.Equal(got, want) {
				err = errors.New(p + ": wrong bytes")
			}
			errs <- err
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs <- filepath.WalkDir(filepath.Join(e.mnt, "tree"), func(string, os.DirEntry, error) error { return nil })
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("readers still running after 60 s: a deadlock")
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestIdleConnectionsClosedByServer: the server drops idle sessions; the
// mount's next operations find fresh ones without an error.
func TestIdleConnectionsClosedByServer(t *testing.T) {
	e := newEnv(t, func(root string) { testutil.WriteFile(t, filepath.Join(root, "f"), []byte("hello")) },
		[]func(*ftpd.Config){func(c *ftpd.Config) { c.IdleTimeout = 200 * time.Millisecond }})
	for i := range 3 {
		time.Sleep(500 * time.Millisecond) // every pooled session has been dropped
		e.m.m.blocks.InvalidatePath(e.m.m.remotePath("f"))
		if got, err := os.ReadFile(filepath.Join(e.mnt, "f")); err != nil || string(got) != "hello" {
			t.Fatalf("round %d after the server dropped idle sessions: %q %v", i, got, err)
		}
	}
}
