package engine

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/velocache/velo/arena"
)

// A shard is one independently locked part of the engine: a log of
// segments and an index from key hashes to locations in it.
//
// Readers use index and slots without locking. Everything else, and every
// change to index and slots, is guarded by mu.
//
// Segment lifecycle, all under mu:
//
//	free slot --rotate--> head (appended to) --rotate--> in fifo
//	free slot --rotateCold--> cold head (compaction appends) --rotateCold or retire--> in fifo
//	free slot --addLarge--> in fifo, holding one large entry
//	in fifo --release (no live entry left)--> free slot
//
// Invariant: every location in index points to the segment now in its
// slot, to an entry whose key hashes to the index key. A segment is
// released only when no location points into it.
//
// # Vocabulary
//
// One verb per way an entry or a segment leaves, used the same way in
// every file of the package:
//
//   - drop: the entry leaves the cache (index, counters, the callback's
//     report), for a Reason; evict is drop for room.
//   - move: the entry is copied forward to a head and the index points
//     at the copy: compaction keeps its queue and frequency and copies to
//     the cold head, reinsertion puts it in the main queue at frequency 0
//     and copies to the head (see moveKind and cold.go).
//   - vacate: the bookkeeping of the place an entry left, by drop, move or
//     overwrite (its segment's live count and bytes, its queue); a segment
//     left with no live entry is released, unless it is a head.
//   - release: a segment with no live entry leaves its slot and the
//     budget.
//   - retire: a segment that still holds live entries is emptied by
//     settling each, then released (see reclaim for which segment).
//   - settle: the fate of one live entry of a segment being retired or
//     drained: dropped if expired, moved (or, in a segment of its own,
//     relinked) if kept, evicted if not.
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
	// published). A released segment's slot is set to nil; its memory is
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
	headSlot int32 // int32 to leave room on the line
	closed   bool
	watching bool         // watches holds a watch (see Watch)
	count    atomic.Int64 // live entries; written under mu, read by Len
	small    int          // live entries in the small queue (see policy.go)
	live     int64        // bytes (arena.EntrySize) of the live entries
	sets     uint64
	setBytes int64

	// waiting holds the Sets that found mu taken, for its holder to make
	// (see combine.go). Not guarded by mu: written by the waiters, so it
	// has a line of its own; a Set reads it after its write.
	waiting atomic.Pointer[setRequest]
	_       [56]byte

	e *Engine
	// cold is the cold head, where compaction moves the entries it keeps
	// (see cold.go), in slot coldSlot; nil when there is none.
	cold     *arena.Segment
	coldSlot int
	meta     []segMeta // per slot
	gens     []uint32  // per slot: the generation of its latest segment
	fifo     []int     // slots holding segments, oldest first; the last is the head
	free     []int     // empty slots
	held     int64     // bytes of the segments in fifo
	share    int64     // MaxBytes / shards: what the shard holds when all hold alike
	// liveStep is how far the live bytes may fall below what the shard
	// last published before it publishes again (see vacate).
	liveStep int64

	// firstExpire is at most every segment's minExpire: no live entry of
	// the shard expires before it (arena.Never if none expires).
	firstExpire int64
	// shrinking is set while shrinkCold moves the cold head's entries
	// into the head: no new cold head may take them instead.
	shrinking      bool
	reinsertCredit int // bytes reinsertion may still move into heads (see reinsertRoom)
	movedBytes     int64

	maxEntries int // MaxEntries / shards, rounded up; 0: no entry bound

	// watches holds the watches on (see Watch), by key hash.
	watches  map[uint64]watched
	watchIDs uint64 // the last id given

	// The eviction policy (see evictOne): entries are in a small queue
	// (new keys) or a main queue; which one is a bit of their location.
	// small (above) counts the live entries in the small queue, hands are
	// the CLOCK hands over each, and sketch estimates how often each key
	// was seen lately (nil without MaxEntries).
	hands  [2]hand
	sketch sketch

	// drain is a segment being emptied a little at a time, ahead of its
	// retirement (see drainStep).
	drain drain

	deletes, evictions, expirations uint64

	// pending are removals for Config.OnRemove not yet reported (see
	// removal); nil when there is no callback.
	pending []removal

	// seen is what other shards read of this one, without its lock, to
	// choose where to reclaim (see publish).
	seen struct {
		live, held atomic.Int64
		oldest     atomic.Uint64 // birth of the oldest segment other than the head; noVictim if none
		// firstExpire is firstExpire above, for reclaims in other
		// shards that look for expired entries (dropExpiredElsewhere).
		firstExpire atomic.Int64
	}

	_ [24]byte // rounds the size up to a multiple of 64 (TestShardLayout)
}

func (sh *shard) init(e *Engine, share int64, slots, maxEntries int) {
	sh.e = e
	sh.index.init()
	sh.slots = make([]atomic.Pointer[arena.Segment], slots)
	sh.meta = make([]segMeta, slots)
	sh.gens = make([]uint32, slots)
	sh.free = make([]int, 0, slots)
	for i := slots - 1; i >= 0; i-- {
		sh.free = append(sh.free, i)
	}
	sh.share = share
	sh.reinsertCredit = sh.maxReinsertCredit()
	sh.liveStep = int64(e.segBytes) / 4
	sh.maxEntries = maxEntries
	sh.hands[smallQueue].slot = -1
	sh.hands[mainQueue].slot = -1
	sh.noteFirstExpire()
	if maxEntries > 0 {
		sh.sketch.init(maxEntries)
	}
	sh.publish()
}

// keyString views an entry's key bytes as a string without copying. Safe
// because published entry bytes are never written again.
func keyString(k []byte) string {
	if len(k) == 0 {
		return ""
	}
	return unsafe.String(&k[0], len(k))
}

// A valueKind says what an entry records: a value, or that its key has
// none (Engine.SetAbsent).
type valueKind uint8

const (
	storedValue valueKind = iota
	storedAbsence
)

// set appends the entry and points the index at it. The caller has checked
// its size (Engine.check). An entry that never expires (expireAt
// arena.Never, which a TTL too long to count gives too) records no TTL.
func (sh *shard) set(h uint64, key string, value []byte, expireAt int64, ttl time.Duration, now int64, kind valueKind) {
	if expireAt == arena.Never {
		ttl = 0
	}
	if sh.watching {
		sh.written(h)
	}
	n := arena.EntrySize(len(key), len(value))
	var seg *arena.Segment
	var slot int
	if n > sh.e.largeFrom {
		slot, seg = sh.addLarge(n, now)
	} else {
		if sh.head == nil || sh.head.Free() < n {
			sh.rotate(n, now)
		}
		slot, seg = int(sh.headSlot), sh.head
	}
	off, _ := seg.Append(key, value, expireAt, ttl)
	if kind == storedAbsence {
		seg.MarkAbsent(off)
	}
	sh.noteAppend(slot, n, expireAt)
	if kind == storedValue {
		sh.sets++
		sh.setBytes += int64(n)
	}
	// A new key starts in the small queue, and the sketch counts it. A key
	// already stored stays in its queue: in the small one, the write
	// counts as a read, which earns no place in the main queue of its own
	// (see evictOne), so keys an attacker sets twice each do not push out
	// keys read again and again. The old entry, if any, is read
	// only for the callback: an overwrite costs no cache miss on the old
	// bytes (reading them doubled the time of a Set of a Zipf-hot key in
	// BenchmarkZipfWrite; the location carries the old entry's size). So
	// a Set that displaces another key with the same 64-bit hash is
	// counted only when the callback is set; see noteReplaced. Without
	// it, the old entry's expiry is read only where its segment's
	// bookkeeping (on the line vacate writes) says an entry there may
	// have expired, to count it in Stats.Expirations.
	l := makeLoc(slot, seg.Gen(), off, false, n)
	if old, replaced := sh.index.storeNew(h, l); replaced {
		if sh.e.onRemove != nil {
			sh.noteReplaced(old, key, now)
		} else if sh.meta[old.slot()].minExpire <= now {
			sh.countExpired(old, now)
		}
		if !old.main() {
			sh.joinSmall(slot)
			if sh.maxEntries > 0 {
				seg.SetFreq(off, 1) // bounded by bytes alone, only reads keep an entry
			}
		}
		sh.vacate(old)
	} else {
		if c := int(sh.count.Add(1)); sh.maxEntries > 0 && c > len(sh.sketch.table) {
			sh.sketch.fit(c)
		}
		sh.sketch.add(h)
		sh.joinSmall(slot)
		if sh.e.maxEntries > 0 && sh.e.entries.Add(1) > sh.e.maxEntries {
			sh.evictForNewKey(now)
		}
	}
	switch {
	case n > sh.e.largeFrom:
		sh.reclaim(0, slot, now) // once the old entry left (see addLarge)
		sh.publish()
	case slot == int(sh.headSlot):
		sh.drainStep(n, now)
	}
}

// noteReplaced reports the entry at old, whose location a Set of key just
// replaced: normally an older entry of key, reported as Replaced; but if
// it was another key with the same 64-bit hash, that key was displaced: it
// is reported and counted as evicted. Either is reported and counted as
// expired if it had expired.
// With the seeded hash no one can make that happen on purpose (see
// Engine.hashOf), and by chance it happens about once in 2^65/n^2 caches
// of n keys; without a callback it goes uncounted, since telling it apart
// costs a read of the old entry on every overwrite.
func (sh *shard) noteReplaced(old loc, key string, now int64) {
	seg := sh.slots[old.slot()].Load()
	exp, k, _ := seg.Entry(old.off())
	switch {
	case exp <= now:
		sh.countExpired(old, now)
		sh.noteRemoval(old, Expired)
	case string(k) != key:
		if !seg.Absent(old.off()) { // unreported and uncounted, as drop leaves it
			sh.evictions++
		}
		sh.noteRemoval(old, Evicted)
	default:
		sh.noteRemoval(old, Replaced)
	}
}

// countExpired counts the entry at old, which a Set replaced, in
// Stats.Expirations if it had expired by now; an absence (SetAbsent) is no
// value of the user's, and is not counted, as drop does not count it.
func (sh *shard) countExpired(old loc, now int64) {
	seg := sh.slots[old.slot()].Load()
	if exp, _, _ := seg.Entry(old.off()); exp <= now && !seg.Absent(old.off()) {
		sh.expirations++
	}
}

// each is Range over one shard. The log's end is read under the lock; the
// walk is not. Each entry is read inside a read (readers.enter), after
// checking that its segment is still in its slot under the same
// generation: then the segment cannot be reused until the read ends, and
// its entries below the Used read under the lock were written before and
// never change. A segment released since is skipped: its live entries
// were moved to the head, past where the walk stops, or dropped. The key
// and value are copied into buffers of the walk's own before the read
// ends, so that yield, which runs the caller's code, holds back no
// segment's reuse; they are valid only until yield returns.
func (sh *shard) each(yield func(key string, value []byte, info EntryInfo) bool) bool {
	type part struct {
		slot int
		seg  *arena.Segment
		gen  uint32
		used int
	}
	if !sh.lockOpen() {
		return false
	}
	parts := make([]part, len(sh.fifo))
	for i, slot := range sh.fifo {
		seg := sh.slots[slot].Load()
		parts[i] = part{slot, seg, seg.Gen(), seg.Used()}
	}
	sh.mu.Unlock()
	r := sh.e.readers
	now := sh.e.clock.Now()
	var key, value []byte
	for _, p := range parts {
		for off := 0; off < p.used; {
			pin := r.enter(copyHold)
			if s := sh.slots[p.slot].Load(); s != p.seg || s.Gen() != p.gen {
				r.leave(pin, copyHold)
				break // released since the lock
			}
			next := p.seg.Next(off)
			exp, k, v := p.seg.Entry(off)
			if exp <= now || p.seg.Absent(off) {
				r.leave(pin, copyHold)
				off = next
				continue
			}
			// The index is read atomically, as a Get reads it: an entry
			// is yielded only while its key's location is this one.
			l, ok := sh.index.load(sh.e.hashOf(keyString(k)))
			at := placeOf(p.slot, p.gen, off)
			if !ok || l.place() != at {
				r.leave(pin, copyHold)
				off = next
				continue
			}
			key = append(key[:0], k...)
			value = append(value[:0], v...)
			info := EntryInfo{ExpireAt: exp, TTL: p.seg.TTL(off), at: at}
			r.leave(pin, copyHold)
			if !yield(keyString(key), value, info) {
				return false
			}
			off = next
		}
	}
	return true
}

// delete removes key if present and not expired, and reports whether it was.
func (sh *shard) delete(h uint64, key string, now int64) bool {
	if sh.watching {
		sh.written(h)
	}
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
		return false
	}
	sh.drop(h, l, Deleted)
	return !seg.Absent(l.off()) // an absence goes too, but was no value
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
// one already copying from a segment is done before the pool reuses it
// (the segments go back as release sends them). The
// generations per slot carry on counting, so no old location can ever
// match a segment installed later.
func (sh *shard) reset() {
	sh.index.clear()
	for _, slot := range sh.fifo {
		seg := sh.slots[slot].Load()
		sh.slots[slot].Store(nil)
		sh.e.pool.released(seg, sh.meta[slot].kind)
		sh.meta[slot] = segMeta{}
		sh.free = append(sh.free, slot)
	}
	sh.fifo = sh.fifo[:0]
	sh.head, sh.headSlot = nil, 0
	sh.cold = nil
	sh.e.held.Add(-sh.held)
	sh.held = 0
	if sh.e.maxEntries > 0 {
		sh.e.entries.Add(-sh.count.Load())
	}
	sh.count.Store(0)
	sh.small, sh.live = 0, 0
	sh.reinsertCredit = sh.maxReinsertCredit()
	sh.noteFirstExpire()
	sh.hands[smallQueue] = hand{slot: -1}
	sh.hands[mainQueue] = hand{slot: -1}
	sh.drain = drain{}
	clear(sh.watches)
	sh.watching = false
	if sh.maxEntries > 0 {
		sh.sketch.init(sh.maxEntries)
	}
	sh.publish()
}
