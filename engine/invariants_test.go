package engine

import (
	"fmt"
	"slices"
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
	var held, entries int64
	for i := range e.shards {
		if err := checkShard(e, i); err != nil {
			t.Fatalf("shard %d of %d: %v", i, len(e.shards), err)
		}
		held += e.shards[i].held
		entries += e.shards[i].count.Load()
	}
	if held != e.held.Load() || held > e.maxBytes {
		t.Fatalf("shards hold %d bytes, the engine counts %d, the budget is %d", held, e.held.Load(), e.maxBytes)
	}
	if e.maxEntries > 0 && (entries != e.entries.Load() || entries > e.maxEntries) {
		t.Fatalf("shards hold %d entries, the engine counts %d, MaxEntries is %d", entries, e.entries.Load(), e.maxEntries)
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
	if want := slotsFor(sh.share, e.segBytes); n != want || len(sh.meta) != n || len(sh.gens) != n {
		return fmt.Errorf("%d slots, %d meta, %d gens; want %d", n, len(sh.meta), len(sh.gens), want)
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
		case sh.meta[s].kind == largeSeg && (seg.Used() <= e.largeFrom || seg.Next(0) != seg.Used() ||
			seg.Size() != cap(slices.Grow([]byte(nil), seg.Used()))):
			// One entry, and the bytes the allocator gives it.
			return fmt.Errorf("slot %d: large segment of %d bytes, %d used, first entry ends at %d; large from %d",
				s, seg.Size(), seg.Used(), seg.Next(0), e.largeFrom)
		case sh.meta[s].kind != largeSeg && (seg.Size() != e.segBytes || seg.Used() > seg.Size()):
			return fmt.Errorf("slot %d: segment of %d bytes, %d used; SegmentBytes %d", s, seg.Size(), seg.Used(), e.segBytes)
		}
	}

	// held counts the segments; the head is the newest segment.
	var held int64
	for _, s := range sh.fifo {
		held += int64(sh.slots[s].Load().Size())
	}
	if held != sh.held || sh.seen.held.Load() != sh.held {
		return fmt.Errorf("held %d (published %d), the segments hold %d", sh.held, sh.seen.held.Load(), held)
	}
	if len(sh.fifo) == 0 {
		if sh.head != nil {
			return fmt.Errorf("a head but no segments")
		}
	} else if last := sh.fifo[len(sh.fifo)-1]; int(sh.headSlot) != last || sh.head != sh.slots[last].Load() {
		return fmt.Errorf("head slot %d (segment %p) is not the last of fifo %v (segment %p)",
			sh.headSlot, sh.head, sh.fifo, sh.slots[last].Load())
	}
	if sh.cold != nil && (sh.coldSlot == int(sh.headSlot) || !slices.Contains(sh.fifo, sh.coldSlot) || sh.slots[sh.coldSlot].Load() != sh.cold) {
		return fmt.Errorf("cold head slot %d (segment %p) is not a segment of fifo %v other than the head", sh.coldSlot, sh.cold, sh.fifo)
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
	liveBytes := make([]int64, n)
	var shardLive int64
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
			exp, k, v := seg.Entry(off)
			h := e.hashOf(string(k))
			l, ok := sh.index.load(h)
			ok = ok && l.place() == placeOf(s, seg.Gen(), off)
			if ok == seg.Dead(off) {
				return fmt.Errorf("slot %d: entry at %d of key %q is live %v, marked dead %v", s, off, k, ok, seg.Dead(off))
			}
			if ok {
				size := arena.EntrySize(len(k), len(v))
				if l.size(seg) != size {
					return fmt.Errorf("key %q: its location says %d bytes, the entry has %d", k, l.size(seg), size)
				}
				liveBytes[s] += int64(size)
				shardLive += int64(size)
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
	for _, s := range sh.fifo {
		if sh.meta[s].small != smallIn[s] {
			return fmt.Errorf("slot %d: meta says %d in the small queue, the index %d", s, sh.meta[s].small, smallIn[s])
		}
	}
	if shardLive != sh.live {
		return fmt.Errorf("live bytes %d, the entries hold %d", sh.live, shardLive)
	}
	for _, s := range sh.fifo {
		m := sh.meta[s]
		if m.liveBytes != liveBytes[s] {
			return fmt.Errorf("slot %d: meta says %d live bytes, the walk finds %d", s, m.liveBytes, liveBytes[s])
		}
		if m.live != live[s] || m.appended != entries[s] {
			return fmt.Errorf("slot %d: meta says %d live of %d appended, the walk finds %d live of %d",
				s, m.live, m.appended, live[s], entries[s])
		}
		if m.minExpire > minExp[s] {
			return fmt.Errorf("slot %d: minExpire %d above a live entry's expiry %d", s, m.minExpire, minExp[s])
		}
		// vacate releases a segment as soon as its last live entry
		// leaves; only the heads may be empty.
		if !sh.isHead(s) && m.live == 0 {
			return fmt.Errorf("slot %d: empty segment other than the heads, fifo %v", s, sh.fifo)
		}
	}
	return nil
}
