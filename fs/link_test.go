package fs

import (
	"testing"

	"ftpfs/ftpd"
	"ftpfs/internal/link"
	"ftpfs/internal/testutil"
)

// The round-trip tests mount ftpd through the link emulator, which counts
// what crosses it: commands, connections and round trips.

// linkEnv is ftpd behind the link emulator, and a mount through the link.
type linkEnv struct {
	root, mnt string
	srv       *ftpd.Server
	l         *link.Link
	m         *Mounted
}

// newLinkEnv serves a fresh root, filled by fill, with ftpd behind a link
// of opt (RTT 0: a counting relay), and mounts the link.
func newLinkEnv(t *testing.T, opt link.Options, fill func(root string), srvMods []func(*ftpd.Config), mntMods ...func(*Options)) *linkEnv {
	t.Helper()
	testutil.NeedFUSE(t)
	root := t.TempDir()
	if fill != nil {
		fill(root)
	}
	srv, cfg := startFtpd(t, root, srvMods...)
	l := linkTo(t, cfg.Listen, opt)
	m, mnt, _ := mountAt(t, l.Addr(), testUser, testPass, mntMods...)
	return &linkEnv{root: root, mnt: mnt, srv: srv, l: l, m: m}
}

// linkTo starts a link of opt to addr, closed when the test ends.
func linkTo(t testing.TB, addr string, opt link.Options) *link.Link {
	t.Helper()
	l, err := link.Start(addr, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// withProfile is the server change that sets ftpd's profile.
func withProfile(p ftpd.Profile) []func(*ftpd.Config) {
	return []func(*ftpd.Config){func(c *ftpd.Config) { c.Profile = p }}
}
