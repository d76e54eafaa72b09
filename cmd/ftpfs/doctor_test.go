package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpfs/conn"
	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
	"ftpfs/internal/testutil/ftpdtest"
)

// doctorOn runs ftpfs doctor in-process against s with args before
// SERVER, and returns its report; it must exit 0.
func doctorOn(t *testing.T, s *ftpdtest.Server, args ...string) string {
	t.Helper()
	return doctorAt(t, "ftp://"+ftpdtest.User+"@"+s.Addr().String()+"/", args...)
}

// doctorAt is doctorOn for the server at url.
func doctorAt(t *testing.T, url string, args ...string) string {
	t.Helper()
	out, code := doctorRun(context.Background(), t, url, args...)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	return out
}

// doctorRun runs ftpfs doctor in-process with ctx against the server at
// url, and returns its report and exit status. The password must not be
// in what it writes.
func doctorRun(ctx context.Context, t *testing.T, url string, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	in := inputs(t.TempDir(), map[string]string{passwordEnv: ftpdtest.Password})
	args = append(args, url)
	code := doctor(ctx, args, &out, &errOut, in)
	t.Logf("ftpfs doctor %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	if strings.Contains(out.String()+errOut.String(), ftpdtest.Password) {
		t.Error("the password is in doctor's output")
	}
	return out.String(), code
}

// wantLines fails unless each of lines starts a line of the report.
func wantLines(t *testing.T, report string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains("\n"+report, "\n"+l) {
			t.Errorf("no line starting %q in the report", l)
		}
	}
}

// wantRecommended fails unless the report recommends mounting s with
// flags ("" for none) before SERVER.
func wantRecommended(t *testing.T, report string, s *ftpdtest.Server, flags string) {
	t.Helper()
	want := strings.Join(strings.Fields("ftpfs mount "+flags+" ftp://"+ftpdtest.User+"@"+s.Addr().String()+"/ MOUNTPOINT"), " ")
	if got := recommended(t, report); got != want {
		t.Errorf("recommended %q, want %q", got, want)
	}
}

// recommended is the report's mount line.
func recommended(t *testing.T, report string) string {
	t.Helper()
	_, line, ok := strings.Cut(report, "\nrecommended:\n  ")
	if !ok {
		t.Fatal("no recommended line")
	}
	return strings.TrimSpace(line)
}

// doctorTree is a served tree to compare before and after a doctor.
func doctorTree(t *testing.T) string {
	root := t.TempDir()
	testutil.WriteFile(t, filepath.Join(root, "file.txt"), []byte("content\n"))
	testutil.WriteFile(t, filepath.Join(root, "dir", "inner"), []byte("x"))
	return root
}

// untouched fails unless root holds what doctorTree wrote, and nothing
// else: no scratch directory is left.
func untouched(t *testing.T, root string) {
	t.Helper()
	want := doctorTree(t)
	if err := testutil.SameTree(want, root); err != nil {
		t.Errorf("the served tree changed: %v", err)
	}
}

func TestDoctorFullProfile(t *testing.T) {
	s := ftpdtest.Serve(t, doctorTree(t))
	out := doctorOn(t, s)
	wantLines(t, out,
		"ok           login: as tester",
		"ok           FEAT: ",
		"ok           EPSV: ",
		"ok           PASV: names the control connection's address",
		"ok           MLSD: 2 entries",
		"ok           MLST: /: type dir",
		"ok           STAT listing: ",
		"ok           LIST: 2 entries",
		"ok           names: all 2 UTF-8",
		"ok           time zone of LIST: LIST's times are in MDTM's zone",
		"ok           time zone of MDTM: UTC, as RFC 3659 says",
		"ok           connections: at least 16 at once",
		"ok           STOR: ",
		"ok           SIZE: ",
		"ok           MFMT: sets the time",
		"ok           SITE CHMOD: sets the mode",
		"ok           rename over a file: replaces the file",
		"ok           REST STOR: ",
		"ok           APPE: ",
		"ok           scratch directory: /.ftpfs-doctor-",
	)
	if strings.Contains(out, "PROBLEM") {
		t.Error("a problem reported on the full profile")
	}
	wantRecommended(t, out, s, "")
	untouched(t, s.Root)
}

func TestDoctorMaxPerIP(t *testing.T) {
	s := ftpdtest.Serve(t, doctorTree(t), func(c *ftpd.Config) { c.MaxPerIP = 2 })
	out := doctorOn(t, s, "--connections", "8")
	wantLines(t, out, "PROBLEM      connections: 2 at once; the next was refused (421) → --connections 2")
	// The user's --connections 8 gives way to the advice.
	wantRecommended(t, out, s, "--connections 2")
	untouched(t, s.Root)
}

func TestDoctorNoOverwrite(t *testing.T) {
	s := ftpdtest.Serve(t, doctorTree(t), func(c *ftpd.Config) { c.Faults.NoOverwrite = true })
	// The trace of the dialogue goes to stderr, PASS masked.
	out := doctorOn(t, s, "--debug-ftp")
	wantLines(t, out, "PROBLEM      rename over a file: refused")
	wantRecommended(t, out, s, "--no-atomic-upload --debug-ftp")
	untouched(t, s.Root)
}

// TestDoctorVsftpdProfile: a LIST-only server, whose listings come over
// the control connection with STAT, and whose times are set with the
// "MDTM time path" form.
func TestDoctorVsftpdProfile(t *testing.T) {
	s := ftpdtest.Serve(t, doctorTree(t), func(c *ftpd.Config) { c.Profile = ftpd.ProfileVsftpd })
	out := doctorOn(t, s)
	wantLines(t, out,
		"unsupported  MLSD/MLST: not in FEAT",
		"ok           STAT listing: 2 lines over the control connection; the mount lists with it",
		"ok           LIST: 2 entries",
		"ok           time zone of LIST: ",
		"unsupported  MFMT: not in FEAT",
		"ok           MDTM time path: sets the time",
		"ok           scratch directory: ",
	)
	wantRecommended(t, out, s, "")
	untouched(t, s.Root)
}

// TestDoctorServerZone: a server answering in Tokyo's time, as vsftpd
// with use_localtime does: LIST agrees with MDTM, and only the upload's
// MDTM against the clock shows the offset, which doctor recommends
// giving; a zone given that matches is confirmed, a wrong one replaced.
func TestDoctorServerZone(t *testing.T) {
	tokyo, err := conn.ParseZone("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	s := ftpdtest.Serve(t, doctorTree(t), func(c *ftpd.Config) { c.Profile, c.Zone = ftpd.ProfileVsftpd, tokyo })
	out := doctorOn(t, s)
	wantLines(t, out,
		"ok           time zone of LIST: LIST's times are in MDTM's zone",
		"PROBLEM      time zone of MDTM: the server gives local time (UTC+09:00) where RFC 3659 says UTC",
	)
	wantRecommended(t, out, s, "--server-timezone +09:00")
	out = doctorOn(t, s, "--server-timezone", "Asia/Tokyo")
	wantLines(t, out, "ok           time zone of MDTM: the server's times are local, +09:00, as --server-timezone Asia/Tokyo says")
	wantRecommended(t, out, s, "--server-timezone Asia/Tokyo")
	out = doctorOn(t, s, "--server-timezone=+01:00")
	wantLines(t, out, "PROBLEM      time zone of MDTM: the server's times are at +09:00, not in --server-timezone +01:00")
	wantRecommended(t, out, s, "--server-timezone +09:00")
	out = doctorOn(t, s, "--read-only")
	wantLines(t, out, "unsupported  time zone of MDTM: not compared with the clock")
	untouched(t, s.Root)
}

// TestDoctorReadOnly: --read-only (or -o ro) sends no command that
// changes anything.
func TestDoctorReadOnly(t *testing.T) {
	for _, args := range [][]string{{"--read-only"}, {"-o", "ro"}} {
		log := &testutil.Buffer{}
		s := ftpdtest.Serve(t, doctorTree(t), func(c *ftpd.Config) { c.CommandLog = log })
		out := doctorOn(t, s, args...)
		wantLines(t, out, "ok           write probes: skipped (read-only)")
		for _, l := range strings.Split(log.String(), "\n") {
			f := strings.Fields(l)
			if len(f) >= 3 && strings.Contains(" STOR APPE MKD RMD DELE RNFR RNTO SITE MFMT STOU ", " "+f[2]+" ") {
				t.Errorf("%v: a change was sent: %s", args, l)
			}
		}
		if strings.Contains(log.String(), " MDTM 2") {
			t.Errorf("%v: MDTM set form sent", args)
		}
		untouched(t, s.Root)
	}
}

// TestDoctorCleansUpAfterFailure: an upload the server fails leaves its
// part behind, which the scratch directory's removal takes along.
func TestDoctorCleansUpAfterFailure(t *testing.T) {
	s := ftpdtest.Serve(t, doctorTree(t), func(c *ftpd.Config) { c.Faults.StorFullAfter = 100 })
	out := doctorOn(t, s)
	wantLines(t, out, "PROBLEM      STOR: failed in the scratch directory", "ok           scratch directory: ")
	untouched(t, s.Root)
}

// TestDoctorTimeout: transfers that never end cost each probe its
// timeout, no more, and the scratch directory still goes.
func TestDoctorTimeout(t *testing.T) {
	s := ftpdtest.Serve(t, doctorTree(t), func(c *ftpd.Config) { c.Faults.Stall = true })
	t0 := time.Now()
	out := doctorOn(t, s, "--timeout", "300ms")
	if d := time.Since(t0); d > 15*time.Second {
		t.Errorf("doctor took %v with a 300ms timeout", d)
	}
	wantLines(t, out, "PROBLEM      MLSD: ", "PROBLEM      STOR: ", "ok           scratch directory: ")
	untouched(t, s.Root)
}

// TestDoctorInterrupted: Ctrl-C in the middle of an upload ends doctor
// at once, and the scratch directory still goes.
func TestDoctorInterrupted(t *testing.T) {
	log := &testutil.Buffer{}
	s := ftpdtest.Serve(t, doctorTree(t), func(c *ftpd.Config) { c.CommandLog, c.Faults.Stall = log, true })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for !strings.Contains(log.String(), " STOR ") {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	out, code := doctorRun(ctx, t, "ftp://"+ftpdtest.User+"@"+s.Addr().String()+"/", "--timeout", "500ms")
	if code != 1 || !strings.HasSuffix(out, "\ninterrupted\n") || !strings.Contains(out, "\nok           scratch directory: ") {
		t.Error("want exit 1, the scratch directory removed, and interrupted")
	}
	untouched(t, s.Root)
}

// TestDoctorTLS: the TLS findings over AUTH TLS, and the pin that takes
// the place of --tls-insecure.
func TestDoctorTLS(t *testing.T) {
	cert := testutil.NewCert(t, testutil.CertOptions{})
	s := ftpdtest.Serve(t, doctorTree(t), func(c *ftpd.Config) { c.TLS = cert.ServerTLS() })
	out := doctorOn(t, s, "--tls-ca", cert.CertFile)
	sum := sha256.Sum256(cert.DER)
	pin := fmt.Sprintf("sha256:%x", sum)
	wantLines(t, out, "ok           TLS: TLS 1.3", "ok           certificate: ", "ok           TLS versions: accepted: ",
		"ok           TLS session reuse: ")
	if !strings.Contains(out, pin) {
		t.Errorf("the certificate's fingerprint %s is not reported", pin)
	}
	out = doctorOn(t, s, "--tls-insecure", "--read-only")
	wantLines(t, out, "PROBLEM      certificate: ")
	wantRecommended(t, out, s, "--tls-fingerprint "+pin)
	// Plain FTP to a server that offers TLS, which is tried without a
	// login.
	out = doctorOn(t, s, "--read-only")
	// Its certificate is one no system trusts: the pin, to be checked.
	wantLines(t, out, "PROBLEM      TLS: the server offers AUTH TLS, and this login went in clear; its certificate")
	wantRecommended(t, out, s, "--tls-fingerprint "+pin)
	untouched(t, s.Root)
}

// TestDoctorImplicitTLS: ftps:// is TLS from the first byte.
func TestDoctorImplicitTLS(t *testing.T) {
	cert := testutil.NewCert(t, testutil.CertOptions{})
	s := ftpdtest.Serve(t, doctorTree(t), func(c *ftpd.Config) { c.TLS, c.ImplicitTLSListen = cert.ServerTLS(), "127.0.0.1:0" })
	out := doctorAt(t, "ftps://"+ftpdtest.User+"@"+s.ImplicitTLSAddr().String()+"/", "--tls-ca", cert.CertFile)
	wantLines(t, out, "ok           login: as tester in ", "ok           TLS: TLS 1.3", "ok           TLS versions: ", "ok           STOR: ", "ok           scratch directory: ")
	if !strings.Contains(out, "over implicit TLS (ftps://)") || strings.Contains(out, "PROBLEM") {
		t.Error("want a login over implicit TLS, and no problem")
	}
	untouched(t, s.Root)
}

// TestDoctorTLSRequired: a server that refuses logins in clear gets no
// password in clear, and the TLS flag to try.
func TestDoctorTLSRequired(t *testing.T) {
	cert := testutil.NewCert(t, testutil.CertOptions{})
	s := ftpdtest.Serve(t, doctorTree(t), func(c *ftpd.Config) { c.TLS, c.TLSRequired = cert.ServerTLS(), true })
	out, code := doctorRun(context.Background(), t, "ftp://"+ftpdtest.User+"@"+s.Addr().String()+"/")
	sum := sha256.Sum256(cert.DER)
	if code != 1 || !strings.Contains(out, "\nPROBLEM      login: 530 TLS required") ||
		!strings.Contains(out, "\nPROBLEM      TLS: the server takes AUTH TLS, and may refuse logins in clear") ||
		!strings.Contains(out, fmt.Sprintf("to try:\n  ftpfs mount --tls-fingerprint sha256:%x ftp://", sum)) {
		t.Error("want no login, exit 1, and the pin to try")
	}
}

func TestDoctorArgs(t *testing.T) {
	in := inputs(t.TempDir(), nil)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "missing SERVER"},
		{[]string{"host", "/mnt"}, 2, "want one SERVER, got 2"},
		{[]string{"--read-only=maybe", "host"}, 2, "--read-only"},
		{[]string{"--frobnicate", "host"}, 2, "frobnicate"},
		{[]string{"-h"}, 0, "usage: ftpfs doctor"},
		{[]string{"ftp://127.0.0.1:1/"}, 1, "no login"},
	} {
		var out, errOut bytes.Buffer
		code := doctor(context.Background(), tc.args, &out, &errOut, in)
		if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.msg) {
			t.Errorf("%q: exit %d, output %q %q; want %d and %q", tc.args, code, out.String(), errOut.String(), tc.code, tc.msg)
		}
	}
}

func TestRecommendedLine(t *testing.T) {
	advice := []conn.Finding{
		{Advice: conn.AdviseConnections, N: 2}, {Advice: conn.AdviseChmodIgnore},
		{Advice: conn.AdviseChmodIgnore}, {Advice: conn.AdviseFingerprint, Value: "sha256:ab"},
	}
	got := recommendedLine([]string{"--connections=8", "--tls-insecure", "--user", "a b", "host", "--connections", "3"}, advice)
	want := "ftpfs mount --connections 2 -o chmod=ignore --tls-fingerprint sha256:ab --user 'a b' host MOUNTPOINT"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
