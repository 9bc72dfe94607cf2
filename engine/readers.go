package engine

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// readers tracks the goroutines that read segments without a lock, so
// that a released segment is reused only once no reader that could have
// loaded it is still reading (see segPool.graceLocked), and counts their
// hits.
//
// A reader enters before it loads a segment pointer from a slot and
// leaves when it is done with the segment's bytes. Entering adds one to
// the word of a stripe (its processor's for a copy, the one its stack
// address hashes to, as counter does, for a View: see readHold), and
// leaving takes it away again, adding the hit, if it was one, in the
// same atomic add: the word holds the readers inside a read on this
// stripe in its low activeBits bits and the stripe's hits above them.
// Two atomic adds on one cache line cost a Get a few nanoseconds more
// than the one add of a plain hit counter did (docs/design.md gives the
// A/B); a hit counter on a line of its own made it three adds, and about
// 10 ns more.
//
// A stripe's active count never goes below zero, since a reader leaves
// the stripe it entered (a pin remembers it, even if the stack moves
// meanwhile). So a reclaimer that sees a stripe's count at zero, at any
// moment after a segment was released, knows that every reader that was
// on that stripe when the segment was released has left; readers that
// entered after the release cannot load it, since its slot no longer
// points at it. Seeing every stripe at zero once, each at its own moment,
// is enough: no snapshot of all of them together is needed.
type readers struct {
	stripes []readerStripe
	shift   uint // 64 - log2(len(stripes))

	// mu guards hits and seen, which turn the stripes' hit fields, that
	// wrap, into a count that does not (see fold).
	mu   sync.Mutex
	hits uint64
	seen []uint64 // per stripe: its hit field at the last fold

	busy []int // quiesce's list of stripes, reused
}

type readerStripe struct {
	n atomic.Uint64
	_ [56]byte // one stripe per cache line
}

// activeBits is the width of a stripe's count of readers inside a read:
// a million goroutines in the middle of a read on one stripe at once.
// The hit field above it wraps after 2^44 hits of one stripe, days of a
// core doing nothing else; fold runs far more often.
const (
	activeBits = 20
	activeMask = 1<<activeBits - 1
	hitUnit    = 1 << activeBits
	hitMask    = 1<<(64-activeBits) - 1
)

// A pin is a reader's stripe, from enter to leave.
type pin uintptr

// A readHold says what a reader does between enter and leave.
type readHold uint8

const (
	// copyHold: a bounded copy of an entry's bytes, and nothing else. The
	// goroutine is pinned to its processor (runtime.procPin) for it, so
	// that it cannot be preempted in the middle of the read: a goroutine
	// preempted there would hold every grace period until the scheduler
	// ran it again, 10 ms or more when goroutines outnumber processors.
	// Its stripe is its processor's.
	copyHold readHold = iota
	// viewHold: the caller's code runs inside the read (View), which may
	// take any time and may block, so the goroutine stays preemptible,
	// and its stripe is the one its stack address picks.
	viewHold
)

// procPin and procUnpin are the runtime's, which sync.Pool uses too:
// procPin disables preemption of the calling goroutine (it holds its M,
// and so its P) and returns its P's id; procUnpin enables it again. The
// runtime keeps them for packages that link to them (go.dev/issue/67401).
// Between the two the goroutine must not block; a copy may allocate (the
// collector neither starts nor asks for assistance meanwhile).
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

func newReaders(stripes int) *readers {
	n, bits := 1, uint(0)
	for n < stripes {
		n *= 2
		bits++
	}
	return &readers{stripes: make([]readerStripe, n), shift: 64 - bits, seen: make([]uint64, n), busy: make([]int, 0, n)}
}

// enter marks the calling goroutine as reading. The add is a full
// barrier (Go's atomics are sequentially consistent), so the segment
// loads that follow cannot be reordered before it.
func (r *readers) enter(h readHold) pin {
	var p pin
	if h == copyHold {
		p = pin(procPin()) & pin(len(r.stripes)-1)
	} else {
		var local byte
		p = pin(mixStack(uintptr(unsafe.Pointer(&local)), r.shift))
	}
	r.stripes[p].n.Add(1)
	return p
}

// leave ends a read that was not a hit. The add is a release: every
// load of segment bytes before it happens before a reclaimer's load
// that sees the stripe's count at zero.
func (r *readers) leave(p pin, h readHold) {
	r.stripes[p].n.Add(^uint64(0))
	if h == copyHold {
		procUnpin()
	}
}

// leaveHit ends a read that was a hit, and counts it.
func (r *readers) leaveHit(p pin, h readHold) {
	r.stripes[p].n.Add(hitUnit - 1)
	if h == copyHold {
		procUnpin()
	}
}

// idle reports whether no reader is inside a read on stripe i now.
func (r *readers) idle(i int) bool {
	return r.stripes[i].n.Load()&activeMask == 0
}

// fold adds the hits counted since the last fold to the total and returns
// it. Each stripe's hit field is read as a difference from the last fold,
// modulo its width, so its wrapping loses nothing as long as folds come
// less than 2^44 hits of one stripe apart: the engine's goroutine folds
// every minute, and Stats folds too.
func (r *readers) fold() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.stripes {
		h := r.stripes[i].n.Load() >> activeBits
		r.hits += (h - r.seen[i]) & hitMask
		r.seen[i] = h
	}
	return r.hits
}

// quiesce returns once it has seen every stripe with no read in progress,
// each at some moment after the call began, and reports true; or false if
// stop is closed or wait runs out first. A copy's read lasts tens of
// nanoseconds and cannot be preempted, so the stripes found busy are
// looked at again at once, quiesceSpins times: yielding the processor
// there would let the scheduler run everything else first, which takes
// 10 ms or more when goroutines outnumber processors, while a writer may
// wait for this grace period. A stripe still busy after that most likely
// holds a View's read, whose callback may run on this processor, so the
// stripes are then looked at again after yielding the processor, then
// after sleeps that double from 20 µs. With wait 0 it only spins: it
// reports false as soon as a stripe is still busy after the spins.
func (r *readers) quiesce(stop <-chan struct{}, wait time.Duration) bool {
	busy := r.busy[:0]
	for i := range r.stripes {
		if !r.idle(i) {
			busy = append(busy, i)
		}
	}
	var deadline time.Time
	nap := 20 * time.Microsecond
	for round := 0; len(busy) > 0; round++ {
		switch {
		case round < quiesceSpins: // look again at once
		case wait == 0:
			r.busy = busy
			return false
		case round < quiesceSpins+quiesceYields:
			runtime.Gosched()
		default:
			if deadline.IsZero() {
				deadline = time.Now().Add(wait)
			} else if time.Now().After(deadline) {
				r.busy = busy
				return false
			}
			select {
			case <-stop:
				r.busy = busy
				return false
			case <-time.After(nap):
			}
			nap = min(2*nap, time.Millisecond)
		}
		still := busy[:0]
		for _, i := range busy {
			if !r.idle(i) {
				still = append(still, i)
			}
		}
		busy = still
	}
	r.busy = busy
	return true
}

// quiesceSpins is how many times quiesce looks at the busy stripes again
// before it yields the processor, and quiesceYields how many times it
// yields before it sleeps.
const (
	quiesceSpins  = 64
	quiesceYields = 16
)
