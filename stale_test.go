package velo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/velocache/velo/clock"
)

var errOrigin = errors.New("origin down")

// expiredCache returns a cache of opts on a manual clock, holding "k" =
// value with a TTL of a second that expired half a second ago.
func expiredCache(t *testing.T, opts Options, value string) (*Cache, *clock.Clock) {
	t.Helper()
	c, clk := newManual(t, opts)
	require.NoError(t, c.Set("k", []byte(value), time.Second))
	clk.Advance(1500 * time.Millisecond)
	return c, clk
}

// TestStaleIfError: a failed reload serves the last value, past its
// expiry, for at most StaleIfError, with the failure visible; reloads
// wait StaleRetry between tries; a successful one ends it.
func TestStaleIfError(t *testing.T) {
	clk := clock.NewManual(0)
	c, err := New(Options{Clock: clk, StaleIfError: time.Minute, StaleRetry: 10 * time.Second, ExpiryInterval: time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	// A sentinel whose stale window ends at 1 min: once the background
	// sweep has removed it, a sweep ran after that time.
	require.NoError(t, c.Set("sentinel", []byte("s"), time.Nanosecond))
	var calls atomic.Int64
	up := atomic.Bool{}
	up.Store(true)
	load := func(context.Context) ([]byte, time.Duration, error) {
		n := calls.Add(1)
		if !up.Load() {
			return nil, time.Minute, errOrigin
		}
		return []byte{byte('0' + n)}, 10 * time.Second, nil
	}
	v, err := c.GetOrLoad(ctx, "k", load)
	require.NoError(t, err)
	require.Equal(t, "1", string(v))

	up.Store(false)
	clk.Advance(15 * time.Second)
	_, ok := c.Get("k")
	require.False(t, ok, "Get never sees an expired value")
	v, err = c.GetOrLoad(ctx, "k", load)
	require.Equal(t, "1", string(v), "the stale value")
	require.ErrorIs(t, err, ErrStale)
	require.ErrorIs(t, err, errOrigin)
	var se *StaleError
	require.ErrorAs(t, err, &se)
	require.Equal(t, 5*time.Second, se.Age)
	require.EqualValues(t, 2, calls.Load())

	// Within StaleRetry: no reload.
	for range 5 {
		v, err = c.GetOrLoad(ctx, "k", load)
		require.Equal(t, "1", string(v))
		require.ErrorIs(t, err, errOrigin)
	}
	require.EqualValues(t, 2, calls.Load())
	require.EqualValues(t, 6, c.Stats().StaleServed)

	// After it: one reload, still failing.
	clk.Advance(10 * time.Second)
	v, err = c.GetOrLoad(ctx, "k", load)
	require.Equal(t, "1", string(v))
	require.ErrorIs(t, err, ErrStale)
	require.EqualValues(t, 3, calls.Load())

	// The sweep keeps the stale entry while it may be served (until 70 s).
	clk.Advance(36 * time.Second)                   // 61 s
	waitFor(t, func() bool { return c.Len() == 1 }) // the sentinel swept, k kept
	_, ok = c.e.StaleInfo("k")
	require.True(t, ok)
	clk.Advance(5 * time.Second)
	v, err = c.GetOrLoad(ctx, "k", load)
	require.Equal(t, "1", string(v))
	require.ErrorIs(t, err, ErrStale)

	// Past StaleIfError: fail closed, and the sweep removes the entry.
	clk.Advance(time.Minute)
	v, err = c.GetOrLoad(ctx, "k", load)
	require.Nil(t, v)
	require.ErrorIs(t, err, errOrigin)
	require.NotErrorIs(t, err, ErrStale)
	waitFor(t, func() bool { return c.Len() == 0 })

	// The origin back: a fresh value, no error.
	up.Store(true)
	v, err = c.GetOrLoad(ctx, "k", load)
	require.NoError(t, err)
	require.NotEqual(t, "1", string(v))
}

// TestStaleIfErrorNotFound: an origin that says the key is gone is
// believed: no stale value, and the absence is cached.
func TestStaleIfErrorNotFound(t *testing.T) {
	clk := clock.NewManual(0)
	c, err := New(Options{Clock: clk, StaleIfError: time.Minute})
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	require.NoError(t, c.Set("k", []byte("old"), time.Second))
	clk.Advance(2 * time.Second)
	v, err := c.GetOrLoad(ctx, "k", func(context.Context) ([]byte, time.Duration, error) {
		return nil, time.Minute, ErrNotFound
	})
	require.Nil(t, v)
	require.ErrorIs(t, err, ErrNotFound)
	require.NotErrorIs(t, err, ErrStale)
	_, err = c.GetOrLoad(ctx, "k", func(context.Context) ([]byte, time.Duration, error) {
		t.Fatal("loaded during a cached absence")
		return nil, 0, nil
	})
	require.ErrorIs(t, err, ErrNotFound)
}

// TestStaleIfErrorOff: without the option a failed reload is an error,
// and the expired entry is gone.
func TestStaleIfErrorOff(t *testing.T) {
	clk := clock.NewManual(0)
	c, err := New(Options{Clock: clk})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Set("k", []byte("old"), time.Second))
	clk.Advance(2 * time.Second)
	v, err := c.GetOrLoad(context.Background(), "k", func(context.Context) ([]byte, time.Duration, error) {
		return nil, 0, errOrigin
	})
	require.Nil(t, v)
	require.ErrorIs(t, err, errOrigin)
	_, err = New(Options{StaleIfError: -time.Second})
	require.ErrorIs(t, err, ErrInvalidOptions)
	_, err = New(Options{StaleRetry: -time.Second})
	require.ErrorIs(t, err, ErrInvalidOptions)
}

// TestStaleIfErrorNoStampede: many callers of a key whose origin fails
// make one load per StaleRetry, and each gets the stale value.
func TestStaleIfErrorNoStampede(t *testing.T) {
	clk := clock.NewManual(0)
	c, err := New(Options{Clock: clk, StaleIfError: time.Hour, StaleRetry: time.Minute})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Set("k", []byte("old"), time.Second))
	clk.Advance(2 * time.Second)
	var calls atomic.Int64
	release := make(chan struct{})
	load := func(context.Context) ([]byte, time.Duration, error) {
		calls.Add(1)
		<-release
		return nil, 0, errOrigin
	}
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 20 {
				v, err := c.GetOrLoad(context.Background(), "k", load)
				if string(v) != "old" || !errors.Is(err, ErrStale) {
					t.Errorf("got %q, %v", v, err)
					return
				}
			}
		})
	}
	time.Sleep(10 * time.Millisecond)
	close(release)
	wg.Wait()
	require.EqualValues(t, 1, calls.Load())
	require.EqualValues(t, 32*20, c.Stats().StaleServed)
}

// TestStaleIfErrorEmptyValue: an empty value is served stale like any
// other.
func TestStaleIfErrorEmptyValue(t *testing.T) {
	clk := clock.NewManual(0)
	c, err := New(Options{Clock: clk, StaleIfError: time.Minute})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Set("k", nil, time.Second))
	clk.Advance(2 * time.Second)
	_, err = c.GetOrLoad(context.Background(), "k", func(context.Context) ([]byte, time.Duration, error) {
		return nil, 0, errOrigin
	})
	require.ErrorIs(t, err, ErrStale)
}

// A stale value is served only while it is one: not once StaleIfError has
// passed since its expiry (a load that took that long to fail), nor after
// a write of the key while the load ran; a live value that write left is
// returned instead, without an error.
func TestStaleServedOnlyWhileStale(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		during func(c *Cache, clk *clock.Clock)
		want   string // the value GetOrLoad returns with the load's error; "" for none
	}{
		{"nothing", func(*Cache, *clock.Clock) {}, "old"},
		{"past the window", func(_ *Cache, clk *clock.Clock) { clk.Advance(5 * time.Second) }, ""},
		{"Set and expired", func(c *Cache, clk *clock.Clock) {
			require.NoError(t, c.Set("k", []byte("newer"), 100*time.Millisecond))
			clk.Advance(200 * time.Millisecond)
		}, ""},
		{"Delete", func(c *Cache, _ *clock.Clock) { c.Delete("k") }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, clk := expiredCache(t, Options{StaleIfError: time.Second}, "old")
			v, err := c.GetOrLoad(ctx, "k", func(context.Context) ([]byte, time.Duration, error) {
				tc.during(c, clk)
				return nil, 0, errOrigin
			})
			require.ErrorIs(t, err, errOrigin)
			require.Equal(t, tc.want, string(v))
			if tc.want == "" {
				require.NotErrorIs(t, err, ErrStale)
				require.Zero(t, c.Stats().StaleServed)
			} else {
				require.ErrorIs(t, err, ErrStale)
			}
		})
	}
}

// A value Set while a reload fails is returned, without an error and
// without the stale one.
func TestStaleGivesWayToSetDuringLoad(t *testing.T) {
	c, _ := expiredCache(t, Options{StaleIfError: time.Second}, "old")
	v, err := c.GetOrLoad(context.Background(), "k", func(context.Context) ([]byte, time.Duration, error) {
		require.NoError(t, c.Set("k", []byte("fresh"), time.Minute))
		return nil, 0, errOrigin
	})
	require.NoError(t, err)
	require.Equal(t, "fresh", string(v))
	require.Zero(t, c.Stats().StaleServed)
}

// A failed reload holds back the next for StaleRetry only for the value
// whose reload failed: a value of the key stored since, once it expires,
// is reloaded at once.
func TestStaleRetryIsPerValue(t *testing.T) {
	c, clk := expiredCache(t, Options{StaleIfError: time.Hour, StaleRetry: time.Minute}, "v1")
	ctx := context.Background()
	_, err := c.GetOrLoad(ctx, "k", func(context.Context) ([]byte, time.Duration, error) { return nil, 0, errOrigin })
	require.ErrorIs(t, err, ErrStale)

	require.NoError(t, c.Set("k", []byte("v2"), time.Second))
	clk.Advance(2 * time.Second) // v2 expired, within StaleRetry of v1's failed reload
	v, err := c.GetOrLoad(ctx, "k", func(context.Context) ([]byte, time.Duration, error) {
		return []byte("v3"), time.Minute, nil
	})
	require.NoError(t, err)
	require.Equal(t, "v3", string(v))
}

// A StaleRetry too long to count waits forever, not never.
func TestStaleRetryHuge(t *testing.T) {
	c, _ := expiredCache(t, Options{StaleIfError: time.Hour, StaleRetry: math.MaxInt64}, "old")
	loads := 0
	for range 3 {
		v, err := c.GetOrLoad(context.Background(), "k", func(context.Context) ([]byte, time.Duration, error) {
			loads++
			return nil, 0, errOrigin
		})
		require.Equal(t, "old", string(v))
		require.ErrorIs(t, err, ErrStale)
	}
	require.Equal(t, 1, loads)
}

// Typed.GetOrLoad serves a stale value decoded, with its *StaleError.
func TestTypedGetOrLoadStale(t *testing.T) {
	c, _ := expiredCache(t, Options{StaleIfError: time.Hour}, "old")
	v, err := NewTyped(c, String()).GetOrLoad(context.Background(), "k", func(context.Context) (string, time.Duration, error) {
		return "", 0, errOrigin
	})
	require.ErrorIs(t, err, ErrStale)
	require.ErrorIs(t, err, errOrigin)
	require.Equal(t, "old", v)
}

// Past the number of records at which failures start pruning, every
// failed reload is still recorded: each key is reloaded once per
// StaleRetry however many keys fail, and the records whose wait is over
// are pruned.
func TestStaleRetryManyKeys(t *testing.T) {
	const keys = 300
	clk := clock.NewManual(1)
	c, err := New(Options{Clock: clk, StaleIfError: time.Hour, StaleRetry: time.Minute})
	require.NoError(t, err)
	defer c.Close()
	c.stale.pruneAt.Store(64) // as if minPruneAt were 64
	key := func(i int) string { return fmt.Sprintf("k%04d", i) }
	for i := range keys {
		require.NoError(t, c.Set(key(i), []byte("v"), time.Second))
	}
	clk.Advance(2 * time.Second)
	var loads atomic.Int64
	load := func(context.Context) ([]byte, time.Duration, error) {
		loads.Add(1)
		return nil, 0, errOrigin
	}
	round := func() {
		for i := range keys {
			v, err := c.GetOrLoad(context.Background(), key(i), load)
			require.ErrorIs(t, err, ErrStale)
			require.Equal(t, "v", string(v))
		}
	}
	round()
	require.EqualValues(t, keys, loads.Load())
	round()
	require.EqualValues(t, keys, loads.Load(), "a key was reloaded within StaleRetry")
	require.Equal(t, keys, c.stale.keys.Size())

	clk.Advance(time.Minute) // every wait is over: the next failures prune
	round()
	require.EqualValues(t, 2*keys, loads.Load())
	require.LessOrEqual(t, c.stale.keys.Size(), keys)
	require.GreaterOrEqual(t, c.stale.pruneAt.Load(), int64(minPruneAt))
}
