package velo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/velocache/velo/clock"
)

// notFound is a loader for an origin that does not have the key.
func notFound(calls *atomic.Int64, ttl time.Duration) func(context.Context) ([]byte, time.Duration, error) {
	return func(context.Context) ([]byte, time.Duration, error) {
		calls.Add(1)
		return nil, ttl, fmt.Errorf("user 42: %w", ErrNotFound)
	}
}

// TestNegativeCaching: an absence the loader reports with a TTL answers
// the next calls without loading, until it expires.
func TestNegativeCaching(t *testing.T) {
	clk := clock.NewManual(0)
	var evicted []string
	c, err := New(Options{Clock: clk, OnRemove: func(key string, _ []byte, r Reason) {
		evicted = append(evicted, fmt.Sprint(key, " ", r))
	}})
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	var calls atomic.Int64

	_, err = c.GetOrLoad(ctx, "u42", notFound(&calls, time.Minute))
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorContains(t, err, "user 42", "the first caller gets the loader's own error")
	for range 4 {
		_, err = c.GetOrLoad(ctx, "u42", notFound(&calls, time.Minute))
		require.ErrorIs(t, err, ErrNotFound)
	}
	require.EqualValues(t, 1, calls.Load(), "one load for five calls")
	s := c.Stats()
	require.EqualValues(t, 4, s.NegativeHits)
	require.EqualValues(t, 1, s.Loads)
	require.EqualValues(t, 0, s.Sets, "an absence is not a Set")

	// Nothing else sees it.
	_, ok := c.Get("u42")
	require.False(t, ok)
	require.False(t, c.Has("u42"))
	_, ok = c.TTL("u42")
	require.False(t, ok)
	for k := range c.Keys() {
		t.Fatalf("Range saw %q", k)
	}

	// It expires.
	clk.Advance(time.Minute)
	_, err = c.GetOrLoad(ctx, "u42", notFound(&calls, time.Minute))
	require.ErrorIs(t, err, ErrNotFound)
	require.EqualValues(t, 2, calls.Load(), "loaded again after the TTL")

	// A Set replaces it, without a callback for the absence.
	require.NoError(t, c.Set("u42", []byte("alice"), 0))
	v, err := c.GetOrLoad(ctx, "u42", notFound(&calls, time.Minute))
	require.NoError(t, err)
	require.Equal(t, "alice", string(v))

	// A Delete removes it, and reports no value removed.
	require.True(t, c.Delete("u42"))
	_, err = c.GetOrLoad(ctx, "u42", notFound(&calls, time.Minute))
	require.ErrorIs(t, err, ErrNotFound)
	require.EqualValues(t, 3, calls.Load())
	require.False(t, c.Delete("u42"), "an absence is no value")
	require.EqualValues(t, 1, c.Stats().Deletes, "only alice's Delete counts")
	_, err = c.GetOrLoad(ctx, "u42", notFound(&calls, time.Minute))
	require.ErrorIs(t, err, ErrNotFound)
	require.EqualValues(t, 4, calls.Load(), "loaded again after the Delete")

	require.Equal(t, []string{"u42 deleted"}, evicted, "only alice's removal is reported")
}

// TestNegativeCachingNeedsATTL: ErrNotFound with TTL 0, and any other
// error, cache nothing.
func TestNegativeCachingNeedsATTL(t *testing.T) {
	c, err := New(Options{DefaultTTL: time.Hour})
	require.NoError(t, err)
	defer c.Close()
	var calls atomic.Int64
	for range 3 {
		_, err = c.GetOrLoad(context.Background(), "k", notFound(&calls, 0))
		require.ErrorIs(t, err, ErrNotFound)
	}
	other := errors.New("origin down")
	for range 3 {
		_, err = c.GetOrLoad(context.Background(), "k", func(context.Context) ([]byte, time.Duration, error) {
			calls.Add(1)
			return nil, time.Minute, other
		})
		require.ErrorIs(t, err, other)
	}
	require.EqualValues(t, 6, calls.Load())
	require.Zero(t, c.Stats().NegativeHits)
}

// TestNegativeCachingUnderEviction: absences are entries like others:
// bounded by MaxEntries, evicted, and never returned as values, whatever
// the writes around them.
func TestNegativeCachingUnderEviction(t *testing.T) {
	c, err := New(Options{MaxEntries: 512, MaxBytes: 256 << 10, Shards: 2})
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			var calls atomic.Int64
			for i := range 5000 {
				k := fmt.Sprint("k", (i*7+w)%2000)
				if i%3 == 0 {
					_ = c.Set(k, []byte(k), 0)
					continue
				}
				v, err := c.GetOrLoad(ctx, k, notFound(&calls, time.Hour))
				if err == nil && string(v) != k {
					t.Errorf("%s read %q", k, v)
					return
				}
				if err != nil && !errors.Is(err, ErrNotFound) {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, c.Len(), 512)
	require.NotZero(t, c.Stats().NegativeHits)
}

// TestTypedNegativeCaching: the typed view passes an absence's TTL on.
func TestTypedNegativeCaching(t *testing.T) {
	c, err := New(Options{})
	require.NoError(t, err)
	defer c.Close()
	users := NewTyped(c, JSON[string]())
	calls := 0
	for range 3 {
		_, err := users.GetOrLoad(context.Background(), "u1", func(context.Context) (string, time.Duration, error) {
			calls++
			return "", time.Minute, ErrNotFound
		})
		require.ErrorIs(t, err, ErrNotFound)
	}
	require.Equal(t, 1, calls)
}
