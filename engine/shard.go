package engine

import (
	"slices"
	"sync"
	"sync/atomic"
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
	mu sync.Mutex

	e     *Engine
	index index
	// slots holds the shard's segments. A reader's Load pairs with the
	// Store that installed the segment (before any location into it was
	// published). A retired segment's slot is set to nil; its memory is
	// left to the garbage collector, which frees it once no reader holds
	// it.
	slots []atomic.Pointer[arena.Segment]

	meta      []segMeta // per slot
	gens      []uint32  // per slot: the generation of its latest segment
	fifo      []int     // slots holding segments, oldest first; the last is the head
	free      []int     // empty slots
	head      *arena.Segment
	headSlot  int
	allocated int // segments held (len(fifo))
	maxSegs   int // the budget, in segments

	maxEntries int          // 0: no entry bound
	hand       hand         // the CLOCK hand for entry-bound eviction
	count      atomic.Int64 // live entries; written under mu, read by Len
	liveBytes  int64
	closed     bool

	sets, deletes, evictions, expirations uint64

	// Pad so that neighbouring shards' mutexes are not on one cache line.
	_ [64]byte
}

// segMeta is the writer's bookkeeping for one segment.
type segMeta struct {
	live      int   // entries whose location is in the index
	liveBytes int   // their bytes
	minExpire int64 // no live entry in the segment expires before this
}

type hand struct {
	slot int
	gen  uint32
	off  int
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
	sh.hand.slot = -1
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
func (sh *shard) set(h uint64, key string, value []byte, expireAt, now int64) {
	n := arena.EntrySize(len(key), len(value))
	if sh.head == nil || sh.head.Free() < n {
		sh.rotate(n, now)
	}
	off, _ := sh.head.Append(key, value, expireAt)
	sh.noteAppend(sh.headSlot, n, expireAt)
	l := makeLoc(sh.headSlot, sh.head.Gen(), off)
	sh.sets++
	old, replaced := sh.index.store(h, l)
	if !replaced {
		sh.count.Add(1)
	} else {
		seg := sh.slots[old.slot()].Load()
		_, k, _ := seg.Entry(old.off())
		if string(k) == key && seg.Hot(old.off()) {
			sh.head.Touch(off) // an update counts as a use
		}
		if string(k) != key {
			// Another key with the same 64-bit hash: the index holds
			// one entry per hash, so the older key is evicted.
			sh.evictions++
		}
		sh.unlink(old, seg)
	}
	if sh.maxEntries > 0 && int(sh.count.Load()) > sh.maxEntries {
		sh.evictOne(now)
	}
}

func (sh *shard) noteAppend(slot, n int, expireAt int64) {
	m := &sh.meta[slot]
	m.live++
	m.liveBytes += n
	m.minExpire = min(m.minExpire, expireAt)
	sh.liveBytes += int64(n)
}

// unlink accounts for the entry at l leaving the index (the caller has
// already removed or replaced its location). A segment left without live
// entries is released at once, unless it is the head.
func (sh *shard) unlink(l loc, seg *arena.Segment) {
	n := seg.Next(l.off()) - l.off()
	m := &sh.meta[l.slot()]
	m.live--
	m.liveBytes -= n
	sh.liveBytes -= int64(n)
	if m.live == 0 && l.slot() != sh.headSlot {
		sh.release(l.slot())
	}
}

// release empties a slot whose segment has no live entries.
func (sh *shard) release(slot int) {
	sh.slots[slot].Store(nil)
	i := slices.Index(sh.fifo, slot)
	sh.fifo = slices.Delete(sh.fifo, i, i+1)
	sh.free = append(sh.free, slot)
	sh.allocated--
	sh.meta[slot] = segMeta{}
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
	sh.index.delete(h)
	sh.count.Add(-1)
	sh.unlink(l, seg)
	if exp <= now {
		sh.expirations++
		return false
	}
	sh.deletes++
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
		sh.retire(sh.fifo[0], seg.Free()-need, now)
	}
}

// retire empties the segment in slot: entries read since they were written
// move to the head while room allows (up to budget bytes), the rest are
// evicted, expired ones are dropped. Each live entry's location is moved or
// deleted before the slot is emptied, so no reader is sent to a nil slot
// by the index for long, and a reader already in the old segment reads
// bytes that the garbage collector keeps for it.
func (sh *shard) retire(slot, budget int, now int64) {
	seg := sh.slots[slot].Load()
	for off := 0; off < seg.Used(); off = seg.Next(off) {
		exp, k, v := seg.Entry(off)
		key := keyString(k)
		h := sh.e.hash(key)
		l := makeLoc(slot, seg.Gen(), off)
		if cur, ok := sh.index.load(h); !ok || cur != l {
			continue // overwritten or deleted already
		}
		n := arena.EntrySize(len(k), len(v))
		switch {
		case exp <= now:
			sh.index.delete(h)
			sh.count.Add(-1)
			sh.expirations++
		case seg.Hot(off) && n <= budget:
			// Second chance: the entry starts again at the head, cold.
			noff, _ := sh.head.Append(key, v, exp)
			sh.noteAppend(sh.headSlot, n, exp)
			sh.index.store(h, makeLoc(sh.headSlot, sh.head.Gen(), noff))
			budget -= n
		default:
			sh.index.delete(h)
			sh.count.Add(-1)
			sh.evictions++
		}
		sh.meta[slot].live--
		sh.meta[slot].liveBytes -= n
		sh.liveBytes -= int64(n)
	}
	sh.release(slot)
}

// evictOne removes one entry to honour MaxEntries, choosing it with a CLOCK
// hand that sweeps the segments from oldest to newest: an entry read since
// the hand last passed loses its hot bit and survives, the first one not
// read is evicted. After a full turn of the hand, readers could still keep
// every entry hot; then the next live entry goes regardless.
func (sh *shard) evictOne(now int64) {
	// limit counts live entries looked at: two turns of the hand.
	limit := 2*int(sh.count.Load()) + 2
	for step := 0; ; {
		if sh.hand.slot < 0 || sh.slots[sh.hand.slot].Load() == nil || sh.gens[sh.hand.slot] != sh.hand.gen {
			sh.hand = hand{slot: sh.fifo[0], gen: sh.gens[sh.fifo[0]]}
		}
		seg := sh.slots[sh.hand.slot].Load()
		if sh.hand.off >= seg.Used() {
			i := slices.Index(sh.fifo, sh.hand.slot) + 1
			if i == len(sh.fifo) {
				i = 0 // past the head: wrap to the oldest
			}
			sh.hand = hand{slot: sh.fifo[i], gen: sh.gens[sh.fifo[i]]}
			continue
		}
		off := sh.hand.off
		sh.hand.off = seg.Next(off)
		exp, k, _ := seg.Entry(off)
		h := sh.e.hash(keyString(k))
		l := makeLoc(sh.hand.slot, seg.Gen(), off)
		if cur, ok := sh.index.load(h); !ok || cur != l {
			continue
		}
		step++
		if exp > now && seg.Hot(off) && step < limit {
			seg.ClearHot(off)
			continue
		}
		sh.index.delete(h)
		sh.count.Add(-1)
		if exp <= now {
			sh.expirations++
		} else {
			sh.evictions++
		}
		sh.unlink(l, seg)
		return
	}
}

// sweep removes expired entries, one segment per lock hold so that writers
// wait at most one segment's walk, and compacts segments left mostly empty.
func (sh *shard) sweep(now int64) {
	sh.mu.Lock()
	slots := slices.Clone(sh.fifo)
	sh.mu.Unlock()
	for _, slot := range slots {
		sh.mu.Lock()
		if !sh.closed && sh.slots[slot].Load() != nil {
			sh.sweepSegment(slot, now)
		}
		sh.mu.Unlock()
	}
}

func (sh *shard) sweepSegment(slot int, now int64) {
	seg := sh.slots[slot].Load()
	m := &sh.meta[slot]
	if m.minExpire > now && !sh.sparse(slot) {
		return
	}
	minExpire := int64(arena.Never)
	for off := 0; off < seg.Used() && sh.slots[slot].Load() == seg; off = seg.Next(off) {
		exp, k, _ := seg.Entry(off)
		h := sh.e.hash(keyString(k))
		l := makeLoc(slot, seg.Gen(), off)
		if cur, ok := sh.index.load(h); !ok || cur != l {
			continue
		}
		if exp <= now {
			sh.index.delete(h)
			sh.count.Add(-1)
			sh.expirations++
			sh.unlink(l, seg) // may release the slot, which ends the walk
			continue
		}
		minExpire = min(minExpire, exp)
	}
	if sh.slots[slot].Load() != seg {
		return
	}
	m.minExpire = minExpire
	if !sh.sparse(slot) {
		return
	}
	if m.liveBytes > sh.head.Free() && sh.allocated < sh.maxSegs {
		// Under budget, a fresh head to compact into costs nothing:
		// rotate retires no segment.
		sh.rotate(0, now)
	}
	if sh.slots[slot].Load() == seg && m.liveBytes <= sh.head.Free() {
		sh.compact(slot, seg)
	}
}

// sparse reports whether a full segment holds so little live data that
// moving it to the head is worth its memory.
func (sh *shard) sparse(slot int) bool {
	return slot != sh.headSlot && sh.meta[slot].liveBytes*4 < sh.e.segBytes
}

// compact moves every live entry of the segment in slot to the head (which
// the caller checked has room) and releases the slot. Hot bits move along.
func (sh *shard) compact(slot int, seg *arena.Segment) {
	for off := 0; off < seg.Used(); off = seg.Next(off) {
		exp, k, v := seg.Entry(off)
		key := keyString(k)
		h := sh.e.hash(key)
		l := makeLoc(slot, seg.Gen(), off)
		if cur, ok := sh.index.load(h); !ok || cur != l {
			continue
		}
		n := arena.EntrySize(len(k), len(v))
		noff, _ := sh.head.Append(key, v, exp)
		if seg.Hot(off) {
			sh.head.Touch(noff)
		}
		sh.noteAppend(sh.headSlot, n, exp)
		sh.index.store(h, makeLoc(sh.headSlot, sh.head.Gen(), noff))
		sh.meta[slot].live--
		sh.meta[slot].liveBytes -= n
		sh.liveBytes -= int64(n)
	}
	sh.release(slot)
}

// close drops every segment and the index; the engine is closed already, so
// readers miss before they look.
func (sh *shard) close() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.closed = true
	for i := range sh.slots {
		sh.slots[i].Store(nil)
	}
	sh.index.clear()
	sh.head = nil
	sh.fifo, sh.free = nil, nil
	sh.allocated = 0
	sh.count.Store(0)
	sh.liveBytes = 0
}
