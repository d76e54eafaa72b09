package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Operations that change the server. None is retried on its own: after a
// connection broke in the middle, nobody knows whether a rename or an
// upload happened, and only the caller can check and decide.

// once runs fn on a connection of kind, without retries.
func (p *Pool) once(ctx context.Context, kind Kind, fn func(c *Conn) error) error {
	c, err := p.Get(ctx, kind)
	if err != nil {
		return err
	}
	err = fn(c)
	p.put(c, kind)
	return err
}

// Upload is a STOR (or APPE) in progress: Write sends data, Close ends the
// transfer and returns only when the server acknowledged all of it.
type Upload struct {
	p      *Pool
	c      *Conn
	t      *transfer
	n      int64
	closed bool
}

// StartUpload begins storing path: from off with REST when off > 0,
// appending with APPE when appendTo is set.
func (p *Pool) StartUpload(ctx context.Context, path string, off int64, appendTo bool) (*Upload, error) {
	return p.startUpload(ctx, path, off, appendTo, true)
}

// TryStartUpload is StartUpload from offset 0 that does not wait for a
// connection: it returns ErrBusy when none is free, for an upload that is
// only worth doing when it costs nobody a wait.
func (p *Pool) TryStartUpload(ctx context.Context, path string) (*Upload, error) {
	return p.startUpload(ctx, path, 0, false, false)
}

func (p *Pool) startUpload(ctx context.Context, path string, off int64, appendTo, wait bool) (*Upload, error) {
	c, err := p.get(ctx, Transfer, wait)
	if err != nil {
		return nil, err
	}
	cmd := "STOR " + path
	if appendTo {
		cmd, off = "APPE "+path, 0
	}
	t, err := c.startTransfer(ctx, "stor", path, cmd, off)
	if err != nil {
		p.PutTransfer(c)
		return nil, err
	}
	return &Upload{p: p, c: c, t: t}, nil
}

// Write sends b; ctx bounds this call only.
func (u *Upload) Write(ctx context.Context, b []byte) (int, error) {
	u.t.ctx = ctx
	n, err := u.t.Write(b)
	u.n += int64(n)
	if err != nil {
		// The server may have said why (552 on a full disk) before it
		// closed the data connection: that reply is the better error.
		if rerr := u.finish(ctx); rerr != nil {
			return n, rerr
		}
		return n, err
	}
	return n, nil
}

// Written is the number of bytes sent so far.
func (u *Upload) Written() int64 { return u.n }

// Close ends the upload: nil only once the server answered 2xx for the
// whole of it.
func (u *Upload) Close(ctx context.Context) error {
	return u.finish(ctx)
}

// Abort ends the upload without caring about its result.
func (u *Upload) Abort() {
	if u.closed {
		return
	}
	u.closed = true
	u.t.abort()
	u.p.PutTransfer(u.c)
}

func (u *Upload) finish(ctx context.Context) error {
	if u.closed {
		return errors.New("upload already ended")
	}
	u.closed = true
	u.t.ctx = ctx
	err := u.t.finish()
	u.p.PutTransfer(u.c)
	return err
}

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

// Store uploads all of r to path and returns the bytes sent.
func (p *Pool) Store(ctx context.Context, path string, r io.Reader) (int64, error) {
	u, err := p.StartUpload(ctx, path, 0, false)
	if err != nil {
		return 0, err
	}
	if err := u.CopyFrom(ctx, r); err != nil {
		return u.n, err
	}
	return u.n, u.Close(ctx)
}

// Size asks SIZE for a file's size.
func (p *Pool) Size(ctx context.Context, path string) (int64, error) {
	var n int64
	err := p.do(ctx, Metadata, func(c *Conn) error {
		r, err := c.expect(ctx, "size", path, []int{213}, "SIZE "+path)
		if err != nil {
			return err
		}
		n, err = strconv.ParseInt(strings.TrimSpace(r.msg), 10, 64)
		if err != nil || n < 0 {
			return &Error{Op: "size", Path: path, Code: r.code, Msg: r.msg}
		}
		return nil
	})
	return n, err
}

// Rename renames from to to (RNFR, RNTO). Most servers replace an
// existing file at to; see ReplaceFile for those that do not.
func (p *Pool) Rename(ctx context.Context, from, to string) error {
	return p.once(ctx, Metadata, func(c *Conn) error {
		if _, err := c.expect(ctx, "rename", from, []int{350}, "RNFR "+from); err != nil {
			return err
		}
		_, err := c.expect(ctx, "rename", to, []int{250, 200}, "RNTO "+to)
		return err
	})
}

// Delete removes a file (DELE).
func (p *Pool) Delete(ctx context.Context, path string) error {
	return p.once(ctx, Metadata, func(c *Conn) error {
		_, err := c.expect(ctx, "delete", path, []int{250, 200}, "DELE "+path)
		return err
	})
}

// Mkdir creates a directory (MKD).
func (p *Pool) Mkdir(ctx context.Context, path string) error {
	return p.once(ctx, Metadata, func(c *Conn) error {
		_, err := c.expect(ctx, "mkdir", path, []int{257, 250}, "MKD "+path)
		return err
	})
}

// Rmdir removes an empty directory (RMD).
func (p *Pool) Rmdir(ctx context.Context, path string) error {
	return p.once(ctx, Metadata, func(c *Conn) error {
		_, err := c.expect(ctx, "rmdir", path, []int{250, 200}, "RMD "+path)
		return err
	})
}

// ErrNoSetTime says the server has no way to set a modification time.
var ErrNoSetTime = errors.New("server cannot set modification times (no MFMT, no MDTM set form)")

// SetTime sets a file's modification time: MFMT where offered, else the
// "MDTM time path" form of vsftpd and others. It is idempotent.
func (p *Pool) SetTime(ctx context.Context, path string, t time.Time) error {
	ts := t.UTC().Format("20060102150405")
	return p.do(ctx, Metadata, func(c *Conn) error {
		if c.feat.MFMT {
			_, err := c.expect(ctx, "mfmt", path, []int{213, 250, 200}, "MFMT "+ts+" "+path)
			return err
		}
		r, err := c.expect(ctx, "mdtm", path, []int{213, 250, 200}, "MDTM "+ts+" "+path)
		if err != nil && (r.code == 500 || r.code == 501 || r.code == 502 || r.code == 504) {
			return &Error{Op: "mdtm", Path: path, Code: r.code, Msg: firstLine(r.msg), Err: ErrNoSetTime}
		}
		return err
	})
}

// Chmod sets permission bits with SITE CHMOD. It is idempotent.
// mode holds chmod(2)'s bits (0o7777).
func (p *Pool) Chmod(ctx context.Context, path string, mode uint32) error {
	return p.do(ctx, Metadata, func(c *Conn) error {
		_, err := c.expect(ctx, "chmod", path, []int{200, 250}, fmt.Sprintf("SITE CHMOD %04o %s", mode&0o7777, path))
		return err
	})
}
