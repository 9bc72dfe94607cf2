package engine

import (
	"math"
	"slices"

	"github.com/velocache/velo/arena"
)

// segMeta is the writer's bookkeeping for one segment.
type segMeta struct {
	live      int   // entries whose location is in the index
	small     int   // ... of which in the small queue
	appended  int   // entries ever appended
	liveBytes int64 // the live entries' bytes (arena.EntrySize)
	minExpire int64 // no live entry in the segment expires before this
	born      uint64
	kind      segKind // where the segment came from; largeSeg: it holds one entry larger than the engine packs (see addLarge)
}

// noVictim is what a shard publishes as its oldest segment's birth when it
// holds no segment but its head.
const noVictim = math.MaxUint64

func (sh *shard) noteAppend(slot, size int, expireAt int64) {
	m := &sh.meta[slot]
	m.live++
	m.appended++
	m.liveBytes += int64(size)
	sh.live += int64(size)
	m.minExpire = min(m.minExpire, expireAt)
	if expireAt < sh.firstExpire {
		sh.firstExpire = expireAt
		sh.seen.firstExpire.Store(expireAt)
		sh.e.lowerFirstExpire(expireAt)
	}
}

// joinSmall counts a new entry of the segment in slot into the small queue.
func (sh *shard) joinSmall(slot int) {
	sh.small++
	sh.meta[slot].small++
}

// vacate does the bookkeeping of the place l, whose entry has left it (the
// caller has already removed or replaced the location in the index): its
// dead mark, its queue, its segment's live entries and bytes. A segment
// left without live entries is released at once, unless it is a head.
func (sh *shard) vacate(l loc) {
	slot := l.slot()
	m := &sh.meta[slot]
	seg := sh.slots[slot].Load()
	seg.MarkDead(l.off())
	size := int64(l.size(seg))
	if !l.main() {
		sh.small--
		m.small--
	}
	m.live--
	m.liveBytes -= size
	sh.live -= size
	if sh.live < sh.seen.live.Load()-sh.liveStep {
		// Deletes, expiry and evictions took a quarter segment since the
		// shard last published: publish now, so that the engine stops
		// evicting as soon as its live bytes are below the line (see
		// Engine.mode), not when this shard next adds a segment.
		sh.seen.live.Store(sh.live)
	}
	if m.live == 0 && !sh.isHead(slot) {
		sh.release(slot)
	}
}

// install puts seg in a free slot (the caller has checked there is one),
// after the segments held, or just before the head if beforeHead, and adds
// it to the budget.
func (sh *shard) install(seg func(gen uint32) (*arena.Segment, segKind), beforeHead bool) (int, *arena.Segment) {
	slot := sh.free[len(sh.free)-1]
	sh.free = sh.free[:len(sh.free)-1]
	sh.gens[slot]++
	s, kind := seg(sh.gens[slot])
	sh.meta[slot] = segMeta{minExpire: arena.Never, born: sh.e.births.Add(1), kind: kind}
	// Release: readers that load this slot after a location into it is
	// published see the new segment.
	sh.slots[slot].Store(s)
	if beforeHead && sh.head != nil {
		sh.fifo = slices.Insert(sh.fifo, len(sh.fifo)-1, slot)
	} else {
		sh.fifo = append(sh.fifo, slot)
	}
	sh.held += int64(s.Size())
	sh.e.held.Add(int64(s.Size()))
	return slot, s
}

// rotate installs a new head with room for need bytes, and reclaims what
// that puts the engine over its budget.
func (sh *shard) rotate(need int, now int64) {
	if len(sh.free) == 0 {
		sh.freeSlot(now)
	}
	slot, seg := sh.install(sh.e.pool.take, false)
	oldHead, hadHead := int(sh.headSlot), sh.head != nil
	sh.head, sh.headSlot = seg, int32(slot)
	sh.reinsertCredit = min(sh.reinsertCredit+sh.e.segBytes/2, sh.maxReinsertCredit())
	if hadHead && sh.meta[oldHead].live == 0 {
		// Every entry of the old head was overwritten or deleted while it
		// was the head; nothing points into it.
		sh.release(oldHead)
	}
	sh.reclaim(need, slot, now)
	sh.publish()
}

// addLarge installs a segment of exactly n bytes for one entry, just
// before the head. The caller reclaims what that puts the engine over its
// budget once the entry is stored (see shard.set): an overwrite of a large
// entry releases the old entry's segment then, and a reclaim before that
// would make room the release is about to make anyway, by evicting other
// entries. Entries above Engine.largeFrom get a segment each: one
// allocation, but no head space left unused behind them, and no limit on
// their size from the segment size, which depends on the shard count.
func (sh *shard) addLarge(n int, now int64) (int, *arena.Segment) {
	// The hands and the drain assume a head. And a segment this puts the
	// engine over budget for is retired with the head's room for the
	// entries it keeps: a nearly full head would evict them, read or
	// not, so a new head takes them.
	if sh.head == nil || sh.head.Free() < sh.e.largeFrom && sh.e.held.Load()+int64(n) > sh.e.maxBytes {
		sh.rotate(0, now)
	}
	if len(sh.free) == 0 {
		sh.freeSlot(now)
	}
	slot, seg := sh.install(func(gen uint32) (*arena.Segment, segKind) { return sh.e.pool.takeLarge(n, gen) }, true)
	return slot, seg
}

// freeSlot retires the oldest segments other than the head until a slot is
// free: a shard whose table of slots is full holds many large entries (one
// segment each), and makes room itself. A large entry read since it was
// written is kept, by relinking its segment, which frees no slot, and its
// frequency is cleared. Readers may raise it again before its next turn,
// so after a turn of the table the oldest large entry is evicted
// whatever its frequency: the loop ends, however the entries are read.
func (sh *shard) freeSlot(now int64) {
	for tries := 0; len(sh.free) == 0; tries++ {
		slot := sh.oldestVictim(-1)
		if tries >= len(sh.slots) && sh.meta[slot].kind == largeSeg {
			seg := sh.slots[slot].Load()
			if h, l, live := sh.liveAt(slot, seg, 0); live {
				sh.evict(h, l) // its only live entry: the segment is released
				continue
			}
		}
		sh.retire(slot, evicting, sh.head.Free(), now)
	}
}

// release empties a slot whose segment has no live entries, and returns
// its bytes to the budget.
func (sh *shard) release(slot int) {
	seg := sh.slots[slot].Load()
	size := int64(seg.Size())
	// Emptied before the pool has it: a reader that enters after this
	// store cannot load the segment, so once the readers that entered
	// before it have left, no one can (see segPool.graceLocked).
	sh.slots[slot].Store(nil)
	sh.e.pool.released(seg, sh.meta[slot].kind)
	sh.unlinkFifo(slot)
	sh.free = append(sh.free, slot)
	sh.held -= size
	sh.e.held.Add(-size)
	sh.meta[slot] = segMeta{}
	if sh.drain.slot == slot {
		sh.drain.seg = nil
	}
	sh.publish()
}

// unlinkFifo takes slot out of fifo. A CLOCK hand on it, or the end of a
// hand's turn, moves on to the start of the next segment, so that the turn
// goes on where it was.
func (sh *shard) unlinkFifo(slot int) {
	i := slices.Index(sh.fifo, slot)
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
}

// relink moves the large segment in slot, whose entry is kept, to just
// before the head: its entry is not copied, only its place in the log
// changes, as a copy's would.
func (sh *shard) relink(slot int) {
	sh.unlinkFifo(slot)
	sh.fifo = slices.Insert(sh.fifo, len(sh.fifo)-1, slot)
	sh.meta[slot].born = sh.e.births.Add(1)
	sh.publish()
}

// publish stores what other shards read of this one (seen). Caller holds
// mu. Called where those figures change a lot (a segment comes or goes),
// not on every write: they are for choosing where to reclaim, and may lag
// by a segment's worth of writes.
func (sh *shard) publish() {
	sh.seen.live.Store(sh.live)
	sh.seen.held.Store(sh.held)
	oldest := uint64(noVictim)
	if len(sh.fifo) > 1 {
		oldest = sh.meta[sh.fifo[0]].born
	}
	sh.seen.oldest.Store(oldest)
}
