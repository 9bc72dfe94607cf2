package engine

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestQuiesceWaitsForReads: quiesce does not end while a read that began
// before it is in progress, and ends once that read has left; reads that
// begin after a stripe was seen idle do not hold it up.
func TestQuiesceWaitsForReads(t *testing.T) {
	r := newReaders(8)
	p := r.enter(viewHold) // a View's: the test blocks inside it
	require.False(t, r.quiesce(nil, 5*time.Millisecond), "a read in progress")

	done := make(chan bool)
	go func() { done <- r.quiesce(nil, time.Minute) }()
	time.Sleep(time.Millisecond)
	select {
	case <-done:
		t.Fatal("quiesce ended during the read")
	default:
	}
	r.leaveHit(p, viewHold)
	require.True(t, <-done)

	stop := make(chan struct{})
	close(stop)
	p = r.enter(viewHold)
	require.False(t, r.quiesce(stop, time.Minute), "stopped")
	r.leave(p, viewHold)
	require.True(t, r.quiesce(nil, time.Minute))
}

// TestReadersCountHits: leaveHit counts a hit and leave does not, and
// fold keeps counting across a stripe's hit field wrapping.
func TestReadersCountHits(t *testing.T) {
	r := newReaders(4)
	for i := range 10 {
		p := r.enter(copyHold)
		if i%2 == 0 {
			r.leaveHit(p, copyHold)
		} else {
			r.leave(p, copyHold)
		}
	}
	require.Equal(t, uint64(5), r.fold())
	// Bring stripe 0's hit field to just below its wrap, as 2^44 hits
	// would, fold, and count 3 more on it: 2 before the wrap, 1 after.
	r.stripes[0].n.Store(hitMask << activeBits)
	r.fold()
	before := r.fold()
	for range 3 {
		r.stripes[0].n.Add(1)
		r.stripes[0].n.Add(hitUnit - 1)
	}
	require.Equal(t, before+3, r.fold())
	require.True(t, r.idle(0))
}

// TestLongViewHoldsSegmentsNotWriters: a View callback that runs while
// writers churn the cache holds back the reuse of released segments, not
// the writers: they go on, past the pool's limit with untracked segments
// if need be, and the value the callback holds stays whole. Once it
// returns, grace periods end again and segments are reused.
func TestLongViewHoldsSegmentsNotWriters(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxBytes: 64 << 10, Shards: 2, SegmentBytes: 4096})
	const key = "held"
	want := recycleValue(key, 300, 7)
	require.NoError(t, e.Set(key, want, 0))
	inView, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var viewErr error
	go func() {
		defer wg.Done()
		e.View(key, func(v []byte) {
			close(inView)
			<-release
			viewErr = checkRecycleValue(key, v)
		})
	}()
	<-inView
	value := make([]byte, 200)
	for i := range 20_000 { // about 60 times the budget
		require.NoError(t, e.Set(fmt.Sprint("k", i%500), value, 0))
	}
	untracked := e.pool.untracked.Load()
	close(release)
	wg.Wait()
	require.NoError(t, viewErr)
	reused := e.pool.reused.Load()
	for i := 0; e.pool.reused.Load() == reused; i++ {
		require.Less(t, i, 200_000, "no segment reused after the View returned")
		require.NoError(t, e.Set(fmt.Sprint("k", i%500), value, 0))
	}
	t.Logf("untracked during the View: %d; graces: %d", untracked, e.pool.graces.Load())
	checkInvariants(t, e)
}

// BenchmarkSetManyReaders measures Sets from two goroutines into a 4 MiB
// cache while 16 goroutines read it, more goroutines than processors, as
// in a server: the scheduler preempts readers wherever they are. Besides
// ns/op it reports, per million Sets, the segments recycled, those made
// past the pool's limit because no grace period ended in time, and the
// collections forced.
//
//	go test -run '^$' -bench SetManyReaders -count 3 ./engine
func BenchmarkSetManyReaders(b *testing.B) {
	e, err := New(Config{MaxBytes: 4 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	v := make([]byte, 64)
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%08d", i)
		if err := e.Set(keys[i], v, 0); err != nil {
			b.Fatal(err)
		}
	}
	stopReaders := readLoop(e, 16, func(r, i int) string { return keys[(r+7*i)%len(keys)] })
	before := e.Stats()
	b.ResetTimer()
	var writers sync.WaitGroup
	for w := range 2 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := w; i < b.N; i += 2 {
				if err := e.Set(keys[(i*3)%len(keys)], v, 0); err != nil {
					panic(err)
				}
			}
		}()
	}
	writers.Wait()
	b.StopTimer()
	stopReaders()
	s := e.Stats()
	perM := func(n uint64) float64 { return float64(n) / float64(b.N) * 1e6 }
	b.ReportMetric(perM(s.Recycled-before.Recycled), "recycled/Mop")
	b.ReportMetric(perM(s.Untracked-before.Untracked), "untracked/Mop")
	b.ReportMetric(perM(s.ForcedGCs-before.ForcedGCs), "forced/Mop")
}

// readLoop starts n goroutines that read e, goroutine r reading key(r, i)
// on its i-th read, until the stop it returns is called, which waits for
// them.
func readLoop(e *Engine, n int, key func(r, i int) string) (stop func()) {
	var done atomic.Bool
	var wg sync.WaitGroup
	for r := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 64)
			for i := 0; !done.Load(); i++ {
				buf, _ = e.AppendValue(buf[:0], key(r, i))
			}
		}()
	}
	return func() {
		done.Store(true)
		wg.Wait()
	}
}

// TestViewCallbacksThatPanicWriteOrClose: a View callback that panics
// leaves its read (the stripes are idle again, and segments are reused);
// one that writes enough to need new segments while its own read holds
// their reuse back finishes, the writes allocating past the pool's limit
// rather than waiting for a read that cannot end; one that calls Close
// returns.
func TestViewCallbacksThatPanicWriteOrClose(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxBytes: 64 << 10, Shards: 2, SegmentBytes: 4096})
	value := make([]byte, 200)
	require.NoError(t, e.Set("k", value, 0))

	require.Panics(t, func() { e.View("k", func([]byte) { panic("callback") }) })
	require.True(t, readsEnd(e), "a panicking callback's read was left open")

	written := 0
	e.View("k", func([]byte) {
		for ; written < 2_000; written++ { // about six times the budget
			require.NoError(t, e.Set(fmt.Sprint("w", written%300), value, 0))
		}
	})
	require.Equal(t, 2_000, written)
	require.True(t, readsEnd(e))
	reused := e.pool.reused.Load()
	for i := 0; e.pool.reused.Load() == reused; i++ {
		require.Less(t, i, 100_000, "no segment reused after the writing callback returned")
		require.NoError(t, e.Set(fmt.Sprint("w", i%300), value, 0))
	}
	checkInvariants(t, e)

	require.NoError(t, e.Set("k", value, 0))
	require.True(t, e.View("k", func([]byte) { require.NoError(t, e.Close()) }))
	require.True(t, e.Closed())
}

// readsEnd reports whether every read in progress on e ends within a
// second, as a grace period sees it (quiesce's list of stripes is the
// grace periods', so it holds their lock).
func readsEnd(e *Engine) bool {
	e.pool.graceMu.Lock()
	defer e.pool.graceMu.Unlock()
	return e.readers.quiesce(nil, time.Second)
}

// TestReleasingWriterEndsGracePeriods: the writer whose release fills a
// batch in limbo ends the grace period itself when no read is in
// progress, asking the background goroutine for nothing; a read in
// progress leaves the batch in limbo and the grace period to that
// goroutine, without marking the pool stalled.
func TestReleasingWriterEndsGracePeriods(t *testing.T) {
	var p segPool
	p.init(4096, 64, 1)
	p.readers = newReaders(8)
	retireBatch := func() {
		for range p.graceAt {
			s, _ := p.take(1)
			p.retire(s)
		}
	}

	retireBatch()
	require.Empty(t, p.limbo)
	require.Len(t, p.free, p.graceAt)
	require.Empty(t, p.graceReq, "no grace period asked of the background goroutine")
	require.EqualValues(t, 1, p.graces.Load())

	in := p.readers.enter(viewHold)
	retireBatch()
	require.Len(t, p.limbo, p.graceAt, "kept for the reader")
	require.Len(t, p.graceReq, 1, "asked of the background goroutine")
	require.False(t, p.stalled.Load())
	p.readers.leave(in, viewHold)
	p.grace(nil)
	require.Empty(t, p.limbo)
	require.EqualValues(t, 2, p.graces.Load())
}
