package conn

// Which names a listing may give: one path component, as the mount can
// show it.

import (
	"fmt"
	"strings"
)

// BadNameError is returned for a well-formed line whose name cannot be a
// single path component here (empty, "." or ".." for a non-directory,
// longer than MaxName, or containing '/', NUL, CR or LF). The mount hides
// such entries and logs them.
type BadNameError struct {
	Name string
}

// Error says which name was refused.
func (e *BadNameError) Error() string {
	return fmt.Sprintf("unusable name %q in listing", e.Name)
}

// MaxName is the longest name a listing may give, in bytes: NAME_MAX on
// Linux, and on every common file system. A longer name could not be
// stored, copied or opened here, and FUSE would still pass it to programs.
const MaxName = 255

// usableName reports whether a server's name can be one path component.
func usableName(name string) bool {
	return name != "" && name != "." && name != ".." && len(name) <= MaxName && !strings.ContainsAny(name, "/\x00\r\n")
}

// checkName lets e through only if its name is usable. The "." and ".."
// directories are ls -a's and MLSD's own view of the directory: skipped
// quietly, since they would otherwise be logged on every listing.
func checkName(e Entry) (Entry, error) {
	if e.Type == TypeDir && (e.Name == "." || e.Name == "..") {
		return Entry{}, ErrNoEntry
	}
	if !usableName(e.Name) {
		return Entry{}, &BadNameError{Name: e.Name}
	}
	return e, nil
}
