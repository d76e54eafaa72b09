package ftpd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSiteQuota: with Config.Quota, SITE QUOTA answers in mod_quotatab's
// form, the uploaded bytes counting what uploads stored; an upload that
// passes the limit stops there with 552, and the next fails at once.
// Without a quota SITE QUOTA is refused.
func TestSiteQuota(t *testing.T) {
	h := startHarness(t, func(c *Config) { c.Quota = 1000 })
	raw := mustDial(t, h.Addr().String())
	raw.mustLogin(t)
	uploaded := func(want string) {
		t.Helper()
		r := raw.expect(t, "SITE QUOTA", 200)
		lines := strings.Split(r.Text, "\n")
		if !strings.HasPrefix(lines[0], "200-The current quota for this session are [current/limit]:") ||
			!strings.Contains(r.Text, "\n   Uploaded bytes:\t"+want+"\n") ||
			!strings.Contains(r.Text, "\n   Downloaded bytes:\tunlimited\n") ||
			!strings.Contains(r.Text, "\n   Uploaded files:\tunlimited\n") ||
			!strings.HasPrefix(lines[len(lines)-1], "200 ") {
			t.Errorf("SITE QUOTA: %q, want uploaded bytes %s", r.Text, want)
		}
	}
	uploaded("0.00/1000.00")

	lib := dialLib(t, h.Addr().String())
	if err := lib.Stor("a", bytes.NewReader(make([]byte, 600))); err != nil {
		t.Fatal(err)
	}
	uploaded("600.00/1000.00")
	err := lib.Stor("b", bytes.NewReader(make([]byte, 600)))
	if ftpCode(err) != 552 || !strings.Contains(err.Error(), "Quota") {
		t.Fatalf("STOR over the quota: %v, want 552 Quota exceeded", err)
	}
	if fi, err := os.Stat(filepath.Join(h.Root, "b")); err != nil || fi.Size() != 400 {
		t.Errorf("the upload over the quota left %v, %v; want its first 400 bytes", fi, err)
	}
	uploaded("1000.00/1000.00")
	if err := lib.Stor("c", bytes.NewReader([]byte("x"))); ftpCode(err) != 552 {
		t.Errorf("STOR at a full quota: %v, want 552", err)
	}

	none := startHarness(t)
	nc := mustDial(t, none.Addr().String())
	nc.mustLogin(t)
	nc.expect(t, "SITE QUOTA", 500)
}
