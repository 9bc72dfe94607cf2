package velo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/velocache/velo/clock"
)

// Callbacks and loaders that re-enter the cache, panic or close it; options
// that cannot work. Each test bounds its waits with a guard that fails the
// test instead of hanging it: nothing here depends on how fast the machine
// is.

// guard is how long a test waits for something that must happen, before
// it reports a hang. It is a deadlock detector, not a speed requirement.
const guard = 20 * time.Second

// await fails the test if ch does not deliver within guard.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(guard):
		buf := make([]byte, 1<<20)
		t.Fatalf("%s: nothing after %v; goroutines:\n%s", what, guard, buf[:runtime.Stack(buf, true)])
		panic("unreachable")
	}
}

// closeReturns runs c.Close in a goroutine and fails the test if it does
// not return.
func closeReturns(t *testing.T, c *Cache, who string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	require.NoError(t, await(t, done, who+": Close"))
}

// noLeak fails the test if the goroutines counted before do not come back
// to that number once the test's cache is closed.
func noLeak(t *testing.T, before int) {
	t.Helper()
	for i := 0; i < int(guard/time.Millisecond) && runtime.NumGoroutine() > before; i++ {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after Close:\n%s", before, n, strings.TrimSpace(string(buf[:runtime.Stack(buf, true)])))
	}
}

func TestCloseFromOnRemoveInSweep(t *testing.T) {
	before := runtime.NumGoroutine()
	clk := clock.NewManual(1e9)
	var c *Cache
	closed := make(chan error, 1)
	c, err := New(Options{Clock: clk, ExpiryInterval: time.Millisecond,
		OnRemove: func(key string, _ []byte, r Reason) {
			if r == Expired {
				closed <- c.Close() // in the sweep's goroutine
			}
		}})
	require.NoError(t, err)
	require.NoError(t, c.Set("k", []byte("v"), time.Second))
	clk.Advance(2 * time.Second)
	require.NoError(t, await(t, closed, "Close from the sweep's callback"))
	require.ErrorIs(t, c.Set("k", []byte("v"), 0), ErrClosed)
	closeReturns(t, c, "a second Close, from outside")
	noLeak(t, before)
}

func TestCloseFromOnRemoveWhileClosing(t *testing.T) {
	// Close from outside waits for the sweep, which is in a callback that
	// calls Close too: neither may wait for the other.
	before := runtime.NumGoroutine()
	clk := clock.NewManual(1e9)
	var c *Cache
	inCallback, release := make(chan struct{}), make(chan struct{})
	c, err := New(Options{Clock: clk, ExpiryInterval: time.Millisecond,
		OnRemove: func(string, []byte, Reason) {
			close(inCallback)
			<-release
			c.Close()
		}})
	require.NoError(t, err)
	require.NoError(t, c.Set("k", []byte("v"), time.Second))
	clk.Advance(2 * time.Second)
	await(t, inCallback, "the sweep's callback")
	outside := make(chan error, 1)
	go func() { outside <- c.Close() }()
	close(release)
	require.NoError(t, await(t, outside, "Close from outside"))
	noLeak(t, before)
}

func TestCloseFromOnRemoveInSet(t *testing.T) {
	before := runtime.NumGoroutine()
	var c *Cache
	c, err := New(Options{OnRemove: func(string, []byte, Reason) { c.Close() }})
	require.NoError(t, err)
	require.NoError(t, c.Set("k", []byte("1"), 0))
	require.NoError(t, c.Set("k", []byte("2"), 0)) // Replaced: the callback closes
	_, ok := c.Get("k")
	require.False(t, ok)
	closeReturns(t, c, "Close after Close from a callback")
	noLeak(t, before)
}

func TestCloseFromLoader(t *testing.T) {
	before := runtime.NumGoroutine()
	c, err := New(Options{})
	require.NoError(t, err)
	// A second load in flight, which Close cancels.
	other := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		_, err := c.GetOrLoad(context.Background(), "other", func(ctx context.Context) ([]byte, time.Duration, error) {
			close(started)
			<-ctx.Done()
			return nil, 0, ctx.Err()
		})
		other <- err
	}()
	await(t, started, "the other load")
	res := make(chan error, 1)
	go func() {
		_, err := c.GetOrLoad(context.Background(), "k", func(context.Context) ([]byte, time.Duration, error) {
			return []byte("v"), 0, c.Close()
		})
		res <- err
	}()
	require.NoError(t, await(t, res, "GetOrLoad whose loader closes the cache"))
	require.ErrorIs(t, await(t, other, "the load Close cancelled"), ErrClosed)
	closeReturns(t, c, "Close from outside")
	noLeak(t, before)
}

func TestCloseFromOnRemoveInLoader(t *testing.T) {
	// The loader's Set replaces an entry; its callback, in the loader's
	// goroutine, closes the cache.
	before := runtime.NumGoroutine()
	var c *Cache
	c, err := New(Options{OnRemove: func(string, []byte, Reason) { c.Close() }})
	require.NoError(t, err)
	res := make(chan error, 1)
	go func() {
		_, err := c.GetOrLoad(context.Background(), "k", func(context.Context) ([]byte, time.Duration, error) {
			c.Delete("absent")
			require.NoError(t, c.Set("k", []byte("stale"), 0)) // replaced by the load's own Set
			return []byte("v"), 0, nil
		})
		res <- err
	}()
	require.NoError(t, await(t, res, "GetOrLoad"))
	closeReturns(t, c, "Close from outside")
	noLeak(t, before)
}

func TestGetOrLoadReentrantSameKey(t *testing.T) {
	before := runtime.NumGoroutine()
	c, err := New(Options{})
	require.NoError(t, err)
	inner := make(chan error, 1)
	res := make(chan error, 1)
	go func() {
		v, err := c.GetOrLoad(context.Background(), "k", func(context.Context) ([]byte, time.Duration, error) {
			// Not the ctx it was given: detection must not depend on it.
			_, err := c.GetOrLoad(context.Background(), "k", func(context.Context) ([]byte, time.Duration, error) {
				return []byte("inner"), 0, nil
			})
			inner <- err
			return []byte("outer"), 0, nil
		})
		if err == nil && string(v) != "outer" {
			err = fmt.Errorf("got %q", v)
		}
		res <- err
	}()
	require.ErrorIs(t, await(t, inner, "re-entrant GetOrLoad"), ErrLoadCycle)
	require.NoError(t, await(t, res, "outer GetOrLoad"))
	// The key is not stuck: later callers get the stored value.
	v, err := c.GetOrLoad(context.Background(), "k", func(context.Context) ([]byte, time.Duration, error) {
		return nil, 0, errors.New("must not load")
	})
	require.NoError(t, err)
	require.Equal(t, "outer", string(v))
	closeReturns(t, c, "Close")
	noLeak(t, before)
}

func TestGetOrLoadCycleTwoKeys(t *testing.T) {
	c, err := New(Options{})
	require.NoError(t, err)
	defer c.Close()
	var cycles atomic.Int32
	var loadA, loadB func(context.Context) ([]byte, time.Duration, error)
	loadA = func(ctx context.Context) ([]byte, time.Duration, error) {
		_, err := c.GetOrLoad(context.Background(), "b", loadB)
		if errors.Is(err, ErrLoadCycle) {
			cycles.Add(1)
		}
		return []byte("a"), 0, nil
	}
	loadB = func(ctx context.Context) ([]byte, time.Duration, error) {
		// Wait until a's load waits for this one, so that this load is
		// the one that closes the cycle. (In the other order, a's load
		// would be told, and b's value stored after the outer call
		// returns.)
		for start := time.Now(); !c.loadWaiting("a"); time.Sleep(time.Millisecond) {
			if time.Since(start) > guard {
				return nil, 0, errors.New("a's load never waited for b's")
			}
		}
		_, err := c.GetOrLoad(context.Background(), "a", loadA)
		if errors.Is(err, ErrLoadCycle) {
			cycles.Add(1)
		}
		return []byte("b"), 0, nil
	}
	res := make(chan error, 1)
	go func() {
		_, err := c.GetOrLoad(context.Background(), "a", loadA)
		res <- err
	}()
	require.NoError(t, await(t, res, "GetOrLoad a -> b -> a"))
	require.Equal(t, int32(1), cycles.Load(), "b's load, waiting for a, is told")
	for _, k := range []string{"a", "b"} {
		v, ok := c.Get(k)
		require.True(t, ok, k)
		require.Equal(t, k, string(v))
	}
}

func TestGetOrLoadConcurrentWaitersNotCycles(t *testing.T) {
	// Many goroutines missing one key, and a loader that loads another key
	// with its own waiters: waiting is not a cycle.
	c, err := New(Options{})
	require.NoError(t, err)
	defer c.Close()
	var loads atomic.Int32
	gate := make(chan struct{})
	load := func(context.Context) ([]byte, time.Duration, error) {
		loads.Add(1)
		<-gate
		v, err := c.GetOrLoad(context.Background(), "inner", func(context.Context) ([]byte, time.Duration, error) {
			return []byte("i"), 0, nil
		})
		return append([]byte("o"), v...), 0, err
	}
	const n = 50
	res := make(chan error, n)
	for range n {
		go func() {
			v, err := c.GetOrLoad(context.Background(), "outer", load)
			if err == nil && string(v) != "oi" {
				err = fmt.Errorf("got %q", v)
			}
			res <- err
		}()
	}
	for start := time.Now(); waiters(c, "outer") < n; runtime.Gosched() {
		if time.Since(start) > guard {
			t.Fatalf("%d of %d callers joined the load", waiters(c, "outer"), n)
		}
	}
	close(gate)
	for range n {
		require.NoError(t, await(t, res, "GetOrLoad"))
	}
	require.Equal(t, int32(1), loads.Load())
}

func TestOnRemovePanicRecovered(t *testing.T) {
	// In a Set that removes several entries: each is reported, each panic
	// counted.
	var (
		mu       sync.Mutex
		reported []string
	)
	taken := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(reported)
	}
	clk := clock.NewManual(1e9)
	c, err := New(Options{Clock: clk, MaxEntries: 256, Shards: 1, ExpiryInterval: time.Millisecond,
		OnRemove: func(key string, _ []byte, r Reason) {
			mu.Lock()
			reported = append(reported, key)
			mu.Unlock()
			panic("callback bug")
		}})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Set("k", []byte("1"), 0))
	require.NoError(t, c.Set("k", []byte("2"), 0))
	require.Equal(t, []string{"k"}, taken())
	require.Equal(t, uint64(1), c.Stats().CallbackPanics)

	// The sweep removes several expired entries and reports them all, in
	// its own goroutine, which must survive to sweep again.
	for i := range 10 {
		require.NoError(t, c.Set(fmt.Sprint("e", i), []byte("v"), time.Second))
	}
	clk.Advance(2 * time.Second)
	// The callback records its key before it panics, and the sweep counts
	// the panic after: wait for the count.
	waitFor(t, func() bool { return c.Stats().CallbackPanics == 11 })
	require.Len(t, taken(), 11)
	require.NoError(t, c.Set("f", []byte("v"), time.Second))
	clk.Advance(2 * time.Second)
	waitFor(t, func() bool { return c.Stats().CallbackPanics == 12 })
	require.Len(t, taken(), 12)
}

func TestOnRemovePanicInBackground(t *testing.T) {
	// Panics in the sweep's goroutine and in a loader's must not end the
	// process (a test binary that survives this test shows it).
	clk := clock.NewManual(1e9)
	var expired atomic.Int32
	c, err := New(Options{Clock: clk, ExpiryInterval: time.Millisecond,
		OnRemove: func(_ string, _ []byte, r Reason) {
			if r == Expired {
				expired.Add(1)
			}
			panic(fmt.Sprint("callback bug: ", r))
		}})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Set("k", []byte("v"), 0))
	_, err = c.GetOrLoad(context.Background(), "l", func(context.Context) ([]byte, time.Duration, error) {
		require.NoError(t, c.Set("k", []byte("w"), 0)) // Replaced, in the loader's goroutine
		return []byte("v"), time.Second, nil
	})
	require.NoError(t, err)
	clk.Advance(2 * time.Second) // "l" expires; the sweep reports it
	// The callback counts before it panics, and the sweep counts the
	// panic after: wait for both.
	waitFor(t, func() bool { return c.Stats().CallbackPanics >= 2 })
	require.Equal(t, int32(1), expired.Load())
	require.NoError(t, c.Set("after", []byte("v"), 0), "the cache works on")
}

func TestAbsurdOptions(t *testing.T) {
	// Refused, with the option named.
	for _, tc := range []struct {
		opts Options
		name string
	}{
		{Options{ExpiryInterval: time.Nanosecond}, "ExpiryInterval"},
		{Options{ExpiryInterval: time.Millisecond - 1}, "ExpiryInterval"},
		{Options{MaxBytes: 1 << 40, SegmentBytes: 4096}, "SegmentBytes"},
		{Options{MaxBytes: 1 << 33, Shards: 4096, SegmentBytes: 4096}, "SegmentBytes"},
		{Options{RefreshAhead: math.NaN()}, "RefreshAhead"},
		{Options{RefreshAhead: math.Inf(1)}, "RefreshAhead"},
	} {
		c, err := New(tc.opts)
		require.ErrorIs(t, err, ErrInvalidOptions, "%+v", tc.opts)
		require.ErrorContains(t, err, tc.name)
		require.Nil(t, c)
	}

	// Bounds larger than the budget can hold are accepted, and allocate
	// nothing in proportion to them.
	for _, n := range []int{1 << 27, min(1<<40, math.MaxInt), math.MaxInt - 1, math.MaxInt} {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		c, err := New(Options{MaxEntries: n})
		runtime.ReadMemStats(&m1)
		require.NoError(t, err, "MaxEntries %d", n)
		require.Less(t, m1.TotalAlloc-m0.TotalAlloc, uint64(1<<20), "New(MaxEntries %d) allocated", n)
		for i := range 1000 {
			require.NoError(t, c.Set(fmt.Sprint(i), []byte("v"), 0))
		}
		require.Equal(t, 1000, c.Len(), "MaxEntries %d", n)
		require.NoError(t, c.Close())
	}
	c, err := New(Options{ExpiryInterval: time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, c.Close())
}

func TestRejectedCounted(t *testing.T) {
	c, err := New(Options{MaxBytes: 1 << 20, Shards: 1, MaxValueBytes: 4096})
	require.NoError(t, err)
	defer c.Close()
	big := make([]byte, 8192)
	require.ErrorIs(t, c.Set("big", big, 0), ErrTooLarge)
	require.ErrorIs(t, c.Set(strings.Repeat("k", 70000), nil, 0), ErrTooLarge)
	// A loaded value too large to cache is returned, and counted.
	loads := 0
	for range 2 {
		v, err := c.GetOrLoad(context.Background(), "loaded", func(context.Context) ([]byte, time.Duration, error) {
			loads++
			return big, 0, nil
		})
		require.NoError(t, err)
		require.Len(t, v, len(big))
	}
	require.Equal(t, 2, loads, "never cached: every call loads")
	s := c.Stats()
	require.Equal(t, uint64(4), s.Rejected)
	require.Zero(t, s.Sets)
}

// fakeClock is a test's own time source, not one of the clock package's.
type fakeClock struct{ now atomic.Int64 }

func (f *fakeClock) Now() int64 { return f.now.Load() }

// TestOptionsClockOfYourOwn: any Clock drives TTLs; a nil *clock.Clock is
// refused rather than dereferenced on the first Set.
func TestOptionsClockOfYourOwn(t *testing.T) {
	f := &fakeClock{}
	f.now.Store(1_000)
	c, err := New(Options{Clock: f})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Set("k", []byte("v"), time.Second))
	ttl, ok := c.TTL("k")
	require.True(t, ok)
	require.Equal(t, time.Second, ttl)
	f.now.Add(int64(time.Second))
	_, ok = c.Get("k")
	require.False(t, ok, "expired by the fake clock")

	var nilClock *clock.Clock
	_, err = New(Options{Clock: nilClock})
	require.ErrorIs(t, err, ErrInvalidOptions)
}

// TestOnEvictStillWorks: the deprecated name of OnRemove is honoured, and
// setting both is refused.
func TestOnEvictStillWorks(t *testing.T) {
	var reasons []Reason
	c, err := New(Options{OnEvict: func(_ string, _ []byte, r Reason) { reasons = append(reasons, r) }})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Set("k", []byte("v"), 0))
	c.Delete("k")
	require.Equal(t, []Reason{Deleted}, reasons)
	f := func(string, []byte, Reason) {}
	_, err = New(Options{OnEvict: f, OnRemove: f})
	require.ErrorIs(t, err, ErrInvalidOptions)
}

func TestGetOrLoadFromOnRemoveOfItsOwnStore(t *testing.T) {
	// The load's Set replaces an expired entry; the OnRemove callback, in
	// the load's goroutine, deletes the key and calls GetOrLoad for it,
	// which would wait for the very load it runs in.
	before := runtime.NumGoroutine()
	clk := clock.NewManual(1e9)
	var c *Cache
	inner := make(chan error, 1)
	c, err := New(Options{Clock: clk, ExpiryInterval: time.Hour,
		OnRemove: func(key string, _ []byte, r Reason) {
			if r != Expired {
				return
			}
			c.Delete(key)
			_, err := c.GetOrLoad(context.Background(), key, func(context.Context) ([]byte, time.Duration, error) {
				return []byte("inner"), 0, nil
			})
			inner <- err
		}})
	require.NoError(t, err)
	require.NoError(t, c.Set("a", []byte("old"), time.Second))
	clk.Advance(2 * time.Second) // expired, not swept
	res := make(chan error, 1)
	go func() {
		v, err := c.GetOrLoad(context.Background(), "a", func(context.Context) ([]byte, time.Duration, error) {
			return []byte("new"), time.Minute, nil
		})
		if err == nil && string(v) != "new" {
			err = fmt.Errorf("got %q", v)
		}
		res <- err
	}()
	require.ErrorIs(t, await(t, inner, "GetOrLoad in the load's OnRemove"), ErrLoadCycle)
	require.NoError(t, await(t, res, "the outer GetOrLoad"))
	closeReturns(t, c, "Close")
	noLeak(t, before)
}

func TestCloseFromSweepAndLoadAtOnce(t *testing.T) {
	// A sweep's callback and a load function close the cache at the same
	// time: each runs in a goroutine that the other's Close would wait
	// for, if a Close from the cache's own goroutines waited.
	before := runtime.NumGoroutine()
	clk := clock.NewManual(1e9)
	var c *Cache
	inCallback, started := make(chan struct{}), make(chan struct{})
	fromCallback := make(chan error, 1)
	c, err := New(Options{Clock: clk, ExpiryInterval: time.Millisecond,
		OnRemove: func(_ string, _ []byte, r Reason) {
			if r == Expired {
				close(inCallback)
				fromCallback <- c.Close()
			}
		}})
	require.NoError(t, err)
	require.NoError(t, c.Set("x", []byte("v"), time.Second))
	res := make(chan error, 1)
	go func() {
		_, err := c.GetOrLoad(context.Background(), "l", func(context.Context) ([]byte, time.Duration, error) {
			close(started)
			<-inCallback
			return []byte("v"), 0, c.Close()
		})
		res <- err
	}()
	await(t, started, "the load")
	clk.Advance(2 * time.Second)
	require.NoError(t, await(t, fromCallback, "Close from the sweep's callback"))
	require.NoError(t, await(t, res, "GetOrLoad whose load closes the cache"))
	closeReturns(t, c, "Close from outside")
	noLeak(t, before)
}

func TestCloseFromLoadStartedBySweepCallback(t *testing.T) {
	// The sweep's callback loads the expired key again, and that load
	// closes the cache: the sweep waits for the load, so the load's Close
	// must not wait for the sweep.
	before := runtime.NumGoroutine()
	clk := clock.NewManual(1e9)
	var c *Cache
	errStop := errors.New("shutting down")
	inner := make(chan error, 1)
	c, err := New(Options{Clock: clk, ExpiryInterval: time.Millisecond,
		OnRemove: func(key string, _ []byte, r Reason) {
			if r != Expired {
				return
			}
			_, err := c.GetOrLoad(context.Background(), key, func(context.Context) ([]byte, time.Duration, error) {
				c.Close()
				return nil, 0, errStop
			})
			inner <- err
		}})
	require.NoError(t, err)
	require.NoError(t, c.Set("x", []byte("v"), time.Second))
	clk.Advance(2 * time.Second)
	err = await(t, inner, "GetOrLoad in the sweep's callback")
	require.ErrorIs(t, err, errStop)
	require.ErrorIs(t, err, ErrClosed)
	closeReturns(t, c, "Close from outside")
	noLeak(t, before)
}

// Close called from another cache's sweep goroutine (in that cache's
// OnRemove) waits for this cache's loads: only this cache's own
// goroutines are ones it would wait for itself in.
func TestCloseFromAnotherCachesSweepWaits(t *testing.T) {
	b, err := New(Options{})
	require.NoError(t, err)
	var loadReturned atomic.Bool
	started := make(chan struct{})
	go b.GetOrLoad(context.Background(), "slow", func(ctx context.Context) ([]byte, time.Duration, error) {
		close(started)
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // the load's own cleanup, after Close cancelled it
		loadReturned.Store(true)
		return nil, 0, ctx.Err()
	})
	<-started

	clk := clock.NewManual(1e9)
	returned := make(chan bool, 1)
	a, err := New(Options{Clock: clk, ExpiryInterval: time.Millisecond,
		OnRemove: func(_ string, _ []byte, r Reason) {
			if r == Expired {
				b.Close()
				returned <- loadReturned.Load()
			}
		}})
	require.NoError(t, err)
	defer a.Close()
	require.NoError(t, a.Set("x", []byte("v"), time.Second))
	clk.Advance(2 * time.Second)
	require.True(t, await(t, returned, "Close from another cache's sweep"), "Close returned before its load did")
}

// A callback that ends the sweep's goroutine with runtime.Goexit (as
// t.FailNow does) does not end the sweep: expired entries still leave,
// and Close stops what New started.
func TestSweepGoesOnAfterGoexitInCallback(t *testing.T) {
	before := runtime.NumGoroutine()
	clk := clock.NewManual(1e9)
	var calls atomic.Int32
	c, err := New(Options{Clock: clk, ExpiryInterval: time.Millisecond,
		OnRemove: func(string, []byte, Reason) {
			if calls.Add(1) == 1 {
				runtime.Goexit()
			}
		}})
	require.NoError(t, err)
	require.NoError(t, c.Set("a", []byte("v"), time.Second))
	clk.Advance(2 * time.Second)
	waitFor(t, func() bool { return calls.Load() == 1 })
	for i := range 10 {
		require.NoError(t, c.Set(fmt.Sprint("b", i), []byte("v"), time.Second))
	}
	clk.Advance(2 * time.Second)
	// The sweep reports removals after it has counted them, so wait for
	// the reports, not for Len.
	waitFor(t, func() bool { return calls.Load() == 11 })
	require.Zero(t, c.Len())
	closeReturns(t, c, "Close")
	noLeak(t, before)
}

// New refuses settings whose own bookkeeping would cost more than the
// budget (or a megabyte, for budgets under it), and what it accepts
// allocates about that much at most before anything is stored.
func TestNewAllocatesWithinBudget(t *testing.T) {
	for _, maxBytes := range []int64{4 << 10, 64 << 10, 1 << 20, 16 << 20} {
		for _, shards := range []int{1, 64, 4096} {
			for _, seg := range []int{0, 16, 1 << 10, 64 << 10} {
				opts := Options{MaxBytes: maxBytes, Shards: shards, SegmentBytes: seg, MaxEntries: 1 << 30}
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				c, err := New(opts)
				runtime.ReadMemStats(&after)
				if err != nil {
					require.ErrorIs(t, err, ErrInvalidOptions)
					continue
				}
				allocated := int64(after.TotalAlloc - before.TotalAlloc)
				require.LessOrEqual(t, allocated, 2*max(maxBytes, 1<<20), "%+v", opts)
				require.NoError(t, c.Close())
			}
		}
	}
}

// After Close every write gets ErrClosed, even one the cache would refuse
// for its TTL or size, and none is counted as rejected.
func TestRefusedWritesAfterCloseSayClosed(t *testing.T) {
	c, err := New(Options{MaxBytes: 1 << 20})
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.ErrorIs(t, c.Set("k", []byte("v"), -time.Second), ErrClosed)
	require.ErrorIs(t, c.Set("k", make([]byte, c.MaxValueBytes()+1), 0), ErrClosed)
	require.ErrorIs(t, c.Set(strings.Repeat("k", 1<<16), nil, 0), ErrClosed)
	require.Zero(t, c.Stats().Rejected)
}
