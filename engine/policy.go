package engine

import (
	"slices"

	"github.com/velocache/velo/arena"
)

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
// the main one, or evicted), so none is behind it, until compaction moves
// small-queue entries into the cold head, which is before the head in the
// log; then it starts again at the oldest entry (see move).
func (sh *shard) restartHand(hd *hand) {
	first := sh.fifo[0]
	end := -1
	if hd == &sh.hands[mainQueue] {
		end = int(sh.headSlot)
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
		// To the next segment, past those that hold no entry of q, in
		// one look up of the fifo: a hand restarted at the oldest
		// segment walks to the first that holds one in O(segments).
		i := slices.Index(sh.fifo, hd.slot) + 1
		for i < len(sh.fifo) && sh.fifo[i] != hd.endSlot && sh.queueLen(sh.fifo[i], q) == 0 {
			i++
		}
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

// smallShare is the small queue's share of MaxEntries, in percent. With
// admission deciding what the main queue keeps, the S3-FIFO paper's 10%
// lost to 5% on the recorded traces, most on loops, where the main queue
// is what hits (docs/hit-ratio.md).
const smallShare = 5

// evictOne removes one entry to honour MaxEntries. The policy is S3-FIFO
// (Yang et al., SOSP'23) with TinyLFU admission (Einziger et al., 2017) on
// velo's log: a new key enters a small queue, and a key stored again
// stays in its queue (in the small one, as if read). While the small
// queue holds more than smallShare of the entries,
// its CLOCK hand runs: each entry it passes is a candidate for the main
// queue (the sketch counting a read since it was written, whose
// frequency is reset). It gets in if the main queue has room (in place:
// only its location's queue bit changes), or if the sketch has seen its
// key more often than the key of the main queue's next victim, which it
// then replaces; otherwise it is evicted, and the victim stays first in
// line. A read in the small queue is thus no pass into the main queue:
// keys that an attacker has set and read once each do not push out keys
// read again and again, as they would if every read entry went in.
// Otherwise the main queue's
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
	// The shard's capacity is what it holds, less the entry this call
	// removes: MaxEntries is the engine's bound, so a shard that evicts
	// may hold a little more or less than its even share, and its queues
	// are sized by what it has.
	capacity := int(sh.count.Load()) - 1
	quota := max(1, capacity*smallShare/100)
	// A safety net: if the queue counts were ever wrong, a hand could
	// look for an entry that is not there. After walking the log four
	// times over, take any live entry. The walk's length is summed from
	// the segments' bookkeeping only once a walk is that long (64 visits
	// and more), rather than on every eviction.
	const shortWalk = 64
	visits, anyQueue := 0, shortWalk
	// cand is an unread small-queue entry waiting for the main queue's
	// victim, to be compared with it.
	var cand struct {
		h  uint64
		l  loc
		ok bool
	}
	for step := 0; ; {
		// The small queue's hand runs while that queue is over its quota,
		// and when the main queue is empty: the main hand passes over the
		// segments that hold none of its entries, so with none anywhere it
		// would go round without ever reaching the small queue's.
		q := mainQueue
		if !cand.ok && (sh.small > quota || sh.small == int(sh.count.Load())) {
			q = smallQueue
		}
		seg, off, ok := sh.next(q)
		if !ok {
			continue
		}
		visits++
		if visits == shortWalk {
			anyQueue = 4*sh.appendedHeld() + shortWalk
		}
		if seg.Dead(off) {
			continue // passed by its mark, without hashing its key
		}
		h, l, live := sh.liveAt(sh.hands[q].slot, seg, off)
		if !live || l.main() != (q == mainQueue) && visits < anyQueue {
			continue
		}
		exp, _, _ := seg.Entry(off)
		step++
		if exp <= now {
			sh.drop(h, l, Expired)
			if cand.ok {
				sh.toMain(cand.h, cand.l) // it takes the expired entry's place
			}
			return
		}
		f := seg.Freq(off)
		if q == smallQueue {
			mainLen := int(sh.count.Load()) - sh.small
			if f > 0 && step < limit {
				// Read in the small queue: the sketch counts the read,
				// and the frequency is reset, so that in the main
				// queue it has to be read again to outlive the hand's
				// next turn.
				sh.sketch.add(h)
				seg.SetFreq(off, 0)
			}
			switch {
			case mainLen < capacity-quota:
				sh.toMain(h, l) // the main queue has room
			case mainLen > 0:
				cand.h, cand.l, cand.ok = h, l, true
			default:
				sh.evict(h, l)
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
				sh.toMain(cand.h, cand.l)
				return
			}
			// The victim stays, first in line for the next candidate:
			// the hand goes back to it (next left it in this segment).
			sh.hands[mainQueue].off = off
			h, l = cand.h, cand.l
		}
		sh.evict(h, l)
		return
	}
}

// evictForNewKey evicts one entry for the new key just stored, the engine
// being over MaxEntries: by this shard's policy, or, if the new key is
// this shard's only entry, by the policy of the other shard that holds
// the most entries and whose lock is free, so that a Set at the bound
// never evicts the key it stores: with a bound of a few entries per
// shard, some shards are empty by chance (at two per shard, one in
// eight), and evicting at home would take the key just stored. If every
// such shard is busy, the new key goes after all.
func (sh *shard) evictForNewKey(now int64) {
	if sh.count.Load() > 1 {
		sh.evictOne(now)
		return
	}
	evicted := false
	sh.eachDonor(func(d *shard) (int64, bool) {
		n := d.count.Load()
		return -n, n > 0
	}, func(d *shard) bool {
		if d.mu.TryLock() {
			if !d.closed && d.count.Load() > 0 {
				d.evictOne(now)
				sh.takeOver(d)
				evicted = true
			}
			d.mu.Unlock()
		}
		return evicted
	})
	if !evicted {
		sh.evictOne(now)
	}
}

// toMain moves the small-queue entry h, at l, to the main queue in place.
func (sh *shard) toMain(h uint64, l loc) {
	sh.index.store(h, l|mainBit)
	sh.small--
	sh.meta[l.slot()].small--
}

// appendedHeld returns the entries, live or dead, in the segments held:
// what a hand may walk past.
func (sh *shard) appendedHeld() int {
	n := 0
	for _, slot := range sh.fifo {
		n += sh.meta[slot].appended
	}
	return n
}
