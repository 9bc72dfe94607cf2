package engine

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitingLen counts the requests on sh's waiting list. The caller holds
// mu, so none is taken off meanwhile.
func waitingLen(sh *shard) int {
	n := 0
	for r := sh.waiting.Load(); r != nil; r = r.next {
		n++
	}
	return n
}

// setWhileHeld holds the only shard's lock while n goroutines Set key-i to
// value-i, until all n wait on the list, and returns their results once
// release has let the lock go.
func setWhileHeld(t *testing.T, e *Engine, n int, release func(sh *shard)) []error {
	t.Helper()
	sh := &e.shards[0]
	sh.mu.Lock()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.Set(fmt.Sprint("key-", i), []byte(fmt.Sprint("value-", i)), 0)
		}()
	}
	for waitingLen(sh) < n {
		runtime.Gosched()
	}
	release(sh)
	wg.Wait()
	return errs
}

// Sets that find the lock taken are made by its holder, before it lets
// the lock go, and each returns once its entry is stored.
func TestWaitingSetsAreServedByTheHolder(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 1})
	const n = 16
	errs := setWhileHeld(t, e, n, func(sh *shard) { sh.unlock() })
	for i, err := range errs {
		require.NoError(t, err)
		v, ok := e.Get(fmt.Sprint("key-", i))
		require.True(t, ok, "key-%d", i)
		assert.Equal(t, fmt.Sprint("value-", i), string(v))
	}
	assert.Nil(t, e.shards[0].waiting.Load())
	assert.Equal(t, uint64(n), e.Stats().Sets)
}

// A waiting Set's removals (here: the value it replaced) are reported to
// OnRemove once each, by the Set's own goroutine, after every lock is
// released: the callback may use the cache.
func TestWaitingSetsReportTheirRemovals(t *testing.T) {
	var mu sync.Mutex
	replaced := map[string]int{}
	var e *Engine
	e, _ = newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 1, OnRemove: func(key string, value []byte, reason Reason) {
		if reason != Replaced {
			t.Errorf("%s left for %v", key, reason)
		}
		_, _ = e.Get(key) // takes no lock, but the callback runs with none held
		mu.Lock()
		replaced[key]++
		mu.Unlock()
	}})
	const n = 16
	for i := range n {
		require.NoError(t, e.Set(fmt.Sprint("key-", i), []byte("old"), 0))
	}
	errs := setWhileHeld(t, e, n, func(sh *shard) { sh.unlock() })
	for i, err := range errs {
		require.NoError(t, err)
		assert.Equal(t, 1, replaced[fmt.Sprint("key-", i)], "key-%d", i)
	}
	assert.Len(t, replaced, n)
}

// When the holder leaves without serving the list (any holder other than
// a Set's or a Delete's, here one like Close's), the waiters take the
// lock themselves, under either schedule; on a closed shard their Sets
// fail with ErrClosed.
func TestWaitingSetsServeThemselves(t *testing.T) {
	for name, w := range schedules {
		t.Run(name, func(t *testing.T) {
			e, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 1})
			e.wait = w
			errs := setWhileHeld(t, e, 8, func(sh *shard) { sh.mu.Unlock() })
			for _, err := range errs {
				require.NoError(t, err)
			}
			e2, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 1})
			defer e2.Close()
			e2.wait = w
			errs = setWhileHeld(t, e2, 8, func(sh *shard) {
				sh.closed = true // as close does, under the lock
				sh.mu.Unlock()
			})
			for _, err := range errs {
				assert.ErrorIs(t, err, ErrClosed)
			}
		})
	}
}

var schedules = map[string]waitSchedule{"spinWait": spinWait, "shortWait": shortWait}

// An engine spins only where each processor can have a CPU.
func TestWaitScheduleFollowsTheCPUs(t *testing.T) {
	assert.Equal(t, spinWait, waitScheduleFor(1, 1))
	assert.Equal(t, spinWait, waitScheduleFor(2, 16))
	assert.Equal(t, spinWait, waitScheduleFor(16, 16))
	assert.Equal(t, shortWait, waitScheduleFor(8, 2))
}

// Many goroutines writing a few keys of one shard: most Sets are made by
// another goroutine than their caller. Each goroutine's Sets still take
// effect in its order: a key's value at the end is the last one some
// writer of it wrote.
func TestCombinedSetsKeepEachWritersOrder(t *testing.T) {
	for name, w := range schedules {
		t.Run(name, func(t *testing.T) { testCombinedSetsKeepEachWritersOrder(t, w) })
	}
}

func testCombinedSetsKeepEachWritersOrder(t *testing.T, w waitSchedule) {
	e, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 1})
	e.wait = w
	writers := max(8, 4*runtime.GOMAXPROCS(0))
	const keys, sets = 4, 2000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range sets {
				if err := e.Set(fmt.Sprint("key-", w%keys), []byte(fmt.Sprint(w, "/", i)), time.Hour); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for k := range keys {
		v, ok := e.Get(fmt.Sprint("key-", k))
		require.True(t, ok)
		var w, i int
		_, err := fmt.Sscanf(string(v), "%d/%d", &w, &i)
		require.NoError(t, err)
		assert.Equal(t, k, w%keys, "key-%d holds a value of another key's writer", k)
		assert.Equal(t, sets-1, i, "key-%d holds writer %d's Set %d, not its last", k, w, i)
	}
	assert.Nil(t, e.shards[0].waiting.Load())
	assert.Equal(t, uint64(writers*sets), e.Stats().Sets)
}
