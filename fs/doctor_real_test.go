package fs

// ftpfs doctor against the real servers, started as the mount's suites
// start them (servers_test.go): the command as a user runs it, its
// report, and the served tree without the scratch directory afterwards.
// The test lives here, beside the helpers that start the servers.

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"ftpfs/internal/testutil"
)

// doctorWants are lines each server's report must have, by the start of
// the line, and the flags its recommended line must have.
var doctorWants = map[string]struct {
	lines []string
	flags string
}{
	"vsftpd": {lines: []string{
		"unsupported  MLSD/MLST: not in FEAT",
		"ok           STAT listing: ",
		"ok           time zone of LIST: LIST's times are in MDTM's zone",
		"ok           time zone of MDTM: UTC, as RFC 3659 says",
		"unsupported  MFMT: not in FEAT",
		"ok           MDTM time path: sets the time",
		// Anonymous sessions cannot chmod on vsftpd.
		"PROBLEM      SITE CHMOD: refused",
		"ok           rename over a file: replaces the file",
	}, flags: "-o chmod=ignore"},
	"proftpd": {lines: []string{
		"ok           MLSD: ",
		"ok           MLST: ",
		"ok           STAT listing: ",
		"ok           MFMT: sets the time",
		"ok           SITE CHMOD: sets the mode",
		"ok           rename over a file: replaces the file",
	}},
	"pure-ftpd": {lines: []string{
		"ok           MLSD: ",
		"ok           STAT listing: ",
		"ok           MFMT: sets the time",
		"ok           SITE CHMOD: sets the mode",
		"ok           rename over a file: replaces the file",
	}},
}

func TestDoctorRealServers(t *testing.T) {
	testutil.NeedRoot(t, "for the real servers, which chroot and change user")
	tc := testutil.NewCert(t, testutil.CertOptions{RSA: true, Shared: true})
	for _, rs := range realServers {
		want := doctorWants[rs.name]
		t.Run(rs.name, func(t *testing.T) {
			root := t.TempDir()
			testutil.WriteFile(t, filepath.Join(root, "file.txt"), []byte("served\n"))
			s := rs.start(t, root, nil)
			out := doctorReal(t, s)
			wantReport(t, out, append(want.lines, "ok           scratch directory: "))
			wantLine := strings.Join(strings.Fields("ftpfs mount "+want.flags+" --timeout 10s ftp://"+s.user+"@"+s.addr+"/"+s.up+" MOUNTPOINT"), " ")
			if !strings.Contains(out, "\n  "+wantLine+"\n") {
				t.Errorf("no recommended line %q", wantLine)
			}
			noScratch(t, root)
		})
		t.Run(rs.name+" TLS", func(t *testing.T) {
			root := t.TempDir()
			s := rs.start(t, root, tc)
			out := doctorReal(t, s, "--tls-ca", tc.CertFile, "--read-only")
			lines := []string{"ok           TLS: ", "ok           certificate: ", "ok           TLS versions: accepted: ", "ok           TLS session reuse: "}
			if rs.name == "vsftpd" {
				lines = append(lines, "ok           TLS session reuse: demanded")
			}
			wantReport(t, out, lines)
			// In clear, the server refuses the login: the line to try
			// pins its certificate, which no system trusts.
			plain, err := runDoctor(t, s)
			pin := fmt.Sprintf("sha256:%x", sha256.Sum256(tc.DER))
			if err == nil || !strings.Contains(plain, "to try:\n  ftpfs mount --tls-fingerprint "+pin+" ") {
				t.Errorf("doctor in clear: %v, want exit 1 and the pin to try", err)
			}
			noScratch(t, root)
		})
	}
}

// doctorReal runs the ftpfs binary's doctor against s, in the directory
// uploads may go to, with args before SERVER; it must exit 0.
func doctorReal(t *testing.T, s served, args ...string) string {
	t.Helper()
	out, err := runDoctor(t, s, args...)
	if err != nil {
		t.Fatalf("ftpfs doctor: %v", err)
	}
	return out
}

// runDoctor is doctorReal that returns the command's error.
func runDoctor(t *testing.T, s served, args ...string) (string, error) {
	t.Helper()
	args = append(append([]string{"doctor", "--timeout", "10s"}, args...), "ftp://"+s.user+"@"+s.addr+"/"+s.up)
	cmd := exec.Command(testutil.Binary(t), args...)
	// No ~/.netrc of the machine's: the password is the environment's.
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "FTPFS_PASSWORD="+s.pass)
	out, err := cmd.CombinedOutput()
	t.Logf("ftpfs %s:\n%s", strings.Join(args, " "), out)
	return string(out), err
}

// wantReport fails unless each of lines starts a line of the report.
func wantReport(t *testing.T, report string, lines []string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains("\n"+report, "\n"+l) {
			t.Errorf("no line starting %q in the report", l)
		}
	}
}

// noScratch fails if a scratch directory of doctor's is left in root.
func noScratch(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".ftpfs-doctor-") {
			t.Errorf("scratch directory left: %s", p)
		}
		return nil
	})
}
