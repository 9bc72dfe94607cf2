package engine

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/velocache/velo/arena"
)

// A shard is one independently locked part of the engine.
//
// Readers use index and slots without locking. Everything else, and every
// change to index and slots, is guarded by mu.
//
// Segment lifecycle, all under mu:
//
//	free slot --rotate--> head (appended to) --rotate--> full, in fifo
//	full --retire (oldest, over budget) or release (no live entry left)--> free slot
//
// Invariant: every location in index points to the segment now in its slot,
// to an entry whose key hashes to the index key. Retire and release remove
// or move those locations before emptying the slot.
type shard struct {
	// The padding around the readers' fields keeps them off the cache
	// lines that writers change on every Set (mu, the counters), in this
	// shard and its neighbours, so that a write does not cost every core
	// that reads this shard a cache miss.
	_ [64]byte

	// Read by every Get; changed only when the index table is rebuilt.
	index index
	// slots holds the shard's segments. A reader's Load pairs with the
	// Store that installed the segment (before any location into it was
	// published). A retired segment's slot is set to nil; its memory is
	// left to the garbage collector, which frees it once no reader holds
	// it.
	slots []atomic.Pointer[arena.Segment]

	_ [32]byte // to mu at offset 128 (TestShardLayout checks)

	// The shard fields every Set writes (or reads next to what it writes)
	// share one cache line with mu: when another core wrote this shard
	// last, a Set pays for one line transfer here, not one per field. (The
	// segment's bookkeeping in meta, and the drain while one runs, are
	// written too, on lines of their own.)
	mu       sync.Mutex
	head     *arena.Segment
	headSlot int
	count    atomic.Int64 // live entries; written under mu, read by Len
	small    int          // live entries in the small queue (see below)
	appended int          // entries, live or dead, in the segments held: what a hand may walk past
	sets     uint64
	closed   bool

	_ [64]byte

	e         *Engine
	meta      []segMeta // per slot
	gens      []uint32  // per slot: the generation of its latest segment
	fifo      []int     // slots holding segments, oldest first; the last is the head
	free      []int     // empty slots
	allocated int       // segments held (len(fifo))
	maxSegs   int       // the budget, in segments

	maxEntries int // 0: no entry bound

	// The eviction policy (see evictOne): entries are in a small queue
	// (new keys) or a main queue; which one is a bit of their location.
	// small (above) counts the live entries in the small queue, hands are
	// the CLOCK hands over each, and sketch estimates how often each key
	// was seen lately (nil without MaxEntries).
	hands  [2]hand
	sketch sketch

	// drain is the oldest segment being emptied a little at a time, ahead
	// of its retirement (see drainStep).
	drain drain

	deletes, evictions, expirations uint64

	// pending are removals for Config.OnRemove not yet reported (see
	// removal); nil when there is no callback.
	pending []removal

	_ [16]byte // rounds the size up to a multiple of 64 (TestShardLayout)
}

// A drain walks the oldest segment while the head fills, doing what
// retire would do to each entry, so that when the head is full the oldest
// segment is already empty and no single Set walks a whole segment. seg is
// nil when no drain runs; off is where the walk stands; credit is how many
// bytes of entries it may still walk before the next write pays for more.
type drain struct {
	slot   int
	seg    *arena.Segment
	off    int
	credit int
	// skipped is the offset of the first entry the walk left live (a read
	// entry the head had no room for), or -1: retire starts there.
	skipped int
}

// segMeta is the writer's bookkeeping for one segment. It counts entries,
// not bytes: knowing an old entry's size would mean reading it, a cache
// miss on every overwrite.
type segMeta struct {
	live      int   // entries whose location is in the index
	small     int   // ... of which in the small queue
	appended  int   // entries ever appended
	minExpire int64 // no live entry in the segment expires before this
}

// A hand is the position of the CLOCK hand, and where its current turn
// ends: the end of the log when the turn began. Entries appended since are
// left for the next turn, so a new entry is looked at only after every
// older one, as in a textbook CLOCK, where an entry enters just behind the
// hand.
type hand struct {
	slot int
	gen  uint32
	off  int

	endSlot int
	endGen  uint32
	endOff  int
}

// The queues of the eviction policy, indexing shard.hands.
const (
	smallQueue = 0
	mainQueue  = 1
)

// queueLen returns how many entries of the segment in slot are in queue q.
func (sh *shard) queueLen(slot, q int) int {
	if q == smallQueue {
		return sh.meta[slot].small
	}
	return sh.meta[slot].live - sh.meta[slot].small
}

// restartHand starts a turn of hd at the oldest entry. The small queue's
// hand has no turns: the entries it passes leave the small queue (moved to
// the main one, or evicted), so none is ever behind it, and it only comes
// back to the oldest entry if it ran past the head (which it should not).
func (sh *shard) restartHand(hd *hand) {
	first := sh.fifo[0]
	end := -1
	if hd == &sh.hands[mainQueue] {
		end = sh.headSlot
	}
	*hd = hand{
		slot: first, gen: sh.gens[first],
		endSlot: end, endGen: sh.gens[sh.headSlot], endOff: sh.head.Used(),
	}
}

// next moves the hand of queue q past one entry and returns where that
// entry is, or ok = false when the hand only moved to the next segment or
// began a new turn. It passes over segments that hold no entry of its
// queue (unless its turn ends there), so a hand does not walk a stretch of
// the other queue's entries, or of dead ones, entry by entry.
func (sh *shard) next(q int) (seg *arena.Segment, off int, ok bool) {
	hd := &sh.hands[q]
	if hd.slot < 0 || sh.slots[hd.slot].Load() == nil || sh.gens[hd.slot] != hd.gen {
		sh.restartHand(hd) // the hand's segment was retired
		return nil, 0, false
	}
	if hd.slot == hd.endSlot && hd.gen == hd.endGen && hd.off >= hd.endOff {
		sh.restartHand(hd) // the turn is over
		return nil, 0, false
	}
	seg = sh.slots[hd.slot].Load()
	if hd.off >= seg.Used() || hd.slot != hd.endSlot && sh.queueLen(hd.slot, q) == 0 {
		i := slices.Index(sh.fifo, hd.slot) + 1
		if i == len(sh.fifo) {
			sh.restartHand(hd) // past the head: the turn's end was released
			return nil, 0, false
		}
		hd.slot, hd.gen, hd.off = sh.fifo[i], sh.gens[sh.fifo[i]], 0
		return nil, 0, false
	}
	off = hd.off
	hd.off = seg.Next(off)
	return seg, off, true
}

func (sh *shard) init(e *Engine, maxSegs, maxEntries int) {
	// One slot more than the budget: rotation installs the new head before
	// it retires the oldest segment.
	n := maxSegs + 1
	sh.e = e
	sh.index.init()
	sh.slots = make([]atomic.Pointer[arena.Segment], n)
	sh.meta = make([]segMeta, n)
	sh.gens = make([]uint32, n)
	sh.free = make([]int, 0, n)
	for i := n - 1; i >= 0; i-- {
		sh.free = append(sh.free, i)
	}
	sh.maxSegs = maxSegs
	sh.maxEntries = maxEntries
	sh.hands[smallQueue].slot = -1
	sh.hands[mainQueue].slot = -1
	if maxEntries > 0 {
		sh.sketch.init(maxEntries)
	}
}

// keyString views an entry's key bytes as a string without copying. Safe
// because published entry bytes are never written again.
func keyString(k []byte) string {
	if len(k) == 0 {
		return ""
	}
	return unsafe.String(&k[0], len(k))
}

// set appends the entry and points the index at it. The caller has checked
// that it fits in an empty segment.
func (sh *shard) set(h uint64, key string, value []byte, expireAt int64, ttl time.Duration, now int64) {
	n := arena.EntrySize(len(key), len(value))
	if sh.head == nil || sh.head.Free() < n {
		sh.rotate(n, now)
	}
	off, _ := sh.head.Append(key, value, expireAt, ttl)
	sh.noteAppend(sh.headSlot, expireAt)
	sh.sets++
	// A key already stored goes to the main queue; a new key starts in the
	// small one, and the sketch counts it. The old entry, if any, is read
	// only for the callback: an overwrite costs no cache miss on the old
	// bytes (reading them doubled the time of a Set of a Zipf-hot key in
	// BenchmarkZipfWrite). So a Set that displaces another key with the
	// same 64-bit hash is counted only when the callback is set; see
	// noteReplaced.
	l := makeLoc(sh.headSlot, sh.head.Gen(), off, false)
	if old, replaced := sh.index.storeNew(h, l); replaced {
		if sh.e.onRemove != nil {
			sh.noteReplaced(old, key, now)
		}
		sh.forget(old)
		sh.unlink(old)
	} else {
		if n := int(sh.count.Add(1)); sh.maxEntries > 0 && n > len(sh.sketch.table) {
			sh.sketch.fit(n)
		}
		sh.sketch.add(h)
		sh.joinSmall(sh.headSlot)
	}
	if sh.maxEntries > 0 && int(sh.count.Load()) > sh.maxEntries {
		sh.evictOne(now)
	}
	sh.drainStep(n, now)
}

// noteReplaced reports the entry at old, whose location a Set of key just
// replaced: normally an older entry of key, reported as Replaced (or
// Expired, if it was); but if it was another key with the same 64-bit
// hash, that key was displaced: it is reported and counted as evicted.
// With the seeded hash no one can make that happen on purpose (see
// Engine.hashOf), and by chance it happens about once in 2^65/n^2 caches
// of n keys; without a callback it goes uncounted, since telling it apart
// costs a read of the old entry on every overwrite.
func (sh *shard) noteReplaced(old loc, key string, now int64) {
	exp, k, _ := sh.slots[old.slot()].Load().Entry(old.off())
	switch {
	case string(k) != key:
		sh.evictions++
		sh.noteRemoval(old, Evicted)
	case exp <= now:
		sh.noteRemoval(old, Expired)
	default:
		sh.noteRemoval(old, Replaced)
	}
}

func (sh *shard) noteAppend(slot int, expireAt int64) {
	m := &sh.meta[slot]
	m.live++
	m.appended++
	sh.appended++
	m.minExpire = min(m.minExpire, expireAt)
}

// joinSmall counts a new entry of the segment in slot into the small queue.
func (sh *shard) joinSmall(slot int) {
	sh.small++
	sh.meta[slot].small++
}

// forget accounts for the location l leaving its queue. Its segment must
// still be held.
func (sh *shard) forget(l loc) {
	if !l.main() {
		sh.small--
		sh.meta[l.slot()].small--
	}
}

// unlink accounts for the entry at l leaving the index (the caller has
// already removed or replaced its location). A segment left without live
// entries is released at once, unless it is the head.
func (sh *shard) unlink(l loc) {
	m := &sh.meta[l.slot()]
	m.live--
	if m.live == 0 && l.slot() != sh.headSlot {
		sh.release(l.slot())
	}
}

// release empties a slot whose segment has no live entries.
func (sh *shard) release(slot int) {
	sh.slots[slot].Store(nil)
	i := slices.Index(sh.fifo, slot)
	// The CLOCK hand, or the end of its turn, moves on to the start of
	// the next segment, so that the turn goes on where it was.
	if i+1 < len(sh.fifo) {
		next := sh.fifo[i+1]
		for q := range sh.hands {
			hd := &sh.hands[q]
			if hd.slot == slot {
				hd.slot, hd.gen, hd.off = next, sh.gens[next], 0
			}
			if hd.endSlot == slot {
				hd.endSlot, hd.endGen, hd.endOff = next, sh.gens[next], 0
			}
		}
	}
	sh.fifo = slices.Delete(sh.fifo, i, i+1)
	sh.free = append(sh.free, slot)
	sh.allocated--
	sh.appended -= sh.meta[slot].appended
	sh.meta[slot] = segMeta{}
}

// each is Range over one shard. The log's end is read under the lock; the
// walk is not. That is safe because the entries below a segment's Used,
// read under the lock, were written before and never change, and the
// segment stays in memory while the walk holds it, even if retired.
func (sh *shard) each(yield func(key string, value []byte, info EntryInfo) bool) bool {
	type part struct {
		slot int
		seg  *arena.Segment
		used int
	}
	sh.mu.Lock()
	if sh.closed {
		sh.mu.Unlock()
		return false
	}
	parts := make([]part, len(sh.fifo))
	for i, slot := range sh.fifo {
		seg := sh.slots[slot].Load()
		parts[i] = part{slot, seg, seg.Used()}
	}
	sh.mu.Unlock()
	now := sh.e.clock.Now()
	for _, p := range parts {
		for off := 0; off < p.used; off = p.seg.Next(off) {
			exp, k, v := p.seg.Entry(off)
			if exp <= now {
				continue
			}
			key := keyString(k)
			// The index is read atomically, as a Get reads it: an entry
			// is yielded only while its key's location is this one.
			l, ok := sh.index.load(sh.e.hashOf(key))
			if !ok || l.place() != makeLoc(p.slot, p.seg.Gen(), off, false) {
				continue
			}
			if !yield(key, v, EntryInfo{ExpireAt: exp, TTL: p.seg.TTL(off)}) {
				return false
			}
		}
	}
	return true
}

// delete removes key if present and not expired, and reports whether it was.
func (sh *shard) delete(h uint64, key string, now int64) bool {
	l, ok := sh.index.load(h)
	if !ok {
		return false
	}
	seg := sh.slots[l.slot()].Load()
	exp, k, _ := seg.Entry(l.off())
	if string(k) != key {
		return false
	}
	if exp <= now {
		sh.drop(h, l, Expired)
		sh.unlink(l)
		return false
	}
	sh.drop(h, l, Deleted)
	sh.unlink(l)
	return true
}

// rotate installs a new head with room for need bytes, retiring the oldest
// segment if that puts the shard over budget.
func (sh *shard) rotate(need int, now int64) {
	slot := sh.free[len(sh.free)-1]
	sh.free = sh.free[:len(sh.free)-1]
	sh.gens[slot]++
	seg := arena.NewSegment(sh.e.segBytes, sh.gens[slot])
	sh.meta[slot] = segMeta{minExpire: arena.Never}
	// Release: readers that load this slot after a location into it is
	// published see the new segment.
	sh.slots[slot].Store(seg)
	sh.fifo = append(sh.fifo, slot)
	sh.allocated++
	oldHead, hadHead := sh.headSlot, sh.head != nil
	sh.head, sh.headSlot = seg, slot
	if hadHead && sh.meta[oldHead].live == 0 {
		// Every entry of the old head was overwritten or deleted while it
		// was the head; nothing points into it.
		sh.release(oldHead)
	}
	if sh.allocated > sh.maxSegs {
		// The drain did not finish in time (or never started): the rest
		// of the oldest segment is walked now.
		from := 0
		if d := &sh.drain; d.seg != nil && d.slot == sh.fifo[0] && sh.slots[d.slot].Load() == d.seg {
			from = d.off
			if d.skipped >= 0 {
				from = d.skipped
			}
		}
		sh.drain.seg = nil
		sh.retire(sh.fifo[0], from, seg.Free()-need, now)
	}
}

// drainStep runs after a write that appended n bytes. Once the shard is at
// its budget (the next rotation retires the oldest segment) and the head is
// half full, it walks the oldest segment, 2n bytes of entries per such
// write (and 2 bytes more for each byte it moves to the head): the oldest
// segment is no larger than the head, so the walk is done before the half
// of the head that is left fills, whatever the entry sizes. Each live entry
// is dropped if expired, moved to the head if it was read and the head has
// room, and evicted if it was not read, as retire does, and unlinked: the
// segment is released when its last live entry goes. A read entry that
// does not fit in the head is left for retire, which has a fresh head to
// move it to: the walk does not evict what retire would keep.
func (sh *shard) drainStep(n int, now int64) {
	d := &sh.drain
	if d.seg != nil && sh.slots[d.slot].Load() != d.seg {
		d.seg = nil // released meanwhile (overwrites, compaction, Clear)
	}
	if d.seg == nil {
		if sh.allocated < sh.maxSegs || sh.head.Used() < sh.head.Size()/2 || sh.fifo[0] == sh.headSlot {
			return
		}
		d.slot, d.off, d.credit, d.skipped = sh.fifo[0], 0, 0, -1
		d.seg = sh.slots[d.slot].Load()
	}
	d.credit += 2 * n
	seg := d.seg
	// Walk in batches, as retire does, so that the index misses of a
	// batch overlap: a batch every few writes, not an entry every write.
	// The segment's last stretch may be shorter than a batch: waiting
	// for a batch's worth of credit then could let the head fill first.
	if d.credit < min(drainBatchBytes, seg.Size()/16, seg.Used()-d.off) {
		return
	}
	var b batch
	for d.credit > 0 && d.off < seg.Used() {
		start := d.off
		d.off = sh.readBatch(seg, d.off, &b)
		d.credit -= d.off - start
		for i := range b.n {
			h, off := b.hashes[i], b.offs[i]
			l, live := sh.locatedAt(h, d.slot, seg, off)
			if !live {
				continue
			}
			moved, left := sh.settle(h, l, seg, off, sh.head.Free(), false, now)
			if left {
				if d.skipped < 0 {
					d.skipped = off
				}
				continue
			}
			d.credit += 2 * moved
			sh.unlink(l)
			if sh.slots[d.slot].Load() != seg {
				d.seg = nil // its last live entry went: released
				return
			}
		}
	}
}

// drainBatchBytes is how much walking a drain saves up before it walks.
const drainBatchBytes = 4 << 10

// retire empties the segment in slot, walking from the offset from (a drain
// has dealt with the entries before it), and releases it. Each live entry
// is settled (see settle), with budget bytes of room in the head for the
// entries that move; a read entry that does not fit is evicted. Each live
// entry's location is moved or deleted before the slot is emptied, so no
// reader is sent to a nil slot by the index for long, and a reader already
// in the old segment reads bytes that the garbage collector keeps for it.
func (sh *shard) retire(slot, from, budget int, now int64) {
	seg := sh.slots[slot].Load()
	var b batch
	for off := from; off < seg.Used(); {
		off = sh.readBatch(seg, off, &b)
		for i := range b.n {
			h, o := b.hashes[i], b.offs[i]
			l, live := sh.locatedAt(h, slot, seg, o)
			if !live {
				continue
			}
			moved, _ := sh.settle(h, l, seg, o, budget, true, now)
			budget -= moved
		}
	}
	sh.release(slot)
}

// settle does to the live entry at off, located at l, what retiring its
// segment does: an expired entry is dropped; one read since it was written
// (or since a hand last lowered its frequency) gets another chance, moved
// to the head at frequency 0 in the main queue, if it fits in room bytes;
// one not read is evicted. A read entry that does not fit is evicted if
// evictRead, and otherwise left alone (left reports it). moved is the size
// of the entry if it moved. The caller does the segment's bookkeeping.
func (sh *shard) settle(h uint64, l loc, seg *arena.Segment, off, room int, evictRead bool, now int64) (moved int, left bool) {
	exp, k, v := seg.Entry(off)
	size := arena.EntrySize(len(k), len(v))
	switch {
	case exp <= now:
		sh.drop(h, l, Expired)
	case seg.Hot(off) && size <= room:
		sh.moveToHead(h, l, seg, off, false, true)
		return size, false
	case seg.Hot(off) && !evictRead:
		return 0, true
	default:
		sh.evict(h, l)
	}
	return 0, false
}

// A batch is up to retireBatch consecutive entries of a segment, with the
// hashes of their keys, for walks that probe the index for each entry.
type batch struct {
	n      int
	offs   [retireBatch]int
	hashes [retireBatch]uint64
}

// retireBatch is how many entries a walk hashes before probing the index
// for them: enough misses in flight to cover memory latency, few enough
// that the batch's slots are still cached when it gets to them.
const retireBatch = 16

// readBatch fills b with the entries of seg from off on and returns the
// offset after them. Each entry costs an index probe at a random place: a
// cache (and TLB) miss that would otherwise be paid one entry after
// another. Hashing a batch and touching its index slots first lets the CPU
// have those misses in flight together; the probes that follow find the
// slots in cache.
func (sh *shard) readBatch(seg *arena.Segment, off int, b *batch) int {
	b.n = 0
	for ; b.n < retireBatch && off < seg.Used(); off = seg.Next(off) {
		_, k, _ := seg.Entry(off)
		b.offs[b.n], b.hashes[b.n] = off, sh.e.hashOf(keyString(k))
		b.n++
	}
	sh.index.warm(b.hashes[:b.n]...)
	return off
}

// liveAt reads the key of the entry at off and reports whether the index
// still points at it.
func (sh *shard) liveAt(slot int, seg *arena.Segment, off int) (h uint64, l loc, live bool) {
	_, k, _ := seg.Entry(off)
	h = sh.e.hashOf(keyString(k))
	l, live = sh.locatedAt(h, slot, seg, off)
	return h, l, live
}

// locatedAt reports whether the index points h at the entry at off, and
// returns h's location.
func (sh *shard) locatedAt(h uint64, slot int, seg *arena.Segment, off int) (loc, bool) {
	cur, ok := sh.index.load(h)
	return cur, ok && cur.place() == makeLoc(slot, seg.Gen(), off, false)
}

// drop removes h, whose location is l, from the index, counts why, and
// notes the removal for the callback. The caller does the segment's
// bookkeeping (unlink, release).
func (sh *shard) drop(h uint64, l loc, reason Reason) {
	sh.noteRemoval(l, reason)
	sh.index.delete(h)
	sh.count.Add(-1)
	sh.forget(l)
	switch reason {
	case Evicted:
		sh.evictions++
	case Expired:
		sh.expirations++
	case Deleted:
		sh.deletes++
	}
}

// evict drops h for room.
func (sh *shard) evict(h uint64, l loc) { sh.drop(h, l, Evicted) }

// moveToHead copies the live entry at off, whose location is l, to the
// head, which the caller checked has room, and points the index at the
// copy, in the main queue or not. keepFreq carries the frequency along;
// otherwise the copy starts at 0.
func (sh *shard) moveToHead(h uint64, l loc, seg *arena.Segment, off int, keepFreq, main bool) {
	exp, k, v := seg.Entry(off)
	noff, _ := sh.head.Append(keyString(k), v, exp, seg.TTL(off))
	if keepFreq {
		sh.head.SetFreq(noff, seg.Freq(off))
	}
	sh.noteAppend(sh.headSlot, exp)
	sh.index.store(h, makeLoc(sh.headSlot, sh.head.Gen(), noff, main))
	sh.forget(l)
	if !main {
		sh.joinSmall(sh.headSlot)
	}
}

// smallShare is the small queue's share of MaxEntries, in percent. With
// admission deciding what the main queue keeps, the S3-FIFO paper's 10%
// lost to 5% on the recorded traces, most on loops, where the main queue
// is what hits (docs/hit-ratio.md).
const smallShare = 5

// evictOne removes one entry to honour MaxEntries. The policy is S3-FIFO
// (Yang et al., SOSP'23) with TinyLFU admission (Einziger et al., 2017) on
// velo's log: a new key enters a small queue, a key stored again the main
// queue. While the small queue holds more than smallShare of the entries,
// its CLOCK hand runs: an entry read since it was written moves to the
// main queue (in place: only its location's queue bit changes). One not
// read is a candidate for the main queue: it gets in if the main queue has
// room, or if the sketch has seen its key more often than the key of the
// main queue's next victim, which it then replaces; otherwise it is
// evicted, and the victim stays first in line. Otherwise the main queue's
// hand runs, a CLOCK over 2-bit frequencies: a read entry loses one and
// stays, the first at 0 is evicted. One-hit wonders and scans thus pass
// through the small queue without pushing out the main queue, and on a
// loop larger than the cache, the keys in the main queue, seen as often as
// the newcomers, stay (where recency alone would evict each one just
// before its turn came). Both queues live in the same segments; each hand
// walks them oldest first and skips the other queue's entries.
//
// The sketch sees every key written and, through the hands, every read
// that set a frequency bit (one count per unit of frequency the hands
// take), so it counts reads without the read path writing to it.
//
// After MaxFreq+1 turns' worth of live entries, readers could still keep
// every entry hot; then the next live entry goes regardless.
func (sh *shard) evictOne(now int64) {
	limit := (arena.MaxFreq+1)*int(sh.count.Load()) + 2
	quota := max(1, sh.maxEntries*smallShare/100)
	// A safety net: if the queue counts were ever wrong, a hand could
	// look for an entry that is not there. After walking the log four
	// times over, take any live entry.
	visits, anyQueue := 0, 4*sh.appended+64
	// cand is an unread small-queue entry waiting for the main queue's
	// victim, to be compared with it.
	var cand struct {
		h  uint64
		l  loc
		ok bool
	}
	for step := 0; ; {
		q := mainQueue
		if sh.small > quota && !cand.ok {
			q = smallQueue
		}
		seg, off, ok := sh.next(q)
		if !ok {
			continue
		}
		visits++
		h, l, live := sh.liveAt(sh.hands[q].slot, seg, off)
		if !live || l.main() != (q == mainQueue) && visits < anyQueue {
			continue
		}
		exp, _, _ := seg.Entry(off)
		step++
		if exp <= now {
			sh.drop(h, l, Expired)
			sh.unlink(l)
			if cand.ok {
				sh.toMain(cand.h, cand.l) // it takes the expired entry's place
			}
			return
		}
		f := seg.Freq(off)
		if q == smallQueue {
			mainLen := int(sh.count.Load()) - sh.small
			switch {
			case f > 0 && step < limit:
				// Read in the small queue: it joins the main queue
				// with its frequency reset, so that it has to be read
				// there too to outlive the main queue's next turn.
				sh.sketch.add(h)
				seg.SetFreq(off, 0)
				sh.toMain(h, l)
			case mainLen < sh.maxEntries-quota:
				sh.toMain(h, l) // the main queue has room
			case mainLen > 0:
				cand.h, cand.l, cand.ok = h, l, true
			default:
				sh.evict(h, l)
				sh.unlink(l)
				return
			}
			continue
		}
		if f > 0 && step < limit {
			sh.sketch.add(h)
			seg.SetFreq(off, f-1)
			continue
		}
		if cand.ok {
			if sh.sketch.estimate(cand.h) > sh.sketch.estimate(h) {
				sh.evict(h, l)
				sh.unlink(l)
				sh.toMain(cand.h, cand.l)
				return
			}
			// The victim stays, first in line for the next candidate:
			// the hand goes back to it (next left it in this segment).
			sh.hands[mainQueue].off = off
			h, l = cand.h, cand.l
		}
		sh.evict(h, l)
		sh.unlink(l)
		return
	}
}

// toMain moves the small-queue entry h, at l, to the main queue in place.
func (sh *shard) toMain(h uint64, l loc) {
	sh.index.store(h, l|mainBit)
	sh.forget(l)
}

// sweepChunk is how many entries the sweep walks per hold of the shard
// lock, so that a writer waits for at most that many, not a whole segment.
const sweepChunk = 256

// sweep removes expired entries and compacts sparse segments, one segment
// and at most sweepChunk entries per lock hold. Walking in chunks is safe
// because a segment's entries never change: between chunks, writers may
// append to it (the walk goes on to those too), or release it (the walk
// stops).
//
// slots is scratch space for the list of segments to walk; sweep returns
// it, grown if need be, for the next call.
func (sh *shard) sweep(now int64, slots []int) []int {
	sh.mu.Lock()
	slots = append(slots, sh.fifo...)
	sh.mu.Unlock()
	for _, slot := range slots {
		var seg *arena.Segment
		off, minExpire := 0, int64(arena.Never)
		compact := false
		for done := false; !done; {
			sh.mu.Lock()
			cur := sh.slots[slot].Load()
			switch {
			case sh.closed || cur == nil || seg != nil && cur != seg:
				done = true
			case seg == nil && !sh.needsSweep(slot, now):
				done = true
			default:
				if seg == nil {
					seg, compact = cur, sh.sparse(slot)
				}
				off, done = sh.sweepSegment(slot, seg, off, now, compact, &minExpire)
				if done && sh.slots[slot].Load() == seg {
					sh.meta[slot].minExpire = minExpire
				}
			}
			removed := sh.takeRemovals()
			sh.mu.Unlock()
			sh.e.report(removed)
		}
	}
	return slots
}

// needsSweep reports whether the segment in slot may hold an expired entry
// or is worth compacting.
func (sh *shard) needsSweep(slot int, now int64) bool {
	return sh.meta[slot].minExpire <= now || sh.sparse(slot)
}

// sparse reports whether the segment in slot is worth compacting: it is
// not the head, fewer than a quarter of the entries written to it are
// live, and the shard holds more than half its budget (below that, the
// memory is not needed and moving entries would only cost CPU).
func (sh *shard) sparse(slot int) bool {
	m := &sh.meta[slot]
	return slot != sh.headSlot && m.live*4 < m.appended && sh.allocated*2 > sh.maxSegs
}

// sweepSegment walks up to sweepChunk entries from off: expired live
// entries leave the index, and with compact set the others move to the
// head. It returns where to go on and whether the walk is over.
func (sh *shard) sweepSegment(slot int, seg *arena.Segment, off int, now int64, compact bool, minExpire *int64) (int, bool) {
	for n := 0; n < sweepChunk && off < seg.Used(); n++ {
		cur := off
		off = seg.Next(off)
		h, l, live := sh.liveAt(slot, seg, cur)
		if !live {
			continue
		}
		exp, k, v := seg.Entry(cur)
		switch {
		case exp <= now:
			sh.drop(h, l, Expired)
		case compact && sh.makeRoom(arena.EntrySize(len(k), len(v)), now):
			sh.moveToHead(h, l, seg, cur, true, l.main())
		default:
			*minExpire = min(*minExpire, exp)
			continue
		}
		sh.unlink(l)
		if sh.slots[slot].Load() != seg {
			return off, true // the last live entry went: released
		}
	}
	return off, off >= seg.Used()
}

// makeRoom reports whether the head has n bytes free, rotating to a fresh
// head if it has not and the shard is under budget (so that no segment is
// retired to make the room).
func (sh *shard) makeRoom(n int, now int64) bool {
	if sh.head.Free() >= n {
		return true
	}
	if sh.allocated >= sh.maxSegs {
		return false
	}
	sh.rotate(n, now)
	return true
}

// close drops every segment and the index; the engine is closed already, so
// readers miss before they look.
func (sh *shard) close() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.closed = true
	sh.reset()
	sh.fifo, sh.free = nil, nil
}

// reset drops every entry without looking at one: the index is replaced by
// an empty table and every slot emptied, so its cost grows with the
// shard's segments, not its entries. Caller holds mu.
//
// Readers need no care. One that loaded the old table finds locations into
// segments whose slots are now nil or hold a newer generation, and misses;
// one already copying from a segment keeps it alive until it is done. The
// generations per slot carry on counting, so no old location can ever
// match a segment installed later.
func (sh *shard) reset() {
	sh.index.clear()
	for _, slot := range sh.fifo {
		sh.slots[slot].Store(nil)
		sh.meta[slot] = segMeta{}
		sh.free = append(sh.free, slot)
	}
	sh.fifo = sh.fifo[:0]
	sh.head, sh.headSlot = nil, 0
	sh.allocated = 0
	sh.count.Store(0)
	sh.small, sh.appended = 0, 0
	sh.hands[smallQueue] = hand{slot: -1}
	sh.hands[mainQueue] = hand{slot: -1}
	sh.drain = drain{}
	if sh.maxEntries > 0 {
		sh.sketch.init(sh.maxEntries)
	}
}
