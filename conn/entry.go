package conn

import (
	"io/fs"
	"time"
)

// Type is what a listing entry is.
type Type uint8

const (
	TypeFile Type = iota
	TypeDir
	TypeSymlink
)

// Precision says how exact an entry's ModTime is. LIST lines give minutes
// for recent files and days for old ones; MLSD and MDTM give seconds.
type Precision uint8

const (
	PrecisionDay Precision = iota
	PrecisionMinute
	PrecisionSecond
)

// Entry is one name of a directory listing, from MLSD or LIST.
type Entry struct {
	Name      string
	Type      Type
	Size      int64
	ModTime   time.Time // UTC
	Precision Precision
	Mode      fs.FileMode // permission bits (and setuid/setgid/sticky); 0 if unknown
	HasMode   bool        // Mode came from the server (UNIX.mode or LIST's mode column)
	Target    string      // symlink target, when known
	Unique    string      // MLSD "unique" fact, when given
}
