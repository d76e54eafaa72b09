package fs

import (
	"context"
	"sync"

	"ftpfs/conn"
)

// A write is answered as soon as its bytes are copied: a goroutine of the
// handle then writes them to the stage and, for a streamed upload, to the
// data connection, while the kernel brings the next write. Everything that
// reads the stage or ends the stream settles the queue first, and a
// failure reaches the program at its next write, flush or fsync, never
// only at release. Nothing is acknowledged to the server's account:
// close() still waits for the upload.

// queueDepth is how many writes may wait for the stage and the network:
// with 1 MiB writes, 8 MiB per open file at most.
const queueDepth = 8

// pooledWrite is the size of the buffers kept for reuse: the largest
// write the kernel sends (MountOptions.MaxWrite).
const pooledWrite = 1 << 20

var writeBufs = sync.Pool{New: func() any { b := make([]byte, pooledWrite); return &b }}

// queuedWrite is one write on its way: its bytes, where they go, and the
// upload that takes them too (nil when the write is not streamed).
type queuedWrite struct {
	buf    []byte
	pooled *[]byte
	off    int64
	up     *conn.Upload
}

// writeQueue runs a handle's writes in order on one goroutine.
type writeQueue struct {
	w       *writeHandle
	ch      chan queuedWrite
	pending sync.WaitGroup

	mu       sync.Mutex // never held across I/O
	stageErr error      // the first failed stage write; GUARDED_BY(mu)
	upErr    error      // the stream failed since the last settle; GUARDED_BY(mu)
}

func newWriteQueue(w *writeHandle) *writeQueue {
	q := &writeQueue{w: w, ch: make(chan queuedWrite, queueDepth)}
	go q.run()
	return q
}

func (q *writeQueue) run() {
	for j := range q.ch {
		q.mu.Lock()
		stageOK, upOK := q.stageErr == nil, q.upErr == nil
		q.mu.Unlock()
		if stageOK {
			if _, err := q.w.stage.WriteAt(j.buf, j.off); err != nil {
				q.fail(&q.stageErr, err)
			}
		}
		if j.up != nil && upOK {
			// Each write of the data connection has the exchange
			// timeout: a stalled server ends the stream, not the mount.
			if _, err := j.up.Write(context.Background(), j.buf); err != nil {
				q.fail(&q.upErr, err)
			}
		}
		if j.pooled != nil {
			writeBufs.Put(j.pooled)
		}
		q.pending.Done()
	}
}

func (q *writeQueue) fail(to *error, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if *to == nil {
		*to = err
	}
}

// stageFailure is the stage's failure so far, without waiting.
func (q *writeQueue) stageFailure() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stageErr
}

// add queues a copy of data for off; up also takes it when not nil.
func (q *writeQueue) add(data []byte, off int64, up *conn.Upload) {
	j := queuedWrite{off: off, up: up}
	if len(data) > 64<<10 && len(data) <= pooledWrite {
		j.pooled = writeBufs.Get().(*[]byte)
		j.buf = (*j.pooled)[:len(data)]
	} else {
		j.buf = make([]byte, len(data))
	}
	copy(j.buf, data) // the kernel's buffer is reused once we answer
	q.pending.Add(1)
	q.ch <- j
}

// settle waits for the queued writes and returns what failed: the stage
// (its content is then not what the program wrote) and the stream.
func (q *writeQueue) settle() (stageErr, upErr error) {
	q.pending.Wait()
	q.mu.Lock()
	defer q.mu.Unlock()
	upErr, q.upErr = q.upErr, nil
	return q.stageErr, upErr
}

// close ends the goroutine once the queue is empty.
func (q *writeQueue) close() {
	q.pending.Wait()
	close(q.ch)
}
