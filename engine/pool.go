package engine

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/velocache/velo/arena"
)

// A segPool recycles the engine's packed segments (those of SegmentBytes;
// a large entry's segment is allocated for it and left to the garbage
// collector when released).
//
// A released segment may still be in use by readers that loaded it before
// its slot was emptied: a Get copying a value, a View callback, a Range
// walk. Readers take no lock and write nothing shared, so the engine
// cannot count them. The garbage collector can: once no goroutine
// references a released segment, it is unreachable, and its finalizer,
// set when the pool handed it out, brings it back to the pool. Readers
// keep the *Segment reachable (runtime.KeepAlive) until they are done with
// its bytes, so a segment comes back only when no reader can touch it
// again (docs/design.md gives the whole argument).
//
// Segments come back only after a collection, and a cache whose writes are
// served from the pool allocates nothing, so nothing else would start one:
// once half the slack has been released since the last one, the pool asks
// the engine's background goroutine to run one (runtime.GC), well before
// it runs dry. The pool makes at most limit segments: the budget's
// worth, and slack for those waiting for a collection. A writer that finds
// it empty with all of them made asks for a collection and waits up to
// poolWait for a segment to come back: writes slow down to what the
// collector can recycle, rather than the heap growing past the budget.
// Only if none comes back in time does it allocate a segment the pool does
// not track (no finalizer: ordinary garbage once released).
type segPool struct {
	size     int
	limit    int   // segments the pool makes, at most
	askEvery int64 // bytes released between requests for a collection
	finalize func(*arena.Segment)

	mu     sync.Mutex
	free   []*arena.Segment
	made   int
	closed bool

	// gc holds a request for a collection (capacity 1), which the
	// engine's background goroutine serves. released counts the bytes of
	// segments released since the last request, large ones included:
	// those are freed only by a collection too.
	gc       chan struct{}
	released atomic.Int64
	// returned is signalled (capacity 1) when a segment comes back, for
	// a writer waiting in take.
	returned chan struct{}

	// reused counts the segments taken from the pool; untracked, the
	// segments made past the limit.
	reused, untracked atomic.Uint64
}

// poolWait is how long a writer waits for a segment to come back to an
// empty pool before it allocates one: long enough for a collection of a
// heap of a few hundred MiB, short enough to bound a write's stall.
const poolWait = 10 * time.Millisecond

// minSlack is the least memory the pool keeps for segments waiting for a
// collection.
const minSlack = 4 << 20

func (p *segPool) init(size, budgetSegs, shards int) {
	p.size = size
	// Half the budget, and at least minSlack: a small cache under heavy
	// writes would otherwise wait for collections, which run no faster for
	// it, at every few rotations.
	slack := max(2*shards, budgetSegs/2, minSlack/size)
	p.limit = budgetSegs + shards + slack // heads may each add one before reclaiming
	p.askEvery = int64(max(1, slack/2)) * int64(size)
	p.finalize = p.put
	p.gc = make(chan struct{}, 1)
	p.returned = make(chan struct{}, 1)
	// put runs in the finalizer goroutine, where an append that grows the
	// slice would allocate while the cache's users allocate nothing.
	p.free = make([]*arena.Segment, 0, min(p.limit, 1<<12))
}

// take returns an empty segment of the pool's size, with generation gen.
func (p *segPool) take(gen uint32) *arena.Segment {
	if s := p.tryTake(gen); s != nil {
		return s
	}
	p.askGC()
	t := time.NewTimer(poolWait)
	defer t.Stop()
	for {
		select {
		case <-p.returned:
			if s := p.tryTake(gen); s != nil {
				p.passOn()
				return s
			}
		case <-t.C:
			p.untracked.Add(1)
			return arena.NewSegment(p.size, gen)
		}
	}
}

// tryTake returns a segment from the pool, or a new one while fewer than
// limit are made, or nil.
func (p *segPool) tryTake(gen uint32) *arena.Segment {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		s := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		p.mu.Unlock()
		p.reused.Add(1)
		s.Recycle(gen)
		runtime.SetFinalizer(s, p.finalize)
		return s
	}
	if p.made < p.limit {
		p.made++
		p.mu.Unlock()
		s := arena.NewSegment(p.size, gen)
		runtime.SetFinalizer(s, p.finalize)
		return s
	}
	p.mu.Unlock()
	return nil
}

// put is the finalizer of the pool's segments: it runs, in the runtime's
// finalizer goroutine, once a segment is unreachable, which a released
// segment becomes when the last reader that loaded it is done.
func (p *segPool) put(s *arena.Segment) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.made--
		return // left to the collector
	}
	p.free = append(p.free, s)
	p.signal()
}

// signal wakes one writer waiting in take, if any.
func (p *segPool) signal() {
	select {
	case p.returned <- struct{}{}:
	default:
	}
}

// passOn wakes the next waiting writer if segments are left: put signals
// once for any number of waiters.
func (p *segPool) passOn() {
	p.mu.Lock()
	left := len(p.free) > 0
	p.mu.Unlock()
	if left {
		p.signal()
	}
}

// dropped counts the bytes of a segment just released, and asks for a
// collection once they add up to half the pool's slack.
func (p *segPool) dropped(n int) {
	if p.released.Add(int64(n)) >= p.askEvery {
		p.released.Store(0)
		p.askGC()
	}
}

// askGC asks the engine's background goroutine for a collection, unless
// one is asked for already.
func (p *segPool) askGC() {
	select {
	case p.gc <- struct{}{}:
	default:
	}
}

// close empties the pool; segments finalized later are left to the
// collector.
func (p *segPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.made -= len(p.free)
	p.free = nil
}
