package engine

import "github.com/velocache/velo/arena"

// The cold head keeps what compaction moves apart from new writes.
//
// An entry that compaction finds live in a segment it retires has outlived
// the other entries written around it: it is most likely a key that is
// written rarely. Appended to the head among new writes, it would share its
// next segment with entries that die soon (the keys written often), and be
// moved again when that segment is compacted, and again after that: at 37%
// of the budget live under Zipf(1.01) overwrites, a single head copied 0.41
// bytes per byte set, and 3.7 at 80% (BenchmarkCompaction). Moved to a
// head of their own, such entries fill segments that stay mostly live,
// which compaction, taking the segment with the most dead bytes, rarely
// picks; the head's segments hold the short-lived writes and come back
// nearly empty. This is the age sorting of log-structured file systems
// (Rosenblum and Ousterhout's LFS), with two ages.
//
// The cold head is installed just before the head, so the head stays the
// last segment of fifo, and it is a segment like any other for readers,
// the hands and eviction: the oldest segment is retired whichever head it
// was, and the cold head, once retired or replaced by a new one, is an
// ordinary segment. Reinsertion (evicting mode) still moves to the head:
// an entry that earned its second chance takes the newest place in the
// log.

// A headKind names one of a shard's two heads.
type headKind uint8

const (
	writeHead headKind = iota // the head: new writes, and reinsertions
	coldHead                  // the cold head: what compaction keeps
)

// A coldGrowth says when a compaction may install a new cold head for an
// entry that does not fit the one there is.
type coldGrowth uint8

const (
	// growWithinBudget: only while the engine stays within MaxBytes and
	// the shard within its share, since nothing reclaims after.
	growWithinBudget coldGrowth = iota
	// growAndReclaim: whenever a slot is free, since the caller is
	// reclaiming and retires segments until the engine is back within its
	// budget.
	growAndReclaim
)

// headOf returns the slot and segment of the head of kind k.
func (sh *shard) headOf(k headKind) (int, *arena.Segment) {
	if k == coldHead {
		return sh.coldSlot, sh.cold
	}
	return int(sh.headSlot), sh.head
}

// isHead reports whether slot holds the head or the cold head: segments
// that are appended to, which are not retired for their dead bytes and
// not released when empty.
func (sh *shard) isHead(slot int) bool {
	return slot == int(sh.headSlot) || sh.cold != nil && slot == sh.coldSlot
}

// coldFree returns the bytes free in the cold head (0 without one).
func (sh *shard) coldFree() int {
	if sh.cold == nil {
		return 0
	}
	return sh.cold.Free()
}

// coldRoom reports whether the cold head has n bytes free, installing a new
// cold head if it has not and growth allows one.
func (sh *shard) coldRoom(n int, growth coldGrowth) bool {
	if sh.coldFree() >= n {
		return true
	}
	seg := int64(sh.e.segBytes)
	if sh.shrinking || len(sh.free) == 0 || n > sh.e.segBytes || growth == growWithinBudget && sh.full(seg, compacting) {
		return false
	}
	sh.rotateCold()
	return true
}

// rotateCold installs a new cold head just before the head; the old one,
// if any, stays in the log as an ordinary segment, released now if nothing
// in it is live. The caller has checked that a slot is free, and reclaims
// what this puts over the budget, or has checked that it puts nothing
// over.
func (sh *shard) rotateCold() {
	old, had := sh.coldSlot, sh.cold != nil
	sh.coldSlot, sh.cold = sh.install(sh.e.pool.take, true)
	if had && sh.meta[old].live == 0 {
		sh.release(old)
	}
	sh.publish()
}

// seal makes the segment in slot, if it is the cold head, an ordinary
// segment, before it is retired or drained: nothing is appended to it
// from then on, and it is released once empty, at once if it is empty now
// (a head may be). It reports whether it released the segment.
func (sh *shard) seal(slot int) bool {
	if sh.cold == nil || slot != sh.coldSlot {
		return false
	}
	sh.cold = nil
	if sh.meta[slot].live == 0 {
		sh.release(slot)
		return true
	}
	return false
}

// moveRoom returns how many live bytes a retirement that compacts can be
// sure to keep, given headRoom bytes of the head it may use when no cold
// head can take them: the cold head's free bytes, or a whole segment when
// a slot is free for a new cold head.
func (sh *shard) moveRoom(headRoom int) int {
	r := max(sh.coldFree(), headRoom)
	if len(sh.free) > 0 {
		r = max(r, sh.e.segBytes)
	}
	return r
}

// shrinkCold moves the live entries of the cold head into the head, if
// they fit in room bytes of it, and so releases the cold head, unless it
// is keep. A cold head's unused room is budget that compaction cannot
// otherwise take back: one that took the few survivors of a segment of
// deletes holds a whole segment for them. Reclaiming shrinks it as a last
// resort before it evicts. It reports whether it released a segment.
func (sh *shard) shrinkCold(room, keep int, now int64) bool {
	if sh.cold == nil || sh.coldSlot == keep || sh.meta[sh.coldSlot].liveBytes > int64(room) {
		return false
	}
	sh.shrinking = true
	sh.retire(sh.coldSlot, compacting, room, now)
	sh.shrinking = false
	return true
}
