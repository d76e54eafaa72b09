package ftpd

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"ftpfs/internal/testutil"
)

// TestAVBL: the full profile announces AVBL and answers it with the
// space statfs gives for the directory named (the working one by
// default), 550 for what is no directory inside the root, 0 to a session
// that may not write; the vsftpd profile knows no AVBL.
func TestAVBL(t *testing.T) {
	h := startHarness(t, func(c *Config) { c.Anonymous = true })
	testutil.WriteFile(t, filepath.Join(h.Root, "d", "f"), []byte("x"))
	if err := os.Symlink(h.Base, filepath.Join(h.Root, "out")); err != nil {
		t.Fatal(err)
	}
	want, margin := testutil.Available(t, h.Root)
	c := mustDial(t, h.Addr().String())
	if feat := c.expect(t, "FEAT", 211); !strings.Contains(feat.Text, "\n AVBL\n") {
		t.Errorf("FEAT lacks AVBL: %q", feat.Text)
	}
	c.expect(t, "AVBL", 530)
	c.mustLogin(t)
	for _, arg := range []string{"", " /", " /d", " d/", " d/.."} {
		r := c.expect(t, "AVBL"+arg, 213)
		got, err := strconv.ParseUint(strings.TrimPrefix(r.Text, "213 "), 10, 64)
		if err != nil || !testutil.Near(got, want, margin) {
			t.Errorf("AVBL%s: %q, want about %d", arg, r.Text, want)
		}
	}
	c.expect(t, "CWD d", 250)
	if r := c.expect(t, "AVBL", 213); r.Text == "213 0" {
		t.Errorf("AVBL in /d: %q", r.Text)
	}
	for _, arg := range []string{"f", "/nope", "../..", "/out"} {
		c.expect(t, "AVBL "+arg, 550)
	}

	anon := mustDial(t, h.Addr().String())
	if err := anon.login("anonymous", "a@b"); err != nil {
		t.Fatal(err)
	}
	if r := anon.expect(t, "AVBL /", 213); r.Text != "213 0" {
		t.Errorf("anonymous (read-only) AVBL: %q, want 213 0", r.Text)
	}

	v := startHarness(t, func(c *Config) { c.Profile = ProfileVsftpd })
	vc := mustDial(t, v.Addr().String())
	if feat := vc.expect(t, "FEAT", 211); strings.Contains(feat.Text, "AVBL") {
		t.Errorf("vsftpd profile announces AVBL: %q", feat.Text)
	}
	vc.mustLogin(t)
	vc.expect(t, "AVBL", 500)
}
