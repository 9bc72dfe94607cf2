package engine

import "github.com/velocache/velo/arena"

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
			sh.unlock()
		}
	}
	return slots
}

// needsSweep reports whether the segment in slot may hold an expired entry
// or is worth compacting.
func (sh *shard) needsSweep(slot int, now int64) bool {
	return sh.e.gone(sh.meta[slot].minExpire, now) || sh.sparse(slot)
}

// sparse reports whether the segment in slot is worth compacting: it is
// not a head or a large entry's, fewer than a quarter of the entries
// written to it are live, and the engine holds more than half its budget
// (below that, the memory is not needed and moving entries would only cost
// CPU).
func (sh *shard) sparse(slot int) bool {
	m := &sh.meta[slot]
	return !sh.isHead(slot) && m.kind != largeSeg && m.live*4 < m.appended && sh.e.held.Load()*2 > sh.e.maxBytes
}

// sweepSegment walks up to sweepChunk entries from off: expired live
// entries leave the index, and with compact set the others move to the
// cold head. It returns where to go on and whether the walk is over.
func (sh *shard) sweepSegment(slot int, seg *arena.Segment, off int, now int64, compact bool, minExpire *int64) (int, bool) {
	for n := 0; n < sweepChunk && off < seg.Used(); n++ {
		cur := off
		off = seg.Next(off)
		if seg.Dead(cur) {
			continue
		}
		h, l, live := sh.liveAt(slot, seg, cur)
		if !live {
			continue
		}
		exp, k, v := seg.Entry(cur)
		switch {
		case sh.e.gone(exp, now):
			sh.drop(h, l, Expired)
		case compact && sh.coldRoom(arena.EntrySize(len(k), len(v)), growWithinBudget):
			// Within the budget: a new cold head that made the shard
			// reclaim could retire the very segment the sweep walks.
			sh.move(h, l, seg, cur, compaction, coldHead)
		default:
			*minExpire = min(*minExpire, exp)
			continue
		}
		if sh.slots[slot].Load() != seg {
			return off, true // the last live entry went: released
		}
	}
	return off, off >= seg.Used()
}
