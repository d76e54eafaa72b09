package conn

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"ftpfs/internal/link"
	"ftpfs/internal/testutil"
)

// A segmented read over as many connections as the pool has takes the
// slot kept for metadata while nobody needs it, and gives it back on its
// next bytes when a metadata caller comes: the caller is served while the
// read goes on, and the read stays whole and in order, the segment left
// half read finished by another connection.
func TestSegmentedReadLendsMetadataSlot(t *testing.T) {
	s := startServer(t)
	const size = 4 << 20
	data := testutil.RandBytes(8, size)
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), data)
	const rate = 1 << 20
	p, l := linkPool(t, s, link.Options{RTT: 10 * time.Millisecond, Rate: rate}, func(c *Config) { c.MaxConns = 4 })
	ctx := context.Background()
	if _, err := p.ModTime(ctx, "/f"); err != nil { // logs in
		t.Fatal(err)
	}
	l.Reset()
	sr := p.openSegmented(ctx, "/f", 0, size, 256<<10, 4)
	defer sr.Close()
	var got bytes.Buffer
	buf := make([]byte, 64<<10)
	read := func() {
		t.Helper()
		n, err := sr.Read(ctx, buf)
		got.Write(buf[:n])
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
	}
	// Half way through the second round of segments: every connection
	// is in the middle of one.
	for got.Len() < size/4+size/32 {
		read()
	}
	if st := p.Stats(); st.Open != 4 || st.Idle != 0 {
		t.Fatalf("%d KiB read: %+v, want all 4 connections the read's", got.Len()>>10, st)
	}
	served := make(chan error, 1)
	go func() {
		_, err := p.ModTime(ctx, "/f")
		served <- err
	}()
	servedAt := -1
	for got.Len() < size {
		read()
		select {
		case err := <-served:
			if err != nil {
				t.Fatal(err)
			}
			servedAt = got.Len()
		default:
		}
	}
	if servedAt < 0 {
		t.Fatal("the metadata caller waited for the read's end")
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("the read is not the file's bytes in order")
	}
	st := l.Stats()
	t.Logf("metadata served with %d of %d KiB read: %v", servedAt>>10, size>>10, st)
	if servedAt > size/2 {
		t.Errorf("metadata served with %d of %d KiB read, want it soon after %d", servedAt>>10, size>>10, (size/4+size/32)>>10)
	}
	// 16 segments, and the rest of the one the lent connection left.
	if r := st.Commands["RETR"]; r != 17 {
		t.Errorf("%d RETR, want 17: 16 segments and the rest of one", r)
	}
	if ps := p.Stats(); ps.Dials > 4 {
		t.Errorf("%d connections dialled for a pool of 4", ps.Dials)
	}
}

// A stream goes on as a segmented read from where it is: its RETR is the
// first segment, read to the segment's end rather than aborted and sent
// again, and the bytes stay whole and in order across the change.
func TestStreamGoesOnInSegments(t *testing.T) {
	s := startServer(t)
	const size = 4 << 20
	data := testutil.RandBytes(9, size)
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), data)
	p, l := linkPool(t, s, link.Options{RTT: 10 * time.Millisecond, Rate: 1 << 20}, func(c *Config) { c.MaxConns = 4 })
	ctx := context.Background()
	if _, err := p.ModTime(ctx, "/f"); err != nil { // logs in
		t.Fatal(err)
	}
	l.Reset()
	st, err := p.OpenStream(ctx, "/f", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 100_000)
	if _, err := readFullSeq(ctx, st, got); err != nil {
		t.Fatal(err)
	}
	sr := st.Segmented(ctx, int64(len(got)), size, 256<<10, 4)
	defer sr.Close()
	rest := make([]byte, size-len(got))
	if _, err := readFullSeq(ctx, sr, rest); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(got, rest...), data) {
		t.Fatal("the read is not the file's bytes in order")
	}
	// 16 segments of the rest, the stream's RETR the first.
	if st := l.Stats(); st.Commands["RETR"] != 16 || st.Commands["REST"] != 15 {
		t.Fatalf("%v, want 16 RETR, 15 after REST", st)
	}
}

// readFullSeq fills b from r.
func readFullSeq(ctx context.Context, r interface {
	Read(context.Context, []byte) (int, error)
}, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(ctx, b[n:])
		n += m
		if err == io.EOF && n == len(b) {
			break
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// A segmented read takes its connections at once, one after the other as
// each has its own, before a byte is read; closing it in its middle, the
// metadata slot lent, gives every connection back in step, the lent one
// as the others: the pool has its transfer slots free again and keeps
// its connections.
func TestSegmentedCloseGivesEveryConnectionBack(t *testing.T) {
	s := startServer(t)
	const size = 4 << 20
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), testutil.RandBytes(10, size))
	p, _ := linkPool(t, s, link.Options{RTT: 10 * time.Millisecond, Rate: 1 << 20}, func(c *Config) { c.MaxConns = 4 })
	ctx := context.Background()
	if _, err := p.ModTime(ctx, "/f"); err != nil { // logs in
		t.Fatal(err)
	}
	sr := p.openSegmented(ctx, "/f", 0, size, 256<<10, 4)
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(time.Millisecond) {
		if st := p.Stats(); st.Open == 4 && st.Idle == 0 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("nothing read yet: %+v, want all 4 connections the read's", st)
		}
	}
	if _, err := readFullSeq(ctx, sr, make([]byte, size/4+size/32)); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Open != 4 || st.Idle != 0 {
		t.Fatalf("%+v, want all 4 connections the read's", st)
	}
	if err := sr.Close(); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, p)
	p.mu.Lock()
	transfers := p.transfers
	p.mu.Unlock()
	if st := p.Stats(); transfers != 0 || st.Open != 4 || st.Dials != 4 {
		t.Fatalf("after Close: %d transfers, %+v; want none, and the 4 connections idle", transfers, st)
	}
}

// A transfer that waits for a connection while a segmented read holds
// them all (a block read the kernel sent late, another file) gets one
// between segments: a worker goes to it, and the read goes on whole and
// in order with the others instead of ending.
func TestSegmentedReadYieldsToTransfer(t *testing.T) {
	s := startServer(t)
	const size = 4 << 20
	data := testutil.RandBytes(11, size)
	testutil.WriteFile(t, filepath.Join(s.Root, "f"), data)
	other := testutil.RandBytes(12, 64<<10)
	testutil.WriteFile(t, filepath.Join(s.Root, "g"), other)
	p, _ := linkPool(t, s, link.Options{RTT: 10 * time.Millisecond, Rate: 1 << 20}, func(c *Config) { c.MaxConns = 4 })
	ctx := context.Background()
	if _, err := p.ModTime(ctx, "/f"); err != nil { // logs in
		t.Fatal(err)
	}
	sr := p.openSegmented(ctx, "/f", 0, size, 256<<10, 4)
	defer sr.Close()
	var got bytes.Buffer
	buf := make([]byte, 64<<10)
	for got.Len() < size/8 {
		n, err := sr.Read(ctx, buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := p.Stats(); st.Open != 4 || st.Idle != 0 {
		t.Fatalf("%+v, want all 4 connections the read's", st)
	}
	served := make(chan error, 1)
	go func() {
		b := make([]byte, len(other))
		n, err := p.ReadAt(ctx, "/g", b, 0, int64(len(other)))
		if err == nil && !bytes.Equal(b[:n], other) {
			err = io.ErrUnexpectedEOF
		}
		served <- err
	}()
	servedAt := -1
	for got.Len() < size {
		n, err := sr.Read(ctx, buf)
		got.Write(buf[:n])
		if err != nil && err != io.EOF {
			t.Fatalf("segmented read after the other transfer came: %v", err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Fatalf("the other transfer: %v", err)
			}
			servedAt = got.Len()
		default:
		}
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("the segmented read is not the file")
	}
	t.Logf("served at %d KiB of %d", servedAt>>10, size>>10)
	// Asked at an eighth, served a segment or two later; without a
	// worker going to it, only once the read ran out of segments to
	// start, near its end.
	if servedAt < 0 || servedAt > size/2 {
		t.Fatalf("the other transfer was served at %d KiB of the read's %d", servedAt>>10, size>>10)
	}
}
