package engine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/require"

	"github.com/velocache/velo/arena"
)

// waitForLimbo runs grace periods in the caller until every released
// segment has passed one (the pool may still hold none free: the shard
// can hold every segment the pool made). No read is in progress, so the
// first ends the wait; the count only bounds a bug.
func waitForLimbo(t *testing.T, e *Engine) {
	t.Helper()
	for range 100 {
		e.pool.graceNow()
		e.pool.mu.Lock()
		n := len(e.pool.limbo)
		e.pool.mu.Unlock()
		if n == 0 {
			return
		}
	}
	t.Fatal("released segments did not pass a grace period")
}

// TestSegmentsComeBackToThePool: released segments return to the pool
// after a grace period, so a cache written many times its size over, by
// writers while readers read, makes no more segments than the pool's
// limit.
func TestSegmentsComeBackToThePool(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxBytes: 256 << 10, Shards: 1, SegmentBytes: 4096})
	value := make([]byte, 200)
	stopReaders := readLoop(e, 2, func(r, i int) string { return fmt.Sprint("k", i*7+r) })
	for i := range 50_000 {
		require.NoError(t, e.Set(fmt.Sprint("k", i), value, 0))
	}
	stopReaders()
	checkInvariants(t, e)
	waitForLimbo(t, e)
	p := &e.pool
	p.mu.Lock()
	made := p.made
	p.mu.Unlock()
	t.Logf("made %d of %d, reused %d, untracked %d; %d bytes written", made, p.limit, p.reused.Load(), p.untracked.Load(), e.Stats().SetBytes)
	require.LessOrEqual(t, made, p.limit)
	require.Greater(t, p.reused.Load(), uint64(100), "segments were recycled")
}

// TestLargeSegmentsShareThePoolLimit: large entries' segments count
// against the pool's limit until a collection frees them, so a stream of
// large overwrites holds the memory the cache has made to that limit
// (past it only by the segments made after a writer's wait ran out,
// which Untracked counts), and free packed segments make room for them.
func TestLargeSegmentsShareThePoolLimit(t *testing.T) {
	const n = 200 << 10
	e, _ := newTestEngine(t, Config{MaxBytes: 8 << 20, Shards: 2, SegmentBytes: 64 << 10, MaxValueBytes: n})
	p := &e.pool
	small, large := make([]byte, 100), make([]byte, n)
	held := func() int64 {
		p.mu.Lock()
		defer p.mu.Unlock()
		return int64(p.made)*int64(p.size) + p.large.Load()
	}
	for i := range 4000 {
		if i < 2000 {
			require.NoError(t, e.Set(fmt.Sprint("s", i), small, 0))
			continue
		}
		require.NoError(t, e.Set(fmt.Sprint("l", i%40), large, 0))
		bound := p.maxBytes + int64(p.untracked.Load())*int64(arena.LargeSegmentBytes(arena.EntrySize(8, n)))
		require.LessOrEqual(t, held(), bound, "after Set %d", i)
	}
	checkInvariants(t, e)
	t.Logf("made %d packed, %d large bytes, limit %d, untracked %d", p.made, p.large.Load(), p.maxBytes, p.untracked.Load())
}

// TestSteadyStateSetAllocatesNothing: with segments coming back from the
// pool, a Set that fills its head and rotates to a new one allocates
// nothing, not even amortized.
func TestSteadyStateSetAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	const segBytes = 4096
	e, _ := newTestEngine(t, Config{MaxBytes: 4 << 20, Shards: 2, SegmentBytes: segBytes})
	// Entries of a quarter segment exactly: the largest packed ones; a
	// rotation every four Sets.
	const n = 20_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%07d", i)
	}
	value := make([]byte, segBytes/4-arena.HeaderSize-len(keys[0]))
	require.Equal(t, segBytes/4, arena.EntrySize(len(keys[0]), len(value)))
	i := 0
	set := func() {
		if err := e.Set(keys[i%n], value, 0); err != nil {
			panic(err)
		}
		i++
	}
	// Fill the budget, and go round it once so that the index has grown
	// to its size and segments have been released.
	for range 2 * (4 << 20) / (segBytes / 4) {
		set()
	}
	// Each rotation releases a segment, and the release that brings a
	// quarter of the slack into limbo moves the batch to free (graceHere),
	// so the rotations that follow find free segments.
	const runs = 128 // 32 rotations
	allocs := testing.AllocsPerRun(runs, set)
	require.Zero(t, allocs, "allocations per Set")
	require.Positive(t, e.Stats().Evictions)
}

// recycleValue is a value for key of n bytes (at least 8) carrying a CRC
// of its key and of its own tail: a torn, recycled or another key's value
// fails the check.
func recycleValue(key string, n int, seed byte) []byte {
	v := make([]byte, n)
	for i := 8; i < n; i++ {
		v[i] = seed + byte(i)
	}
	binary.LittleEndian.PutUint32(v, crc32.ChecksumIEEE([]byte(key)))
	binary.LittleEndian.PutUint32(v[4:], crc32.ChecksumIEEE(v[8:]))
	return v
}

func checkRecycleValue(key string, v []byte) error {
	if len(v) < 8 || binary.LittleEndian.Uint32(v) != crc32.ChecksumIEEE([]byte(key)) ||
		binary.LittleEndian.Uint32(v[4:]) != crc32.ChecksumIEEE(v[8:]) {
		return fmt.Errorf("Get(%q): a value of %d bytes that is not one written for it", key, len(v))
	}
	return nil
}

// recycleStress runs writers that churn a small cache (each segment is
// released within a few thousand writes) against readers that check every
// value they get, by AppendValue and by View, so that segments are
// recycled while readers may still be reading them; it returns the first
// bad read, if any, after ops writes per writer. A goroutine also runs
// collections, which recycling must not depend on, and which free the
// large and untracked segments.
func recycleStress(t *testing.T, e *Engine, ops int) error {
	const keys, writers, readers = 512, 2, 2
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprint("key", i)
	}
	var (
		wg, rg   sync.WaitGroup
		stop     atomic.Bool
		firstErr atomic.Pointer[error]
	)
	fail := func(err error) { firstErr.CompareAndSwap(nil, &err) }
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ops {
				k := names[(i*7+w*13)%keys]
				if err := e.Set(k, recycleValue(k, 16+(i*31)%400, byte(i)), 0); err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	for r := range readers {
		rg.Add(1)
		go func() {
			defer rg.Done()
			defer func() {
				// The unsafe variant can send a reader into bytes being
				// rewritten, lengths included.
				if p := recover(); p != nil {
					fail(fmt.Errorf("reader panicked: %v", p))
				}
			}()
			var buf []byte
			for i := 0; !stop.Load(); i++ {
				k := names[(i*11+r)%keys]
				if i%2 == 0 {
					v, ok := e.AppendValue(buf[:0], k)
					if ok {
						if err := checkRecycleValue(k, v); err != nil {
							fail(err)
						}
					}
					buf = v
				} else {
					e.View(k, func(v []byte) {
						if err := checkRecycleValue(k, v); err != nil {
							fail(err)
						}
					})
				}
			}
		}()
	}
	rg.Add(1)
	go func() {
		defer rg.Done()
		for !stop.Load() {
			runtime.GC()
		}
	}()
	wg.Wait()
	stop.Store(true)
	rg.Wait()
	if err := firstErr.Load(); err != nil {
		return *err
	}
	return nil
}

// TestRecyclingReadersSeeOnlyTheirValues: under recycling, every value a
// reader gets was written for its key, whole.
func TestRecyclingReadersSeeOnlyTheirValues(t *testing.T) {
	ops := 50_000
	if raceEnabled || testing.Short() {
		ops = 10_000
	}
	e, _ := newTestEngine(t, Config{MaxBytes: 64 << 10, Shards: 2, SegmentBytes: 4096})
	require.NoError(t, recycleStress(t, e, ops))
	checkInvariants(t, e)
	t.Logf("reused %d segments, %d untracked", e.pool.reused.Load(), e.pool.untracked.Load())
	require.Positive(t, e.pool.reused.Load(), "no segment was recycled: the test tested nothing")
}

// TestCollidingKeysReadersSeeOnlyTheirValues: the same stress with every
// key sharing its hash with three others, so that the index sends readers
// to other keys' entries everywhere they look and writers displace each
// other: a reader still gets only values written for its own key.
func TestCollidingKeysReadersSeeOnlyTheirValues(t *testing.T) {
	ops := 50_000
	if raceEnabled || testing.Short() {
		ops = 10_000
	}
	e, _ := newTestEngine(t, Config{MaxBytes: 64 << 10, Shards: 2, SegmentBytes: 4096,
		hash: func(k string) uint64 { return xxhash.Sum64String(k) & (127 << 56) }})
	require.NoError(t, recycleStress(t, e, ops))
	checkInvariants(t, e)
	require.Less(t, e.Len(), 128+1, "one entry per hash")
}

// TestUnsafeRecyclingIsCaught: recycling a segment as soon as it is
// released, while readers may still be in it, is caught by the same
// stress: the checks above are strong enough to see what the grace
// period prevents. (Without the race detector, which would report the
// unsafe variant's races instead.) A reader sent into bytes being
// rewritten may also read a length that runs off the segment and panic;
// inside a copy's read the goroutine is pinned to its processor, where
// a panic is fatal, so the stress runs in a child process, and either a
// bad value or such a crash counts as caught.
func TestUnsafeRecyclingIsCaught(t *testing.T) {
	if raceEnabled {
		t.Skip("the unsafe variant races by design")
	}
	if os.Getenv(unsafeChildEnv) == "1" {
		e, _ := newTestEngine(t, Config{MaxBytes: 64 << 10, Shards: 2, SegmentBytes: 4096})
		e.pool.mu.Lock()
		e.pool.recycleAtRelease = true
		e.pool.mu.Unlock()
		var err error
		for try := 0; try < 20 && err == nil; try++ {
			err = recycleStress(t, e, 200_000)
		}
		if err != nil {
			fmt.Println("caught:", err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestUnsafeRecyclingIsCaught$", "-test.count=1")
	cmd.Env = append(os.Environ(), unsafeChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	caught := bytes.Contains(out, []byte("caught: ")) ||
		(err != nil && bytes.Contains(out, []byte("panic")) && bytes.Contains(out, []byte("engine.")))
	for _, line := range bytes.Split(out, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("caught: ")) || bytes.HasPrefix(line, []byte("panic: ")) {
			t.Logf("child (%v): %s", err, line)
			break
		}
	}
	require.True(t, caught, "reads of recycled segments went unnoticed")
}

// unsafeChildEnv marks the child process of TestUnsafeRecyclingIsCaught.
const unsafeChildEnv = "VELO_UNSAFE_RECYCLING_CHILD"

// TestTakeAsksForCollectionWhenLargeHoldTheRoom: a writer that needs a
// packed segment when large segments waiting for a collection fill the
// pool's bytes bound asks for that collection, as well as for a grace
// period, which alone could not make room.
func TestTakeAsksForCollectionWhenLargeHoldTheRoom(t *testing.T) {
	var p segPool
	p.init(4096, 64, 1)
	p.large.Store(p.maxBytes)
	_, kind := p.take(1) // nothing serves the requests: it waits poolWait
	require.Equal(t, untrackedSeg, kind)
	require.Len(t, p.graceReq, 1, "a grace period asked for")
	require.Len(t, p.gc, 1, "a collection asked for")
}

// TestFreshSegmentsGoWhenTheCacheStopsGrowing: the prefaulted segments a
// growing cache keeps ready are let go once a sweep interval has passed
// with no new segment taken, and prefaulting starts again with the next
// new segment a writer takes.
func TestFreshSegmentsGoWhenTheCacheStopsGrowing(t *testing.T) {
	var p segPool
	p.init(4096, 64, 1)
	fill := func() {
		for p.prefaultOne() {
		}
	}
	s, kind := p.take(1)
	require.Equal(t, pooledSeg, kind)
	require.Len(t, p.prefault, 1, "prefaulting asked for")
	<-p.prefault
	fill()
	require.Len(t, p.fresh, freshSegments)
	made := p.made

	p.settle() // a segment was taken since the last call
	require.Len(t, p.fresh, freshSegments)
	p.settle()
	require.Empty(t, p.fresh, "let go")
	require.Equal(t, made-freshSegments, p.made)
	require.Empty(t, p.prefault)

	p.retire(s)
	_, _ = p.take(2) // a new one: the retired segment waits for a grace period
	require.Len(t, p.prefault, 1, "prefaulting asked for again")

	// The engine's background goroutine settles every sweep interval.
	e, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 1, SegmentBytes: 4096, ExpiryInterval: time.Millisecond})
	value := make([]byte, 100)
	for i := range 200 {
		require.NoError(t, e.Set(fmt.Sprint("k", i), value, 0))
	}
	for range 5000 {
		e.pool.mu.Lock()
		n := len(e.pool.fresh)
		e.pool.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("prefaulted segments kept after writes stopped")
}
