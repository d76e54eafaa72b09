package conn

import (
	"reflect"
	"testing"
	"time"
)

// TestConfigDefaults: the zero fields of a Config take DefaultConfig's
// values, and those are the ones the mount documents.
func TestConfigDefaults(t *testing.T) {
	var c Config
	c.fill()
	d := DefaultConfig()
	got := []any{c.Timeout, c.MaxConns, c.IdleTimeout, c.CheckAfter, c.MaxListingEntries, c.MaxListingBytes}
	want := []any{d.Timeout, d.MaxConns, d.IdleTimeout, d.CheckAfter, d.MaxListingEntries, d.MaxListingBytes}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("filled zero Config %v, want DefaultConfig's %v", got, want)
	}
	if c.User != "anonymous" || c.Password != "ftpfs@" {
		t.Errorf("login %q/%q, want anonymous", c.User, c.Password)
	}
	if d.Timeout != 30*time.Second || d.MaxConns != 4 || d.MaxListingEntries != 1<<20 || d.MaxListingBytes != 256<<20 {
		t.Errorf("DefaultConfig = %+v", d)
	}
}
