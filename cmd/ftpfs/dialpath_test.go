package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
	"ftpfs/internal/testutil/ftpdtest"
	"ftpfs/internal/testutil/proxytest"
)

// mountRoundTrip reads a file the server has and writes one through mnt,
// checking root, the server's disk.
func mountRoundTrip(t *testing.T, root, mnt string) {
	t.Helper()
	if got, err := os.ReadFile(filepath.Join(mnt, "there.txt")); err != nil || string(got) != "served\n" {
		t.Fatalf("read through the mount: %q, %v", got, err)
	}
	data := testutil.RandBytes(51, 300<<10)
	if err := os.WriteFile(filepath.Join(mnt, "new.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "new.bin")); !bytes.Equal(got, data) {
		t.Fatal("the upload differs on the server's disk")
	}
	if es, err := os.ReadDir(mnt); err != nil || len(es) != 2 {
		t.Fatalf("listing: %v, %v", es, err)
	}
}

// TestMountActiveBinary: ftpfs mount --active against ftpfs serve with
// passive mode refused (--fault-refuse EPSV,PASV:502).
func TestMountActiveBinary(t *testing.T) {
	testutil.NeedFUSE(t)
	root := t.TempDir()
	testutil.WriteFile(t, filepath.Join(root, "there.txt"), []byte("served\n"))
	srv := serveBinary(t, root, "--fault-refuse", "EPSV,PASV:502")
	m := mountBinary(t, "ftp://u@"+srv.addr+"/", "p", "--active")
	mountRoundTrip(t, root, m.mnt)
}

// TestMountProxyBinary: the proxy of $ALL_PROXY, a SOCKS5 one with a
// password, carries the control and data connections of a mount; ftpd
// would refuse a data connection that did not come through it.
func TestMountProxyBinary(t *testing.T) {
	testutil.NeedFUSE(t)
	root := t.TempDir()
	testutil.WriteFile(t, filepath.Join(root, "there.txt"), []byte("served\n"))
	srv := serveBinary(t, root)
	px := proxytest.SOCKS5(t, "pu", "proxy-secret")
	t.Setenv("ALL_PROXY", "socks5://pu:proxy-secret@"+px.Addr())
	t.Setenv("NO_PROXY", "example.org")
	m := mountBinary(t, "ftp://u@"+srv.addr+"/", "p")
	mountRoundTrip(t, root, m.mnt)
	control := px.Relayed(srv.addr)
	if control == 0 || px.Relayed("")-control < 3 {
		t.Fatalf("relayed %d control and %d data connections", control, px.Relayed("")-control)
	}
}

// TestDoctorDialPath: doctor --active probes a server that refuses
// passive mode without calling that a problem (its listings and write
// probes go over active data connections), and doctor --proxy probes
// through the proxy, the data connections of its probes too; the line
// it recommends keeps the flag.
func TestDoctorDialPath(t *testing.T) {
	px := proxytest.SOCKS5(t, "", "")
	for _, tc := range []struct {
		name  string
		fault string // RefuseVerb, with 502
		args  []string
		lines []string
	}{
		{"active", "EPSV,PASV", []string{"--active"}, []string{"ok           data connections: active mode (--active)", "ok           REST STOR: "}},
		{"proxy", "", []string{"--proxy", "socks5://" + px.Addr()}, []string{"ok           EPSV: ", "ok           PASV: "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ftpdtest.Serve(t, doctorTree(t), func(c *ftpd.Config) { c.Faults.RefuseVerb, c.Faults.RefuseCode = tc.fault, 502 })
			before := px.Relayed("")
			out := doctorOn(t, s, tc.args...)
			wantLines(t, out, append(tc.lines, "ok           MLSD: 2 entries", "ok           STOR: ")...)
			if strings.Contains(out, "PROBLEM") {
				t.Errorf("a problem reported with %s", tc.args)
			}
			if relayed := px.Relayed("") - before; tc.name == "proxy" && relayed < 6 {
				t.Errorf("the proxy relayed %d connections", relayed)
			}
			wantRecommended(t, out, s, strings.Join(tc.args, " "))
			untouched(t, s.Root)
		})
	}
}
