package engine

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/velocache/velo/arena"
)

// TestDrainEmptiesOldestBeforeRotation writes new, never-read keys into a
// shard at its budget and checks that every rotation finds the oldest
// segment already emptied by the drain: no Set has to walk a whole segment.
func TestDrainEmptiesOldestBeforeRotation(t *testing.T) {
	// Entry sizes that divide a segment evenly and ones that do not: the
	// walk's last stretch is then shorter than a batch.
	for size := 5; size < 300; size += 7 {
		t.Run(fmt.Sprint(size), func(t *testing.T) { testDrain(t, size) })
	}
}

func testDrain(t *testing.T, size int) {
	e, _ := newTestEngine(t, Config{MaxBytes: 64 << 10, Shards: 1, SegmentBytes: 4096})
	sh := &e.shards[0]
	n := arena.EntrySize(len("k000000"), size)
	rotations, drained := 0, 0
	// Once the shard has reached its budget, every rotation would retire
	// the oldest segment, unless the drain has released it already (then
	// the shard holds one segment fewer than its budget). The first
	// rotation after reaching the budget comes before any drain started.
	atBudget := false
	for i := range 5000 {
		k := fmt.Sprintf("k%06d", i)
		if sh.head != nil && sh.head.Free() < n && atBudget {
			rotations++
			if e.held.Load()+int64(e.segBytes) <= e.maxBytes {
				drained++
			}
		}
		if e.held.Load() == e.maxBytes && sh.head.Used() < sh.head.Size()/2 {
			atBudget = true // a drain can start in this head
		}
		require.NoError(t, e.Set(k, valueFor(k, size), 0))
		if i%1000 == 0 {
			checkInvariants(t, e)
		}
	}
	require.Greater(t, rotations, 10)
	require.Equal(t, rotations, drained, "every rotation at the budget should find the oldest segment drained")
	checkInvariants(t, e)
	// The most recent keys are all there: the drain evicts only what
	// retiring would.
	for i := 5000 - 50; i < 5000; i++ {
		k := fmt.Sprintf("k%06d", i)
		v, ok := e.AppendValue(nil, k)
		require.True(t, ok, k)
		require.Equal(t, valueFor(k, size), v)
	}
}
