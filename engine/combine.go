package engine

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Combining: a Set that finds its shard's lock taken does not queue on
// the lock. It leaves a setRequest on the shard's waiting list, and
// whoever holds the lock makes that Set before releasing it (serveWaiting),
// while the shard's cache lines (the lock's line, the head segment, its
// bookkeeping, the index slots of hot keys) are still in the holder's
// cache. Under a Zipf-hot key, a Set then costs the holder the copy of
// one key and value instead of a lock handoff (a parked goroutine woken
// on another core) and a walk of the shard's lines from the last writer's
// cache.
//
// Progress does not depend on the holder: a waiter tries the lock itself
// (TryLock, and at last Lock), and whoever gets it serves the whole list.
// A request is taken off the list only by a swap under the lock, and every
// request taken is served before that lock is released; so once a waiter
// holds the lock and has served the list, its own request is done.
//
// Memory order: the waiter writes its request before publishing it with
// the list's CompareAndSwap, which the holder's Swap observes; the holder
// writes the outcome before done.Store, which the waiter's done.Load
// observes. The holder reads next before done.Store: after it, the
// waiter may reuse the request.

// A setRequest is a Set waiting for its shard's lock.
type setRequest struct {
	next  *setRequest
	h     uint64
	key   string
	value []byte
	ttl   time.Duration // resolved by checkWrite; never 0 unless no TTL

	// The outcome, written by the goroutine that made the Set.
	err     error
	removed []removal // for the waiter to report (Engine.report)
	done    atomic.Bool
}

var setRequests = sync.Pool{New: func() any { return new(setRequest) }}

// A waitSchedule is how a waiting Set spends the time until its request
// is done (see await). It looks at its own request, a line that only the
// holder writes, spinChecks times before its first try of the lock and
// twice as many times before each next one, for spinTries tries; then it
// makes yieldTries more tries, each after spinChecks << spinTries looks,
// yielding the processor after each; and after as many looks again, or
// once maxWaitSpin has passed since its first try, it blocks on the lock.
//
// It tries the lock seldom because trying reads the lock's line, which the
// holder is writing: each try while the lock is held costs the holder a
// cache miss. The holders of Sets and Deletes serve the list before and
// after they release the lock (Engine.Set, shard.unlock), so the tries
// matter only when another operation held the lock. It blocks late
// because a blocked waiter costs more than its own wait: the holder's
// Unlock then wakes it, on the critical path of every Set of the shard,
// and once woken it still queues for the lock, though its Set was made
// long before.
type waitSchedule struct {
	spinTries, yieldTries int
}

const spinChecks = 1024

// maxWaitSpin bounds a schedule in time, from the waiter's first try of
// the lock. All of spinWait's looks and yields take about a millisecond
// (0.7 to 1.6 ms on the 2-core VM), but a look can cost far more
// elsewhere: under the race detector, where each look is a call into it,
// they took 11 ms.
const maxWaitSpin = 2 * time.Millisecond

var (
	// spinWait is the schedule where each processor (GOMAXPROCS) can have
	// a CPU of its own. On 16 cores, blocking sooner (shortWait) cost the
	// mixes with writes 8% to 27% of their throughput, and blocking at
	// once (the plain lock) 20% to 31% (docs/benchmarks.md, "The waiter's
	// schedule").
	spinWait = waitSchedule{spinTries: 4, yieldTries: 64}
	// shortWait, about 7,000 looks and two tries, is the schedule where
	// there are more processors than CPUs. The holder's thread may then
	// be waiting for a CPU that spinning waiters hold, and a waiter that
	// blocks gives it back.
	shortWait = waitSchedule{spinTries: 2}
)

// waitScheduleFor returns the schedule of an engine made when GOMAXPROCS
// was procs on a process allowed cpus CPUs.
func waitScheduleFor(procs, cpus int) waitSchedule {
	if procs > cpus {
		return shortWait
	}
	return spinWait
}

// maxServeRounds bounds how many times the holder empties the waiting
// list before it releases the lock, so that waiters arriving all the time
// cannot keep one goroutine serving them for ever.
const maxServeRounds = 4

// setWaiting makes a Set of key whose shard lock was taken: it leaves a
// request on the shard's waiting list and waits until the lock's holder,
// or itself once it gets the lock, has made it.
func (sh *shard) setWaiting(h uint64, key string, value []byte, ttl time.Duration) error {
	r := setRequests.Get().(*setRequest)
	r.h, r.key, r.value, r.ttl = h, key, value, ttl
	r.done.Store(false)
	for {
		first := sh.waiting.Load()
		r.next = first
		if sh.waiting.CompareAndSwap(first, r) {
			break
		}
	}
	sh.await(r)
	err, removed := r.err, r.removed
	r.key, r.value, r.err, r.removed, r.next = "", nil, nil, nil, nil
	setRequests.Put(r)
	if removed != nil {
		sh.e.report(removed)
	}
	return err
}

// await returns once r is done, following the engine's waitSchedule.
func (sh *shard) await(r *setRequest) {
	w := sh.e.wait
	checks := spinChecks
	var tried time.Time // the waiter's first try of the lock
	for tries := 0; ; tries++ {
		for range checks {
			if r.done.Load() {
				return
			}
		}
		if tries == w.spinTries+w.yieldTries || tries > 0 && time.Since(tried) > maxWaitSpin {
			break
		}
		if tries == 0 {
			tried = time.Now()
		}
		if sh.mu.TryLock() {
			sh.serveWaiting()
			sh.mu.Unlock()
			return // r was on the list this lock's holder served, or done before
		}
		if tries < w.spinTries {
			checks *= 2
		} else {
			runtime.Gosched()
		}
	}
	sh.mu.Lock()
	sh.serveWaiting()
	sh.mu.Unlock()
}

// serveWaiting makes the Sets on the waiting list. Caller holds mu, and
// has taken the removals of its own writes (takeRemovals): those of a
// request go back with it.
func (sh *shard) serveWaiting() {
	for range maxServeRounds {
		r := sh.waiting.Swap(nil)
		if r == nil {
			return
		}
		for r != nil {
			next := r.next
			sh.serve(r)
			r = next
		}
	}
}

// serveLate serves the Sets that were left on the waiting list after the
// caller, which has just released the lock, last looked at it, if the
// lock is free. Without it they would wait for their own next try of the
// lock (see await). Callers look at the list first (it does not inline).
func (sh *shard) serveLate() {
	if sh.mu.TryLock() {
		sh.serveWaiting()
		sh.mu.Unlock()
	}
}

// serve makes the Set r asks for, as Engine.Set does under the lock, and
// marks it done. Caller holds mu.
func (sh *shard) serve(r *setRequest) {
	if sh.closed {
		r.err = ErrClosed
	} else {
		now := sh.e.clock.Now()
		sh.set(r.h, r.key, r.value, expiry(now, r.ttl), r.ttl, now, storedValue)
		if sh.pending != nil {
			r.removed = sh.takeRemovals()
		}
	}
	r.done.Store(true)
}
