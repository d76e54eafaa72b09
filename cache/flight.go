package cache

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// PanicError is what Fetch returns when the fetch function panicked. The
// function runs on a goroutine of its own, where an unrecovered panic would
// end the process and leave a dead mountpoint behind; as an error it reaches
// the caller, which can log it and answer EIO.
type PanicError struct {
	Value any    // what was passed to panic
	Stack []byte // the panicking goroutine's stack
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("cache: fetch panicked: %v\n%s", e.Value, e.Stack)
}

// flight is one fetch in progress, shared by every caller that asks for the
// same key while it runs. The owner (Dirs or Blocks) keeps flights in a map
// guarded by its mutex; taking a flight out of that map ("detaching" it)
// is how an invalidation says "this result is stale, do not store it, and
// let nobody new join it". Callers already waiting still get its result:
// their request overlapped the change that made it stale.
type flight[V any] struct {
	done    chan struct{} // closed once val and err are set
	val     V
	err     error
	started time.Time // by the owner's clock: the result is at least this new

	ctx     context.Context // what the fetch function gets
	cancel  context.CancelFunc
	waiters int // callers still waiting; GUARDED_BY(owner's mu)
}

// newFlight makes a flight whose context keeps parent's values (logger,
// trace) but not its cancellation: the first caller giving up must not fail
// the others. The flight is cancelled when its last waiter leaves.
func newFlight[V any](parent context.Context, started time.Time) *flight[V] {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	return &flight[V]{done: make(chan struct{}), started: started, ctx: ctx, cancel: cancel}
}

// call runs fetch with ctx and turns a panic into a *PanicError.
func call[T any](ctx context.Context, fetch func(context.Context) (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero T
			v, err = zero, &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return fetch(ctx)
}

// finish publishes the result to the waiters. Call it without holding the
// owner's mutex, after the owner has decided whether to store the result.
func (f *flight[V]) finish(v V, err error) {
	f.val, f.err = v, err
	f.cancel() // releases the context's resources; the fetch is over
	close(f.done)
}

// wait blocks until f finishes or ctx ends. The caller must have counted
// itself in f.waiters. mu is the owner's mutex; detach, called with mu held,
// removes f from the owner's map if it is still there, so that nobody joins
// a flight that is about to be cancelled. A nil detach keeps the flight
// running, and joinable, when its last waiter gives up.
func (f *flight[V]) wait(ctx context.Context, mu *sync.Mutex, detach func()) (V, error) {
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
	}
	// Both may be ready; a result in hand beats an error.
	select {
	case <-f.done:
		return f.val, f.err
	default:
	}
	mu.Lock()
	f.waiters--
	last := f.waiters == 0 && detach != nil
	if last {
		detach()
	}
	mu.Unlock()
	if last {
		f.cancel()
	}
	var zero V
	return zero, ctx.Err()
}
