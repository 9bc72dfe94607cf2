package velo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/puzpuzpuz/xsync/v3"
)

// ErrStale is matched by the *StaleError that GetOrLoad returns with a
// value served past its expiry (see [Options.StaleIfError]).
var ErrStale = errors.New("velo: stale value served")

// A StaleError comes with a value GetOrLoad served past its expiry because
// reloading it failed (see [Options.StaleIfError]): the value is the last
// one stored, and Err says why there is no newer one. errors.Is(err,
// ErrStale) holds for it, and so does errors.Is(err, target) for what Err
// matches.
type StaleError struct {
	Err error         // the reload's error (the last one, while reloads wait for Options.StaleRetry)
	Age time.Duration // how long ago the value expired
}

// Error says that the value is stale, how stale, and why.
func (e *StaleError) Error() string {
	return fmt.Sprintf("%v (expired %v ago): %v", ErrStale, e.Age, e.Err)
}

// Unwrap returns [ErrStale] and the reload's error.
func (e *StaleError) Unwrap() []error { return []error{ErrStale, e.Err} }

// minPruneAt is the number of records at which staleRetries first prunes
// those whose wait is over.
const minPruneAt = 1 << 16

// staleRetries remembers, for keys with a stale value whose reload
// failed, when the next reload may start and the error to serve with the
// value until then: so that a failing origin sees one reload per key per
// [Options.StaleRetry], whatever the number of callers and keys.
//
// Records leave when a call finds their wait over, or in a prune: when
// the records reach pruneAt, those whose wait is over go, and pruneAt
// becomes twice what is left (at least minPruneAt). A prune walks the
// records once, and at least half as many failures again come before the
// next, so a failure costs O(1) amortized however many keys fail; the
// records are at most twice those whose wait was not over at the last
// prune, each a key whose stale value the cache held when its reload
// failed.
type staleRetries struct {
	every   int64 // clock nanoseconds between reloads of one key
	keys    *xsync.MapOf[string, staleRetry]
	pruneAt atomic.Int64
	pruning sync.Mutex // one prune at a time; failures meanwhile go on
}

type staleRetry struct {
	next    int64 // clock time from which a reload may start
	err     error
	expired int64 // the stale value's expiry: the entry whose reload failed
}

func (r *staleRetries) init(every time.Duration) {
	r.every = int64(every)
	r.keys = xsync.NewMapOf[string, staleRetry]()
	r.pruneAt.Store(minPruneAt)
}

// waiting returns the last reload error of key while its next reload must
// wait, or nil. expired is the expiry of key's stale value: a record of a
// reload of another value of key (one stored, and expired, since the
// reload failed) does not count. Expiry tells the values apart: a value
// stored after another expired expires after it, wherever the cache has
// moved either.
func (r *staleRetries) waiting(key string, expired, now int64) error {
	w, ok := r.keys.Load(key)
	if !ok {
		return nil
	}
	if now >= w.next || w.expired != expired {
		r.keys.Delete(key)
		return nil
	}
	return w.err
}

// failed records that the reload of key's stale value, which expired at
// expired, failed with err at now.
func (r *staleRetries) failed(key string, expired int64, err error, now int64) {
	next := now + r.every
	if next < now {
		next = math.MaxInt64 // a StaleRetry too long to count: no reload
	}
	r.keys.Store(key, staleRetry{next, err, expired})
	if int64(r.keys.Size()) >= r.pruneAt.Load() && r.pruning.TryLock() {
		r.keys.Range(func(k string, w staleRetry) bool {
			if now >= w.next {
				// Only if no failure has stored a newer record since.
				r.keys.Compute(k, func(old staleRetry, loaded bool) (staleRetry, bool) {
					return old, !loaded || now >= old.next
				})
			}
			return true
		})
		r.pruneAt.Store(max(minPruneAt, 2*int64(r.keys.Size())))
		r.pruning.Unlock()
	}
}

// servesStale reports whether GetOrLoad, whose load for a key with a stale
// value returned err, serves that value: for a failure of the origin, not
// for the caller giving up (ctx), the origin saying the key has no value
// ([ErrNotFound]), the cache closing or a load cycle.
func servesStale(ctx context.Context, err error) bool {
	return ctx.Err() == nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrLoadCycle)
}
