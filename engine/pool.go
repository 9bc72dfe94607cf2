package engine

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/velocache/velo/arena"
)

// A segPool recycles the engine's packed segments (those of SegmentBytes),
// and bounds, with them, the memory of large entries' segments, which are
// allocated for their entry and left to the garbage collector when
// released.
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
// Segments come back only after a collection. In a program that allocates,
// the collector runs on its own and brings them back; but a cache whose
// writes are served from the pool allocates nothing, so in a program that
// mostly writes to the cache nothing else would start one. So once enough
// of the slack waits for a collection (released, not back), the pool asks
// the engine's background goroutine to run one (runtime.GC), before it
// runs dry; a program whose own collections keep bringing segments back
// is never asked for one. How much is enough adapts (see adapt): each
// collection has a cost of its own, whatever it brings back, so the pool
// asks as late as lets the last collection's writes fit in what is left.
// The pool makes at most limit segments: the budget's worth, and slack
// for those waiting. A writer that finds it empty with all of them made
// asks for a collection and waits up to poolWait for a segment to come
// back: writes slow down to what the collector can recycle, rather than
// the heap growing past the budget.
// Only if none comes back in time does it allocate a segment the pool does
// not track (ordinary garbage once released).
//
// A forced collection marks the whole heap, the program's as well as the
// cache's segments, so its cost grows with the program, not the cache: in
// a program with a large heap and a cache under heavy writes, collections
// forced at the pace of the writes would take most of a core. So the
// background goroutine measures the processor time each takes (the
// runtime's estimate of the collector's CPU time) and starts the next no
// sooner than its share of GOMAXPROCS x the time between them allows
// (forcedGCShare: a quarter, as the Go collector takes for its own
// background work). While the next one waits for its turn, a writer that
// finds the pool empty does not wait for it: it allocates an untracked
// segment at once, so the memory past the budget is then what the writes
// fill until the collection. In a program whose heap is mostly the cache,
// a collection costs a millisecond or two of processor time, and such
// collections are not spaced (see forcedGCShare).
//
// Until it has made its limit, the pool also keeps a few new segments
// whose pages are already touched (prefaulted): a fresh segment costs a
// page fault per 4 KiB on its first writes, 10 to 11 µs each on the
// project's VM (cmd/loadgen's BenchmarkFirstTouch), and a writer that
// takes those faults takes them holding its shard's lock, so a cache
// growing into its budget stalls the other cores' writes to that shard
// too. The engine's background goroutine prefaults them (prefaultOne)
// each time a writer takes a new segment; they count against the limit
// like any other.
//
// Large segments count against the same limit, in bytes, from allocation
// until a collection frees them (runtime.AddCleanup tells the pool; a
// cleanup, unlike a finalizer, does not keep the segment for one more
// cycle). A writer that needs one past the limit first lets free packed
// segments go, then waits as take does, so a workload of large values
// also slows to what the collector frees instead of growing the heap.
type segPool struct {
	size      int
	limit     int   // segments the pool makes, at most
	maxBytes  int64 // limit in bytes, which large segments share
	slack     int64 // bytes of the limit beyond the budget and the heads
	halfSlack int64 // the fewest bytes waiting when the pool asks for a collection
	finalize  func(*arena.Segment)

	mu   sync.Mutex
	free []*arena.Segment
	// fresh holds new segments already prefaulted, made and not yet
	// taken; prefault is signalled (capacity 1) when a writer took a new
	// segment and the pool may make more.
	fresh    []*arena.Segment
	prefault chan struct{}
	made     int
	closed   bool

	timers []*time.Timer // for writers that wait (see timer)

	// large counts the bytes of large segments allocated and not yet
	// collected.
	large atomic.Int64

	// gc holds a request for a collection (capacity 1), which the
	// engine's background goroutine serves (collect). waiting counts the
	// bytes of segments released and not yet back in the pool or freed,
	// large and untracked ones included: what a collection would return.
	// askAt is how many bytes wait when the pool asks (see adapt); total
	// counts every byte released, and askedAt is total when a request was
	// made; collecting is set from that request until its collection has
	// run.
	gc         chan struct{}
	waiting    atomic.Int64
	askAt      atomic.Int64
	total      atomic.Int64
	askedAt    atomic.Int64
	collecting atomic.Bool
	// nextGC is when (time.Time.UnixNano) collect may force the next
	// collection; deferred reports that a request waits for that time.
	// forced counts the collections collect ran. runGC runs one and
	// returns the processor time it took (forceGC, which reads it into
	// gcCPU; a test replaces it).
	nextGC   atomic.Int64
	deferred atomic.Bool
	forced   atomic.Uint64
	runGC    func() time.Duration
	gcCPU    [1]metrics.Sample
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
	p.maxBytes = int64(p.limit) * int64(size)
	p.slack = int64(slack) * int64(size)
	p.halfSlack = int64(max(1, slack/2)) * int64(size)
	p.askAt.Store(p.halfSlack)
	p.finalize = p.put
	p.gc = make(chan struct{}, 1)
	p.prefault = make(chan struct{}, 1)
	p.runGC = p.forceGC
	p.gcCPU[0].Name = "/cpu/classes/gc/total:cpu-seconds"
	p.returned = make(chan struct{}, 1)
	// put runs in the finalizer goroutine, where an append that grows the
	// slice would allocate while the cache's users allocate nothing.
	p.free = make([]*arena.Segment, 0, min(p.limit, 1<<12))
	p.fresh = make([]*arena.Segment, 0, freshSegments)
}

// take returns an empty segment of the pool's size, with generation gen.
func (p *segPool) take(gen uint32) *arena.Segment {
	if s := p.tryTake(gen); s != nil {
		return s
	}
	var s *arena.Segment
	if p.await(func() bool { s = p.tryTake(gen); return s != nil }) {
		return s
	}
	p.untracked.Add(1)
	s = arena.NewSegment(p.size, gen)
	// Its bytes count as waiting for a collection once released, until
	// one frees them.
	runtime.AddCleanup(s, collected, unpooled{p, int64(p.size), untrackedSeg})
	return s
}

// await asks for a collection and waits, up to poolWait, until ready
// (called again each time something comes back to the pool) reports true,
// and reports whether it did.
func (p *segPool) await(ready func() bool) bool {
	p.askGC(atOnce)
	if p.deferred.Load() {
		return false // the collection waits for its turn (see collect)
	}
	t := p.timer()
	defer p.putTimer(t)
	for {
		select {
		case <-p.returned:
			if ready() {
				p.passOn()
				return true
			}
		case <-t.C:
			return false
		}
	}
}

// timer returns a timer set to poolWait, from the pool's own list: a
// writer that waits allocates nothing (its Sets stay allocation-free).
// There are at most as many waiters as shards, since each holds its
// shard's lock.
func (p *segPool) timer() *time.Timer {
	p.mu.Lock()
	n := len(p.timers)
	if n == 0 {
		p.mu.Unlock()
		return time.NewTimer(poolWait)
	}
	t := p.timers[n-1]
	p.timers = p.timers[:n-1]
	p.mu.Unlock()
	t.Reset(poolWait)
	return t
}

func (p *segPool) putTimer(t *time.Timer) {
	t.Stop() // since Go 1.23, no stale tick is left in t.C after Stop
	p.mu.Lock()
	p.timers = append(p.timers, t)
	p.mu.Unlock()
}

// tryTake returns a segment from the pool, or a new one while those made
// and the large segments not yet collected fit in the limit, or nil.
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
	if n := len(p.fresh); n > 0 {
		s := p.fresh[n-1]
		p.fresh[n-1] = nil
		p.fresh = p.fresh[:n-1]
		p.mu.Unlock()
		p.askPrefault()
		s.Recycle(gen)
		runtime.SetFinalizer(s, p.finalize)
		return s
	}
	if p.roomToMake() {
		p.made++
		p.mu.Unlock()
		p.askPrefault()
		s := arena.NewSegment(p.size, gen)
		runtime.SetFinalizer(s, p.finalize)
		return s
	}
	p.mu.Unlock()
	return nil
}

// roomToMake reports whether one more packed segment fits the limit.
// Caller holds mu.
func (p *segPool) roomToMake() bool {
	return int64(p.made+1)*int64(p.size)+p.large.Load() <= p.maxBytes
}

// freshSegments is how many prefaulted segments the pool keeps ready.
const freshSegments = 4

// askPrefault asks the background goroutine to prefault more segments,
// unless it is asked already.
func (p *segPool) askPrefault() {
	select {
	case p.prefault <- struct{}{}:
	default:
	}
}

// prefaultOne makes and prefaults one new segment for fresh, if fewer
// than freshSegments are ready and the limit has room, and reports
// whether fresh wants more. The background goroutine calls it, one
// segment at a time, so that a request for a collection waits for at
// most one segment's faults.
func (p *segPool) prefaultOne() (more bool) {
	p.mu.Lock()
	if p.closed || len(p.fresh) >= freshSegments || !p.roomToMake() {
		p.mu.Unlock()
		return false
	}
	p.made++
	p.mu.Unlock()
	s := arena.NewSegment(p.size, 0)
	s.Prefault()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.made--
		return false // left to the collector
	}
	p.fresh = append(p.fresh, s) // with no finalizer yet, as in free
	return len(p.fresh) < freshSegments
}

// takeLarge returns a new segment of n bytes for one large entry, with
// generation gen, once the pool's limit has room for it (or after
// poolWait).
func (p *segPool) takeLarge(n int, gen uint32) *arena.Segment {
	if !p.roomFor(n) && !p.await(func() bool { return p.roomFor(n) }) {
		p.untracked.Add(1)
	}
	s := arena.NewSegment(n, gen)
	p.large.Add(int64(n))
	runtime.AddCleanup(s, collected, unpooled{p, int64(n), largeSeg})
	return s
}

// roomFor reports whether n more bytes of large segments fit in the
// pool's limit, letting free packed segments go (to the collector) to make
// room: they count against the limit while they wait in the pool.
func (p *segPool) roomFor(n int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	over := func() bool { return int64(p.made)*int64(p.size)+p.large.Load()+int64(n) > p.maxBytes }
	for over() && len(p.free) > 0 {
		p.free[len(p.free)-1] = nil
		p.free = p.free[:len(p.free)-1]
		p.made--
	}
	for over() && len(p.fresh) > 0 {
		p.fresh[len(p.fresh)-1] = nil
		p.fresh = p.fresh[:len(p.fresh)-1]
		p.made--
	}
	return !over()
}

// A segKind tells the segments that the pool does not recycle apart.
type segKind uint8

const (
	largeSeg     segKind = iota // a large entry's, counted in large
	untrackedSeg                // made past the limit
)

// unpooled is what the cleanup of a segment the pool does not recycle
// needs: its pool, its size and kind. (A function and a value, rather than
// the method value p.collected, save AddCleanup an allocation.)
type unpooled struct {
	p    *segPool
	n    int64
	kind segKind
}

// collected is the cleanup of a segment the pool does not recycle: it runs
// once a collection has freed the segment's bytes.
func collected(b unpooled) {
	b.p.waiting.Add(-b.n)
	if b.kind == largeSeg {
		b.p.large.Add(-b.n)
		b.p.signal()
	}
}

// put is the finalizer of the pool's segments: it runs, in the runtime's
// finalizer goroutine, once a segment is unreachable, which a released
// segment becomes when the last reader that loaded it is done.
func (p *segPool) put(s *arena.Segment) {
	p.waiting.Add(-int64(p.size))
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
// collection once those waiting for one reach askAt.
func (p *segPool) dropped(n int) {
	waiting := p.waiting.Add(int64(n))
	p.total.Add(int64(n))
	if waiting >= p.askAt.Load() {
		p.askGC(soon)
	}
}

// adapt sets askAt after a collection, given the bytes the writers
// released from its request to its end, which they took from the pool
// meanwhile: the next request comes when what is left of the slack holds
// that much, so that the collection ends about when the pool would run
// dry; but no earlier than when half the slack waits (writes that outrun
// collections), and no later than when one segment is left. Each
// collection costs the writers about the same whatever it brings back
// (the whole heap is marked, the world stopped twice), so the fewer the
// better, as long as the writes can go on meanwhile.
func (p *segPool) adapt(took int64) {
	p.askAt.Store(min(max(p.slack-took, p.halfSlack), p.slack-int64(p.size)))
}

// forcedGCShare bounds costly forced collections to 1/forcedGCShare of
// the processor time GOMAXPROCS allows: after one that took c of it, the
// next starts no sooner than forcedGCShare x c / GOMAXPROCS after it
// began, if that is more than poolWait later. Cheaper ones (a program
// whose heap is mostly the cache: a millisecond or two of processor time)
// run when the pool asks: spacing them by a few milliseconds would only
// make writers wait, or allocate, for no real saving.
const forcedGCShare = 4

// forceGC runs a collection and returns the processor time it took: the
// runtime's estimate of the collector's processor time, which it updates
// at the end of each cycle. The estimate counts the collector's work on
// processors that had nothing else to run too (while the background
// goroutine waits for the collection, its own processor is one), and any
// collection that ran beside this one: it errs towards spacing more.
// (Without the idle processors' share the estimate misses what a writer on
// the one busy processor loses: BenchmarkSetLargeHeap runs at its unspaced
// figure then.) Only the background goroutine calls it, so its sample is
// the pool's, reused: it allocates nothing.
func (p *segPool) forceGC() time.Duration {
	metrics.Read(p.gcCPU[:])
	before := p.gcCPU[0].Value.Float64()
	runtime.GC()
	metrics.Read(p.gcCPU[:])
	return time.Duration((p.gcCPU[0].Value.Float64() - before) * float64(time.Second))
}

// collect serves a request for a collection, once its turn has come (see
// forcedGCShare), unless stop is closed first.
func (p *segPool) collect(stop <-chan struct{}) {
	if wait := time.Until(time.Unix(0, p.nextGC.Load())); wait > 0 {
		p.deferred.Store(true)
		t := p.timer()
		t.Reset(wait)
		stopped := false
		select {
		case <-stop:
			stopped = true
		case <-t.C:
		}
		p.putTimer(t)
		p.deferred.Store(false)
		if stopped {
			p.collecting.Store(false)
			return
		}
	}
	start := time.Now()
	cpu := p.runGC()
	p.forced.Add(1)
	p.adapt(p.total.Load() - p.askedAt.Load())
	var next int64
	if gap := forcedGCShare * cpu / time.Duration(runtime.GOMAXPROCS(0)); gap > poolWait {
		next = start.Add(gap).UnixNano()
	}
	p.nextGC.Store(next)
	p.collecting.Store(len(p.gc) > 0) // a writer's request may wait, made meanwhile
}

// askGC asks the engine's background goroutine for a collection, unless
// one is asked for already. A writer that found the pool empty asks even
// while a collection runs (atOnce): that one may have started before the
// segments the writer waits for were released, and once it is done
// nothing else would ask. A request made as the pool runs low (soon) is
// dropped while a collection is asked for or runs: it would start another
// as soon as that one ends, which would bring back only what was released
// meanwhile, at a whole collection's cost. The next release after the
// collection asks again if the pool is still low.
func (p *segPool) askGC(when gcRequest) {
	if p.collecting.CompareAndSwap(false, true) {
		p.askedAt.Store(p.total.Load())
	} else if when == soon {
		return
	}
	select {
	case p.gc <- struct{}{}:
	default:
	}
}

// A gcRequest says how urgently a collection is asked for (see askGC).
type gcRequest uint8

const (
	soon   gcRequest = iota // the pool runs low
	atOnce                  // a writer waits for a segment
)

// close empties the pool; segments finalized later are left to the
// collector.
func (p *segPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.made -= len(p.free) + len(p.fresh)
	p.free, p.fresh = nil, nil
}
