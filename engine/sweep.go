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
//
// While the engine is evicting (see reclaim.go), expired entries still
// kept (Config.KeepExpired) are removed too: they go before live entries.
func (sh *shard) sweep(now int64, slots []int) []int {
	sh.mu.Lock()
	slots = append(slots, sh.fifo...)
	sh.mu.Unlock()
	drop := goneOnly
	if sh.e.keep > 0 && sh.e.mode() == evicting {
		drop = allExpired
	}
	for _, slot := range slots {
		// The walk goes on only in the segment it began in: the slot may
		// hold another by the next chunk, or the same one recycled (the
		// pool reuses a released segment, under a new generation, and
		// the slot it left is the first free one), whose entries lie
		// elsewhere.
		var seg *arena.Segment
		var gen uint32
		off, minExpire := 0, int64(arena.Never)
		compact := false
		for done := false; !done; {
			sh.mu.Lock()
			cur := sh.slots[slot].Load()
			switch {
			case sh.closed || cur == nil || seg != nil && (cur != seg || cur.Gen() != gen):
				done = true
			case seg == nil && !sh.needsSweep(slot, now, drop):
				done = true
			default:
				if seg == nil {
					seg, gen, compact = cur, cur.Gen(), sh.sparse(slot)
				}
				off, done = sh.sweepSegment(slot, seg, off, now, compact, drop, &minExpire)
				if done && sh.slots[slot].Load() == seg && seg.Gen() == gen {
					sh.meta[slot].minExpire = minExpire
				}
			}
			sh.unlock()
		}
	}
	sh.mu.Lock()
	sh.noteFirstExpire()
	sh.mu.Unlock()
	return slots
}

// An expiredDrop says which expired entries a walk removes.
type expiredDrop uint8

const (
	goneOnly   expiredDrop = iota // those past the time they are kept for (Engine.gone)
	allExpired                    // every expired one, kept or not
)

// drops reports whether an entry that expires at exp is removed at now.
func (sh *shard) drops(exp, now int64, drop expiredDrop) bool {
	if drop == allExpired {
		return exp <= now
	}
	return sh.e.gone(exp, now)
}

// needsSweep reports whether the segment in slot may hold an entry that
// drop removes, or is worth compacting.
func (sh *shard) needsSweep(slot int, now int64, drop expiredDrop) bool {
	return sh.drops(sh.meta[slot].minExpire, now, drop) || sh.sparse(slot)
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

// sweepSegment walks up to sweepChunk entries from off: the expired live
// entries that drop says leave the index, and with compact set the others
// move to the cold head. It returns where to go on and whether the walk is
// over.
func (sh *shard) sweepSegment(slot int, seg *arena.Segment, off int, now int64, compact bool, drop expiredDrop, minExpire *int64) (int, bool) {
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
		case sh.drops(exp, now, drop):
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

// dropExpired removes the expired entries of the segment whose first
// expiry is the earliest, if one has expired, and reports whether it
// removed any: an evicting shard drops them before it evicts live
// entries, whether they are kept (Config.KeepExpired) or only not swept
// yet. It walks the segment whose recorded first expiry is the earliest,
// and the next such one while the walks drop nothing; afterwards each
// walked segment's minExpire is exact, so a segment is walked again only
// once another of its entries expires.
func (sh *shard) dropExpired(now int64) bool {
	live := sh.live
	// A segment's minExpire may be stale: the entry that set it was
	// overwritten or deleted since. Its walk then drops nothing but sets
	// it right (after now), so each segment is walked once at most, and
	// the next earliest is tried: expired entries elsewhere in the shard
	// still go before any live one is evicted.
	for range len(sh.fifo) + 1 {
		if sh.firstExpire > now {
			break
		}
		slot, first := -1, now
		for _, s := range sh.fifo {
			if m := sh.meta[s].minExpire; m < first || slot < 0 && m == first {
				slot, first = s, m
			}
		}
		if slot < 0 {
			sh.noteFirstExpire()
			break
		}
		seg := sh.slots[slot].Load()
		minExpire := int64(arena.Never)
		for off, done := 0, false; !done; {
			off, done = sh.sweepSegment(slot, seg, off, now, false, allExpired, &minExpire)
		}
		if sh.slots[slot].Load() == seg {
			sh.meta[slot].minExpire = minExpire
		}
		sh.noteFirstExpire()
		if sh.live < live {
			return true
		}
	}
	return sh.live < live
}

// dropExpiredElsewhere is dropExpired in another shard that may hold
// expired entries, the one whose first expiry is the earliest whose lock
// is free: the engine evicts while the live bytes of all shards are over
// the line, and another shard's expired entries may be what puts it
// there. It reports whether it removed any.
func (sh *shard) dropExpiredElsewhere(now int64) bool {
	if sh.e.firstExpire.Load() > now {
		return false
	}
	dropped := false
	sh.eachDonor(func(d *shard) (int64, bool) {
		first := d.seen.firstExpire.Load()
		return first, first <= now
	}, func(d *shard) bool {
		if d.mu.TryLock() {
			if !d.closed {
				dropped = d.dropExpired(now)
				sh.takeOver(d)
			}
			d.mu.Unlock()
		}
		return dropped
	})
	return dropped
}

// noteFirstExpire sets firstExpire to the earliest of the segments'
// minExpire, and publishes it. Caller holds mu.
func (sh *shard) noteFirstExpire() {
	first := int64(arena.Never)
	for _, s := range sh.fifo {
		first = min(first, sh.meta[s].minExpire)
	}
	sh.firstExpire = first
	sh.seen.firstExpire.Store(first)
}
