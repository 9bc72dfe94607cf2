package velo

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/velocache/velo/arena"
	"github.com/velocache/velo/clock"
)

func newManual(t *testing.T, opts Options) (*Cache, *clock.Clock) {
	t.Helper()
	clk := clock.NewManual(1e9)
	opts.Clock = clk
	c, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c, clk
}

func TestSetGetDelete(t *testing.T) {
	c, _ := newManual(t, Options{})
	require.NoError(t, c.Set("a", []byte("1"), 0))
	v, ok := c.Get("a")
	require.True(t, ok)
	require.Equal(t, "1", string(v))
	require.True(t, c.Has("a"))

	// Set copies: changing the caller's slice afterwards changes nothing.
	buf := []byte("2")
	require.NoError(t, c.Set("a", buf, 0))
	buf[0] = 'x'
	v, _ = c.Get("a")
	require.Equal(t, "2", string(v))
	// Get returns a copy the caller owns.
	v[0] = 'y'
	v, _ = c.Get("a")
	require.Equal(t, "2", string(v))

	require.Equal(t, 1, c.Len())
	require.True(t, c.Delete("a"))
	require.False(t, c.Delete("a"))
	_, ok = c.Get("a")
	require.False(t, ok)
	require.False(t, c.Has("a"))
	require.Equal(t, 0, c.Len())

	s := c.Stats()
	require.Equal(t, uint64(3), s.Hits)
	require.Equal(t, uint64(1), s.Misses)
	require.Equal(t, uint64(2), s.Sets)
	require.Equal(t, uint64(1), s.Deletes)
}

func TestEmptyKeyAndValue(t *testing.T) {
	c, _ := newManual(t, Options{})
	require.NoError(t, c.Set("", []byte("empty key"), 0))
	require.NoError(t, c.Set("empty value", nil, 0))
	v, ok := c.Get("")
	require.True(t, ok)
	require.Equal(t, "empty key", string(v))
	v, ok = c.Get("empty value")
	require.True(t, ok)
	require.NotNil(t, v, "a hit is not a nil slice")
	require.Empty(t, v)
	dst, ok := c.AppendValue([]byte("x"), "empty value")
	require.True(t, ok)
	require.Equal(t, "x", string(dst))
}

func TestAppendValue(t *testing.T) {
	c, _ := newManual(t, Options{})
	require.NoError(t, c.Set("k", []byte("value"), 0))
	dst, ok := c.AppendValue([]byte("pre-"), "k")
	require.True(t, ok)
	require.Equal(t, "pre-value", string(dst))
	dst, ok = c.AppendValue([]byte("pre-"), "missing")
	require.False(t, ok)
	require.Equal(t, "pre-", string(dst))

	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() { buf, _ = c.AppendValue(buf[:0], "k") })
	require.Zero(t, allocs)
}

func TestTTL(t *testing.T) {
	c, clk := newManual(t, Options{DefaultTTL: time.Minute, ExpiryInterval: time.Millisecond})
	require.NoError(t, c.Set("short", []byte("s"), time.Second))
	require.NoError(t, c.Set("default", []byte("d"), 0))
	require.NoError(t, c.Set("century", []byte("c"), 100*365*24*time.Hour))
	require.NoError(t, c.Set("max", []byte("m"), time.Duration(math.MaxInt64)))

	clk.Advance(999 * time.Millisecond)
	_, ok := c.Get("short")
	require.True(t, ok)
	clk.Advance(time.Millisecond)
	_, ok = c.Get("short")
	require.False(t, ok, "expired at exactly its TTL")
	require.False(t, c.Delete("short"), "an expired entry is not present")

	clk.Advance(time.Minute)
	_, ok = c.Get("default")
	require.False(t, ok)
	for _, k := range []string{"century", "max"} {
		_, ok = c.Get(k)
		require.True(t, ok, "%s must not overflow into the past", k)
	}

	// The sweep removes expired entries without anyone reading them.
	require.NoError(t, c.Set("later", []byte("l"), time.Hour))
	clk.Advance(2 * time.Hour)
	waitFor(t, func() bool { return c.Len() == 2 }) // century, max
	require.GreaterOrEqual(t, c.Stats().Expirations, uint64(2))
}

func TestNoDefaultTTL(t *testing.T) {
	c, clk := newManual(t, Options{})
	require.NoError(t, c.Set("k", []byte("v"), 0))
	clk.Advance(1000 * time.Hour)
	_, ok := c.Get("k")
	require.True(t, ok)
}

func TestBadInputKeepsOldValue(t *testing.T) {
	c, _ := newManual(t, Options{MaxBytes: 1 << 20, MaxValueBytes: 4096})
	require.Equal(t, 4096, c.MaxValueBytes())
	require.NoError(t, c.Set("k", []byte("old"), 0))

	cases := []struct {
		name  string
		key   string
		value []byte
		ttl   time.Duration
		want  error
	}{
		{"negative ttl", "k", []byte("new"), -time.Nanosecond, ErrInvalidTTL},
		{"value one byte too large", "k", make([]byte, 4097), 0, ErrTooLarge},
		{"value far too large", "k", make([]byte, 1<<20), 0, ErrTooLarge},
		{"huge key", strings.Repeat("k", 70000), []byte("v"), 0, ErrTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Set(tc.key, tc.value, tc.ttl)
			require.ErrorIs(t, err, tc.want)
			t.Log(err)
			v, ok := c.Get("k")
			require.True(t, ok)
			require.Equal(t, "old", string(v))
		})
	}
	// The largest entry that fits is accepted.
	require.NoError(t, c.Set("k", make([]byte, 4096-arena.HeaderSize-1), 0))
}

func TestInvalidOptions(t *testing.T) {
	for _, o := range []Options{
		{MaxBytes: -1},
		{MaxEntries: -1},
		{DefaultTTL: -time.Second},
		{Shards: 3},
		{Shards: -4},
		{Shards: 1 << 20},
		{SegmentBytes: -1},
		{SegmentBytes: 1 << 30},
		{ExpiryInterval: -1},
		{MaxBytes: 100}, // below the minimum
		{MaxBytes: 1 << 20, SegmentBytes: 1 << 20}, // one segment per shard
		{MaxBytes: 1 << 50, Shards: 1, SegmentBytes: 4096},
	} {
		c, err := New(o)
		require.ErrorIs(t, err, ErrInvalidOptions, "%+v", o)
		require.Nil(t, c)
		t.Log(err)
	}
	// An absurdly large budget with defaults is fine: segments are
	// allocated as data arrives.
	c, err := New(Options{MaxBytes: 1 << 40})
	require.NoError(t, err)
	require.NoError(t, c.Set("k", []byte("v"), 0))
	require.NoError(t, c.Close())
}

func TestUseAfterClose(t *testing.T) {
	before := runtime.NumGoroutine()
	c, err := New(Options{})
	require.NoError(t, err)
	require.NoError(t, c.Set("k", []byte("v"), 0))
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "Close twice is harmless")

	require.ErrorIs(t, c.Set("k", []byte("v"), 0), ErrClosed)
	_, ok := c.Get("k")
	require.False(t, ok)
	_, ok = c.AppendValue(nil, "k")
	require.False(t, ok)
	require.False(t, c.Has("k"))
	require.False(t, c.Delete("k"))
	require.Equal(t, 0, c.Len())
	_ = c.Stats()

	// Close stopped the sweep and the shared clock New started.
	for i := 0; i < 1000 && runtime.NumGoroutine() > before; i++ {
		time.Sleep(time.Millisecond)
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), before)
}

// TestMemoryBound writes 25 times the budget through the cache and checks
// that the live heap after a GC stays within twice the budget plus the
// index.
func TestMemoryBound(t *testing.T) {
	const budget = 8 << 20
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	c, err := New(Options{MaxBytes: budget})
	require.NoError(t, err)
	defer c.Close()
	value := make([]byte, 1000)
	written := 0
	var peak uint64 // the heap between collections, sampled
	for i := 0; written < 25*budget; i++ {
		key := fmt.Sprintf("key-%d", i%100000)
		require.NoError(t, c.Set(key, value, 0))
		written += len(key) + len(value) + 16
		if i%20000 == 0 {
			runtime.ReadMemStats(&after)
			peak = max(peak, after.HeapAlloc-before.HeapAlloc)
		}
	}
	s := c.Stats()
	require.LessOrEqual(t, s.Bytes, int64(budget))
	require.Positive(t, s.Evictions)

	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	index := int64(c.Len()) * 128 // a generous bound on xsync's per-entry cost
	t.Logf("wrote %d MiB through a %d MiB cache: %d entries; heap between GCs up to %.1f MiB (sampled); after a GC %.1f MiB over the start (limit %.1f MiB)",
		written>>20, budget>>20, c.Len(), float64(peak)/(1<<20), float64(grown)/(1<<20), float64(2*budget+index)/(1<<20))
	require.LessOrEqual(t, grown, 2*budget+index)
	runtime.KeepAlive(c)
}

func TestMaxEntries(t *testing.T) {
	c, _ := newManual(t, Options{MaxEntries: 1000})
	for i := 0; i < 10000; i++ {
		require.NoError(t, c.Set(fmt.Sprint(i), []byte("v"), 0))
		require.LessOrEqual(t, c.Len(), 1000)
	}
	require.Greater(t, c.Len(), 900)
}

func TestErrorsAreDistinct(t *testing.T) {
	errs := []error{ErrTooLarge, ErrClosed, ErrInvalidTTL, ErrInvalidOptions}
	for i, a := range errs {
		for j, b := range errs {
			require.Equal(t, i == j, errors.Is(a, b))
		}
		require.True(t, strings.HasPrefix(a.Error(), "velo: "))
	}
}

// An expired entry that a Set replaces counts in Stats.Expirations, as
// OnRemove reports it, with the callback or without.
func TestExpirationsCountOverwrites(t *testing.T) {
	for _, callback := range []bool{false, true} {
		var reasons []Reason
		opts := Options{Shards: 1, ExpiryInterval: time.Hour}
		if callback {
			opts.OnRemove = func(_ string, _ []byte, r Reason) { reasons = append(reasons, r) }
		}
		c, clk := newManual(t, opts)
		require.NoError(t, c.Set("k", []byte("1"), time.Second))
		require.NoError(t, c.Set("live", []byte("1"), time.Hour))
		clk.Advance(2 * time.Second)
		require.NoError(t, c.Set("k", []byte("2"), 0))
		require.NoError(t, c.Set("live", []byte("2"), 0))
		require.EqualValues(t, 1, c.Stats().Expirations, "callback %v", callback)
		if callback {
			require.Equal(t, []Reason{Expired, Replaced}, reasons)
		}
	}
}
