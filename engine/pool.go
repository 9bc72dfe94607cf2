package engine

import (
	"runtime"
	"sync"
	"sync/atomic"

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
// it empty with all of them made allocates a segment the pool does not
// track (no finalizer: it is ordinary garbage once released), so writes
// never wait for a collection.
type segPool struct {
	size     int
	limit    int // segments the pool makes, at most
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
	// reused counts the segments taken from the pool; untracked, the
	// segments made past the limit.
	reused, untracked atomic.Uint64
}

func (p *segPool) init(size, budgetSegs, shards int) {
	p.size = size
	slack := max(2*shards, budgetSegs/2)
	p.limit = budgetSegs + shards + slack // heads may each add one before reclaiming
	p.askEvery = int64(max(1, slack/2)) * int64(size)
	p.finalize = p.put
	p.gc = make(chan struct{}, 1)
	// put runs in the finalizer goroutine, where an append that grows the
	// slice would allocate while the cache's users allocate nothing.
	p.free = make([]*arena.Segment, 0, min(p.limit, 1<<12))
}

// take returns an empty segment of the pool's size, with generation gen.
func (p *segPool) take(gen uint32) *arena.Segment {
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
	p.untracked.Add(1)
	p.askGC()
	return arena.NewSegment(p.size, gen)
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
