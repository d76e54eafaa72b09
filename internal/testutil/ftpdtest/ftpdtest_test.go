package ftpdtest

import (
	"net/textproto"
	"os"
	"path/filepath"
	"testing"

	"ftpfs/ftpd"
)

// TestServe logs in with the login Serve sets up and finds the file the
// test put in the root, on the address Config names.
func TestServe(t *testing.T) {
	s := Serve(t, "", func(c *ftpd.Config) { c.Profile = ftpd.ProfileVsftpd })
	if err := os.WriteFile(filepath.Join(s.Root, "f"), []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s.Config.Listen != s.Addr().String() || s.Config.Profile != ftpd.ProfileVsftpd {
		t.Errorf("config %+v, server on %s", s.Config, s.Addr())
	}
	c, err := textproto.Dial("tcp", s.Config.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, step := range []struct {
		cmd  string
		code int
		msg  string
	}{{"", 220, ""}, {"USER " + User, 331, ""}, {"PASS " + Password, 230, ""}, {"TYPE I", 200, ""}, {"SIZE f", 213, "3"}} {
		if step.cmd != "" {
			if _, err := c.Cmd("%s", step.cmd); err != nil {
				t.Fatal(err)
			}
		}
		if _, msg, err := c.ReadResponse(step.code); err != nil || step.msg != "" && msg != step.msg {
			t.Fatalf("%q: %q %v", step.cmd, msg, err)
		}
	}
}
