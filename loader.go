package velo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/puzpuzpuz/xsync/v3"
	"github.com/velocache/velo/engine"
)

// ErrLoaderPanicked is wrapped by the *PanicError that GetOrLoad returns
// when its load function panicked.
var ErrLoaderPanicked = errors.New("velo: load function panicked")

// A PanicError reports a panic in GetOrLoad's load function, recovered in
// the goroutine that ran it. errors.Is(err, ErrLoaderPanicked) holds for it,
// and so does errors.Is(err, target) when the panic value is an error that
// matches target.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the loading goroutine's stack when it panicked
}

// Error describes the panic value; the stack is in Stack, not the message.
func (p *PanicError) Error() string {
	return fmt.Sprintf("%v: %v", ErrLoaderPanicked, p.Value)
}

// Unwrap returns ErrLoaderPanicked and, if the panic value is an error,
// that error.
func (p *PanicError) Unwrap() []error {
	if err, ok := p.Value.(error); ok {
		return []error{ErrLoaderPanicked, err}
	}
	return []error{ErrLoaderPanicked}
}

var (
	errNilLoad = errors.New("velo: GetOrLoad called with a nil load function")
	errGoexit  = errors.New("velo: load function called runtime.Goexit")
)

// GetOrLoad returns a copy of the value stored under key, which the caller
// owns. On a miss it calls load, stores the value load returns with the TTL
// load returns (0 means Options.DefaultTTL, as in Set), and returns a copy
// of it. The lookup counts a hit or a miss, as Get does.
//
// Concurrent misses on one key share one call of load: the first caller
// starts it and later ones wait for its result, each getting its own copy.
// A caller whose ctx is done stops waiting and returns ctx.Err(); the load
// goes on for the others. A miss with ctx already done returns ctx.Err()
// without loading. (A caller that misses just as a load ends may start
// another: one load runs per key at a time, not one per miss.)
//
// load runs in a goroutine of its own, with a context that carries the
// first caller's values but neither its deadline nor its cancellation. It
// is cancelled when every caller waiting for the load has given up, and by
// Close, which waits for load to return. load should therefore bound its
// own work, and must not modify the slice it returns afterwards.
//
// An error from load is returned to every caller waiting for it and nothing
// is cached: the next miss loads again. If load panics, the panic is
// recovered and returned to them as a *PanicError, which wraps
// ErrLoaderPanicked and holds the stack; it is not re-raised, since it
// happened in load's goroutine, not the callers'. A negative TTL is returned
// as an error wrapping ErrInvalidTTL. A value the cache cannot store
// (ErrTooLarge, or the cache closed meanwhile) is still returned with a nil
// error, only not cached. GetOrLoad returns an error for a nil load, and
// ErrClosed after Close; a load cancelled by Close returns an error that
// wraps ErrClosed and load's own.
//
// With Options.RefreshAhead set, a hit on an entry that has less than that
// fraction of its TTL left returns the current value at once and calls load
// in the background, unless a load of the key is already running. Its
// context carries ctx's values and is cancelled only by Close. If it
// succeeds, its value replaces the entry, unless the entry was replaced
// or deleted meanwhile (the newer write wins); if it fails or panics, the
// entry is left to expire, and the next hit in the window tries again.
func (c *Cache) GetOrLoad(ctx context.Context, key string, load func(ctx context.Context) ([]byte, time.Duration, error)) ([]byte, error) {
	if load == nil {
		return nil, errNilLoad
	}
	if v, info, ok := c.e.GetInfo(nil, key); ok {
		if c.refreshDue(info) {
			c.loads.refresh(c, ctx, key, load, info.ExpireAt)
		}
		return v, nil
	}
	if c.loads.closed.Load() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cl := c.loads.join(c, ctx, key, load)
	select {
	case <-cl.done:
	case <-ctx.Done():
		select {
		case <-cl.done: // both ready: take the result
		default:
			c.loads.leave(key, cl)
			return nil, ctx.Err()
		}
	}
	if cl.err != nil {
		return nil, cl.err
	}
	return bytes.Clone(cl.val), nil
}

// refreshDue reports whether a hit on an entry described by info falls in
// the refresh-ahead window.
func (c *Cache) refreshDue(info engine.EntryInfo) bool {
	if c.refreshAhead == 0 || info.TTL <= 0 || info.ExpireAt == math.MaxInt64 {
		return false
	}
	left := info.ExpireAt - c.e.Now()
	return float64(left) < c.refreshAhead*float64(info.TTL)
}

type loadFunc = func(ctx context.Context) ([]byte, time.Duration, error)

// loader holds GetOrLoad's loads in flight, foreground and background
// alike, so that a miss during a refresh waits for the refresh rather than
// loading again, and a refresh is not started during a load.
type loader struct {
	calls *xsync.MapOf[string, *call]

	// ctx is cancelled by close; every load's context is cancelled with it.
	ctx    context.Context
	cancel context.CancelFunc

	// mu makes closing and starting a load exclusive, so that no wg.Add
	// comes after close's wg.Wait. closed is also read without it, for a
	// quick ErrClosed.
	mu     sync.Mutex
	closed atomic.Bool
	wg     sync.WaitGroup // the loads' goroutines

	// Counters for Stats; loads are rare next to Gets, so plain atomics.
	loads, loadErrors, refreshes atomic.Uint64
}

// A call is one run of a load function and the callers waiting for it.
type call struct {
	done chan struct{} // closed once val and err are set
	val  []byte
	err  error

	// waiters counts the callers waiting; a background refresh holds one
	// that it never gives back, so no waiter leaving cancels it. It is
	// read and written only under the calls map's lock on the key, while
	// the call is in the map.
	waiters int
	cancel  context.CancelFunc // cancels the load's context

	// refreshOf is, for a background refresh, the expiry of the entry it
	// reloads; 0 for a load after a miss.
	refreshOf int64
}

func (l *loader) init() {
	l.calls = xsync.NewMapOf[string, *call]()
	l.ctx, l.cancel = context.WithCancel(context.Background())
}

// close stops new loads, cancels those in flight and waits for them.
func (l *loader) close() {
	l.mu.Lock()
	l.closed.Store(true)
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
}

// newCall returns a call with one waiter and the context its load will
// run with: parent's values, without parent's deadline or cancellation.
func newCall(parent context.Context) (*call, context.Context) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	return &call{done: make(chan struct{}), waiters: 1, cancel: cancel}, ctx
}

// join returns key's call in flight with one more waiter, or starts one.
func (l *loader) join(c *Cache, parent context.Context, key string, load loadFunc) *call {
	var ctx context.Context // set if this caller created the call
	cl, _ := l.calls.Compute(key, func(old *call, loaded bool) (*call, bool) {
		if loaded {
			old.waiters++
			return old, false
		}
		var nc *call
		nc, ctx = newCall(parent)
		return nc, false
	})
	if ctx != nil {
		l.start(c, ctx, key, cl, load)
	}
	return cl
}

// refresh starts a background load of key unless one is in flight.
func (l *loader) refresh(c *Cache, parent context.Context, key string, load loadFunc, expireAt int64) {
	// Every hit in the window comes here while the refresh runs: check
	// without taking the map's lock first.
	if _, ok := l.calls.Load(key); ok || l.closed.Load() {
		return
	}
	var ctx context.Context
	cl, loaded := l.calls.LoadOrCompute(key, func() *call {
		var nc *call
		nc, ctx = newCall(parent)
		nc.refreshOf = expireAt
		return nc
	})
	if !loaded {
		l.start(c, ctx, key, cl, load)
	}
}

// start runs cl's load in a new goroutine, or fails cl with ErrClosed.
func (l *loader) start(c *Cache, ctx context.Context, key string, cl *call, load loadFunc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		cl.cancel()
		l.finish(key, cl, nil, ErrClosed)
		return
	}
	l.wg.Go(func() { l.run(c, ctx, key, cl, load) })
}

// run calls load, stores its value and hands the result to cl's waiters.
func (l *loader) run(c *Cache, ctx context.Context, key string, cl *call, load loadFunc) {
	stop := context.AfterFunc(l.ctx, cl.cancel)
	defer stop()
	defer cl.cancel()

	var val []byte
	err := errGoexit // kept only if load never returns
	defer func() { l.finish(key, cl, val, err) }()

	var ttl time.Duration
	l.loads.Add(1)
	if cl.refreshOf != 0 {
		l.refreshes.Add(1)
	}
	val, ttl, err = recoverLoad(ctx, load)
	if err != nil {
		l.loadErrors.Add(1)
		val = nil
		if l.ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", ErrClosed, err)
		}
		return
	}
	// Store before finish takes the call out of the map, so that a miss
	// after that finds the value. Failing to store it, because it is too
	// large or the cache closed, should not fail a read that has the
	// value; a negative TTL is a bug in load.
	//
	// A refresh stores only over the entry it reloads: a value Set, or a
	// Delete, while it ran is newer than what it loaded.
	var serr error
	if cl.refreshOf != 0 {
		_, serr = c.e.Refresh(key, val, ttl, cl.refreshOf)
	} else {
		serr = c.e.Set(key, val, ttl)
	}
	if errors.Is(serr, ErrInvalidTTL) {
		val, err = nil, fmt.Errorf("velo: GetOrLoad: load returned %w", serr)
		l.loadErrors.Add(1)
	}
}

// recoverLoad calls load, turning a panic into a *PanicError.
func recoverLoad(ctx context.Context, load loadFunc) (val []byte, ttl time.Duration, err error) {
	defer func() {
		if r := recover(); r != nil {
			val, ttl, err = nil, 0, &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return load(ctx)
}

// finish sets cl's result, takes cl out of the map (if it is still there)
// and wakes its waiters.
func (l *loader) finish(key string, cl *call, val []byte, err error) {
	cl.val, cl.err = val, err
	l.calls.Compute(key, func(old *call, loaded bool) (*call, bool) {
		return old, !loaded || old == cl // delete it if it is ours; insert nothing
	})
	close(cl.done)
}

// leave gives up a waiter's place in cl. When the last waiter leaves, the
// load is cancelled and taken out of the map, so that the next miss starts
// a fresh one rather than joining a cancelled one.
func (l *loader) leave(key string, cl *call) {
	abandoned := false
	l.calls.Compute(key, func(old *call, loaded bool) (*call, bool) {
		if !loaded || old != cl {
			return old, !loaded // cl has finished: nothing to do
		}
		if cl.waiters--; cl.waiters > 0 {
			return cl, false
		}
		abandoned = true
		return nil, true
	})
	if abandoned {
		cl.cancel()
	}
}
