package engine

import (
	"math/bits"
	"math/rand/v2"
	"sync/atomic"
)

// index maps a key's 64-bit hash to the packed location of its entry. It is
// an open-addressing hash table with linear probing whose slots are pairs
// of atomic words, so it holds no pointers: the garbage collector never
// scans it, and a Store allocates nothing (xsync's MapOf, measured against
// it in index_test.go, allocates an entry object per Store and costs a
// pointer chase per Load).
//
// Concurrency: loads are lock-free and may run concurrently with anything.
// Every change happens under the owning shard's mutex, so writers never
// race each other. A reader may see a slot mid-change; the cases are:
//
//   - insert: the writer stores loc, then hash. A reader that sees the new
//     hash sees the loc stored before it (Go's atomics are sequentially
//     consistent).
//   - overwrite of a hash: only loc changes; the reader gets the old or the
//     new location, both of which were right at some instant.
//   - delete: hash becomes a tombstone; loc is left behind. When the next
//     slot is empty, the slot (and the tombstones just before it) become
//     empty instead. Linear probing stores no hash past an empty slot of
//     its run, so no stored hash's run goes through those slots: a reader
//     that stops at one misses only hashes that are absent, as it would
//     at the empty slot after it.
//   - a tombstone reused for another hash: a reader that had matched the
//     old hash may load the new loc. It then finds another key at that
//     location and misses, because readers always compare the stored key.
//   - growth: the writer fills a new table and publishes it with one
//     atomic store; readers that loaded the old table finish on it. The
//     old table is never written again, so it answers as the index did at
//     the moment of the swap. Readers never see the new table before that
//     store, so how the writer fills it does not concern them.
//
// So a reader never gets a location that was not, at some point during its
// load, the index's answer for its hash, or one that its key check rejects.
//
// The new table is filled a little at a time, not in one go: copying a
// table of millions of slots takes tens of milliseconds, and every writer
// of the shard would wait for it (a cache under eviction churn fills its
// table with tombstones and needs such a copy every few million inserts).
// While a migration runs, t stays the table readers use and every change
// goes to both tables; each insert of a new hash also copies the next
// migrateStep slots of t into next. When the copy reaches the end of t,
// next holds what t holds and is published. A migration starts when t is
// 3/4 full (an insert is what fills a slot) and ends after at most
// len(t.slots)/migrateStep more inserts, so t never gets more than 3/4 +
// 1/migrateStep full. Deletes and updates do not copy: a Set that retires
// a segment deletes or moves tens of thousands of entries, and should not
// also do that many steps of a migration.
type index struct {
	t atomic.Pointer[table]
}

// migrateStep is how many slots of the current table each insert copies
// into the next one during a migration. Both tables are in memory until
// the copy ends, so a short migration saves memory: over sizes from 1,000
// to 4M hashes, a filling table averaged 34 bytes per hash with 8 and 28
// with 32 (measured as TestIndexDensity does up to 1M, where it logs
// 27.6). An insert copies at most 32 slots, a microsecond or two.
const migrateStep = 32

// A new table has fillNum/fillDen slots per hash it is built for (see
// step).
const fillNum, fillDen = 5, 3

type table struct {
	slots []slot
	n     uint64 // len(slots); any size, not only a power of two (see start)
	seed  uint64 // random per index: see start
	// Readers load the fields above on every Get; inserts and deletes
	// write the ones below. Keep them on different cache lines.
	_    [64]byte
	live int // hashes present; writer only
	used int // slots not empty (live + tombstones); writer only
	// sparseInserts counts the inserts since the table last held a
	// quarter of its slots' worth of hashes (see step). Writer only.
	sparseInserts int

	// Writer only: the table being filled to replace this one, nil when
	// no migration runs, and how many of this table's slots have been
	// copied into it.
	next   *table
	copied int
}

type slot struct {
	hash atomic.Uint64 // emptyHash, tombstone or a stored hash
	loc  atomic.Uint64
}

const (
	emptyHash = 0
	tombstone = 1
	// minTable is the smallest table. See step for the others.
	minTable = 16
)

// fixHash keeps real hashes off the two reserved values. Keys whose hashes
// become equal this way are told apart by the key compare, like any
// collision.
func fixHash(h uint64) uint64 {
	if h < 2 {
		h += 2
	}
	return h
}

func (x *index) init() { x.clear() }

func newTable(n int, seed uint64) *table {
	return &table{slots: make([]slot, n), n: uint64(n), seed: seed}
}

// start returns the slot where probing for h begins: the high word of a
// seeded multiplicative hash of h times n (Lemire's multiply-shift range
// reduction), so a table can have any size: sizes are chosen for memory
// (see step), not rounded up to a power of two. Key hashes are seeded
// already (Engine.hashOf); the table's own seed changes the layout at
// each rebuild.
func (t *table) start(h uint64) uint64 {
	hi, _ := bits.Mul64((h^t.seed)*0x9e3779b97f4a7c15, t.n)
	return hi
}

// after returns the slot after i, wrapping at the end.
func (t *table) after(i uint64) uint64 {
	if i++; i == t.n {
		return 0
	}
	return i
}

func (x *index) load(h uint64) (loc, bool) {
	h = fixHash(h)
	t := x.t.Load()
	slots := t.slots
	// The probe runs to the end of the table, then from its start: the
	// inner loop's bound is the slice's length, so the compiler drops
	// the bounds check, and a probe costs a load and two compares. (A
	// table always has an empty slot, so the probe ends.)
	for i := t.start(h); ; i = 0 {
		for ; i < uint64(len(slots)); i++ {
			switch slots[i].hash.Load() {
			case h:
				return loc(slots[i].loc.Load()), true
			case emptyHash:
				return 0, false
			}
		}
	}
}

// warm loads the first slot that each of hs probes from, in the table and
// in the one a migration is filling, so that the loads that follow find
// them in cache. The loads do not depend on each
// other, so the CPU overlaps their misses. It changes nothing, and the
// compiler keeps the loads because they are atomic (each is an operation
// on memory's state, never removed as dead code).
func (x *index) warm(hs ...uint64) {
	t := x.t.Load()
	for _, h := range hs {
		t.slots[t.start(fixHash(h))].hash.Load()
	}
	// During a migration, deletes and updates also go to the next table.
	if nt := t.next; nt != nil {
		for _, h := range hs {
			nt.slots[nt.start(fixHash(h))].hash.Load()
		}
	}
}

// store sets the location of h and returns the previous one. Writer only.
func (x *index) store(h uint64, l loc) (old loc, replaced bool) {
	return x.put(h, l, exactLoc)
}

// storeNew is store for a new entry: if h was present, the new location
// stays in the old one's queue whatever l says. One probe does it. Writer
// only.
func (x *index) storeNew(h uint64, l loc) (old loc, replaced bool) {
	return x.put(h, l, oldQueue)
}

func (x *index) put(h uint64, l loc, mode putMode) (old loc, replaced bool) {
	h = fixHash(h)
	t := x.t.Load()
	old, replaced = t.put(h, l, mode)
	if replaced && mode == oldQueue {
		l = l.inQueueOf(old)
	}
	if t.next != nil {
		t.next.put(h, l, exactLoc)
	}
	if !replaced {
		x.step(t)
	}
	return old, replaced
}

// A putMode says whether a put stores its location as given, or in the
// queue of the location it replaces, if any (storeNew).
type putMode uint8

const (
	exactLoc putMode = iota
	oldQueue
)

// put sets h's location in t to l (in the old location's queue if h was
// present and mode is oldQueue) and returns the previous location.
func (t *table) put(h uint64, l loc, mode putMode) (old loc, replaced bool) {
	slots := t.slots
	free := -1
	i := t.start(h)
	// Probed as load does, in two runs, so that the compiler drops the
	// bounds checks.
probe:
	for ; ; i = 0 {
		for ; i < uint64(len(slots)); i++ {
			switch slots[i].hash.Load() {
			case h:
				s := &slots[i]
				old = loc(s.loc.Load())
				if mode == oldQueue {
					l = l.inQueueOf(old)
				}
				s.loc.Store(uint64(l))
				return old, true
			case tombstone:
				if free < 0 {
					free = int(i)
				}
			case emptyHash:
				break probe
			}
		}
	}
	if free < 0 {
		free = int(i)
		t.used++
	}
	t.live++
	s := &slots[free]
	s.loc.Store(uint64(l)) // loc first: a reader matching hash must find it
	s.hash.Store(h)
	return 0, false
}

// delete removes h if present. Writer only.
func (x *index) delete(h uint64) {
	h = fixHash(h)
	t := x.t.Load()
	t.delete(h)
	if t.next != nil {
		t.next.delete(h)
	}
}

// delete replaces h's hash in t with a tombstone, if h is there. If the
// slot after it is empty, the tombstone and any tombstones just before it
// are emptied instead: no probe run goes through them (a hash stored past
// an empty slot would be unreachable), so no reader can need them, and
// under eviction churn this keeps the table from filling with tombstones,
// each of which lengthens probes and brings the next rebuild closer.
//
// It looks only at slots on the deleted one's cache line (four 16-byte
// slots; tables past 32 KiB are page-aligned): loading the next line
// cost a cache miss on a quarter of the deletes, 4% of a Set under
// eviction churn.
func (t *table) delete(h uint64) {
	for i := t.start(h); ; i = t.after(i) {
		s := &t.slots[i]
		switch s.hash.Load() {
		case h:
			t.live--
			if i%slotsPerLine == slotsPerLine-1 || i+1 == t.n || t.slots[i+1].hash.Load() != emptyHash {
				s.hash.Store(tombstone)
				return
			}
			// A reader that loads an emptied slot stops there, as it
			// would at the empty slot after it.
			s.hash.Store(emptyHash)
			t.used--
			for j := i; j%slotsPerLine != 0 && t.slots[j-1].hash.Load() == tombstone; j-- {
				t.slots[j-1].hash.Store(emptyHash)
				t.used--
			}
			return
		case emptyHash:
			return
		}
	}
}

// slotsPerLine is how many slots share a 64-byte cache line.
const slotsPerLine = 64 / 16

// step moves a migration along after an insert into t, or starts one when
// more than 3/4 of t's slots are used (by hashes or tombstones), or fewer
// than 1/4 hold a hash (after deletes: the table shrinks). Writer only.
//
// The new table is sized so that the live hashes, plus what the
// migration's changes can add (one hash per insert), fill at most
// fillDen/fillNum of it when it is published: 0.58 to 0.6 full after
// growth, and 3/4 full before the next. Its slots are most of an entry's
// overhead (16 bytes over the fill), so the range is kept narrow;
// doubling to a power of two would leave a table anywhere between 3/8
// and 3/4 full, and under eviction churn, where
// rebuilds only clear tombstones, about 1/4 to 1/2. A new size from 9/10
// to 11/10 of the old one keeps the old size: the rebuild then only clears
// tombstones, and with the same size and seed every hash starts where it
// did, so the copy writes the new table in order, not all over it. A
// sparse table that would keep its size is left alone: that rebuild
// would clear nothing and allocate a table per insert.
//
// A sparse table shrinks only once it has stayed sparse for as many
// inserts as it has slots: a sweep that removes a set of TTL'd keys, or a
// run of deletes, is often followed by the same keys coming back, and a
// table shrunk at once would then grow back through several sizes, each
// a new table, the garbage a steady stream of Sets should not make. What
// stays sparse that long is shrunk, at no more than one slot's worth of
// copying per insert over the wait.
func (x *index) step(t *table) {
	if t.next == nil {
		full := t.used > len(t.slots)/4*3
		sparse := t.live < len(t.slots)/4 && len(t.slots) > minTable
		if !sparse {
			t.sparseInserts = 0
		} else if !full {
			if t.sparseInserts++; t.sparseInserts < len(t.slots) {
				return
			}
		}
		if !full && !sparse {
			return
		}
		old := len(t.slots)
		n := max(minTable, (t.live+old/migrateStep+1)*fillNum/fillDen)
		if n*10 >= old*9 && n*10 <= old*11 {
			if !full {
				return
			}
			n = old
		}
		t.next, t.copied = newTable(n, t.seed), 0
	}
	nt := t.next
	end := min(t.copied+migrateStep, len(t.slots))
	for i := t.copied; i < end; i++ {
		s := &t.slots[i]
		if h := s.hash.Load(); h != emptyHash && h != tombstone {
			// A change made during the migration may have put h in nt
			// already, with the same location t has: storing it again
			// is harmless.
			nt.put(h, loc(s.loc.Load()), exactLoc)
		}
	}
	t.copied = end
	if end == len(t.slots) {
		// Release: a reader that loads nt sees every slot stored in it.
		x.t.Store(nt)
		t.next = nil // t is garbage now, unless a reader still holds it
	}
}

func (x *index) size() int { return x.t.Load().live }

// clear drops every entry, and any migration, into a new table of the
// current one's size: a cache cleared is often filled again with as many
// keys, and a table of minTable would grow back through several sizes.
// (It shrinks, as step says, if it stays sparse.) Writer only.
func (x *index) clear() {
	n := minTable
	if t := x.t.Load(); t != nil {
		n = len(t.slots)
	}
	x.t.Store(newTable(n, rand.Uint64()))
}

// each calls f for every stored hash (after fixHash) and location. Writer
// only; for walks under the shard's mutex and for tests.
func (x *index) each(f func(h uint64, l loc)) {
	t := x.t.Load()
	for i := range t.slots {
		if h := t.slots[i].hash.Load(); h != emptyHash && h != tombstone {
			f(h, loc(t.slots[i].loc.Load()))
		}
	}
}
