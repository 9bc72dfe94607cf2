package engine

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/velocache/velo/arena"
	"github.com/velocache/velo/clock"
)

// recorder collects OnRemove calls.
type recorder struct {
	mu  sync.Mutex
	got []removal
}

func (r *recorder) onRemove(key string, value []byte, reason Reason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, removal{key, value, reason})
}

func (r *recorder) take() []removal {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.got
	r.got = nil
	return g
}

func TestOnRemoveReasons(t *testing.T) {
	var r recorder
	e, clk := newTestEngine(t, Config{MaxBytes: 16 << 10, Shards: 1, SegmentBytes: 1024, MaxEntries: 4, OnRemove: r.onRemove})

	require.NoError(t, e.Set("a", []byte("1"), 0))
	require.NoError(t, e.Set("a", []byte("2"), 0))
	require.Equal(t, []removal{{"a", []byte("1"), Replaced}}, r.take())

	require.True(t, e.Delete("a"))
	require.Equal(t, []removal{{"a", []byte("2"), Deleted}}, r.take())
	require.False(t, e.Delete("a"))
	require.Empty(t, r.take())

	require.NoError(t, e.Set("t", []byte("x"), time.Millisecond))
	clk.Advance(time.Millisecond)
	e.sweepExpired()
	require.Equal(t, []removal{{"t", []byte("x"), Expired}}, r.take())

	// An expired entry overwritten is reported as expired, not replaced.
	require.NoError(t, e.Set("t", []byte("y"), time.Millisecond))
	clk.Advance(time.Millisecond)
	require.NoError(t, e.Set("t", []byte("z"), 0))
	require.Equal(t, []removal{{"t", []byte("y"), Expired}}, r.take())

	// MaxEntries 4: the fifth key evicts one. "0" and "1" fill the main
	// queue's room; "2" then competes with "t", the main queue's victim,
	// which was written twice as a new key, and loses.
	for i := range 4 {
		require.NoError(t, e.Set(fmt.Sprint(i), []byte{byte(i)}, 0))
	}
	require.Equal(t, []removal{{"2", []byte{2}, Evicted}}, r.take())

	// Clear and Close report nothing.
	e.Clear()
	require.Zero(t, e.Len())
	require.Empty(t, r.take())
}

func TestOnRemoveOwnsItsCopies(t *testing.T) {
	var kept [][]byte
	var e *Engine
	e, _ = newTestEngine(t, Config{MaxBytes: 8 << 10, Shards: 1, SegmentBytes: 1024,
		OnRemove: func(key string, value []byte, reason Reason) {
			clear(value) // the callback may scribble on its copy
			kept = append(kept, value)
			// It runs outside the lock: using the engine does not deadlock.
			_, _ = e.AppendValue(nil, key)
			if key != "from-callback" {
				_ = e.Set("from-callback", []byte("ok"), 0)
			}
		}})
	for i := range 200 {
		k := fmt.Sprintf("key%03d", i)
		require.NoError(t, e.Set(k, valueFor(k, 100), 0))
	}
	require.NotEmpty(t, kept)
	for i := range 200 {
		k := fmt.Sprintf("key%03d", i)
		if v, ok := e.AppendValue(nil, k); ok {
			require.Equal(t, valueFor(k, 100), v)
		}
	}
	checkInvariants(t, e)
}

// Every entry evicted for room is reported once, with its value.
func TestOnRemoveEvictionsMatchStats(t *testing.T) {
	var r recorder
	e, _ := newTestEngine(t, Config{MaxBytes: 16 << 10, Shards: 2, SegmentBytes: 1024, OnRemove: r.onRemove})
	for i := range 2000 {
		k := fmt.Sprintf("k%d", i%700)
		require.NoError(t, e.Set(k, valueFor(k, 40+i%60), 0))
		if i%3 == 0 {
			e.AppendValue(nil, fmt.Sprintf("k%d", i%50))
		}
	}
	counts := map[Reason]uint64{}
	for _, rm := range r.take() {
		counts[rm.reason]++
		require.Equal(t, valueFor(rm.key, len(rm.value)), rm.value)
	}
	s := e.Stats()
	require.Equal(t, s.Evictions, counts[Evicted])
	require.Equal(t, s.Sets-uint64(s.Entries)-s.Evictions, counts[Replaced])
}

func TestInfoAndGetInfo(t *testing.T) {
	e, clk := newTestEngine(t, Config{Shards: 1})
	require.NoError(t, e.Set("k", []byte("v"), time.Minute))
	require.NoError(t, e.Set("forever", []byte("v"), 0))
	clk.Advance(time.Second)

	info, ok := e.Info("k")
	require.True(t, ok)
	require.Equal(t, clk.Now()+int64(59*time.Second), info.ExpireAt)
	require.InDelta(t, float64(time.Minute), float64(info.TTL), float64(time.Minute)/500)

	v, info2, ok := e.GetInfo([]byte("x"), "k")
	require.True(t, ok)
	require.Equal(t, "xv", string(v))
	require.Equal(t, info, info2)

	info, ok = e.Info("forever")
	require.True(t, ok)
	require.Equal(t, int64(arena.Never), info.ExpireAt)
	require.Zero(t, info.TTL)

	_, ok = e.Info("absent")
	require.False(t, ok)
	clk.Advance(time.Minute)
	_, ok = e.Info("k")
	require.False(t, ok)
	hits := e.Stats().Hits
	e.Info("forever")
	require.Equal(t, hits, e.Stats().Hits, "Info counts no hit")
}

func TestRestore(t *testing.T) {
	e, clk := newTestEngine(t, Config{MaxBytes: 64 << 10, Shards: 1, SegmentBytes: 1024, MaxValueBytes: 1024})
	now := clk.Now()
	require.NoError(t, e.Restore("a", []byte("1"), now+int64(time.Second), time.Minute))
	require.NoError(t, e.Restore("b", []byte("2"), arena.Never, 0))
	require.NoError(t, e.Restore("gone", []byte("3"), now, time.Minute)) // already expired: skipped
	require.ErrorIs(t, e.Restore("big", make([]byte, 2000), arena.Never, 0), ErrTooLarge)
	require.ErrorIs(t, e.Restore("neg", nil, arena.Never, -1), ErrInvalidTTL)

	info, ok := e.Info("a")
	require.True(t, ok)
	require.Equal(t, now+int64(time.Second), info.ExpireAt)
	requireHit(t, e, "b", "2")
	requireMiss(t, e, "gone")
	requireMiss(t, e, "big")
	clk.Advance(time.Second)
	requireMiss(t, e, "a")
	require.NoError(t, e.Close())
	require.ErrorIs(t, e.Restore("c", nil, arena.Never, 0), ErrClosed)
}

func TestRangeYieldsLiveEntries(t *testing.T) {
	e, clk := newTestEngine(t, Config{MaxBytes: 64 << 10, Shards: 4, SegmentBytes: 1024})
	want := map[string]string{}
	for i := range 300 {
		k := fmt.Sprintf("k%d", i)
		ttl := time.Duration(0)
		if i%5 == 0 {
			ttl = time.Millisecond // expired below: not yielded
		}
		require.NoError(t, e.Set(k, valueFor(k, i%90), ttl))
		if ttl == 0 {
			want[k] = string(valueFor(k, i%90))
		}
	}
	for i := range 300 {
		if i%7 == 0 {
			k := fmt.Sprintf("k%d", i)
			e.Delete(k)
			delete(want, k)
		}
	}
	clk.Advance(time.Millisecond)
	got := map[string]string{}
	e.Range(func(key string, value []byte, info EntryInfo) bool {
		_, dup := got[key]
		require.False(t, dup, "%q twice", key)
		got[strings.Clone(key)] = string(value) // key aliases a segment that may be recycled
		require.Equal(t, int64(arena.Never), info.ExpireAt)
		return true
	})
	require.Equal(t, want, got)

	n := 0
	e.Range(func(string, []byte, EntryInfo) bool { n++; return n < 10 })
	require.Equal(t, 10, n, "Range stops when yield returns false")

	require.NoError(t, e.Close())
	e.Range(func(string, []byte, EntryInfo) bool { t.Fatal("Range after Close"); return false })
}

func TestClearIsReusable(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxBytes: 16 << 10, Shards: 2, SegmentBytes: 1024, MaxEntries: 100})
	for round := range 3 {
		fillKeys(t, e, fmt.Sprintf("r%d-", round), 500, 50)
		e.AppendValue(nil, fmt.Sprintf("r%d-%05d", round, 499))
		e.Clear()
		checkInvariants(t, e)
		require.Zero(t, e.Len())
		require.Zero(t, e.Stats().HeldBytes)
		requireMiss(t, e, fmt.Sprintf("r%d-%05d", round, 499))
	}
	fillKeys(t, e, "after-", 50, 50)
	requireHit(t, e, "after-00049", string(valueFor("after-00049", 50)))
	checkInvariants(t, e)
}

// Range and Clear run while writers and readers work: no value is torn or
// another key's, Range yields each key at most once per pass, and the
// invariants hold at the end.
func TestRangeAndClearConcurrent(t *testing.T) {
	var removed atomic.Int64
	e, clk := newTestEngine(t, Config{MaxBytes: 32 << 10, Shards: 2, SegmentBytes: 1024, MaxEntries: 200,
		OnRemove: func(key string, value []byte, _ Reason) {
			if !bytes.Equal(value, valueFor(key, len(value))) {
				panic(fmt.Sprintf("OnRemove(%q, %q): not its value", key, value))
			}
			removed.Add(1)
		}})
	const keys = 300
	var (
		wg       sync.WaitGroup
		stop     atomic.Bool
		firstErr atomic.Pointer[error]
	)
	fail := func(err error) { firstErr.CompareAndSwap(nil, &err) }
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				k := fmt.Sprintf("k%d", (i*7+w)%keys)
				switch i % 10 {
				case 9:
					e.Delete(k)
				case 8:
					e.AppendValue(nil, k)
				default:
					if err := e.Set(k, valueFor(k, (i*13+w)%150), time.Duration(i%4)*time.Millisecond); err != nil {
						fail(err)
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			seen := map[string]bool{}
			e.Range(func(key string, value []byte, info EntryInfo) bool {
				if seen[key] {
					fail(fmt.Errorf("Range yielded %q twice", key))
				}
				seen[strings.Clone(key)] = true // key aliases a segment that may be recycled
				if !bytes.Equal(value, valueFor(key, len(value))) {
					fail(fmt.Errorf("Range yielded %q = %q", key, value))
				}
				return true
			})
			if i%5 == 4 {
				e.Clear()
			}
			clk.Advance(time.Millisecond / 2)
			e.sweepExpired()
		}
	}()
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) && firstErr.Load() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		t.Fatal(*err)
	}
	checkInvariants(t, e)
	require.Positive(t, removed.Load())
}

func TestTTLCodeNeverExpiring(t *testing.T) {
	e, _ := newTestEngine(t, Config{Shards: 1})
	require.NoError(t, e.Set("k", nil, math.MaxInt64))
	info, ok := e.Info("k")
	require.True(t, ok)
	require.Equal(t, int64(arena.Never), info.ExpireAt, "a TTL too long to count is no TTL")
	require.Zero(t, info.TTL)
}

// A watch lets a reload store only if no write of the key came between:
// the key's own writes end it, while what the engine does to the entry on
// its own (expiry, the sweep, compaction) does not.
func TestWatchEndsWithAWrite(t *testing.T) {
	e, clk := newTestEngine(t, Config{Shards: 1})
	watch := func(key string) Watch {
		t.Helper()
		info, ok := e.Info(key)
		require.True(t, ok)
		w, ok := e.Watch(key, info)
		require.True(t, ok)
		return w
	}
	store := func(key, value string, w Watch) bool {
		t.Helper()
		stored, err := e.SetWatched(key, []byte(value), time.Minute, w)
		require.NoError(t, err)
		return stored
	}
	require.NoError(t, e.Set("k", []byte("old"), time.Minute))

	// Writes of the key end the watch.
	for _, write := range []struct {
		name string
		do   func()
	}{
		{"Set", func() { require.NoError(t, e.Set("k", []byte("newer"), time.Minute)) }},
		{"SetAbsent", func() { require.NoError(t, e.SetAbsent("k", time.Minute)) }},
		{"Restore", func() { require.NoError(t, e.Restore("k", []byte("newer"), arena.Never, 0)) }},
		{"Delete", func() { require.True(t, e.Delete("k")) }},
		{"Clear", e.Clear},
	} {
		w := watch("k")
		write.do()
		require.False(t, store("k", "reloaded", w), write.name)
		require.NoError(t, e.Set("k", []byte("again"), time.Minute))
	}
	requireHit(t, e, "k", "again")

	// No watch starts over an entry a write has replaced since it was
	// read, or over none.
	info, _ := e.Info("k")
	require.NoError(t, e.Set("k", []byte("newer"), time.Minute))
	_, ok := e.Watch("k", info)
	require.False(t, ok, "a write came between the read and the watch")
	_, ok = e.Watch("k", EntryInfo{})
	require.False(t, ok)
	_, ok = e.Watch("absent", info)
	require.False(t, ok)

	// Watches of the key taken with no write between end together at
	// its next write, a store through one of them included; ending one
	// leaves the others on.
	first := watch("k")
	second := watch("k")
	third := watch("k")
	e.Unwatch(third)
	require.True(t, store("k", "first", first))
	requireHit(t, e, "k", "first")
	require.False(t, store("k", "second", second), "the first's store was a write")
	require.False(t, store("k", "again", first), "a watch stores once")
	first = watch("k")
	e.Unwatch(first)
	e.Unwatch(first) // ending it twice ends no later watch
	second = watch("k")
	e.Unwatch(first)
	require.True(t, store("k", "second", second))

	// A watch after a miss starts only while the key has no live value.
	_, ok = e.WatchMiss("k")
	require.False(t, ok, "k has a value")
	w := watchMiss(t, e, "missing")
	require.True(t, store("missing", "loaded", w))
	require.True(t, e.Delete("missing"))
	w = watchMiss(t, e, "missing")
	require.NoError(t, e.Set("missing", []byte("newer"), time.Minute))
	require.False(t, store("missing", "loaded", w))
	require.True(t, e.Delete("missing"))
	w = watchMiss(t, e, "missing")
	stored, err := e.SetAbsentWatched("missing", time.Minute, w)
	require.NoError(t, err)
	require.True(t, stored)
	require.True(t, e.Absent("missing"))
	_ = watchMiss(t, e, "missing") // an absence is no value
	require.NoError(t, e.SetAbsent("missing", time.Minute))
	require.NoError(t, e.Set("expiring", []byte("v"), time.Second))
	clk.Advance(2 * time.Second)
	w = watchMiss(t, e, "expiring") // an expired entry is no value
	require.True(t, store("expiring", "loaded", w))

	// The entry expires, and the sweep removes it, while the reload runs:
	// the reload's value is still the newest, and is stored.
	w = watch("k")
	clk.Advance(2 * time.Minute)
	require.True(t, store("k", "reloaded", w))
	requireHit(t, e, "k", "reloaded")
	w = watch("k")
	clk.Advance(2 * time.Minute)
	e.sweepExpired()
	require.False(t, e.Has("k"))
	require.True(t, store("k", "reloaded again", w))
	requireHit(t, e, "k", "reloaded again")

	// Compaction moves the entry to another segment: still stored.
	w = watch("k")
	sh := &e.shards[0]
	sh.mu.Lock()
	l, _ := sh.index.load(e.hashOf("k"))
	slot := l.slot()
	sh.rotate(sh.head.Size(), clk.Now()) // k's segment is no longer the head
	sh.retire(slot, compacting, 0, clk.Now())
	moved, _ := sh.index.load(e.hashOf("k"))
	sh.mu.Unlock()
	require.NotEqual(t, l.place(), moved.place(), "the entry did not move")
	require.True(t, store("k", "after the move", w))
	requireHit(t, e, "k", "after the move")

	// A refused store ends the watch too.
	w = watch("k")
	_, err = e.SetWatched("k", nil, -1, w)
	require.ErrorIs(t, err, ErrInvalidTTL)
	require.False(t, store("k", "x", w))
	require.False(t, e.shards[0].watching, "every watch ended")
	checkInvariants(t, e)
}

// watchMiss starts a watch of key, which has no live value.
func watchMiss(t *testing.T, e *Engine, key string) Watch {
	t.Helper()
	w, ok := e.WatchMiss(key)
	require.True(t, ok)
	return w
}

func TestSweepAllocatesNothing(t *testing.T) {
	// The background sweep runs every ExpiryInterval in every cache; with
	// nothing expired it must not allocate (a process measuring its own
	// allocations would count it).
	e, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 4, SegmentBytes: 4096})
	for i := range 2000 {
		require.NoError(t, e.Set(fmt.Sprint(i), []byte("value"), time.Hour))
	}
	e.sweepExpired()
	// AllocsPerRun counts every goroutine's allocations, and the pool's
	// goroutine may still be making the fresh segments the Sets asked for
	// (a few, then it stops): on a busy machine they can land in a
	// measurement. An allocation of the sweep's own would show in every
	// one.
	allocs := 1.0
	for range 20 {
		if allocs = testing.AllocsPerRun(10, e.sweepExpired); allocs == 0 {
			break
		}
	}
	require.Zero(t, allocs)
}

// TestAbsenceSurvivesCompaction: an absence moved by compaction is still
// an absence (the mark moves with it), never a value, and is kept like
// any live entry while the live bytes fit.
func TestAbsenceSurvivesCompaction(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxBytes: 32 << 10, Shards: 1, SegmentBytes: 4096})
	require.NoError(t, e.SetAbsent("gone", 0))
	require.NoError(t, e.Set("kept", []byte("v"), 0))
	value := make([]byte, 100)
	for i := range 20_000 {
		k := "hot" // dead versions of it keep segments from emptying whole
		if i%2 == 1 {
			k = fmt.Sprint("k", i/2%150)
		}
		require.NoError(t, e.Set(k, value, 0))
	}
	require.Positive(t, e.Stats().MovedBytes, "compaction ran")
	require.True(t, e.Absent("gone"))
	require.False(t, e.Has("gone"))
	_, ok := e.AppendValue(nil, "gone")
	require.False(t, ok)
	require.False(t, e.Absent("kept"))
	v, ok := e.AppendValue(nil, "kept")
	require.True(t, ok)
	require.Equal(t, "v", string(v))
	checkInvariants(t, e)
}

// TestKeepExpired: an expired entry is unseen by value lookups at once,
// returned by GetStale for KeepExpired, kept by the sweep and compaction
// meanwhile, and removed after.
func TestKeepExpired(t *testing.T) {
	e, clk := newTestEngine(t, Config{KeepExpired: time.Minute})
	require.NoError(t, e.Set("k", []byte("v"), time.Second))
	_, _, ok := e.GetStale(nil, "k")
	require.False(t, ok, "a live entry is not stale")
	clk.Advance(2 * time.Second)
	_, ok = e.AppendValue(nil, "k")
	require.False(t, ok)
	require.False(t, e.Has("k"))
	v, info, ok := e.GetStale(nil, "k")
	require.True(t, ok)
	require.Equal(t, "v", string(v))
	require.InDelta(t, time.Second, info.TTL, float64(5*time.Millisecond))
	e.sweepExpired()
	require.Equal(t, 1, e.Len(), "kept by the sweep")
	clk.Advance(time.Minute)
	_, _, ok = e.GetStale(nil, "k")
	require.False(t, ok, "past KeepExpired")
	e.sweepExpired()
	require.Equal(t, 0, e.Len())
	checkInvariants(t, e)
}

// Only differences of clock times matter: with KeepExpired, a clock near
// the bottom of its scale neither sweeps live entries nor expired ones
// still kept, and sweeps those past it.
func TestKeepExpiredClockNearMinInt64(t *testing.T) {
	e, clk := newTestEngine(t, Config{KeepExpired: time.Hour, Clock: clock.NewManual(math.MinInt64 + 1)})
	require.NoError(t, e.Set("k", []byte("v"), time.Minute))
	e.sweepExpired()
	requireHit(t, e, "k", "v")
	clk.Advance(2 * time.Minute)
	e.sweepExpired()
	_, kept := e.StaleInfo("k")
	require.True(t, kept, "an expired entry still kept was swept")
	clk.Advance(time.Hour)
	e.sweepExpired()
	require.Zero(t, e.Len())
}

// While the engine evicts, the sweep removes expired entries still kept
// (KeepExpired), not only those past it: they go before live ones.
func TestSweepDropsKeptEntriesWhileEvicting(t *testing.T) {
	e, clk := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 1, KeepExpired: time.Hour})
	v := make([]byte, 96)
	n := 0
	for ; e.mode() == compacting; n++ {
		require.Less(t, n, 1<<20/128, "the live bytes never reached the line")
		require.NoError(t, e.Set(fmt.Sprintf("k%09d", n), v, time.Minute))
	}
	require.Zero(t, e.Stats().Evictions, "the test fills up to the line, not past the budget")
	require.NoError(t, e.Set("live", v, 0))
	clk.Advance(2 * time.Minute)
	e.sweepExpired()
	require.Equal(t, 1, e.Len(), "the kept entries were swept")
	requireHit(t, e, "live", string(v))
	require.Equal(t, compacting, e.mode())
}

// The sweep walks a segment in chunks and reports removals between them,
// with the lock released: if the segment it walks is released meanwhile
// and recycled into the same slot, it stops there rather than walking the
// new entries from the old offset (a header read in the middle of a
// value, past the segment's end, or a minExpire from part of it).
func TestSweepStopsInARecycledSegment(t *testing.T) {
	in, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	e, clk := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 1, SegmentBytes: 16 << 10,
		OnRemove: func(_ string, _ []byte, r Reason) {
			if r == Expired {
				once.Do(func() { close(in); <-resume })
			}
		}})
	// A released segment is reused at once, as after a grace period.
	e.pool.recycleAtRelease = true
	for i := range 400 { // 32-byte entries; the first 10 expire
		ttl := time.Duration(0)
		if i < 10 {
			ttl = time.Second
		}
		require.NoError(t, e.Set(fmt.Sprintf("k%04d", i), []byte("12345678"), ttl))
	}
	clk.Advance(2 * time.Second)
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		e.sweepExpired()
	}()
	<-in // the sweep walked its first chunk and reports its removals
	e.Clear()
	for i := range 256 { // the recycled segment, with entries at other offsets
		require.NoError(t, e.Set(fmt.Sprintf("e%04d", i), bytes.Repeat([]byte{0xff}, 27), time.Second))
	}
	for i := range 100 {
		require.NoError(t, e.Set(fmt.Sprintf("p%04d", i), []byte("12345678"), 0))
	}
	close(resume)
	<-swept
	clk.Advance(2 * time.Second)
	e.sweepExpired()
	require.Equal(t, 100, e.Len(), "expired entries of the recycled segment were not swept")
	checkInvariants(t, e)
}

// An absence that a Set of another key with the same hash displaces is
// neither reported nor counted, as an absence that leaves any other way.
func TestDisplacedAbsenceUncounted(t *testing.T) {
	r := &recorder{}
	e, _ := newTestEngine(t, Config{Shards: 1, OnRemove: r.onRemove, hash: func(string) uint64 { return 42 }})
	require.NoError(t, e.SetAbsent("a", time.Minute))
	require.NoError(t, e.Set("b", []byte("v"), 0))
	require.Zero(t, e.Stats().Evictions)
	require.Empty(t, r.got)
}

// An expired entry that a Set of another key with the same hash displaces
// is reported and counted as expired, as any expired entry a write finds.
func TestDisplacedExpiredEntryExpired(t *testing.T) {
	r := &recorder{}
	e, clk := newTestEngine(t, Config{Shards: 1, OnRemove: r.onRemove, hash: func(string) uint64 { return 42 }})
	require.NoError(t, e.Set("a", []byte("A"), time.Second))
	clk.Advance(2 * time.Second)
	require.NoError(t, e.Set("b", []byte("B"), 0))
	s := e.Stats()
	require.Zero(t, s.Evictions)
	require.Equal(t, uint64(1), s.Expirations)
	require.Len(t, r.got, 1)
	require.Equal(t, Expired, r.got[0].reason)
}

// The engine's first expiry, which gates the look for expired entries in
// other shards, stays at Never while no entry expires, falls with an
// append that expires, and rises again once the sweep removed it.
func TestEngineFirstExpire(t *testing.T) {
	e, clk := newTestEngine(t, Config{Shards: 4})
	for i := range 100 {
		require.NoError(t, e.Set(fmt.Sprint("k", i), []byte("v"), 0))
	}
	require.EqualValues(t, arena.Never, e.firstExpire.Load())
	require.NoError(t, e.Set("short", []byte("v"), time.Second))
	require.Equal(t, clk.Now()+int64(time.Second), e.firstExpire.Load())
	clk.Advance(2 * time.Second)
	e.sweepExpired()
	require.EqualValues(t, arena.Never, e.firstExpire.Load())
}
