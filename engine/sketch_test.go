package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSketch(t *testing.T) {
	var s sketch
	require.Zero(t, s.estimate(1)) // no table: no MaxEntries
	s.add(1)
	require.Zero(t, s.estimate(1))

	s.init(1000)
	require.Len(t, s.table, 1024)
	h := func(i int) uint64 { return uint64(i) * 0x9e3779b97f4a7c15 }
	for i := range 100 {
		for range i % 20 {
			s.add(h(i))
		}
	}
	// Counters saturate at 15, and collisions only ever overestimate,
	// rarely with 100 keys in 16384 counters.
	wrong := 0
	for i := range 100 {
		got := s.estimate(h(i))
		require.GreaterOrEqual(t, got, min(i%20, 15), "key %d", i)
		if got != min(i%20, 15) {
			wrong++
		}
	}
	require.LessOrEqual(t, wrong, 2)

	// After ten additions per word, every counter is halved.
	for n := s.reset - s.adds; n > 0; n-- {
		s.add(h(5000))
	}
	require.Equal(t, s.reset/2, s.adds)
	require.Equal(t, 7, s.estimate(h(19)))
	require.Equal(t, 7, s.estimate(h(5000)))
	require.Equal(t, 2, s.estimate(h(5)))
}

func TestSketchGrowsWithEntries(t *testing.T) {
	// A MaxEntries far above what is stored costs a small sketch, which
	// grows as entries arrive, up to the bound.
	e, _ := newTestEngine(t, Config{MaxBytes: 64 << 20, MaxEntries: 100000, Shards: 1})
	sh := &e.shards[0]
	require.Len(t, sh.sketch.table, sketchStart)
	for i := range 150000 {
		require.NoError(t, e.Set(fmt.Sprint(i), []byte("v"), 0))
	}
	require.LessOrEqual(t, e.Len(), 100000)
	require.Len(t, sh.sketch.table, 1<<17, "100000 rounded up to a power of two")
}

func TestSketchSubtract(t *testing.T) {
	var s sketch
	s.subtract(1) // no table: no MaxEntries
	s.init(1000)
	h := uint64(0x9e3779b97f4a7c15)
	s.add(h)
	s.add(h)
	s.subtract(h)
	require.Equal(t, 1, s.estimate(h))
	s.subtract(h)
	s.subtract(h) // counters stop at 0
	require.Zero(t, s.estimate(h))
	s.add(h)
	require.Equal(t, 1, s.estimate(h))
}

// A key counts in the sketch once per stay: deleted or expired, it gives
// back the count its Set added, so setting it again in turn does not make
// it look popular; evicted, it keeps it.
func TestSketchCountsAStayOnce(t *testing.T) {
	e, clk := newTestEngine(t, Config{MaxBytes: 1 << 20, MaxEntries: 1000, Shards: 1})
	sh := &e.shards[0]
	count := func(key string) int { return sh.sketch.estimate(e.hashOf(key)) }
	for range 5 {
		require.NoError(t, e.Set("deleted", []byte("v"), 0))
		require.True(t, e.Delete("deleted"))
	}
	require.Zero(t, count("deleted"))
	for range 5 {
		require.NoError(t, e.Set("expired", []byte("v"), time.Second))
		clk.Advance(2 * time.Second)
		require.False(t, e.Delete("expired"), "expired: Delete finds no value")
	}
	require.Zero(t, count("expired"))
	require.NoError(t, e.Set("stays", []byte("v"), 0))
	require.NoError(t, e.Set("stays", []byte("w"), 0)) // an overwrite is no new key
	require.Equal(t, 1, count("stays"))
	sh.mu.Lock()
	l, ok := sh.index.load(e.hashOf("stays"))
	require.True(t, ok)
	sh.evict(e.hashOf("stays"), l)
	sh.mu.Unlock()
	require.Equal(t, 1, count("stays"), "an evicted key keeps its count")
}
