package fs

import (
	"errors"
	"ftpfs/internal/testutil"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestHostileLongName: a listed name over 255 bytes never reaches the
// kernel (no program could open or copy it); it is dropped with a log
// line, and a name of 255 bytes is shown. Such a name cannot be created
// through the mount either.
func TestHostileLongName(t *testing.T) {
	ok, long := strings.Repeat("n", 255), strings.Repeat("l", 256)
	for _, mlsd := range []bool{true, false} {
		name := map[bool]string{true: "MLSD", false: "LIST"}[mlsd]
		t.Run(name, func(t *testing.T) {
			line := func(n string) string {
				if mlsd {
					return "type=file;size=5;modify=20240101000000; " + n + "\r\n"
				}
				return "-rw-r--r--   1 u g 5 Jan  1  2024 " + n + "\r\n"
			}
			e := &evilServer{mlsd: mlsd, pasvHost: "127.0.0.1",
				listings: map[string]string{"/": line(ok) + line(long) + line("short")},
			}
			addr := startEvil(t, e)
			_, mnt, logs := mountAt(t, addr, "u", "p")
			if got := names(t, mnt); strings.Join(got, "|") != ok+"|short" {
				t.Fatalf("root shows %d names (%.40q...), want the 255-byte name and short", len(got), got)
			}
			if s := logs.String(); !strings.Contains(s, "over 255 bytes") || !strings.Contains(s, "lllll") {
				t.Errorf("the long name was not logged:\n%s", testutil.Tail(s, 10))
			}
			if _, err := os.Stat(filepath.Join(mnt, long)); !errors.Is(err, syscall.ENAMETOOLONG) {
				t.Errorf("stat of the long name: %v, want ENAMETOOLONG", err)
			}
			if err := os.WriteFile(filepath.Join(mnt, strings.Repeat("c", 300)), nil, 0o644); !errors.Is(err, syscall.ENAMETOOLONG) {
				t.Errorf("create of a 300-byte name: %v, want ENAMETOOLONG", err)
			}
		})
	}
}
