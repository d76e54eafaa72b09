package fs

import (
	"reflect"
	"testing"

	"ftpfs/cache"
	"ftpfs/conn"
)

// TestOptionsDefaults: a zero field of Options means the value
// DefaultOptions gives it, so that a mount made by the library and one made
// by ftpfs mount without flags are the same mount; the block cache's bound
// is cache's own default.
func TestOptionsDefaults(t *testing.T) {
	var o Options
	o.fill()
	d := DefaultOptions()
	got := []any{o.Root, o.DirCacheTTL, o.CacheSize, o.StagingSize, o.Conn.Timeout, o.Conn.MaxConns}
	want := []any{d.Root, d.DirCacheTTL, d.CacheSize, d.StagingSize, d.Conn.Timeout, d.Conn.MaxConns}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("filled zero Options %v, want DefaultOptions' %v", got, want)
	}
	if d.CacheSize != cache.DefaultBlockCacheBytes || !reflect.DeepEqual(d.Conn, conn.DefaultConfig()) {
		t.Errorf("DefaultOptions does not take cache's and conn's defaults: %+v", d)
	}
	// The defaults the README documents for ftpfs mount.
	if d.Umask != 0o022 || d.CacheSize != 256<<20 || d.StagingSize != 4<<30 || d.DirCacheTTL.String() != "10s" || d.Root != "/" {
		t.Errorf("DefaultOptions = %+v", d)
	}
}

func TestDefaultCacheDir(t *testing.T) {
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	for _, tc := range []struct {
		vars map[string]string
		home string
		want string
	}{
		{nil, "/home/u", "/home/u/.cache/ftpfs"},
		{map[string]string{"XDG_CACHE_HOME": "/xdg"}, "/home/u", "/xdg/ftpfs"},
		{map[string]string{"XDG_CACHE_HOME": "/xdg"}, "", "/xdg/ftpfs"},
		// The spec ignores a relative $XDG_CACHE_HOME.
		{map[string]string{"XDG_CACHE_HOME": "rel"}, "/home/u", "/home/u/.cache/ftpfs"},
		// No shared fallback: the caller must be given one.
		{map[string]string{"XDG_CACHE_HOME": "rel"}, "", ""},
	} {
		if got := DefaultCacheDir(env(tc.vars), tc.home); got != tc.want {
			t.Errorf("%v, home %q: %q, want %q", tc.vars, tc.home, got, tc.want)
		}
	}
}
