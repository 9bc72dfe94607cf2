package engine

import (
	"github.com/velocache/velo/arena"
)

// How the engine stays within MaxBytes.
//
// The budget is the engine's, not a shard's: every shard's segments count
// against MaxBytes together (Engine.held), so a shard may hold more than
// an even share when its keys need it, and one large entry may take far
// more than a shard's share. A shard that adds a segment (a new head, or
// a large entry's own) and so puts the engine over budget reclaims at
// once, under its lock (reclaim): it retires segments until the engine
// is back within the budget. While compacting, a shard also reclaims when
// it goes over its even share (share) and has dead bytes of its own to
// reclaim: dead bytes come with the writes, which the hash spreads evenly,
// and a shard that took free budget instead of compacting would leave
// another shard, full of live entries, nothing to take when it needs a
// segment.
//
// Which segments, and what happens to their live entries, depends on how
// many bytes are live in the whole engine:
//
//   - Below keepLimit (compacting): no live entry is evicted. The shard
//     retires its segment with the most dead bytes, moving every live
//     entry in it to the cold head (cold.go). Overwrites, deletes and
//     expiry leave dead bytes behind; this takes them back, at the cost of
//     copying the live bytes of the segments it empties (MovedBytes in
//     Stats).
//   - Above it (evicting): the oldest segment of the engine goes, as in a
//     log: the shard's own oldest, unless another shard's is older by more
//     than a round of rotations, which that shard retires if its lock is
//     free (TryLock: a shard never waits for another while holding its
//     own, so two reclaims cannot deadlock) and its head has room for
//     the entries it keeps (else the shard retires its own, if it has
//     one). Its entries read since they were written (or since a CLOCK
//     hand last lowered their frequency) move to the head at frequency
//     0, the others are evicted. Expired entries count as live until the
//     sweep removes them (or, kept for KeepExpired, until that passes),
//     so before it evicts, a shard drops the expired entries of a segment
//     of its own, or of another shard's (dropExpired): they go before
//     live ones.
//
// A drain (drainStep) does the same to the next segment to be retired a
// few entries per write, ahead of time, so that no single Set walks a
// whole segment.

// A reclaimMode says what settling a segment's live entries keeps.
type reclaimMode uint8

const (
	compacting reclaimMode = iota // every live entry
	evicting                      // the entries read since they were written, if they fit
)

// keepShare is the share of the budget, in percent, that live entries may
// fill before reclaiming evicts rather than compacts. The budget less the
// heads (each shard's head is filling, and may be near empty) is what
// live entries and dead bytes share; dead bytes are what compaction feeds
// on, and the fewer there are, the more live bytes it copies to reclaim
// one (at 90% live, 10 bytes a byte in the worst case).
const keepShare = 90

// mode says how reclaiming works now: compacting while the live bytes of
// all shards, as published, are below the keep limit.
func (e *Engine) mode() reclaimMode {
	var live int64
	for i := range e.shards {
		live += e.shards[i].seen.live.Load()
	}
	if live <= e.keepLimit {
		return compacting
	}
	return evicting
}

// reclaim retires segments until the engine is within its budget, after
// this shard added the segment in slot keep (which is not retired). need is
// the room in the head that the write which rotated wants for itself.
//
// It stops when nothing here can be retired and no other shard could be
// locked: the engine is then over budget by less than what the write
// added, until another shard's write reclaims.
func (sh *shard) reclaim(need, keep int, now int64) {
	e := sh.e
	for tries := 0; tries < reclaimTries; tries++ {
		over := e.held.Load() > e.maxBytes
		if !over && sh.held <= sh.share {
			return
		}
		sh.publish()
		room := sh.head.Free() - need
		if e.mode() == compacting {
			// Compaction must be worth its copying: over the shard's
			// share only, at least 1/worthCompacting of the segment must
			// be dead (else free budget is taken); over the budget, where
			// the alternative is evicting, half that.
			minDead := int64(e.segBytes) / worthCompacting
			if over {
				minDead /= 2
			}
			if slot := sh.sparsest(sh.moveRoom(room), keep, minDead); slot >= 0 {
				sh.retire(slot, compacting, room, now)
				continue
			}
			if !over {
				return // nothing to compact here: take free budget
			}
			if sh.compactElsewhere(now) || sh.shrinkCold(room, keep, now) {
				continue
			}
		}
		if !over {
			return
		}
		if sh.dropExpired(now) || sh.dropExpiredElsewhere(now) {
			continue
		}
		if !sh.evictOldest(keep, min(room, sh.reinsertRoom()), now) {
			return
		}
	}
}

// full reports whether adding n bytes of segments to this shard would make
// it reclaim in mode (see reclaim).
func (sh *shard) full(n int64, mode reclaimMode) bool {
	return sh.e.held.Load()+n > sh.e.maxBytes || mode == compacting && sh.held+n > sh.share
}

// worthCompacting: a segment is compacted to keep a shard within its share
// only if at least 1/worthCompacting of it is dead, so that a shard full
// of live entries does not copy a segment to gain a few bytes at every
// rotation; it takes free budget instead.
const worthCompacting = 8

// reclaimTries bounds one reclaim's retirements: a large entry may need
// many segments emptied, but each try retires one, so a bound only
// matters if something is wrong.
const reclaimTries = 1 << 16

// sparsest returns the segment, other than the heads, keep and large ones,
// whose live entries fit in room bytes and which holds the most dead bytes,
// or -1 if none has minDead of them.
func (sh *shard) sparsest(room, keep int, minDead int64) int {
	best, bestDead := -1, minDead-1
	for _, slot := range sh.fifo {
		m := &sh.meta[slot]
		if sh.isHead(slot) || slot == keep || m.kind == largeSeg || m.liveBytes > int64(room) {
			continue
		}
		// Dead bytes are the dead entries' only: a segment's unused tail
		// (the room a rotation left because the next entry did not fit)
		// is no gain, since the entries moved leave tails of their own
		// in the cold head. Counting it as dead would have a shard over
		// its share, whose segments are all live and hold values of a
		// fair part of a segment, compact them into one another in a
		// circle, up to reclaimTries times per write.
		if dead := int64(sh.slots[slot].Load().Used()) - m.liveBytes; dead > bestDead {
			best, bestDead = slot, dead
		}
	}
	return best
}

// oldestVictim returns the oldest segment other than the head and keep, or
// -1 if there is none.
func (sh *shard) oldestVictim(keep int) int {
	for _, slot := range sh.fifo {
		if slot != int(sh.headSlot) && slot != keep {
			return slot
		}
	}
	return -1
}

// compactElsewhere compacts, in the shard with the most dead bytes, its
// sparsest segment into its head, when this shard has nothing to compact:
// its segments are nearly all live, and the dead bytes are elsewhere
// (large entries make shards uneven). It reports whether it did. A shard
// whose lock is taken (another writer is in it) is passed over for the
// one with the next most dead bytes, up to donorTries shards: with a few
// writers at work, the one with the most is often busy, and giving up
// would leave this shard evicting live entries below the line.
func (sh *shard) compactElsewhere(now int64) bool {
	most := int64(sh.e.segBytes) // not worth a lock for less
	done := false
	sh.eachDonor(func(d *shard) (int64, bool) {
		dead := d.seen.held.Load() - d.seen.live.Load()
		return -dead, dead > most
	}, func(d *shard) bool {
		if d.mu.TryLock() {
			done = d.compactFor(sh, now)
			d.mu.Unlock()
		}
		return done
	})
	return done
}

// eachDonor calls try with the shards other than sh that rank allows, best
// (lowest rank) first, up to donorTries of them, until try returns true. A
// shard another goroutine holds is passed over this way for the next best,
// rather than giving up at the first: with a few writers at work, the
// best donor is often busy.
func (sh *shard) eachDonor(rank func(d *shard) (r int64, ok bool), try func(d *shard) bool) {
	var tried [donorTries]*shard
	for n := range donorTries {
		var donor *shard
		var best int64
	next:
		for i := range sh.e.shards {
			d := &sh.e.shards[i]
			r, ok := rank(d)
			if d == sh || !ok || donor != nil && r >= best {
				continue
			}
			for _, t := range tried[:n] {
				if d == t {
					continue next
				}
			}
			donor, best = d, r
		}
		if donor == nil {
			return
		}
		tried[n] = donor
		if try(donor) {
			return
		}
	}
}

// donorTries is how many shards eachDonor offers.
const donorTries = 8

// compactFor retires the sparsest segment of sh, whose lock the caller
// holds, for taker, which takes over what it removed, and reports whether
// it did.
func (sh *shard) compactFor(taker *shard, now int64) bool {
	if sh.closed || sh.head == nil {
		return false
	}
	if slot := sh.sparsest(sh.moveRoom(sh.head.Free()), -1, 1); slot >= 0 {
		sh.retire(slot, compacting, sh.head.Free(), now)
	} else if !sh.shrinkCold(sh.head.Free(), -1, now) {
		return false
	}
	taker.takeOver(sh)
	return true
}

// evictOldest retires the oldest segment of the engine, or near enough
// (see the top of this file), in evicting mode, and reports whether it
// retired one. room is what this shard's head has for the entries kept
// (see reinsertRoom).
func (sh *shard) evictOldest(keep, room int, now int64) bool {
	own := sh.oldestVictim(keep)
	if own < 0 || sh.held <= sh.share {
		// Slack: a round of rotations, one per shard, so that shards
		// that rotate in turn each retire their own.
		slack := uint64(2 * len(sh.e.shards))
		limit := uint64(noVictim)
		if own >= 0 && sh.meta[own].born > slack {
			limit = sh.meta[own].born - slack
		}
		// The donor is the shard with the oldest segment, or, if its lock
		// is taken (another writer, a Stats, a sweep is in it), the one
		// with the next oldest: a shard with nothing of its own to retire
		// that gave up at the first busy donor would leave the engine
		// over budget by the segment it just added, and the next such Set
		// by one more. A donor whose head is nearly full would evict the
		// entries it should keep, for want of room to move them to; it
		// rotates soon, and then retires its own oldest with a new head's
		// room. This shard retires its own instead, and takes the donor's
		// anyway only when it has none.
		evicted := false
		sh.eachDonor(func(d *shard) (int64, bool) {
			b := d.seen.oldest.Load()
			return int64(b), b < limit // births count from 1: far below 2^63
		}, func(d *shard) bool {
			evicted = sh.evictIn(d, sh.e.largeFrom, now) || own < 0 && sh.evictIn(d, 0, now)
			return evicted || own >= 0 // with its own to retire, one try
		})
		if evicted {
			return true
		}
	}
	if own < 0 {
		return false
	}
	sh.retire(own, evicting, room, now)
	return true
}

// evictIn retires donor's oldest segment in evicting mode, if donor's lock
// is free and its head has minRoom bytes or more for the entries kept
// (reinsertRoom), and reports whether it did.
func (sh *shard) evictIn(donor *shard, minRoom int, now int64) bool {
	if !donor.mu.TryLock() {
		return false
	}
	defer donor.mu.Unlock()
	slot := -1
	if !donor.closed {
		slot = donor.oldestVictim(-1)
	}
	room := 0
	if slot >= 0 {
		room = donor.reinsertRoom()
	}
	if slot < 0 || room < minRoom {
		return false
	}
	donor.retire(slot, evicting, room, now)
	sh.takeOver(donor)
	return true
}

// takeOver moves the removals donor collected, while this shard reclaimed
// in it, to this shard's, for the callback: the goroutine that caused
// them reports them once it releases this shard's lock. Both locks held.
func (sh *shard) takeOver(donor *shard) {
	if r := donor.takeRemovals(); len(r) > 0 {
		sh.pending = append(sh.pending, r...)
	}
	donor.publish()
}

// retire empties the segment in slot by settling each live entry (see
// settle), with room bytes in the head for the entries kept there; a kept
// entry that does not fit is evicted. The last entry to leave releases the
// segment. If a drain walked part of it, retire goes on from there: the
// drain has settled the entries before, except those it left.
//
// Each live entry's location is moved or deleted before the slot is
// emptied, so no reader is sent to a nil slot by the index for long, and a
// reader already in the old segment reads bytes that the garbage collector
// keeps for it.
func (sh *shard) retire(slot int, mode reclaimMode, room int, now int64) {
	if sh.seal(slot) {
		return // an empty cold head
	}
	seg := sh.slots[slot].Load()
	if sh.meta[slot].kind == largeSeg {
		sh.settleLarge(slot, seg, mode, now)
		return
	}
	from := 0
	if d := &sh.drain; d.seg == seg {
		from = d.off
		if d.skipped >= 0 {
			from = d.skipped
		}
		d.seg = nil
	}
	var b batch
	for off := from; off < seg.Used(); {
		off = sh.readBatch(seg, off, &b)
		for i := range b.n {
			h, o := b.hashes[i], b.offs[i]
			l, live := sh.locatedAt(h, slot, seg, o)
			if !live {
				continue
			}
			free := sh.head.Free()
			sh.settle(h, l, seg, o, room, mode, true, now)
			room -= free - sh.head.Free()
			if sh.slots[slot].Load() != seg {
				return // its last live entry went: released
			}
		}
	}
}

// settle does to the live entry at off, located at l, what retiring its
// segment does in mode: an expired entry is dropped; a kept one (every
// entry when compacting; one read since it was written, or since a hand
// last lowered its frequency, when evicting) is moved; one not kept is
// evicted. Compaction moves to the cold head, reinsertion to the head if
// the entry fits in room bytes. A kept entry that does not fit is evicted
// if final, and otherwise left alone (left reports it). moved is the size
// of the entry if it moved.
//
// final is set when a retirement settles the entry, in a reclaim that
// goes on until the engine is within its budget: compaction may then
// install a new cold head, and failing that (no slot free) moves to the
// head if the entry fits in room bytes, so that nothing live is evicted
// while compacting. A drain (not final) moves only into the cold head
// there is, or a new one if that keeps the engine within its budget.
func (sh *shard) settle(h uint64, l loc, seg *arena.Segment, off, room int, mode reclaimMode, final bool, now int64) (moved int, left bool) {
	exp, k, v := seg.Entry(off)
	size := arena.EntrySize(len(k), len(v))
	keep := mode == compacting || seg.Hot(off)
	growth := growWithinBudget
	if final {
		growth = growAndReclaim
	}
	switch {
	case sh.e.gone(exp, now) || exp <= now && mode == evicting:
		sh.drop(h, l, Expired) // compaction keeps an expired entry its KeepExpired
	case mode == compacting && sh.coldRoom(size, growth):
		sh.move(h, l, seg, off, compaction, coldHead)
		return size, false
	case keep && size <= room && (mode == evicting || final):
		how := reinsertion
		if mode == compacting {
			how = compaction
		}
		sh.move(h, l, seg, off, how, writeHead)
		return size, false
	case keep && !final:
		return 0, true
	default:
		sh.evict(h, l)
	}
	return 0, false
}

// settleLarge settles the one entry of a large segment: a kept entry is
// relinked, not copied.
func (sh *shard) settleLarge(slot int, seg *arena.Segment, mode reclaimMode, now int64) {
	h, l, live := sh.liveAt(slot, seg, 0)
	if !live {
		return // not reached: a segment without live entries is released
	}
	exp, _, _ := seg.Entry(0)
	switch {
	case sh.e.gone(exp, now) || exp <= now && mode == evicting:
		sh.drop(h, l, Expired)
	case mode == compacting:
		sh.relink(slot)
	case seg.Hot(0):
		seg.SetFreq(0, 0)
		if !l.main() {
			sh.toMain(h, l)
		}
		sh.relink(slot)
	default:
		sh.evict(h, l)
	}
}

// A moveKind says what a moved entry keeps.
type moveKind uint8

const (
	compaction  moveKind = iota // its queue and frequency: only its place changes
	reinsertion                 // nothing: it joins the main queue at frequency 0, a second chance that must be earned again
)

// move copies the live entry at off, located at l, to the head of kind
// into, which the caller checked has room, points the index at the copy
// and vacates l.
func (sh *shard) move(h uint64, l loc, seg *arena.Segment, off int, how moveKind, into headKind) {
	exp, k, v := seg.Entry(off)
	size := arena.EntrySize(len(k), len(v))
	slot, to := sh.headOf(into)
	noff, _ := to.Append(keyString(k), v, exp, seg.TTL(off))
	if seg.Absent(off) {
		to.MarkAbsent(noff)
	}
	main := true
	if how == compaction {
		to.SetFreq(noff, seg.Freq(off))
		main = l.main()
	}
	sh.noteAppend(slot, size, exp)
	sh.movedBytes += int64(size)
	if how == reinsertion {
		sh.reinsertCredit -= size
	}
	sh.index.store(h, makeLoc(slot, to.Gen(), noff, main, size))
	if !main {
		sh.joinSmall(slot)
		if into == coldHead {
			// The cold head is before the head in the log, and may be
			// behind the small queue's hand, which takes entries in
			// the order they were written: it would come to this one
			// only after every newer entry, taking the one just
			// written as the next candidate for the main queue, which
			// a key seen once loses. The hand starts again at the
			// oldest entry (next skips segments without small-queue
			// entries).
			sh.hands[smallQueue].slot = -1
		}
	}
	sh.vacate(l)
}

// drop removes h, whose location is l, from the index, counts why, notes
// the removal for the callback, gives back the sketch's count of a key
// deleted or expired, and vacates l.
func (sh *shard) drop(h uint64, l loc, reason Reason) {
	sh.noteRemoval(l, reason)
	if reason != Evicted {
		// The Set that stored the key counted it in the sketch as a new
		// key, and so will the next one: a key deleted or expired gives
		// that count back, or a client could make its own keys look more
		// popular than a working set's by deleting (or letting expire)
		// and setting them again in turn. A key evicted keeps it: to come
		// back after an eviction is what admission rewards.
		sh.sketch.subtract(h)
	}
	sh.index.delete(h)
	sh.count.Add(-1)
	if sh.e.maxEntries > 0 {
		sh.e.entries.Add(-1)
	}
	// An absence (Engine.SetAbsent) is no value of the user's: it leaves
	// uncounted, as it leaves unreported.
	switch absent := sh.slots[l.slot()].Load().Absent(l.off()); {
	case absent:
	case reason == Evicted:
		sh.evictions++
	case reason == Expired:
		sh.expirations++
	case reason == Deleted:
		sh.deletes++
	}
	sh.vacate(l)
}

// reinsertRoom is the room in the head for entries reinserted when
// evicting (by drains and retirements alike): the head's free bytes, up
// to the shard's reinsertion credit. Each new head adds half a segment to
// the credit, up to maxReinsertCredit, and each reinsertion spends its
// size: over time at least half of the heads' bytes are the writes', even
// when readers keep every entry hot, and reinsertion then evicts hot
// entries too, oldest first, rather than filling each new head with moved
// entries and rotating at every Set. The credit saved while cold segments
// were evicted lets a run of hot ones (a working set written in one go,
// read since, and now the oldest) be kept whole.
func (sh *shard) reinsertRoom() int {
	return max(0, min(sh.head.Free(), sh.reinsertCredit))
}

// maxReinsertCredit is the most reinsertion credit a shard saves, the
// most one burst of reinsertions copies: four segments, enough to keep a
// working set written in one go through its first eviction
// (TestReadKeysOutliveUnreadStream). Longer bursts, which reset what they
// move to frequency 0, cost hit ratio (design.md, "Retire").
func (sh *shard) maxReinsertCredit() int {
	return 4 * sh.e.segBytes
}

// evict drops h for room.
func (sh *shard) evict(h uint64, l loc) { sh.drop(h, l, Evicted) }

// A drain walks the segment that the next reclaim would retire while the
// head fills, doing what retiring would do to each entry, so that when the
// head is full that segment is already empty and no single Set walks a
// whole segment. seg is nil when no drain runs; off is where the walk
// stands; credit is how many bytes of entries it may still walk before
// the next write pays for more; mode is the reclaim mode when it began.
type drain struct {
	slot   int
	seg    *arena.Segment
	off    int
	credit int
	mode   reclaimMode
	// skipped is the offset of the first entry the walk left live (a kept
	// entry the head had no room for), or -1: retire starts there.
	skipped int
	// none is the head for which no segment could be drained: the next
	// try waits for the next head.
	none *arena.Segment
}

// drainStep runs after a write that appended n bytes to the head. Once the
// engine is at its budget (the next rotation will reclaim) and the head is
// half full, it walks the segment the reclaim would retire (the sparsest
// when compacting, the oldest when evicting), 2n bytes of entries per such
// write (and 2 bytes more for each byte it moves): that segment is no
// larger than the head, so the walk is done before the half of the head
// that is left fills, whatever the entry sizes. Each live entry is settled
// as retiring would, except that a kept entry that does not fit where it
// would move (the head when evicting, the cold head when compacting) is
// left for the reclaim, which can install a fresh head for it: the walk
// does not evict what retiring would keep.
func (sh *shard) drainStep(n int, now int64) {
	d := &sh.drain
	if d.seg != nil && sh.slots[d.slot].Load() != d.seg {
		d.seg = nil // released meanwhile (overwrites, compaction, Clear)
	}
	if d.seg == nil {
		e := sh.e
		seg := int64(e.segBytes)
		if d.none == sh.head || sh.head.Used() < sh.head.Size()/2 || !sh.full(seg, compacting) {
			return
		}
		sh.publish()
		mode := e.mode()
		if !sh.full(seg, mode) {
			d.none = sh.head
			return
		}
		slot := -1
		if mode == compacting {
			minDead := seg / worthCompacting / 2
			if e.held.Load()+seg <= e.maxBytes {
				minDead *= 2 // the share, not the budget, is full
			}
			slot = sh.sparsest(sh.head.Size(), -1, minDead)
		} else {
			if sh.dropExpired(now) || sh.dropExpiredElsewhere(now) {
				return // the next write sees the live bytes it took
			}
			slot = sh.oldestVictim(-1)
		}
		if slot < 0 || sh.meta[slot].kind == largeSeg {
			d.none = sh.head
			return
		}
		d.slot, d.off, d.credit, d.skipped, d.mode = slot, 0, 0, -1, mode
		if sh.seal(slot) {
			d.none = sh.head
			return // an empty cold head: nothing to drain
		}
		d.seg = sh.slots[slot].Load()
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
	if d.mode == evicting && sh.e.mode() == compacting {
		// Deletes or expiry took the live bytes below the line since the
		// drain began: the next one compacts instead.
		d.seg = nil
		return
	}
	if d.mode == evicting && (sh.dropExpired(now) || sh.dropExpiredElsewhere(now)) {
		return // expired entries still kept go before live ones
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
			room := sh.head.Free()
			if d.mode == evicting {
				room = sh.reinsertRoom()
			}
			moved, left := sh.settle(h, l, seg, off, room, d.mode, false, now)
			if left {
				if d.skipped < 0 {
					d.skipped = off
				}
				continue
			}
			d.credit += 2 * moved
			if sh.slots[d.slot].Load() != seg {
				d.seg = nil // its last live entry went: released
				return
			}
		}
	}
}

// drainBatchBytes is how much walking a drain saves up before it walks.
const drainBatchBytes = 4 << 10

// A batch is up to retireBatch consecutive live (not marked dead) entries
// of a segment, with the hashes of their keys, for walks that probe the
// index for each entry.
type batch struct {
	n      int
	offs   [retireBatch]int
	hashes [retireBatch]uint64
}

// retireBatch is how many entries a walk hashes before probing the index
// for them: enough misses in flight to cover memory latency, few enough
// that the batch's slots are still cached when it gets to them.
const retireBatch = 16

// readBatch fills b with the live entries of seg from off on and returns
// the offset after them. It passes the dead ones by their header and mark
// alone: overwrites leave most of an old segment dead, and hashing a dead
// entry's key and probing the index for it would cost what a Set costs.
// Each live entry costs an index probe at a random place: a cache (and
// TLB) miss that would otherwise be paid one entry after another. Hashing
// a batch and touching its index slots first lets the CPU have those
// misses in flight together; the probes that follow find the slots in
// cache.
func (sh *shard) readBatch(seg *arena.Segment, off int, b *batch) int {
	b.n = 0
	for ; b.n < retireBatch && off < seg.Used(); off = seg.Next(off) {
		if seg.Dead(off) {
			continue // not live: no need to hash its key and look
		}
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
	return cur, ok && cur.place() == placeOf(slot, seg.Gen(), off)
}
