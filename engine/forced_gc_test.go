package engine

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWritesNeedNoCollection: packed segments come back to the pool
// after grace periods, not collections, so a cache written fifty times
// over with the garbage collector switched off recycles its segments,
// forces no collection, and makes no segment past the pool's limit.
func TestWritesNeedNoCollection(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	e, _ := newTestEngine(t, Config{MaxBytes: 4 << 20, Shards: 4})
	p := &e.pool
	value := make([]byte, 100)
	n := 50 * (4 << 20) / 128
	for i := range n {
		require.NoError(t, e.Set(fmt.Sprintf("k%06d", i%20_000), value, 0))
	}
	s := e.Stats()
	t.Logf("%d writes, %d segments recycled, %d grace periods, %d forced collections, %d untracked",
		n, s.Recycled, p.graces.Load(), s.ForcedGCs, s.Untracked)
	require.Positive(t, s.Recycled)
	require.Zero(t, s.ForcedGCs)
	require.Zero(t, s.Untracked)
	p.mu.Lock()
	defer p.mu.Unlock()
	require.LessOrEqual(t, p.made, p.limit)
}

// TestCostlyForcedCollectionsAreSpaced: forced collections, which large
// values' segments need, are spaced so that they take at most a quarter
// of the processor time GOMAXPROCS allows, and writers meanwhile go on
// past the pool's limit. Each collection here reports that it took 4 x poolWait
// of processor time per P, as a program with a large heap would see, so
// the next may start no sooner than 16 x poolWait after collect began it.
// The test reads the clock a moment after collect does, so it checks half
// that: a thread descheduled between the two reads cannot fail it. It
// writes until four collections have run and a writer has made such a
// segment, bounded by a count of writes.
func TestCostlyForcedCollectionsAreSpaced(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxBytes: 4 << 20, Shards: 4, SegmentBytes: 64 << 10, MaxValueBytes: 32 << 10})
	var (
		mu     sync.Mutex
		starts []time.Time
	)
	cpu := 4 * poolWait * time.Duration(runtime.GOMAXPROCS(0))
	// Set before the first write: the background goroutine reads it after
	// a request, which a write sends.
	e.pool.runGC = func() time.Duration {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		runtime.GC()
		return cpu
	}
	// Values of 20 KiB, each in a segment of its own, fill the pool's
	// limit within a few hundred writes, well inside a pause between
	// collections even under the race detector.
	value := make([]byte, 20<<10)
	for i := 0; e.pool.forced.Load() < 4 || e.pool.untracked.Load() == 0; i++ {
		require.Less(t, i, 1_000_000, "four forced collections, and a segment made past the limit")
		require.NoError(t, e.Set(fmt.Sprintf("k%06d", i%1_000), value, 0))
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(starts); i++ {
		gap := starts[i].Sub(starts[i-1])
		require.GreaterOrEqual(t, gap, 8*poolWait, "collection %d began %v after the one before", i, gap)
	}
}

// TestAskPointFollowsCollections drives a pool by hand, as the engine's
// background goroutine would, with a collection that stands for the
// writes made while it runs by releasing bytes itself. The pool asks for
// the next collection once what is left of its slack holds what the last
// one took, within half the slack and one segment; a request made as the
// pool runs low during a collection is dropped, one made by a writer that
// found the pool empty is kept for after it.
func TestAskPointFollowsCollections(t *testing.T) {
	const size = 256 << 10
	var p segPool
	p.init(size, 64, 4) // slack: half the budget's 64 segments
	require.Equal(t, int64(32*size), p.slack)
	require.Equal(t, p.halfSlack, p.askAt.Load(), "before any collection: at half the slack")

	var took int64 // what the next collection releases while it runs
	var during gcRequest
	p.runGC = func() time.Duration {
		waited := p.waiting.Load() // what this collection brings back
		for released := int64(0); released < took; released += size {
			p.dropped(size)
		}
		p.waiting.Add(-waited)
		if during == atOnce {
			p.askGC(atOnce)
		}
		return 0
	}
	collect := func() {
		t.Helper()
		select {
		case <-p.gc:
		default:
			t.Fatal("no collection asked for")
		}
		p.collect()
	}
	// drop releases until the pool asks for a collection.
	drop := func() {
		t.Helper()
		for i := 0; len(p.gc) == 0; i++ {
			require.Less(t, i, 64, "released %d bytes without a request", p.waiting.Load())
			p.dropped(size)
		}
	}

	for _, c := range []struct {
		took, askAt int64
	}{
		{4 * size, 28 * size},  // quick: asks when 4 segments are left
		{20 * size, 16 * size}, // at most at half the slack
		{0, 31 * size},         // nothing taken: asks with a segment left
	} {
		took, during = c.took, soon
		drop()
		collect()
		require.Equal(t, c.askAt, p.askAt.Load(), "after a collection that took %d segments", c.took/size)
		require.Zero(t, len(p.gc), "a request made during the collection as the pool ran low")
	}

	took, during = 0, atOnce
	drop()
	collect()
	require.Equal(t, 1, len(p.gc), "a writer's request during the collection waits for after it")
	during = soon
	collect()
	require.Zero(t, len(p.gc))
}

// heapNode is a node of BenchmarkSetLargeHeap's program heap.
type heapNode struct {
	next *heapNode
	_    [2]uint64
}

// programHeap keeps BenchmarkSetLargeHeap's heap reachable.
var programHeap []*heapNode

// BenchmarkSetLargeHeap measures Sets into a 16 MiB cache in a program
// whose own heap is 4 million linked objects (about 128 MB) that it does
// not change, so that every collection the pool forces marks them all:
// the case forcedGCShare is for. Besides ns/op it reports the forced
// collections and the untracked segments per million Sets, the
// collector's share of the processor time since the program began and the
// heap's size (runtime.MemStats GCCPUFraction and HeapSys): spacing the
// forced collections trades memory for the writes' time.
//
//	go test -run '^$' -bench SetLargeHeap -count 3 ./engine
func BenchmarkSetLargeHeap(b *testing.B) {
	programHeap = make([]*heapNode, 4_000_000)
	for i := range programHeap {
		programHeap[i] = &heapNode{}
		if i > 0 {
			programHeap[i].next = programHeap[i-1]
		}
	}
	defer func() { programHeap = nil }()
	e, err := New(Config{MaxBytes: 16 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%08d", i)
	}
	value := make([]byte, 64)
	before := e.Stats()
	b.ResetTimer()
	for i := range b.N {
		_ = e.Set(keys[(i*7919)&(len(keys)-1)], value, time.Hour)
	}
	b.StopTimer()
	after := e.Stats()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	perM := 1e6 / float64(b.N)
	b.ReportMetric(float64(after.ForcedGCs-before.ForcedGCs)*perM, "forced/Mop")
	b.ReportMetric(float64(after.Untracked-before.Untracked)*perM, "untracked/Mop")
	b.ReportMetric(ms.GCCPUFraction, "gc-cpu")
	b.ReportMetric(float64(ms.HeapSys)/(1<<20), "heap-MiB")
}
