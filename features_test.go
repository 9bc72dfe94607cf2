package velo

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTTLRemaining(t *testing.T) {
	c, clk := newManual(t, Options{})
	require.NoError(t, c.Set("k", []byte("v"), time.Minute))
	require.NoError(t, c.Set("forever", []byte("v"), 0))
	require.NoError(t, c.Set("huge", []byte("v"), math.MaxInt64))
	clk.Advance(20 * time.Second)

	ttl, ok := c.TTL("k")
	require.True(t, ok)
	require.Equal(t, 40*time.Second, ttl)
	for _, k := range []string{"forever", "huge"} {
		ttl, ok = c.TTL(k)
		require.True(t, ok)
		require.Zero(t, ttl, "%s does not expire", k)
	}
	_, ok = c.TTL("absent")
	require.False(t, ok)
	clk.Advance(40 * time.Second)
	_, ok = c.TTL("k")
	require.False(t, ok, "expired")
	require.Zero(t, c.Stats().Hits+c.Stats().Misses, "TTL counts no lookups")
}

func TestClear(t *testing.T) {
	var evicted int
	c, _ := newManual(t, Options{MaxBytes: 1 << 20, OnRemove: func(string, []byte, Reason) { evicted++ }})
	for i := range 1000 {
		require.NoError(t, c.Set(fmt.Sprint(i), []byte("v"), 0))
	}
	c.Get("1")
	c.Clear()
	require.Zero(t, c.Len())
	require.Zero(t, evicted, "Clear does not call OnRemove")
	_, ok := c.Get("1")
	require.False(t, ok)
	s := c.Stats()
	require.Equal(t, uint64(1000), s.Sets, "counters carry on")
	require.Zero(t, s.Bytes)
	require.NoError(t, c.Set("1", []byte("again"), 0))
	v, ok := c.Get("1")
	require.True(t, ok)
	require.Equal(t, "again", string(v))
	require.NoError(t, c.Close())
	c.Clear() // harmless after Close
}

func TestAllAndKeys(t *testing.T) {
	c, clk := newManual(t, Options{MaxBytes: 1 << 20})
	want := map[string]string{}
	for i := range 500 {
		k := fmt.Sprintf("k%03d", i)
		ttl := time.Duration(0)
		if i%4 == 0 {
			ttl = time.Second
		} else {
			want[k] = k + "-value"
		}
		require.NoError(t, c.Set(k, []byte(k+"-value"), ttl))
	}
	clk.Advance(time.Second)

	got := map[string]string{}
	for k, v := range c.All() {
		_, dup := got[k]
		require.False(t, dup)
		got[k] = string(v)
		v[0] = 'X' // the caller's copy: scribbling must not show
	}
	require.Equal(t, want, got)
	for k := range want {
		v, ok := c.Get(k)
		require.True(t, ok)
		require.Equal(t, want[k], string(v))
	}

	keys := slices.Sorted(c.Keys())
	require.Equal(t, slices.Sorted(maps.Keys(want)), keys)

	// Breaking out of the loop stops the iteration; the body may use the
	// cache (no lock is held).
	n := 0
	for k := range c.Keys() {
		require.NoError(t, c.Set(k, []byte("changed"), 0))
		c.Delete("k001")
		if n++; n == 3 {
			break
		}
	}
	require.Equal(t, 3, n)

	require.NoError(t, c.Close())
	for range c.All() {
		t.Fatal("All after Close yields nothing")
	}
}

func TestOnRemove(t *testing.T) {
	var (
		mu  sync.Mutex
		got = map[Reason][]string{}
	)
	c, clk := newManual(t, Options{MaxEntries: 256, Shards: 1, ExpiryInterval: time.Millisecond, OnRemove: func(key string, value []byte, r Reason) {
		mu.Lock()
		defer mu.Unlock()
		got[r] = append(got[r], key+"="+string(value))
	}})
	require.NoError(t, c.Set("a", []byte("1"), 0))
	require.NoError(t, c.Set("a", []byte("2"), 0))
	require.True(t, c.Delete("a"))
	require.NoError(t, c.Set("t", []byte("x"), time.Second))
	clk.Advance(time.Second)
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got[Expired]) > 0
	})
	for i := range 300 {
		require.NoError(t, c.Set(fmt.Sprint(i), []byte("v"), 0))
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"a=1"}, got[Replaced])
	require.Equal(t, []string{"a=2"}, got[Deleted])
	require.Equal(t, []string{"t=x"}, got[Expired])
	require.Len(t, got[Evicted], 300-256)
	require.Equal(t, "evicted", Evicted.String())
}

func TestRefreshAheadOption(t *testing.T) {
	for _, r := range []float64{-0.1, 1, 1.5, math.NaN(), math.Inf(1)} {
		_, err := New(Options{RefreshAhead: r})
		require.ErrorIs(t, err, ErrInvalidOptions, "RefreshAhead %v", r)
	}
	c, err := New(Options{RefreshAhead: 0.25})
	require.NoError(t, err)
	require.NoError(t, c.Close())
}

func TestView(t *testing.T) {
	c, clk := newManual(t, Options{})
	require.NoError(t, c.Set("k", []byte("value"), time.Second))
	var got string
	require.True(t, c.View("k", func(v []byte) { got = string(v) }))
	require.Equal(t, "value", got)

	// The slice stays intact while fn runs, even if the key is overwritten
	// and deleted meanwhile.
	require.True(t, c.View("k", func(v []byte) {
		require.NoError(t, c.Set("k", []byte("other"), 0))
		c.Delete("k")
		require.Equal(t, "value", string(v))
	}))
	require.False(t, c.View("k", func([]byte) { t.Fatal("fn called on a miss") }))

	require.NoError(t, c.Set("t", []byte("x"), time.Second))
	clk.Advance(time.Second)
	require.False(t, c.View("t", func([]byte) { t.Fatal("fn called on an expired entry") }))
	s := c.Stats()
	require.Equal(t, uint64(2), s.Hits)
	require.Equal(t, uint64(2), s.Misses)
	require.NoError(t, c.Close())
	require.False(t, c.View("k", func([]byte) { t.Fatal("fn called after Close") }))
}
