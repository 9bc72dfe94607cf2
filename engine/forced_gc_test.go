package engine

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestOwnCollectionsBringSegmentsBack: in a program whose own collections
// bring released segments back, the cache forces none. The test collects
// after every eighth of the slack's worth of writes, as a program that
// allocates would, and waits for the finalizers to hand the segments back.
// (Before the pool counted what waits for a collection, it forced one
// after every half slack released, whatever else collected.)
func TestOwnCollectionsBringSegmentsBack(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxBytes: 4 << 20, Shards: 4})
	p := &e.pool
	value := make([]byte, 100)
	chunk := int(p.askEvery) / 4 / len(value)
	writes := 0
	for round := range 64 {
		for range chunk {
			require.NoError(t, e.Set(fmt.Sprintf("k%06d", writes%20_000), value, 0))
			writes++
		}
		runtime.GC()
		for i := 0; p.waiting.Load() >= p.askEvery/2; i++ {
			require.Less(t, i, 1000, "round %d: %d bytes still wait for a collection", round, p.waiting.Load())
			time.Sleep(time.Millisecond)
		}
	}
	s := e.Stats()
	t.Logf("%d writes, %d segments recycled, %d forced collections", writes, s.Recycled, s.ForcedGCs)
	require.Positive(t, s.Recycled)
	require.Zero(t, s.ForcedGCs)
}

// TestLongForcedCollectionsAreSpaced: forced collections that take longer
// than poolWait (here made to, by a pause before each) are at least three
// times their length apart, and writers meanwhile go on past the pool's
// limit, with segments it does not track. The test writes until
// four collections have run and a writer has made such a segment, bounded
// by a count of writes.
func TestLongForcedCollectionsAreSpaced(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxBytes: 4 << 20, Shards: 4})
	var (
		mu     sync.Mutex
		starts []time.Time
		ends   []time.Time
	)
	// Set before the first write: the background goroutine reads it after
	// a request, which a write sends.
	e.pool.runGC = func() {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		time.Sleep(2 * poolWait)
		runtime.GC()
		mu.Lock()
		ends = append(ends, time.Now())
		mu.Unlock()
	}
	// Values of 2 KiB empty the pool's slack within a few thousand writes,
	// well inside a pause between collections even under the race detector.
	value := make([]byte, 2048)
	for i := 0; e.pool.forced.Load() < 4 || e.pool.untracked.Load() == 0; i++ {
		require.Less(t, i, 10_000_000, "four forced collections, and a segment made past the limit")
		require.NoError(t, e.Set(fmt.Sprintf("k%06d", i%1_000), value, 0))
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(ends); i++ {
		took := ends[i-1].Sub(starts[i-1])
		gap := starts[i].Sub(ends[i-1])
		require.GreaterOrEqual(t, gap, forcedGCGap*took, "collection %d began %v after the one before, which took %v", i, gap, took)
	}
}
