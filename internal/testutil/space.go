package testutil

import (
	"syscall"
	"testing"
)

// Available is what statfs says unprivileged users may still write on the
// filesystem of dir, in bytes, and the margin within which a figure taken
// a moment later counts as the same: other processes write and free space
// on a shared disk meanwhile.
func Available(t testing.TB, dir string) (bytes, margin uint64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	bytes = st.Bavail * uint64(st.Frsize)
	return bytes, 256<<20 + bytes/50
}

// Near says whether got is want give or take margin.
func Near(got, want, margin uint64) bool {
	return got+margin >= want && got <= want+margin
}
