package fs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// onServer reads a file from the server's disk, right after the call
// that wrote it returned: close-to-open means it is there.
func onServer(t *testing.T, e *env, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.root, rel))
	if err != nil {
		t.Fatalf("on the server: %v", err)
	}
	return b
}

func noUploadsLeft(t *testing.T, e *env) {
	t.Helper()
	noUploadsUnder(t, e.root)
}

// noUploadsUnder fails t for any temporary upload name under root.
func noUploadsUnder(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tmpPrefix) {
			t.Errorf("temporary upload left on the server: %s", p)
		}
		return nil
	})
}

func TestWriteBasics(t *testing.T) {
	e := newEnv(t, sampleTree(t), nil, func(o *Options) { o.CacheDir = t.TempDir() })
	data := testutil.RandBytes(7, 3<<20+5)
	p := filepath.Join(e.mnt, "new.bin")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onServer(t, e, "new.bin"), data) {
		t.Fatal("written file differs on the server")
	}
	if fi, err := os.Stat(p); err != nil || fi.Size() != int64(len(data)) {
		t.Fatalf("stat after close: %v %v", fi, err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
		t.Fatal("read back through the mount differs")
	}

	// O_EXCL, O_APPEND, O_TRUNC, random writes with O_RDWR.
	if _, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("O_EXCL on an existing file: %v", err)
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("tail"))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	data = append(data, "tail"...)
	f, err = os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("HELLO"), 1000)
	copy(data[1000:], "HELLO")
	got := make([]byte, 5)
	if _, err := f.ReadAt(got, 1000); err != nil || string(got) != "HELLO" {
		t.Fatalf("read own write: %q %v", got, err)
	}
	if err := f.Truncate(2000); err != nil {
		t.Fatal(err)
	}
	data = data[:2000]
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onServer(t, e, "new.bin"), data) {
		t.Fatal("after fsync the server differs")
	}
	f.Close()
	if err := os.Truncate(p, 10); err != nil {
		t.Fatal(err)
	}
	if got := onServer(t, e, "new.bin"); !bytes.Equal(got, data[:10]) {
		t.Fatalf("truncate(2): %d bytes on the server, want 10", len(got))
	}

	// Directories, renames, removal.
	d := filepath.Join(e.mnt, "newdir")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p, filepath.Join(d, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Rmdir(d); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("rmdir of a non-empty dir: %v", err)
	}
	os.WriteFile(filepath.Join(e.mnt, "other"), []byte("other"), 0o644)
	if err := os.Rename(filepath.Join(e.mnt, "other"), filepath.Join(d, "moved")); err != nil {
		t.Fatalf("rename over a file: %v", err)
	}
	if got := onServer(t, e, "newdir/moved"); string(got) != "other" {
		t.Fatalf("after rename over: %q", got)
	}
	if err := os.Remove(filepath.Join(d, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(d); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.root, "newdir")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("rmdir did not reach the server")
	}

	// Times and modes reach the server.
	mt := time.Date(2018, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(e.mnt, "plain.txt"), mt, mt); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(e.root, "plain.txt")); !fi.ModTime().Equal(mt) {
		t.Fatalf("utimens on the server: %v", fi.ModTime())
	}
	if fi, _ := os.Stat(filepath.Join(e.mnt, "plain.txt")); !fi.ModTime().Equal(mt) {
		t.Fatalf("utimens through the mount: %v", fi.ModTime())
	}
	if err := os.Chmod(filepath.Join(e.mnt, "plain.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(e.root, "plain.txt")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("chmod on the server: %v", fi.Mode())
	}
	// What FTP cannot do fails at once.
	if err := os.Link(filepath.Join(e.mnt, "plain.txt"), filepath.Join(e.mnt, "hard")); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("link: %v", err)
	}
	if err := os.Symlink("x", filepath.Join(e.mnt, "sym")); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("symlink: %v", err)
	}
	noUploadsLeft(t, e)
}

func TestWriteWithTools(t *testing.T) {
	e := newEnv(t, nil, nil, func(o *Options) { o.CacheDir = t.TempDir() })
	src := t.TempDir()
	sampleTree(t)(src)
	os.Remove(filepath.Join(src, "dangling")) // symlinks cannot be created over FTP
	os.Remove(filepath.Join(src, "link to file"))
	os.Remove(filepath.Join(src, "link to dir"))
	out, err := exec.Command("cp", "-r", src+"/.", e.mnt).CombinedOutput()
	if err != nil {
		t.Fatalf("cp -r: %v\n%s", err, out)
	}
	if err := testutil.SameFiles(src, e.root); err != nil {
		t.Errorf("cp -r: %v", err)
	}
	if _, err := exec.LookPath("rsync"); err == nil {
		dst := filepath.Join(e.mnt, "rs")
		for i := range 2 {
			out, err := exec.Command("rsync", "-a", "--stats", src+"/", dst+"/").CombinedOutput()
			if err != nil {
				t.Fatalf("rsync: %v\n%s", err, out)
			}
			if i == 1 && !strings.Contains(string(out), "Number of regular files transferred: 0") {
				t.Fatalf("second rsync -a transferred files:\n%s", out)
			}
		}
		if err := testutil.SameFiles(src, filepath.Join(e.root, "rs")); err != nil {
			t.Errorf("rsync -a: %v", err)
		}
	}
	noUploadsLeft(t, e)
}

func TestUploadFailureKeepsData(t *testing.T) {
	cache := t.TempDir()
	e := newEnv(t, func(root string) { testutil.WriteFile(t, filepath.Join(root, "f"), []byte("old content")) }, nil,
		func(o *Options) { o.CacheDir = cache })
	e.srv.SetFaults(ftpd.Faults{StorFullAfter: 1 << 20})
	data := testutil.RandBytes(8, 4<<20)
	f, err := os.OpenFile(filepath.Join(e.mnt, "f"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(data)
	err = f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("close on a full server: %v, want ENOSPC", err)
	}
	if got := onServer(t, e, "f"); string(got) != "old content" {
		t.Fatalf("a failed upload changed the file: %d bytes", len(got))
	}
	noUploadsLeft(t, e)
	staged, _ := filepath.Glob(filepath.Join(cache, "staging", "*-f"))
	if len(staged) != 1 {
		t.Fatalf("staged copies %v", staged)
	}
	if b, _ := os.ReadFile(staged[0]); !bytes.Equal(b, data) {
		t.Fatal("the staged copy lost bytes")
	}
	// It is described for ftpfs status and the next mount's report.
	var copies []StagedCopy
	for deadline := time.Now().Add(5 * time.Second); len(copies) == 0 && time.Now().Before(deadline); {
		copies, _ = StagedCopies(cache)
		time.Sleep(10 * time.Millisecond) // release follows close asynchronously
	}
	if len(copies) != 1 || copies[0].Path != "f" || copies[0].Size != int64(len(data)) || copies[0].File != staged[0] {
		t.Fatalf("staged copies reported: %+v", copies)
	}
	// A new mount of the same server reports it (survives a restart).
	_, _, logs := mountAt(t, e.srvCfg.Listen, testUser, testPass, func(o *Options) { o.CacheDir = cache })
	if l := logs.String(); !strings.Contains(l, "staged copy of a failed upload") || !strings.Contains(l, staged[0]) {
		t.Fatalf("the next mount did not report the staged copy:\n%s", l)
	}
}

// TestEditorSaves saves files the ways editors do, 20 times each, and
// checks the server after every save.
func TestEditorSaves(t *testing.T) {
	e := newEnv(t, func(root string) {
		testutil.WriteFile(t, filepath.Join(root, "doc.txt"), []byte("v0\n"))
		testutil.WriteFile(t, filepath.Join(root, "inplace.txt"), []byte("v0\n"))
	}, nil, func(o *Options) { o.CacheDir = t.TempDir() })
	for i := range 20 {
		content := []byte(strings.Repeat(fmt.Sprintf("save %d\n", i), 1+i*100))
		// Write a temporary file, fsync it, rename it over the target.
		tmp := filepath.Join(e.mnt, ".doc.txt.swp")
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(content)
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(e.mnt, "doc.txt")); err != nil {
			t.Fatal(err)
		}
		if got := onServer(t, e, "doc.txt"); !bytes.Equal(got, content) {
			t.Fatalf("save %d by rename: the server has %d bytes", i, len(got))
		}
		// Rewrite in place with O_TRUNC.
		if err := os.WriteFile(filepath.Join(e.mnt, "inplace.txt"), content, 0o644); err != nil {
			t.Fatal(err)
		}
		if got := onServer(t, e, "inplace.txt"); !bytes.Equal(got, content) {
			t.Fatalf("save %d in place: the server has %d bytes", i, len(got))
		}
	}
	// A real editor, in ex mode.
	if vim, err := exec.LookPath("vim"); err == nil {
		for i := range 3 {
			cmd := exec.Command(vim, "-Es", "-u", "NONE", "-c", fmt.Sprintf("$put ='line from vim %d'", i), "-c", "wq", filepath.Join(e.mnt, "doc.txt"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("vim: %v\n%s", err, out)
			}
			if got := onServer(t, e, "doc.txt"); !bytes.HasSuffix(got, []byte(fmt.Sprintf("line from vim %d\n", i))) {
				t.Fatalf("vim save %d not on the server: ...%q", i, got[max(0, len(got)-40):])
			}
		}
	} else if testutil.InCI() {
		t.Fatal("vim missing in CI")
	}
	noUploadsLeft(t, e)
}

// TestExclusiveCreate races two creators of one name: exactly one wins.
func TestExclusiveCreate(t *testing.T) {
	e := newEnv(t, nil, nil, func(o *Options) { o.CacheDir = t.TempDir() })
	for i := range 10 {
		name := filepath.Join(e.mnt, fmt.Sprintf("lock%d", i))
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
				if err == nil {
					err = f.Close()
				}
				errs <- err
			}()
		}
		a, b := <-errs, <-errs
		if (a == nil) == (b == nil) {
			t.Fatalf("round %d: both or neither created the file: %v, %v", i, a, b)
		}
		if err := errors.Join(a, b); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("round %d: the loser got %v, want EEXIST", i, err)
		}
	}
}

// TestUploadRetryAfterOutage kills the server during an upload: fsync
// returns an error, the staged copy stays, and the next fsync, once the
// server is back, uploads it.
func TestUploadRetryAfterOutage(t *testing.T) {
	cache := t.TempDir()
	e := newEnv(t, nil, nil, func(o *Options) {
		o.CacheDir = cache
		o.Conn.Timeout = time.Second
	})
	data := testutil.RandBytes(9, 8<<20)
	f, err := os.OpenFile(filepath.Join(e.mnt, "f"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteAt(data, 0)
	// Random access: no stream, the upload is at fsync.
	f.WriteAt(data[:10], 0)
	e.srv.Close()
	t0 := time.Now()
	if err := f.Sync(); err == nil {
		t.Fatal("fsync succeeded with the server down")
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Fatalf("fsync with the server down took %v", d)
	}
	staged, _ := filepath.Glob(filepath.Join(cache, "staging", "*-f"))
	if len(staged) != 1 {
		t.Fatalf("staged copies %v", staged)
	}
	e.restartFtpd(t)
	if err := f.Sync(); err != nil {
		t.Fatalf("fsync after the server came back: %v", err)
	}
	if got := onServer(t, e, "f"); !bytes.Equal(got, data) {
		t.Fatalf("after the retry the server has %d bytes", len(got))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	noUploadsLeft(t, e)
}

// TestUploadFaults injects upload failures: each flush fails with the
// errno its reply means, the server keeps the old content, the staged
// copy keeps the new, and an fsync once the fault is gone uploads it.
func TestUploadFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault ftpd.Faults
		errno syscall.Errno
	}{
		{"552 after 1 MiB", ftpd.Faults{StorFullAfter: 1 << 20}, syscall.ENOSPC},
		// (A dropped data connection is no failure: the upload goes on,
		// TestUploadResumesThroughMount.)
		{"upload damaged on the server", ftpd.Faults{CorruptStor: true}, syscall.EIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(root string) { testutil.WriteFile(t, filepath.Join(root, "f"), []byte("old")) }, nil,
				func(o *Options) { o.CacheDir = t.TempDir() })
			e.srv.SetFaults(tc.fault)
			data := testutil.RandBytes(12, 3<<20)
			f, err := os.OpenFile(filepath.Join(e.mnt, "f"), os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			f.Write(data)
			if err := f.Sync(); !errors.Is(err, tc.errno) {
				t.Fatalf("fsync: %v, want %v", err, tc.errno)
			}
			if got := onServer(t, e, "f"); string(got) != "old" {
				t.Fatalf("the failed upload changed the file: %d bytes", len(got))
			}
			noUploadsLeft(t, e)
			e.srv.SetFaults(ftpd.Faults{})
			if err := f.Sync(); err != nil {
				t.Fatalf("fsync after the fault: %v", err)
			}
			if got := onServer(t, e, "f"); !bytes.Equal(got, data) {
				t.Fatalf("after the retry the server has %d bytes", len(got))
			}
		})
	}
}

// TestStagingLimit fills the staging area: the write that passes the
// limit gets ENOSPC, and nothing reaches the server.
func TestStagingLimit(t *testing.T) {
	e := newEnv(t, nil, nil, func(o *Options) { o.CacheDir, o.StagingSize = t.TempDir(), 1<<20 })
	f, err := os.OpenFile(filepath.Join(e.mnt, "big"), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Write(make([]byte, 2<<20))
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write past the staging limit: %v, want ENOSPC", err)
	}
	// The space comes back once the kernel has released the handle
	// (release follows close asynchronously): a small file fits again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := os.WriteFile(filepath.Join(e.mnt, "small"), []byte("ok"), 0o644)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ENOSPC) || time.Now().After(deadline) {
			t.Fatalf("after the limit: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := onServer(t, e, "small"); string(got) != "ok" {
		t.Fatalf("small: %q", got)
	}
}

// TestNoAtomicUpload uploads under the file's own name.
func TestNoAtomicUpload(t *testing.T) {
	log := &testutil.Buffer{}
	e := newEnv(t, nil, []func(*ftpd.Config){func(c *ftpd.Config) { c.CommandLog = log }},
		func(o *Options) { o.CacheDir, o.NoAtomicUpload = t.TempDir(), true })
	if err := os.WriteFile(filepath.Join(e.mnt, "f"), []byte("direct"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := onServer(t, e, "f"); string(got) != "direct" {
		t.Fatalf("f: %q", got)
	}
	if l := log.String(); strings.Contains(l, "RNFR") || !strings.Contains(l, "STOR /f") {
		t.Fatalf("commands:\n%s", l)
	}
}

// TestWritersShareFewConnections keeps files open for writing while
// others are written and closed, with two connections in all: streams
// give their connection up rather than make anybody wait for it.
func TestWritersShareFewConnections(t *testing.T) {
	e := newEnv(t, nil, nil, func(o *Options) {
		o.CacheDir, o.Conn.MaxConns, o.Conn.Timeout = t.TempDir(), 2, 2*time.Second
	})
	var files []*os.File
	for i := range 4 {
		f, err := os.Create(filepath.Join(e.mnt, fmt.Sprintf("f%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		if _, err := f.Write(bytes.Repeat([]byte{byte(i)}, 100_000)); err != nil {
			t.Fatal(err)
		}
	}
	// Close them in the opposite order: every flush needs a connection
	// that a stream of an open file held.
	for i := len(files) - 1; i >= 0; i-- {
		t0 := time.Now()
		if err := files[i].Close(); err != nil {
			t.Fatalf("close f%d: %v", i, err)
		}
		if d := time.Since(t0); d > 2*time.Second {
			t.Fatalf("close f%d took %v", i, d)
		}
		if got := onServer(t, e, fmt.Sprintf("f%d", i)); !bytes.Equal(got, bytes.Repeat([]byte{byte(i)}, 100_000)) {
			t.Fatalf("f%d: %d bytes on the server", i, len(got))
		}
	}
	noUploadsLeft(t, e)
}

// TestRenameWhileOpen renames a file between two writes: the content
// follows the name.
func TestRenameWhileOpen(t *testing.T) {
	e := newEnv(t, nil, nil, func(o *Options) { o.CacheDir = t.TempDir() })
	f, err := os.Create(filepath.Join(e.mnt, "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("data")
	if err := os.Rename(filepath.Join(e.mnt, "x"), filepath.Join(e.mnt, "y")); err != nil {
		t.Fatalf("rename of a file open for writing: %v", err)
	}
	f.WriteString("more")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := onServer(t, e, "y"); string(got) != "datamore" {
		t.Fatalf("y on the server: %q", got)
	}
	if _, err := os.Stat(filepath.Join(e.root, "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("x still on the server")
	}
}

// TestCreateKeepsOthersContent: O_CREAT without O_TRUNC on a file another
// client created after this mount listed the directory keeps its bytes.
func TestCreateKeepsOthersContent(t *testing.T) {
	e := newEnv(t, nil, nil, func(o *Options) { o.CacheDir = t.TempDir() })
	p := filepath.Join(e.mnt, "log")
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(e.root, "log"), []byte("other client's line\n"))
	time.Sleep(1100 * time.Millisecond) // past open's revalidation bound
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("appended\n")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := onServer(t, e, "log"); string(got) != "other client's line\nappended\n" {
		t.Fatalf("log on the server: %q", got)
	}
}

// TestStatDuringUpload stats a file while its slow upload runs: stat
// answers at once.
func TestStatDuringUpload(t *testing.T) {
	e := newEnv(t, nil, []func(*ftpd.Config){func(c *ftpd.Config) { c.Faults.DataRate = 4 << 20 }},
		func(o *Options) { o.CacheDir = t.TempDir() })
	f, err := os.OpenFile(filepath.Join(e.mnt, "slow"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(make([]byte, 4<<20), 0)
	f.WriteAt([]byte("x"), 0) // random access: the upload happens at close
	done := make(chan error, 1)
	go func() { done <- f.Close() }()
	time.Sleep(200 * time.Millisecond)
	t0 := time.Now()
	fi, err := os.Stat(filepath.Join(e.mnt, "slow"))
	if d := time.Since(t0); err != nil || d > 300*time.Millisecond {
		t.Fatalf("stat during the upload: %v after %v", err, d)
	}
	if fi.Size() != 4<<20 {
		t.Fatalf("size during the upload: %d", fi.Size())
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestTwoWriters: the server's copy changes while this mount has the
// file open; the upload does not overwrite it, both versions are kept
// and close reports the conflict.
func TestTwoWriters(t *testing.T) {
	e := newEnv(t, func(root string) { testutil.WriteFile(t, filepath.Join(root, "shared.txt"), []byte("v1\n")) }, nil,
		func(o *Options) { o.CacheDir = t.TempDir() })
	f, err := os.OpenFile(filepath.Join(e.mnt, "shared.txt"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("mine\n"), 0)
	// Another client writes meanwhile.
	testutil.WriteFile(t, filepath.Join(e.root, "shared.txt"), []byte("theirs, longer\n"))
	if err := f.Close(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("close after a conflict: %v, want EIO", err)
	}
	if got := onServer(t, e, "shared.txt"); string(got) != "theirs, longer\n" {
		t.Fatalf("the other writer's version was overwritten: %q", got)
	}
	kept, _ := filepath.Glob(filepath.Join(e.root, "shared.txt.conflict-*"))
	if len(kept) != 1 {
		t.Fatalf("conflict copies %v", kept)
	}
	if got, _ := os.ReadFile(kept[0]); string(got) != "mine\n" {
		t.Fatalf("our version: %q", got)
	}
	// Without a conflict, a second open and save works as usual.
	time.Sleep(1100 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(e.mnt, "shared.txt"), []byte("v3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.mnt, "shared.txt"), []byte("v4\n"), 0o644); err != nil {
		t.Fatalf("second save by this mount: %v", err)
	}
	if got := onServer(t, e, "shared.txt"); string(got) != "v4\n" {
		t.Fatalf("after two saves: %q", got)
	}
}

// TestFailedCreateLeavesNoName: a new file whose upload failed does not
// show through the mount (the server has no such file), and the next
// create of the name works.
func TestFailedCreateLeavesNoName(t *testing.T) {
	e := newEnv(t, func(string) {}, nil)
	p := filepath.Join(e.mnt, "f")
	e.srv.SetFaults(ftpd.Faults{StorFullAfter: 10})
	_, err := writeAndClose(p, make([]byte, 1000))
	e.srv.SetFaults(ftpd.Faults{})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("upload into a full disk: %v", err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat after the failed create: %v", err)
	}
	if got := names(t, e.mnt); len(got) != 0 {
		t.Fatalf("listing after the failed create: %q", got)
	}
	if _, err := writeAndClose(p, nil); err != nil {
		t.Fatalf("creating it again, empty: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(e.root, "f")); err != nil || fi.Size() != 0 {
		t.Fatalf("on the server: %v %v", fi, err)
	}
}

// TestTwoMountsOneFile: two mounts of one server open the same file and
// write it; the first close wins whole, the second finds the server's
// copy changed since its open, keeps its version next to it and reports
// the conflict. Never a mix of the two.
func TestTwoMountsOneFile(t *testing.T) {
	old := testutil.RandBytes(71, 200<<10)
	e := newEnv(t, func(root string) {
		testutil.WriteFile(t, filepath.Join(root, "doc"), old)
		// An hour old: the first writer's upload then changes the time
		// that MLST reports, even within the same second.
		hour := time.Now().Add(-time.Hour)
		os.Chtimes(filepath.Join(root, "doc"), hour, hour)
	}, nil)
	_, mnt2, _ := mountAt(t, e.srv.Addr().String(), testUser, testPass)
	a, err := os.OpenFile(filepath.Join(e.mnt, "doc"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.OpenFile(filepath.Join(mnt2, "doc"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	va, vb := testutil.RandBytes(72, 150<<10), testutil.RandBytes(73, 250<<10)
	a.WriteAt(va, 0)
	b.WriteAt(vb, 0)
	wantA := append(append([]byte{}, va...), old[len(va):]...)
	wantB := vb
	if err := a.Close(); err != nil {
		t.Fatalf("first close: %v", err)
	}
	// The server's copy is now a's, with a new time: b must see the
	// change.
	if err := b.Close(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("second close over a changed file: %v, want EIO (conflict)", err)
	}
	if got := onServer(t, e, "doc"); !bytes.Equal(got, wantA) {
		t.Fatalf("the server's copy is not the first writer's whole version (%d bytes)", len(got))
	}
	kept, _ := filepath.Glob(filepath.Join(e.root, "doc.conflict-*"))
	if len(kept) != 1 {
		t.Fatalf("conflict copies: %v", kept)
	}
	if got, _ := os.ReadFile(kept[0]); !bytes.Equal(got, wantB) {
		t.Fatalf("the second writer's version, kept aside, is %d bytes of something else", len(got))
	}
}
