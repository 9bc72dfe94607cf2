package engine

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/velocache/velo/arena"
)

// checkInvariants locks each shard in turn and verifies that its segment
// table, FIFO, free list, index and bookkeeping agree with each other. It
// must be called on an open engine, between operations (a shard within an
// operation may be one segment over budget; after it, it may not).
func checkInvariants(t testing.TB, e *Engine) {
	t.Helper()
	for i := range e.shards {
		checkShard(t, e, i)
	}
}

// checkShard holds the shard's lock while checking, and releases it even
// when a require fails (FailNow exits the goroutine through defers).
func checkShard(t testing.TB, e *Engine, i int) {
	t.Helper()
	sh := &e.shards[i]
	sh.mu.Lock()
	defer sh.mu.Unlock()

	require.False(t, sh.closed, "shard %d: checkInvariants on a closed engine", i)
	n := len(sh.slots)
	require.Equal(t, sh.maxSegs+1, n, "shard %d: one slot more than the budget", i)
	require.Len(t, sh.meta, n, "shard %d: meta per slot", i)
	require.Len(t, sh.gens, n, "shard %d: gens per slot", i)

	// fifo and free partition the slots.
	inFifo := make([]bool, n)
	seen := make([]bool, n)
	for _, s := range sh.fifo {
		require.True(t, s >= 0 && s < n, "shard %d: fifo slot %d out of range", i, s)
		require.False(t, seen[s], "shard %d: slot %d twice in fifo/free", i, s)
		seen[s], inFifo[s] = true, true
	}
	for _, s := range sh.free {
		require.True(t, s >= 0 && s < n, "shard %d: free slot %d out of range", i, s)
		require.False(t, seen[s], "shard %d: slot %d twice in fifo/free", i, s)
		seen[s] = true
	}
	require.Equal(t, n, len(sh.fifo)+len(sh.free), "shard %d: fifo %v and free %v do not cover the slots", i, sh.fifo, sh.free)

	// Slots in fifo hold a segment of this generation; the others are nil.
	for s := range n {
		seg := sh.slots[s].Load()
		if !inFifo[s] {
			require.Nil(t, seg, "shard %d: free slot %d holds a segment", i, s)
			require.Equal(t, segMeta{}, sh.meta[s], "shard %d: free slot %d has meta", i, s)
			continue
		}
		require.NotNil(t, seg, "shard %d: fifo slot %d is nil", i, s)
		require.Equal(t, sh.gens[s], seg.Gen(), "shard %d: slot %d generation", i, s)
		require.Equal(t, e.segBytes, seg.Size(), "shard %d: slot %d size", i, s)
		require.LessOrEqual(t, seg.Used(), seg.Size(), "shard %d: slot %d overfull", i, s)
	}

	// Within budget, and the head is the newest segment.
	require.Equal(t, len(sh.fifo), sh.allocated, "shard %d: allocated", i)
	require.LessOrEqual(t, sh.allocated, sh.maxSegs, "shard %d: over budget", i)
	if len(sh.fifo) == 0 {
		require.Nil(t, sh.head, "shard %d: head without segments", i)
	} else {
		last := sh.fifo[len(sh.fifo)-1]
		require.Equal(t, last, sh.headSlot, "shard %d: head slot is not last in fifo %v", i, sh.fifo)
		require.Same(t, sh.slots[last].Load(), sh.head, "shard %d: head is not the segment in its slot", i)
	}

	// Every index entry points at a live entry of its key, in the segment
	// now in its slot. The walk goes the other way, from the entries to the
	// index, using only index.load and index.size (not the table's
	// internals, which are being replaced): an entry is live when the
	// index's location for its key's hash is exactly where the entry is.
	// Each index entry has one location, so it is matched by at most one
	// segment entry, and matched == index size means every index entry
	// points where it should. Recount the per-slot bookkeeping meanwhile.
	live := make([]int, n)
	liveBytes := make([]int, n)
	minExp := make([]int64, n)
	matched := 0
	for _, s := range sh.fifo {
		seg := sh.slots[s].Load()
		minExp[s] = arena.Never
		off := 0
		for off < seg.Used() {
			exp, k, val := seg.Entry(off)
			h := e.hash(string(k))
			if l, ok := sh.index.load(h); ok && l == makeLoc(s, seg.Gen(), off) {
				require.Same(t, sh, e.shardOf(h), "shard %d: key %q belongs to another shard", i, k)
				matched++
				live[s]++
				liveBytes[s] += arena.EntrySize(len(k), len(val))
				minExp[s] = min(minExp[s], exp)
			}
			off = seg.Next(off)
		}
		require.Equal(t, seg.Used(), off, "shard %d: slot %d entries overrun Used", i, s)
	}
	size := sh.index.size()
	require.Equal(t, size, matched, "shard %d: index entries that point nowhere valid", i)

	require.Equal(t, int64(size), sh.count.Load(), "shard %d: count vs index size", i)
	if sh.maxEntries > 0 {
		require.LessOrEqual(t, size, sh.maxEntries, "shard %d: over MaxEntries", i)
	}
	total := int64(0)
	for _, s := range sh.fifo {
		m := sh.meta[s]
		require.Equal(t, live[s], m.live, "shard %d: slot %d live", i, s)
		require.Equal(t, liveBytes[s], m.liveBytes, "shard %d: slot %d liveBytes", i, s)
		require.LessOrEqual(t, m.minExpire, minExp[s], "shard %d: slot %d minExpire above a live entry's expiry", i, s)
		if s != sh.headSlot {
			// unlink, retire and compact release a segment as soon as
			// its last live entry leaves; only the head may be empty.
			require.Positive(t, m.live, "shard %d: empty non-head segment in slot %d", i, s)
		}
		total += int64(m.liveBytes)
	}
	require.Equal(t, total, sh.liveBytes, "shard %d: liveBytes vs per-slot sum", i)
}
