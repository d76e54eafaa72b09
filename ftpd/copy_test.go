package ftpd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ftpfs/internal/testutil"
)

// TestSiteCopy: SITE CPFR and CPTO copy a file as proftpd's mod_copy
// does, FEAT says SITE COPY, and the profiles without it refuse both.
func TestSiteCopy(t *testing.T) {
	h := startHarness(t)
	testutil.WriteFile(t, filepath.Join(h.Root, "a"), []byte("content"))
	os.Mkdir(filepath.Join(h.Root, "d"), 0o755)
	c := mustDial(t, h.Addr().String())
	defer c.Close()
	if err := c.login(testUser, testPass); err != nil {
		t.Fatal(err)
	}
	if r := c.expect(t, "FEAT", 211); !strings.Contains(r.Text, "SITE COPY") {
		t.Errorf("FEAT without SITE COPY: %q", r.Text)
	}
	c.expect(t, "SITE CPTO b", 503)
	c.expect(t, "SITE CPFR missing", 550)
	c.expect(t, "SITE CPFR d", 550) // directories are not copied here
	c.expect(t, "SITE CPFR a", 350)
	c.expect(t, "SITE CPTO d/b", 250)
	if got, _ := os.ReadFile(filepath.Join(h.Root, "d", "b")); string(got) != "content" {
		t.Fatalf("copy: %q", got)
	}
	c.expect(t, "SITE CPTO c", 503) // one CPTO per CPFR

	ro := startHarness(t, func(c *Config) { c.ReadOnly = true })
	testutil.WriteFile(t, filepath.Join(ro.Root, "a"), []byte("content"))
	rc := mustDial(t, ro.Addr().String())
	defer rc.Close()
	if err := rc.login(testUser, testPass); err != nil {
		t.Fatal(err)
	}
	rc.expect(t, "SITE CPFR a", 350)
	rc.expect(t, "SITE CPTO b", 550)

	vs := startHarness(t, func(c *Config) { c.Profile = ProfileVsftpd })
	vc := mustDial(t, vs.Addr().String())
	defer vc.Close()
	if err := vc.login(testUser, testPass); err != nil {
		t.Fatal(err)
	}
	if r := vc.expect(t, "FEAT", 211); strings.Contains(r.Text, "SITE COPY") {
		t.Errorf("vsftpd profile's FEAT has SITE COPY: %q", r.Text)
	}
	vc.expect(t, "SITE CPFR a", 500)
}
