package engine

import (
	"fmt"
	"testing"

	"github.com/velocache/velo/arena"
)

// checkInvariants locks each shard in turn and verifies that its segment
// table, FIFO, free list, index and bookkeeping agree with each other. It
// must be called on an open engine, between operations: within one, a
// shard may be a segment over budget; after it, it may not.
//
// The checks are plain comparisons rather than testify calls: FuzzModel
// runs them thousands of times a second, and each require call costs a
// stack walk (t.Helper).
func checkInvariants(t testing.TB, e *Engine) {
	t.Helper()
	for i := range e.shards {
		if err := checkShard(e, i); err != nil {
			t.Fatalf("shard %d of %d: %v", i, len(e.shards), err)
		}
	}
}

// checkShard returns the first invariant of shard i that does not hold.
func checkShard(e *Engine, i int) error {
	sh := &e.shards[i]
	sh.mu.Lock()
	defer sh.mu.Unlock()

	if sh.closed {
		return fmt.Errorf("checkInvariants on a closed engine")
	}
	n := len(sh.slots)
	if n != sh.maxSegs+1 || len(sh.meta) != n || len(sh.gens) != n {
		return fmt.Errorf("%d slots, %d meta, %d gens for a budget of %d segments (want one slot more)",
			n, len(sh.meta), len(sh.gens), sh.maxSegs)
	}

	// fifo and free partition the slots.
	inFifo := make([]bool, n)
	seen := make([]bool, n)
	for j, list := range [][]int{sh.fifo, sh.free} {
		for _, s := range list {
			if s < 0 || s >= n || seen[s] {
				return fmt.Errorf("slot %d out of range or listed twice: fifo %v, free %v", s, sh.fifo, sh.free)
			}
			seen[s] = true
			inFifo[s] = j == 0
		}
	}
	if len(sh.fifo)+len(sh.free) != n {
		return fmt.Errorf("fifo %v and free %v do not cover the %d slots", sh.fifo, sh.free, n)
	}

	// Slots in fifo hold a segment of their generation; the others are
	// nil and carry no bookkeeping.
	for s := range n {
		seg := sh.slots[s].Load()
		switch {
		case !inFifo[s] && seg != nil:
			return fmt.Errorf("free slot %d holds a segment", s)
		case !inFifo[s] && sh.meta[s] != (segMeta{}):
			return fmt.Errorf("free slot %d has meta %+v", s, sh.meta[s])
		case !inFifo[s]:
		case seg == nil:
			return fmt.Errorf("fifo slot %d is nil", s)
		case seg.Gen() != sh.gens[s]:
			return fmt.Errorf("slot %d holds generation %d, gens says %d", s, seg.Gen(), sh.gens[s])
		case seg.Size() != e.segBytes || seg.Used() > seg.Size():
			return fmt.Errorf("slot %d: segment of %d bytes, %d used; SegmentBytes %d", s, seg.Size(), seg.Used(), e.segBytes)
		}
	}

	// Within budget, and the head is the newest segment.
	if sh.allocated != len(sh.fifo) || sh.allocated > sh.maxSegs {
		return fmt.Errorf("allocated %d, fifo %v, budget %d segments", sh.allocated, sh.fifo, sh.maxSegs)
	}
	if len(sh.fifo) == 0 {
		if sh.head != nil {
			return fmt.Errorf("a head but no segments")
		}
	} else if last := sh.fifo[len(sh.fifo)-1]; sh.headSlot != last || sh.head != sh.slots[last].Load() {
		return fmt.Errorf("head slot %d (segment %p) is not the last of fifo %v (segment %p)",
			sh.headSlot, sh.head, sh.fifo, sh.slots[last].Load())
	}

	// Every index entry points at a live entry of its key, in the segment
	// now in its slot. The walk goes from the entries to the index, using
	// only index.load and index.size (not the table's internals, which
	// are being replaced): an entry is live when the index's location for
	// its key's hash is exactly where the entry is. Each index entry holds
	// one location, so it matches at most one segment entry, and matched ==
	// size means that every index entry points where it should. The
	// per-slot bookkeeping (live and appended entries, minExpire) is
	// recounted on the way.
	live := make([]int, n)
	entries := make([]int, n)
	minExp := make([]int64, n)
	matched, small := 0, 0
	smallIn := make([]int, n)
	for _, s := range sh.fifo {
		seg := sh.slots[s].Load()
		minExp[s] = arena.Never
		off := 0
		for off < seg.Used() {
			entries[s]++
			exp, k, _ := seg.Entry(off)
			h := e.hashOf(string(k))
			if l, ok := sh.index.load(h); ok && l.place() == makeLoc(s, seg.Gen(), off, false) {
				if e.shardOf(h) != sh {
					return fmt.Errorf("key %q (hash %#x) is indexed in the wrong shard", k, h)
				}
				matched++
				if !l.main() {
					small++
					smallIn[s]++
				}
				live[s]++
				minExp[s] = min(minExp[s], exp)
			}
			off = seg.Next(off)
		}
		if off != seg.Used() {
			return fmt.Errorf("slot %d: entries end at %d, Used is %d", s, off, seg.Used())
		}
	}
	size := sh.index.size()
	if matched != size {
		return fmt.Errorf("index holds %d entries, %d of them point at a live entry of their key", size, matched)
	}
	if int64(size) != sh.count.Load() {
		return fmt.Errorf("count %d, index size %d", sh.count.Load(), size)
	}
	if small != sh.small {
		return fmt.Errorf("small queue count %d, the index has %d entries in it", sh.small, small)
	}
	appended := 0
	for _, s := range sh.fifo {
		appended += sh.meta[s].appended
		if sh.meta[s].small != smallIn[s] {
			return fmt.Errorf("slot %d: meta says %d in the small queue, the index %d", s, sh.meta[s].small, smallIn[s])
		}
	}
	if appended != sh.appended {
		return fmt.Errorf("appended %d, the segments' meta sums to %d", sh.appended, appended)
	}
	if sh.maxEntries > 0 && size > sh.maxEntries {
		return fmt.Errorf("%d entries, MaxEntries per shard %d", size, sh.maxEntries)
	}
	for _, s := range sh.fifo {
		m := sh.meta[s]
		if m.live != live[s] || m.appended != entries[s] {
			return fmt.Errorf("slot %d: meta says %d live of %d appended, the walk finds %d live of %d",
				s, m.live, m.appended, live[s], entries[s])
		}
		if m.minExpire > minExp[s] {
			return fmt.Errorf("slot %d: minExpire %d above a live entry's expiry %d", s, m.minExpire, minExp[s])
		}
		// unlink, retire and compaction release a segment as soon as its
		// last live entry leaves; only the head may be empty.
		if s != sh.headSlot && m.live == 0 {
			return fmt.Errorf("slot %d: empty segment other than the head, fifo %v", s, sh.fifo)
		}
	}
	return nil
}
