package conn

// Splitting a listing into lines. Pool.list reads every listing through
// readListing, and the golden, memory and fuzz tests call it too, so that
// they prove the splitter the mount runs.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// maxLine bounds one listing line, without its line ending. No sane entry
// comes near it (names are at most 255 bytes on common file systems).
const maxLine = 64 << 10

// LongLine is what Pool.list passes for a line longer than 64 KiB: such a line
// is read past, never held whole.
const LongLine = "\x00line too long"

// readListing hands fn each line of a listing's data, without its LF or
// CRLF, holding one line of at most maxLine bytes at a time: a longer line
// is read past and handed on as LongLine, so that a server sending an
// endless line costs no memory. A last line without LF is handed on; a
// line cut short by r's error is not, since it could parse as an entry
// with a truncated name. Once r has sent more than maxBytes bytes, or
// more than maxLines lines (blank and long ones too), it fails with
// ErrListingTooLarge. Any other error is r's or fn's, unwrapped.
func readListing(r io.Reader, maxBytes int64, maxLines int, fn func(line string) error) error {
	// Room for a maximal line and its CRLF, so that such a line is whole.
	br := bufio.NewReaderSize(&listingCap{r: r, maxBytes: maxBytes}, maxLine+2)
	for lines := 1; ; lines++ {
		b, err := br.ReadSlice('\n')
		long := errors.Is(err, bufio.ErrBufferFull)
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		switch {
		case err != nil && err != io.EOF:
			return err
		case len(b) == 0: // at EOF, after a whole line
			return nil
		case lines > maxLines:
			return fmt.Errorf("%w: more than %d lines", ErrListingTooLarge, maxLines)
		}
		line := LongLine
		if b := trimLineEnd(b); !long && len(b) <= maxLine {
			line = string(b)
		}
		if ferr := fn(line); ferr != nil {
			return ferr
		}
		if err == io.EOF {
			return nil
		}
	}
}

// trimLineEnd strips LF or CRLF, and a lone CR at the end of the data
// (a CRLF cut short).
func trimLineEnd(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// listingCap is a listing's data connection, counting what it reads
// against the byte cap of one listing.
type listingCap struct {
	r               io.Reader
	bytes, maxBytes int64
}

// Read fails once the listing has sent more than its byte cap, counting
// every byte: blank lines and the skipped parts of long lines, too.
func (c *listingCap) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if c.bytes += int64(n); c.bytes > c.maxBytes {
		return 0, fmt.Errorf("%w: more than %d bytes", ErrListingTooLarge, c.maxBytes)
	}
	return n, err
}
