package velo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
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

// ErrLoadCycle is returned by a GetOrLoad that would wait for a load that
// waits for it: a load function that calls GetOrLoad for its own key, or
// for a key whose load in turn waits for the first. Without it such a call
// would wait for itself forever.
var ErrLoadCycle = errors.New("velo: GetOrLoad would wait for its own load")

// A PanicError reports a panic in GetOrLoad's load function, recovered in
// the goroutine that ran it. errors.Is(err, [ErrLoaderPanicked]) holds for it,
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

// Unwrap returns [ErrLoaderPanicked] and, if the panic value is an error,
// that error.
func (p *PanicError) Unwrap() []error {
	if err, ok := p.Value.(error); ok {
		return []error{ErrLoaderPanicked, err}
	}
	return []error{ErrLoaderPanicked}
}

// ErrNotFound is for load functions to say that the key has no value at
// the origin. A load that returns an error wrapping it with a positive TTL
// makes GetOrLoad cache the absence for that long: later calls for the
// key return [ErrNotFound] at once, without loading, until the TTL passes,
// or a Set or Delete of the key ends it (see GetOrLoad).
var ErrNotFound = errors.New("velo: not found")

var (
	errNilLoad = errors.New("velo: GetOrLoad called with a nil load function")
	errGoexit  = errors.New("velo: load function called runtime.Goexit")
)

// GetOrLoad returns a copy of the value stored under key, which the caller
// owns. On a miss it calls load, stores the value load returns with the TTL
// load returns (0 means [Options.DefaultTTL], as in Set), and returns a copy
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
// is cancelled when every caller waiting for the load has given up (and
// then stores nothing, whatever load returns: a later miss may have
// started a newer load), and by Close, which waits for load to return.
// load should therefore bound its own work, and must not modify the slice
// it returns afterwards.
//
// An error from load is returned to every caller waiting for it and nothing
// is cached: the next miss loads again.
//
// A write of key while load runs (a Set, Delete or LoadFrom of key, or a
// Clear) is newer than what load read from the origin, so the load stores
// nothing over it: its callers get the value load returned, and the
// cache keeps the write. An invalidating Delete during a load is not
// undone by the load's older value. If load fails, callers get the value
// such a write left in the cache, if it is still there, rather than the
// error.
//
// If load panics, the panic is recovered and returned to its callers as
// a *PanicError, which wraps [ErrLoaderPanicked] and holds the stack; it
// is not re-raised, since it happened in load's goroutine, not the
// callers'. A negative TTL is returned as an error wrapping
// [ErrInvalidTTL]. A value the cache cannot store ([ErrTooLarge], or the
// cache closed meanwhile) is still returned with a nil error, only not
// cached; a value too large is counted in [Stats.Rejected], so that a
// loader whose values never fit shows there. GetOrLoad returns an error
// for a nil load, and [ErrClosed] after Close; a load cancelled by Close
// returns an error that wraps [ErrClosed] and load's own.
//
// A load function may call GetOrLoad, for other keys. A call that would
// wait for a load that is (directly or through other loads) waiting for
// the calling load function returns [ErrLoadCycle] at once, whatever
// deadline its ctx has (a ctx already done gets ctx.Err(), as on any
// miss). The same holds for an OnRemove callback of the Set that stores a
// loaded value, which runs in the load's goroutine. Only calls made in a
// load's own goroutine are known to come from that load: a load function
// that waits for goroutines of its own which call GetOrLoad can still
// wait for itself, as any code that waits for itself does. Detecting
// cycles costs each load a few microseconds (reading its goroutine's id),
// far less than any load that does I/O.
//
// Negative caching: if load returns an error that wraps [ErrNotFound] and a
// positive TTL, the absence of key is cached for that TTL, and GetOrLoad
// calls for key return [ErrNotFound] at once, without calling load, until
// it passes (counted in [Stats.NegativeHits]). A cached absence takes an
// entry with an empty value in the cache's budget, and is evicted like
// one; a Set of key replaces it, a Delete removes it; Get, Has, All,
// Keys, SaveTo and OnRemove never see it. With a TTL of 0, nothing is
// cached, as for any other error.
//
// Stale-if-error: with [Options.StaleIfError] set, a miss on a key whose
// entry expired less than that long ago still loads, but if the load
// fails (an error other than [ErrNotFound], or a panic), GetOrLoad returns
// the expired value with a *StaleError that wraps [ErrStale] and the load's
// error, so callers see the failure and choose: fail closed by treating
// every error alike, or use the value when errors.Is(err, [ErrStale]).
// The value is served only if it is still the key's entry when the load
// fails, within StaleIfError of its expiry: after a write of the key
// meanwhile the caller gets the value written, or the load's error alone
// if it is gone too; after a load that took longer to fail, the load's
// error alone.
// Until [Options.StaleRetry] has passed, later calls for the key get the
// stale value and that error at once, without loading: a failing origin
// sees one load per key per StaleRetry ([Stats.StaleServed] counts them).
// That wait is for the value whose reload failed: a value of the key
// stored since is reloaded as soon as it expires.
//
// With [Options.RefreshAhead] set, a hit on an entry that has less than that
// fraction of its TTL left returns the current value at once and calls load
// in the background, unless a load of the key is already running. Its
// context carries ctx's values and is cancelled only by Close. If it
// succeeds, its value replaces the entry, unless a write of the key (a
// Set, Delete or LoadFrom, or a Clear) came meanwhile: the newer write
// wins. The entry expiring, or being evicted, while the refresh runs does
// not keep its value out. If it fails or panics, the entry is left to
// expire, and the next hit in the window tries again.
func (c *Cache) GetOrLoad(ctx context.Context, key string, load func(ctx context.Context) ([]byte, time.Duration, error)) ([]byte, error) {
	if load == nil {
		return nil, errNilLoad
	}
	for first := true; ; first = false {
		// The first look counts a hit or miss; looks after it do not.
		var v []byte
		var info engine.EntryInfo
		var ok bool
		if first {
			v, info, ok = c.e.GetInfo(nil, key)
		} else {
			v, info, ok = c.e.Peek(nil, key)
		}
		if ok {
			if c.refreshDue(info) {
				c.loads.refresh(c, ctx, key, load, info)
			}
			return v, nil
		}
		if c.loads.closed.Load() {
			return nil, ErrClosed
		}
		if c.e.Absent(key) {
			c.loads.negativeHits.Add(1)
			return nil, ErrNotFound
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var stale []byte
		var staleInfo *engine.EntryInfo // nil: no stale value
		if c.staleIfError > 0 {
			if v, info, ok := c.e.GetStale(nil, key); ok {
				stale, staleInfo = v, &info
				if err := c.stale.waiting(key, info.ExpireAt, c.e.Now()); err != nil {
					return c.serveStale(key, stale, info, err)
				}
			}
		}
		cl, how, staleErr := c.loads.join(c, ctx, key, load, staleInfo)
		switch how {
		case staleWaits:
			return c.serveStale(key, stale, *staleInfo, staleErr)
		case written:
			if c.e.Closed() {
				return nil, ErrClosed
			}
			continue
		}
		if how == storedLoad {
			// Its value may have been stored, and deleted, before this
			// call began: wait for it to end, and look again. The caller
			// may be that load itself (an OnRemove callback of its Set),
			// or a load it waits for.
			me, err := c.loads.waitFor(cl)
			if err != nil {
				return nil, err
			}
			select {
			case <-cl.done:
				c.loads.waitDone(me)
				continue
			case <-ctx.Done():
				c.loads.waitDone(me)
				return nil, ctx.Err()
			}
		}
		v, err := c.loads.wait(ctx, key, cl)
		if err != nil && ctx.Err() == nil {
			// A write of key while the load ran is newer than what the
			// load failed to read: the cache has a value after all.
			if v, _, ok := c.e.Peek(nil, key); ok {
				return v, nil
			}
		}
		if err != nil && staleInfo != nil && servesStale(ctx, err) {
			return c.serveStale(key, stale, *staleInfo, err) // the load recorded the failure
		}
		return v, err
	}
}

// serveStale returns v, the stale value of key described by info, with a
// *StaleError for err, and counts it; or only err, if key's entry is no
// longer that stale value now: it expired StaleIfError ago or longer (a
// load that took that long to fail), or a write of key replaced or
// deleted it meanwhile.
func (c *Cache) serveStale(key string, v []byte, info engine.EntryInfo, err error) ([]byte, error) {
	if now, ok := c.e.StaleInfo(key); !ok || now.ExpireAt != info.ExpireAt {
		return nil, err
	}
	c.loads.staleServed.Add(1)
	return v, &StaleError{Err: err, Age: time.Duration(max(0, c.e.Now()-info.ExpireAt))}
}

// wait waits for cl, which the caller joined, and returns a copy of its
// value.
func (l *loader) wait(ctx context.Context, key string, cl *call) ([]byte, error) {
	me, err := l.waitFor(cl)
	if err != nil {
		l.leave(key, cl)
		return nil, err
	}
	defer l.waitDone(me)
	select {
	case <-cl.done:
	case <-ctx.Done():
		select {
		case <-cl.done: // both ready: take the result
		default:
			l.leave(key, cl)
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
	// quick [ErrClosed].
	mu     sync.Mutex
	closed atomic.Bool
	wg     sync.WaitGroup // the loads' goroutines

	// running maps the goroutine id of each load in flight to its call,
	// so that a GetOrLoad made by a load function knows which load it is
	// made from (see waitFor). cycleMu guards the calls' waitingOn, so
	// that two loads cannot both start waiting for each other unseen.
	running *xsync.MapOf[uint64, *call]
	cycleMu sync.Mutex

	// Counters for Stats; loads are rare next to Gets, so plain atomics.
	loads, loadErrors, refreshes, negativeHits, staleServed atomic.Uint64
}

// A loadKind says why a load runs.
type loadKind uint8

const (
	missLoad    loadKind = iota // a GetOrLoad missed: its callers wait
	refreshLoad                 // a hit in the RefreshAhead window: nobody waits
)

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

	// kind tells a load after a miss from a background refresh.
	kind loadKind
	// watch is the load's watch of the key (see engine.Watch), taken
	// before the load starts: a write of the key meanwhile ends it, and
	// the load then stores nothing over that newer write.
	watch engine.Watch

	// waitingOn is the call whose result this call's load function is
	// waiting for in a GetOrLoad of its own, or nil. Guarded by
	// loader.cycleMu.
	waitingOn *call

	// storing is set before the load's value is stored: from then on
	// the call takes no new waiters (see storedLoad).
	storing atomic.Bool
}

func (l *loader) init() {
	l.calls = xsync.NewMapOf[string, *call]()
	l.running = xsync.NewMapOf[uint64, *call]()
	l.ctx, l.cancel = context.WithCancel(context.Background())
}

// stop stops new loads and cancels those in flight.
func (l *loader) stop() {
	l.mu.Lock()
	l.closed.Store(true)
	l.mu.Unlock()
	l.cancel()
}

// close is stop, then waits for the loads in flight to return. It must not
// be called from a load's goroutine, which would wait for itself (see
// Cache.Close).
func (l *loader) close() {
	l.stop()
	l.wg.Wait()
}

// onOwnLoad reports whether the caller runs one of l's loads (a load
// function, or an OnRemove callback of the Set that stores a loaded
// value).
func (l *loader) onOwnLoad() bool {
	if !onLoadGoroutine() {
		return false
	}
	_, ok := l.running.Load(engine.GoroutineID())
	return ok
}

// newCall returns a call with one waiter and the context its load will
// run with: parent's values, without parent's deadline or cancellation.
func newCall(parent context.Context) (*call, context.Context) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	return &call{done: make(chan struct{}), waiters: 1, cancel: cancel}, ctx
}

// How join found key's load.
type joinResult int

const (
	startedLoad joinResult = iota // none ran: the caller started one
	joinedLoad                    // one ran: the caller is one more waiter
	// One ran whose value is being stored or was stored: the caller did
	// not join it. Its value may have been stored before the caller's
	// lookup missed and removed since (a Delete between the two), so
	// handing it over would return a value a Delete that finished before
	// the call began had removed.
	storedLoad
	// None ran, and key's last reload failed and its next must wait
	// (Options.StaleRetry): the caller serves the stale value instead.
	staleWaits
	// None ran, and key has a value again, written since the caller
	// missed, or the cache closed: the caller looks again.
	written
)

// join returns key's call in flight, with one more waiter, or starts one.
// A load that has begun storing its value is not joined (see storedLoad).
// With stale set (the caller has a stale value of key), it starts none
// while key's next reload must wait, and returns the last reload's error
// with staleWaits: the caller looked before, but a load that failed may
// have ended since, and it records its failure before it leaves the map
// of calls, so looking again here, where no call is in the map, is what
// makes it one reload per StaleRetry whatever the callers' timing.
func (l *loader) join(c *Cache, parent context.Context, key string, load loadFunc, stale *engine.EntryInfo) (*call, joinResult, error) {
	var ctx context.Context // set if this caller created the call
	var staleErr error
	how := joinedLoad
	cl, _ := l.calls.Compute(key, func(old *call, loaded bool) (*call, bool) {
		if loaded {
			if old.storing.Load() {
				how = storedLoad
			} else {
				old.waiters++
			}
			return old, false
		}
		if stale != nil {
			if staleErr = c.stale.waiting(key, stale.ExpireAt, c.e.Now()); staleErr != nil {
				how = staleWaits
				return nil, true // no call: nothing to store
			}
		}
		// Watched from before the call is in the map, so from before
		// the load reads its origin; taken under the map's lock on key,
		// so no other call of key watches meanwhile.
		w, ok := c.e.WatchMiss(key)
		if !ok {
			how = written
			return nil, true
		}
		var nc *call
		nc, ctx = newCall(parent)
		nc.watch = w
		how = startedLoad
		return nc, false
	})
	if how == startedLoad {
		l.start(c, ctx, key, cl, load)
	}
	return cl, how, staleErr
}

// waitFor is called by a GetOrLoad about to wait for cl. If the caller is
// itself a load function (its goroutine runs a load), it returns
// [ErrLoadCycle] when cl is that load, or waits, through other loads, for
// it; otherwise it records that the caller's load waits for cl, until
// waitDone(me). Only loads can be part of a cycle, since only loads are
// waited for.
func (l *loader) waitFor(cl *call) (me *call, err error) {
	if !onLoadGoroutine() {
		return nil, nil
	}
	me, ok := l.running.Load(engine.GoroutineID())
	if !ok {
		return nil, nil
	}
	l.cycleMu.Lock()
	defer l.cycleMu.Unlock()
	for w := cl; w != nil; w = w.waitingOn {
		if w == me {
			return nil, ErrLoadCycle
		}
	}
	me.waitingOn = cl
	return me, nil
}

// waitDone ends what waitFor recorded for me, the caller's load, if any.
func (l *loader) waitDone(me *call) {
	if me == nil {
		return
	}
	l.cycleMu.Lock()
	me.waitingOn = nil
	l.cycleMu.Unlock()
}

// runEntry is the entry PC of loader.run, the function every load's
// goroutine runs.
var runEntry = runtime.FuncForPC(reflect.ValueOf((*loader).run).Pointer()).Entry()

// onLoadGoroutine reports whether the calling goroutine runs a load:
// whether loader.run is one of the first frames of its stack. A load's
// goroutine starts in WaitGroup.Go's function, which calls start's
// closure, which calls run, so run is within the bottom few frames; only
// those are looked up. It reads the stack's return addresses (no
// allocation, well under a microsecond), far cheaper than
// engine.GoroutineID, which only a load's goroutine then needs.
func onLoadGoroutine() bool {
	const bottom = 6
	var pcs [256]uintptr
	n := runtime.Callers(2, pcs[:])
	if n == len(pcs) {
		// Deeper than pcs: not the bottom. Such stacks are rare (a load
		// function recursing, say); walk them in full.
		return engine.OnStack((*loader).run)
	}
	for _, pc := range pcs[max(0, n-bottom):n] {
		if f := runtime.FuncForPC(pc - 1); f != nil && f.Entry() == runEntry {
			return true
		}
	}
	return false
}

// refresh starts a background load of key unless one is in flight.
func (l *loader) refresh(c *Cache, parent context.Context, key string, load loadFunc, of engine.EntryInfo) {
	// Every hit in the window comes here while the refresh runs: check
	// without taking the map's lock first.
	if _, ok := l.calls.Load(key); ok || l.closed.Load() {
		return
	}
	// Watched from before the call is in the map: a write of the key
	// after the hit that found of ends the watch, or keeps it from
	// starting.
	w, ok := c.e.Watch(key, of)
	if !ok {
		return
	}
	var ctx context.Context
	cl, loaded := l.calls.LoadOrCompute(key, func() *call {
		var nc *call
		nc, ctx = newCall(parent)
		nc.kind, nc.watch = refreshLoad, w
		return nc
	})
	if loaded {
		c.e.Unwatch(w)
		return
	}
	l.start(c, ctx, key, cl, load)
}

// start runs cl's load in a new goroutine, or fails cl with [ErrClosed].
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
	id := engine.GoroutineID()
	l.running.Store(id, cl)
	defer l.running.Delete(id)

	var val []byte
	err := errGoexit // kept only if load never returns
	defer func() {
		if err == errGoexit {
			l.loadErrors.Add(1)
		}
		c.e.Unwatch(cl.watch) // if it stored nothing
		l.finish(key, cl, val, err)
	}()

	var ttl time.Duration
	l.loads.Add(1)
	if cl.kind == refreshLoad {
		l.refreshes.Add(1)
	}
	val, ttl, err = recoverLoad(ctx, load)
	if err != nil {
		l.loadErrors.Add(1)
		val = nil
		if l.ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", ErrClosed, err)
			return
		}
		if ttl > 0 && cl.kind == missLoad && errors.Is(err, ErrNotFound) {
			// Like a value, stored before finish takes the call out of
			// the map, and only over no newer write. A refresh leaves
			// the entry it reloads to expire.
			if l.claim(key, cl) {
				_, _ = c.e.SetAbsentWatched(key, ttl, cl.watch)
				cl.watch = engine.Watch{} // ended
			}
		} else if c.staleIfError > 0 && !errors.Is(err, ErrNotFound) {
			// Recorded before finish takes the call out of the map, so
			// that no caller finds neither the call nor the record and
			// starts a second load (see Options.StaleRetry).
			if info, ok := c.e.StaleInfo(key); ok {
				c.stale.failed(key, info.ExpireAt, err, c.e.Now())
			}
		}
		return
	}
	// Store before finish takes the call out of the map, so that a miss
	// after that finds the value. Failing to store it, because it is too
	// large or the cache closed, should not fail a read that has the
	// value; a negative TTL is a bug in load.
	//
	// A load stores only if its watch is still on: a value Set, or a
	// Delete, while it ran is newer than what it loaded. A load that every
	// caller gave up on stores nothing (see claim).
	if !l.claim(key, cl) {
		return
	}
	_, serr := c.e.SetWatched(key, val, ttl, cl.watch)
	cl.watch = engine.Watch{} // ended
	if errors.Is(serr, ErrInvalidTTL) {
		val, err = nil, fmt.Errorf("velo: GetOrLoad: load returned %w", serr)
		l.loadErrors.Add(1)
		return
	}
	if c.staleIfError > 0 {
		c.stale.keys.Delete(key) // reloads need not wait any more
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

// claim marks cl as storing its value, if cl is still key's call, and
// reports whether it is. A call every caller gave up on was taken out of
// the map (see leave), and a newer load of key may have started since,
// whose value this older one must not overwrite; such a call stores
// nothing. From the claim on, leave keeps the call in the map, and later
// misses wait for it to end instead of starting another load (see
// storedLoad).
func (l *loader) claim(key string, cl *call) bool {
	ok := false
	l.calls.Compute(key, func(old *call, loaded bool) (*call, bool) {
		if loaded && old == cl {
			cl.storing.Store(true)
			ok = true
		}
		return old, !loaded // insert nothing
	})
	return ok
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
// a fresh one rather than joining a cancelled one; a load already storing
// its value (see claim) stays, and ends on its own.
func (l *loader) leave(key string, cl *call) {
	abandoned := false
	l.calls.Compute(key, func(old *call, loaded bool) (*call, bool) {
		if !loaded || old != cl {
			return old, !loaded // cl has finished: nothing to do
		}
		if cl.waiters--; cl.waiters > 0 || cl.storing.Load() {
			return cl, false
		}
		abandoned = true
		return nil, true
	})
	if abandoned {
		cl.cancel()
	}
}
