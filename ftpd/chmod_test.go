package ftpd

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"ftpfs/internal/testutil"
)

// TestSiteChmodModes checks that SITE CHMOD sets setuid, setgid and sticky
// only when the server allows them, and never touches the served root.
func TestSiteChmodModes(t *testing.T) {
	for _, allow := range []bool{false, true} {
		name := "masked"
		if allow {
			name = "AllowSpecialModes"
		}
		t.Run(name, func(t *testing.T) {
			h := startHarness(t, func(c *Config) { c.AllowSpecialModes = allow })
			testutil.WriteFile(t, filepath.Join(h.Root, "f"), []byte("f"))
			if err := os.Mkdir(filepath.Join(h.Root, "d"), 0o755); err != nil {
				t.Fatal(err)
			}
			// Symlinks that resolve to the root: os.Root.Chmod follows them.
			for name, target := range map[string]string{"here": ".", "d/up": ".."} {
				if err := os.Symlink(target, filepath.Join(h.Root, name)); err != nil {
					t.Fatal(err)
				}
			}
			c := mustDial(t, h.Addr().String())
			c.mustLogin(t)
			for _, tc := range []struct {
				cmd, file    string
				want, masked fs.FileMode
			}{
				{"SITE CHMOD 4755 /f", "f", 0o755 | fs.ModeSetuid, 0o755},
				{"SITE CHMOD 2711 f", "f", 0o711 | fs.ModeSetgid, 0o711},
				{"SITE CHMOD 7777 /f", "f", 0o777 | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky, 0o777},
				{"SITE CHMOD 1777 d", "d", 0o777 | fs.ModeSticky, 0o777},
				{"SITE CHMOD 0640 f", "f", 0o640, 0o640},
			} {
				c.expect(t, tc.cmd, 200)
				want := tc.masked
				if allow {
					want = tc.want
				}
				fi, err := os.Stat(filepath.Join(h.Root, tc.file))
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode() &^ fs.ModeDir; got != want {
					t.Errorf("%s: mode %v, want %v", tc.cmd, got, want)
				}
			}
			c.expect(t, "SITE CHMOD 17777 f", 501)
			before, err := os.Stat(h.Root)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{"/", ".", "d/..", "/d/../", "here", "here/", "/d/up", "d/up/."} {
				c.expect(t, "SITE CHMOD 777 "+p, 550)
				c.expect(t, "SITE CHMOD 4777 "+p, 550)
			}
			if after, err := os.Stat(h.Root); err != nil || after.Mode() != before.Mode() {
				t.Errorf("the root's mode went from %v to %v (%v)", before.Mode(), after.Mode(), err)
			}
		})
	}
}
