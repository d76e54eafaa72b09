package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
	"ftpfs/internal/testutil/ftpdtest"
)

// TestSecretsEndToEnd runs the real binary, in the background as a user
// would, with every trace on: the password reaches the server, and no
// command line, environment, log line, trace or error message.
func TestSecretsEndToEnd(t *testing.T) {
	testutil.NeedFUSE(t)
	const secret = "s3cret-never-shown"
	bin := testutil.Binary(t)
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "f.txt"), []byte("hello\n"), 0o644)
	srv := ftpdtest.Start(t, ftpd.Config{Root: root, Listen: "127.0.0.1:0", Users: map[string]string{"alice": secret}, LoginFailDelay: time.Millisecond})
	url := "ftp://alice@" + srv.Addr().String() + "/"
	mnt, cache := t.TempDir(), t.TempDir()
	run := func(password string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "FTPFS_PASSWORD="+password, "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// A wrong password: one line, without it.
	out, err := run(secret+"-wrong", "mount", "--debug-ftp", "--cache-dir", cache, url, mnt)
	if err == nil || strings.Contains(out, secret) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("wrong password: %v, output %q", err, out)
	}

	out, err = run(secret, "mount", "--debug-ftp", "--debug-fuse", "--cache-dir", cache, url, mnt)
	if err != nil {
		t.Fatalf("mount: %v\n%s", err, out)
	}
	defer exec.Command(bin, "unmount", "--lazy", mnt).Run()
	// Every process whose command line names the mountpoint: the mount.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	seen := 0
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if !bytes.Contains(b, []byte(mnt)) {
			continue
		}
		seen++
		env, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "environ"))
		if bytes.Contains(b, []byte(secret)) || bytes.Contains(env, []byte(secret)) {
			t.Errorf("%s or its environ holds the password", p)
		}
	}
	if seen == 0 {
		t.Error("no process with the mountpoint in its command line")
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "f.txt")); err != nil || string(b) != "hello\n" {
		t.Fatalf("read through the mount: %q %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "g.txt"), []byte("x"), 0o644); err != nil {
		t.Fatalf("write through the mount: %v", err)
	}
	if out, err := run("", "unmount", mnt); err != nil {
		t.Fatalf("unmount: %v\n%s", err, out)
	}
	var log []byte
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		// The mount process writes its last lines as it exits.
		log, _ = os.ReadFile(filepath.Join(cache, "mount.log"))
		if bytes.Contains(log, []byte("QUIT")) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !bytes.Contains(log, []byte("PASS ****")) || !bytes.Contains(log, []byte("STOR")) {
		t.Fatalf("the trace lacks the masked PASS or the upload:\n%s", log)
	}
	if bytes.Contains(log, []byte(secret)) {
		t.Fatal("the log holds the password")
	}
}
