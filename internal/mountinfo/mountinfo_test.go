package mountinfo

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"ftpfs/internal/testutil"
)

func TestParse(t *testing.T) {
	table := strings.Join([]string{
		// No optional fields.
		"22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw",
		// Two optional fields, and a mount point with a space and a tab.
		`90 22 0:50 / /mnt/my\040site\011x rw,nosuid,nodev shared:12 master:3 - fuse.ftpfs ftp://h/pub rw,user_id=0,group_id=0`,
		// A bind mount of a subdirectory whose name holds a backslash and
		// a newline; an empty source keeps its place.
		`91 22 8:1 /srv/a\134b\012c /mnt/bind rw - ext4  rw,errors=remount-ro`,
		"", // a blank line, as at the end of the file
		// Not an escape: too few digits, or not octal.
		`92 22 0:51 / /mnt/\04x\999 rw - tmpfs tmpfs rw`,
	}, "\n")
	got, err := Parse(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{ID: 22, Parent: 1, Dev: "0:21", Root: "/", Point: "/proc", Options: "rw,nosuid,nodev,noexec,relatime", FSType: "proc", Source: "proc", SuperOpts: "rw"},
		{ID: 90, Parent: 22, Dev: "0:50", Root: "/", Point: "/mnt/my site\tx", Options: "rw,nosuid,nodev", Optional: []string{"shared:12", "master:3"}, FSType: "fuse.ftpfs", Source: "ftp://h/pub", SuperOpts: "rw,user_id=0,group_id=0"},
		{ID: 91, Parent: 22, Dev: "8:1", Root: "/srv/a\\b\nc", Point: "/mnt/bind", Options: "rw", FSType: "ext4", Source: "", SuperOpts: "rw,errors=remount-ro"},
		{ID: 92, Parent: 22, Dev: "0:51", Root: "/", Point: `/mnt/\04x\999`, Options: "rw", FSType: "tmpfs", Source: "tmpfs", SuperOpts: "rw"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	for _, line := range []string{
		"22 1 0:21 / /proc rw proc proc rw",        // no separator
		"22 1 0:21 / /proc rw - proc proc",         // superblock options missing
		"22 1 0:21 / /proc rw - proc proc rw more", // a field too many
		"x 1 0:21 / /proc rw - proc proc rw",       // ID not a number
		"22 1 21 / /proc rw - proc proc rw",        // device not MAJOR:MINOR
		"22 1 0:21 / - rw proc proc rw",            // "-" where the mount point goes
	} {
		if _, err := Parse(strings.NewReader("23 1 0:22 / /sys rw - sysfs sysfs rw\n" + line + "\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%q: err = %v, want one naming line 2", line, err)
		}
	}
}

// TestSelf reads this process's table: the root is mounted, and every
// line the kernel writes parses.
func TestSelf(t *testing.T) {
	ms, err := ReadFile(Self)
	if err != nil {
		testutil.Unavailable(t, "no mount table: %v", err)
	}
	root := false
	for _, m := range ms {
		root = root || m.Point == "/"
	}
	if !root {
		t.Errorf("/ not among %d mounts", len(ms))
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "none")); !os.IsNotExist(err) {
		t.Errorf("missing file: err = %v", err)
	}
}
