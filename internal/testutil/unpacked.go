package testutil

import (
	"os"
	"path/filepath"
)

// UnpackedDir is where scripts/test-servers.sh unpacks the Debian
// packages that tests run but the machine cannot install next to what
// it has (proftpd and pure-ftpd conflict with vsftpd, FUSE 2's fuse with
// fuse3): $FTPFS_TEST_SERVERS, or its default.
func UnpackedDir() string {
	if d := os.Getenv("FTPFS_TEST_SERVERS"); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "ftpfs-test-servers")
}
