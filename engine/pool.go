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
// reading one entry. Every such read is inside readers.enter and leave,
// so the pool keeps a released segment in limbo until a grace period has
// passed: a grace period takes the segments in limbo, waits until it has
// seen every stripe of readers with no read in progress
// (readers.quiesce), and only then puts them in free, where take hands
// them to a writer (docs/design.md gives the whole argument). Reads are a
// few tens of nanoseconds, so a grace period takes microseconds. One
// starts once a quarter of the slack is in limbo, well before the pool
// runs dry: the releasing writer runs it (graceHere), or, if a read is
// still in progress after a few looks, the engine's background goroutine
// (askGrace). No collection is needed, so a cache under heavy writes
// makes the garbage collector no work at all.
//
// The pool makes at most limit packed segments: the budget's worth, one
// per shard, and a sixteenth of the budget (at least two segments a
// shard) for those in limbo. A writer that finds it empty with all of them made
// asks for a grace period and waits, up to poolWait, for segments to come
// back. A grace period that cannot end in poolWait (a View callback that
// runs long, a reader descheduled in the middle of a read) leaves its
// segments in limbo for the next, and until one ends, writers that find
// the pool empty do not wait: they allocate a segment the pool does not
// track (ordinary garbage once released, counted as Untracked).
//
// Segments the pool does not recycle (large ones, and untracked ones) are
// freed by the garbage collector, and count against the pool's bytes
// bound, maxBytes, from allocation until runtime.AddCleanup reports them
// freed; maxBytes has room for half the budget (at least 4 MiB) beyond
// the budget, which those segments share with the packed ones.
// Once enough of those bytes wait for a collection, the pool asks the
// background goroutine to run one (runtime.GC); a program whose own
// collections free them is never asked for one. A writer that finds no
// packed segment because those bytes fill the bound asks for one too. How much is enough adapts
// (see adapt): each collection has a cost of its own, whatever it frees,
// so the pool asks as late as lets the last collection's writes fit in
// what is left of the slack.
//
// A forced collection marks the whole heap, the program's as well as the
// cache's segments, so its cost grows with the program, not the cache: in
// a program with a large heap and a cache under heavy writes of large
// values, collections forced at the pace of the writes would take most of
// a core. So the background goroutine measures the processor time each
// takes (the runtime's estimate of the collector's CPU time) and starts
// the next no sooner than its share of GOMAXPROCS x the time between them
// allows (forcedGCShare: a quarter, as the Go collector takes for its own
// background work). While the next one waits for its turn, a writer that
// finds no room for a large segment does not wait for it: it allocates at
// once, so the memory past the budget is then what the writes fill until
// the collection.
//
// Until it has made its limit, the pool also keeps a few new segments
// whose pages are already touched (prefaulted): a fresh segment costs a
// page fault per 4 KiB on its first writes, 10 to 11 µs each on the
// project's VM (cmd/loadgen's BenchmarkFirstTouch), and a writer that
// takes those faults takes them holding its shard's lock, so a cache
// growing into its budget stalls the other cores' writes to that shard
// too. The engine's background goroutine prefaults them (prefaultOne)
// each time a writer takes a new segment; they count against the limit
// like any other. A cache that stops growing short of its limit has no
// use for them: once a whole sweep interval has passed with no new
// segment taken, the background goroutine lets them go (settle), and the
// next new segment a writer takes starts the prefaulting again.
//
// A writer that needs a large segment past the limit first lets free
// packed segments go, then waits for a collection as above, so a workload
// of large values also slows to what the collector frees instead of
// growing the heap.
type segPool struct {
	size      int
	limit     int   // packed segments the pool makes, at most
	maxBytes  int64 // bound on the bytes of packed and large segments together
	slack     int64 // bytes of maxBytes beyond the budget and the heads
	halfSlack int64 // the fewest bytes waiting when the pool asks for a collection
	graceAt   int   // segments in limbo when a grace period starts

	mu   sync.Mutex
	free []*arena.Segment
	// limbo holds the packed segments released and not yet past a grace
	// period; spare is an empty slice that grace swaps with it, so that
	// neither grows by allocating once both have the room.
	limbo, spare []*arena.Segment
	// fresh holds new segments already prefaulted, made and not yet
	// taken; prefault is signalled (capacity 1) when a writer took a new
	// segment and the pool may make more.
	fresh    []*arena.Segment
	prefault chan struct{}
	// grew is set when a writer takes a new segment (from fresh or
	// made), and cleared by settle.
	grew   atomic.Bool
	made   int
	closed bool

	timers []*time.Timer // for writers that wait (see timer)

	// large counts the bytes of large segments allocated and not yet
	// collected.
	large atomic.Int64

	// graceReq holds a request for a grace period (capacity 1), which the
	// engine's background goroutine serves (grace). stalled is set while
	// the last grace period could not end within poolWait; graces counts
	// those that ended.
	graceReq chan struct{}
	stalled  atomic.Bool
	graces   atomic.Uint64
	// readers are the engine's, whose reads a grace period waits for;
	// graceMu serializes grace periods (the background goroutine's, the
	// releasing writer's, and a writer's that found the pool empty).
	readers *readers
	graceMu sync.Mutex
	// recycleAtRelease, set by a test, puts a released segment in free at
	// once, with no grace period: the unsafe variant that the recycling
	// tests must catch.
	recycleAtRelease bool

	// gc holds a request for a collection (capacity 1), which the
	// engine's background goroutine serves (collect). waiting counts the
	// bytes of large and untracked segments released and not yet freed:
	// what a collection would return.
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

// minSlack is the least memory the pool keeps for large segments waiting
// for a collection.
const minSlack = 4 << 20

func (p *segPool) init(size, budgetSegs, shards int) {
	p.size = size
	// Packed segments wait for a grace period, which takes microseconds:
	// a sixteenth of the budget, at least two segments a shard and four
	// in all, holds what the writers release meanwhile.
	graceSlack := max(2*shards, budgetSegs/16, 4)
	p.limit = budgetSegs + shards + graceSlack // heads may each add one before reclaiming
	p.graceAt = max(1, graceSlack/4)
	// Large segments wait for collections, which cost the same whatever
	// they free: the bytes bound, which they share with the packed ones,
	// keeps half the budget, and at least minSlack, for them, so that a
	// small cache under heavy writes of large values does not wait for a
	// collection at every few of them.
	slack := max(2*shards, budgetSegs/2, minSlack/size)
	p.maxBytes = int64(budgetSegs+shards+slack) * int64(size)
	p.slack = int64(slack) * int64(size)
	p.halfSlack = int64(max(1, slack/2)) * int64(size)
	p.askAt.Store(p.halfSlack)
	p.graceReq = make(chan struct{}, 1)
	p.gc = make(chan struct{}, 1)
	p.prefault = make(chan struct{}, 1)
	p.runGC = p.forceGC
	p.gcCPU[0].Name = "/cpu/classes/gc/total:cpu-seconds"
	p.returned = make(chan struct{}, 1)
	// With room for every segment the pool makes, up to a bound, so that
	// the writers' releases and the grace periods allocate nothing.
	p.free = make([]*arena.Segment, 0, min(p.limit, 1<<12))
	p.limbo = make([]*arena.Segment, 0, min(p.limit, 1<<12))
	p.spare = make([]*arena.Segment, 0, min(p.limit, 1<<12))
	p.fresh = make([]*arena.Segment, 0, freshSegments)
}

// take returns an empty segment of the pool's size, with generation gen,
// and whether it is one of the pool's (pooledSeg) or one made past its
// limit (untrackedSeg).
func (p *segPool) take(gen uint32) (*arena.Segment, segKind) {
	if s := p.tryTake(gen); s != nil {
		return s, pooledSeg
	}
	// A grace period run here ends as soon as the reads in progress do
	// (a copy's read cannot be preempted), whereas the background
	// goroutine may wait its turn to run for 10 ms or more when goroutines
	// outnumber processors.
	if !p.stalled.Load() && p.graceNow() {
		if s := p.tryTake(gen); s != nil {
			return s, pooledSeg
		}
	}
	p.askGrace(atOnce)
	if p.heldByLarge() {
		p.askGC(atOnce) // only a collection makes room
	}
	var s *arena.Segment
	if !p.stalled.Load() && p.await(func() bool { s = p.tryTake(gen); return s != nil }) {
		return s, pooledSeg
	}
	p.untracked.Add(1)
	s = arena.NewSegment(p.size, gen)
	// Its bytes count as waiting for a collection once released, until
	// one frees them.
	runtime.AddCleanup(s, collected, unpooled{p, int64(p.size), untrackedSeg})
	return s, untrackedSeg
}

// await waits, up to poolWait, until ready (called again each time
// something comes back to the pool) reports true, and reports whether it
// did.
func (p *segPool) await(ready func() bool) bool {
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
		return s
	}
	if n := len(p.fresh); n > 0 {
		s := p.fresh[n-1]
		p.fresh[n-1] = nil
		p.fresh = p.fresh[:n-1]
		p.mu.Unlock()
		p.grow()
		s.Recycle(gen)
		return s
	}
	if p.roomToMake() {
		p.made++
		p.mu.Unlock()
		p.grow()
		return arena.NewSegment(p.size, gen)
	}
	p.mu.Unlock()
	return nil
}

// roomToMake reports whether one more packed segment fits the limit, and
// the bytes bound with the large segments not yet collected. Caller holds
// mu.
func (p *segPool) roomToMake() bool {
	return p.made < p.limit && int64(p.made+1)*int64(p.size)+p.large.Load() <= p.maxBytes
}

// heldByLarge reports whether what keeps the pool from making a packed
// segment is the bytes of large segments waiting for a collection, not
// its count of packed ones.
func (p *segPool) heldByLarge() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.made < p.limit && !p.roomToMake()
}

// freshSegments is how many prefaulted segments the pool keeps ready.
const freshSegments = 4

// grow notes that a writer took a new segment, and asks for another to be
// prefaulted in its place.
func (p *segPool) grow() {
	if !p.grew.Load() {
		p.grew.Store(true)
	}
	p.askPrefault()
}

// settle lets the prefaulted segments go if no writer took a new segment
// since the last call, so that a cache that stopped growing holds none
// beyond its segments in use, free and in limbo. The background goroutine
// calls it every sweep interval; fresh segments let go are left to the
// collector.
func (p *segPool) settle() {
	// A prefault asked for means fresh is still being refilled after a
	// writer took a new segment: the cache is growing.
	if p.grew.Swap(false) || len(p.prefault) > 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.made -= len(p.fresh)
	clear(p.fresh)
	p.fresh = p.fresh[:0]
}

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
	p.fresh = append(p.fresh, s)
	return len(p.fresh) < freshSegments
}

// takeLarge returns a new segment of n bytes for one large entry, with
// generation gen, once the pool's limit has room for it (or after
// poolWait).
func (p *segPool) takeLarge(n int, gen uint32) (*arena.Segment, segKind) {
	size := int64(arena.LargeSegmentBytes(n)) // n and the allocator's rounding of it
	if !p.reserveLarge(size) && !p.awaitGC(func() bool { return p.reserveLarge(size) }) {
		p.untracked.Add(1)
		p.large.Add(size)
	}
	s := arena.NewLargeSegment(n, gen)
	runtime.AddCleanup(s, collected, unpooled{p, size, largeSeg})
	return s, largeSeg
}

// awaitGC asks for a collection and waits for ready as await does, unless
// the collection waits for its turn (see collect).
func (p *segPool) awaitGC(ready func() bool) bool {
	p.askGC(atOnce)
	if p.deferred.Load() {
		return false
	}
	return p.await(ready)
}

// reserveLarge counts n more bytes of large segments against the pool's
// limit if they fit, letting free packed segments go (to the collector) to
// make room: they count against the limit while they wait in the pool.
// It reports whether they fit. The bytes are counted under mu, before
// they are allocated, so that the background goroutine (prefaultOne)
// cannot make a packed segment meanwhile for the same room.
func (p *segPool) reserveLarge(n int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	over := func() bool { return int64(p.made)*int64(p.size)+p.large.Load()+n > p.maxBytes }
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
	if over() {
		return false
	}
	p.large.Add(n)
	return true
}

// A segKind says where a segment came from, and so where it goes once
// released.
type segKind uint8

const (
	pooledSeg    segKind = iota // one of the pool's: back to it after a grace period
	largeSeg                    // a large entry's, counted in large: freed by the collector
	untrackedSeg                // made past the limit: freed by the collector
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

// retire takes back a pooled segment just released. It waits in limbo
// for a grace period, which starts once a quarter of the slack waits
// there.
func (p *segPool) retire(s *arena.Segment) {
	p.mu.Lock()
	if p.closed {
		p.made--
		p.mu.Unlock()
		return // left to the collector
	}
	if p.recycleAtRelease {
		p.free = append(p.free, s)
		p.mu.Unlock()
		p.signal()
		return
	}
	p.limbo = append(p.limbo, s)
	n := len(p.limbo)
	p.mu.Unlock()
	if n >= p.graceAt && (p.stalled.Load() || !p.graceHere()) {
		p.askGrace(soon)
	}
}

// graceHere runs a short grace period in the releasing writer, unless
// another runs, and reports whether it ended. (While a grace period is
// stalled, the writer does not try.) It ends unless a read is
// still in progress after quiesce's spins (a View's, most likely); then
// the batch stays in limbo for the background goroutine's grace period.
// Ending it here spares the writer the wake-up of that goroutine (a
// system call when a processor is idle) and the goroutine's turn on a
// processor, which the writers' own processors are busy with.
func (p *segPool) graceHere() bool {
	if p.readers == nil || !p.graceMu.TryLock() {
		return false
	}
	defer p.graceMu.Unlock()
	return p.graceLocked(nil, 0)
}

// released takes back a segment of kind that a shard just released: a
// pooled one waits for a grace period (retire), the others' bytes for a
// collection (dropped).
func (p *segPool) released(s *arena.Segment, kind segKind) {
	if kind == pooledSeg {
		p.retire(s)
	} else {
		p.dropped(s.Size())
	}
}

// askGrace asks the engine's background goroutine for a grace period,
// unless one is asked for already. A request made as the pool runs low
// (soon) is dropped while the last grace period is stalled: the next
// writer that finds the pool empty asks again (atOnce), and one that
// finds it empty while stalled allocates rather than wait.
func (p *segPool) askGrace(when gcRequest) {
	if when == soon && p.stalled.Load() {
		return
	}
	select {
	case p.graceReq <- struct{}{}:
	default:
	}
}

// graceWait bounds a grace period: after it, the segments wait in limbo
// for the next.
const graceWait = poolWait

// graceNow runs a grace period in the calling writer, after the one
// running, if any, has ended: so whether the writer finds a segment then
// depends on the reads in progress, not on how soon the scheduler runs
// the background goroutine. It reports whether it ran one.
func (p *segPool) graceNow() bool {
	if p.readers == nil {
		return false
	}
	p.graceMu.Lock()
	defer p.graceMu.Unlock()
	p.graceLocked(nil, graceWait)
	return true
}

// grace runs a grace period for the engine's background goroutine, after
// any a writer is running.
func (p *segPool) grace(stop <-chan struct{}) {
	p.graceMu.Lock()
	defer p.graceMu.Unlock()
	p.graceLocked(stop, graceWait)
}

// graceLocked moves the segments in limbo to free once no read that could
// hold one is in progress: every read that began before they were
// released has ended (see readers). Caller holds graceMu. It waits for
// reads up to wait (0: only quiesce's spins) and reports whether the
// grace period ended. If it did not, or stop is closed, the segments stay
// in limbo; and a grace period that waited and still did not end sets
// stalled, until one ends.
func (p *segPool) graceLocked(stop <-chan struct{}, wait time.Duration) bool {
	r := p.readers
	p.mu.Lock()
	batch := p.limbo
	p.limbo, p.spare = p.spare, nil
	p.mu.Unlock()
	if len(batch) == 0 {
		p.mu.Lock()
		p.spare = batch
		p.mu.Unlock()
		return true
	}
	ended := r.quiesce(stop, wait)
	p.mu.Lock()
	switch {
	case p.closed:
		p.made -= len(batch)
	case ended:
		p.free = append(p.free, batch...)
	default:
		p.limbo = append(p.limbo, batch...)
	}
	clear(batch)
	p.spare = batch[:0]
	p.mu.Unlock()
	if ended {
		p.stalled.Store(false)
		p.graces.Add(1)
		p.signal()
	} else if wait > 0 {
		p.stalled.Store(true)
	}
	return ended
}

// signal wakes one writer waiting in take, if any.
func (p *segPool) signal() {
	select {
	case p.returned <- struct{}{}:
	default:
	}
}

// passOn wakes the next waiting writer if segments are left: grace and
// collected signal once for any number of waiters.
func (p *segPool) passOn() {
	p.mu.Lock()
	left := len(p.free) > 0
	p.mu.Unlock()
	if left {
		p.signal()
	}
}

// dropped counts the bytes of a large or untracked segment just released,
// which the collector frees, and asks for a collection once those waiting
// for one reach askAt.
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

// collect serves a request for a collection: it runs one if its turn has
// come (see forcedGCShare) and returns 0, or returns how long until its
// turn, when the engine's background goroutine calls it again. It does not
// wait itself, so that the goroutine goes on serving grace periods
// meanwhile.
func (p *segPool) collect() (wait time.Duration) {
	if wait := time.Until(time.Unix(0, p.nextGC.Load())); wait > 0 {
		p.deferred.Store(true)
		return wait
	}
	p.deferred.Store(false)
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
	return 0
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

// close empties the pool; segments released later are left to the
// collector.
func (p *segPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.made -= len(p.free) + len(p.fresh) + len(p.limbo)
	p.free, p.fresh, p.limbo = nil, nil, nil
}
