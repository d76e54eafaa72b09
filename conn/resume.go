package conn

import (
	"context"
	"fmt"
	"io"
)

// CopyFrom sends all of r. On failure the upload is aborted and its
// connection returned; the caller still owns what the server may hold.
func (u *Upload) CopyFrom(ctx context.Context, r io.Reader) error {
	buf := make([]byte, 256<<10)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := u.Write(ctx, buf[:n]); err != nil {
				u.Abort()
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			u.Abort()
			return fmt.Errorf("upload: reading the source: %w", rerr)
		}
	}
}
