package engine

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/velocache/velo/arena"
)

// replayHits replays a read-through trace against an entry-bounded engine
// and returns its hits.
func replayHits(t *testing.T, cfg Config, trace []int) int {
	t.Helper()
	e, _ := newTestEngine(t, cfg)
	hits := 0
	var buf []byte
	for _, k := range trace {
		key := strconv.Itoa(k)
		var ok bool
		if buf, ok = e.AppendValue(buf[:0], key); ok {
			hits++
			continue
		}
		require.NoError(t, e.Set(key, []byte("v"), 0))
	}
	checkInvariants(t, e)
	return hits
}

// TestClockHandIndependentOfSegmentSize: the MaxEntries hands end each
// turn where the log ended when it began, and move on from a released
// segment to the next one, so a new entry is never evicted before older
// ones and the hit ratio does not depend on the segment size. A hand that
// swept on into entries appended during its turn, or restarted from the
// oldest segment whenever its own was released, made it depend on it
// (cache2k orm-busy at 763 entries: 74% with 4 KiB segments, 36% with 256
// KiB).
func TestClockHandIndependentOfSegmentSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	z := rand.NewZipf(rng, 1.1, 1, 20000)
	trace := make([]int, 60000)
	for i := range trace {
		if i%10 < 2 {
			trace[i] = 100000 + i // one-hit wonders
		} else {
			trace[i] = int(z.Uint64())
		}
	}
	var ratios []float64
	for _, seg := range []int{4 << 10, 64 << 10, 256 << 10} {
		cfg := Config{MaxEntries: 500, MaxBytes: 600 * int64(seg), Shards: 1, SegmentBytes: seg}
		hits := replayHits(t, cfg, trace)
		ratios = append(ratios, float64(hits)/float64(len(trace)))
		t.Logf("segments of %d bytes: hit ratio %.2f%%", seg, 100*ratios[len(ratios)-1])
	}
	for _, r := range ratios[1:] {
		require.InDelta(t, ratios[0], r, 0.01, "hit ratio must not depend on the segment size")
	}
}

// TestReadsCountUpToTheirQueuesLimit: reads raise the frequency of an
// entry in the small queue to 1, the most its hand looks at, and of an
// entry in the main queue up to arena.MaxFreq, one for each of the
// main hand's passes.
func TestReadsCountUpToTheirQueuesLimit(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxEntries: 16, MaxBytes: 1 << 20, Shards: 1})
	freq := func(key string) (f int, main bool) {
		h := e.hashOf(key)
		sh := e.shardOf(h)
		sh.mu.Lock()
		defer sh.mu.Unlock()
		l, ok := sh.index.load(h)
		require.True(t, ok, key)
		return sh.slots[l.slot()].Load().Freq(l.off()), l.main()
	}
	read := func(key string, n int) {
		for range n {
			_, ok := e.Get(key)
			require.True(t, ok, key)
		}
	}
	require.NoError(t, e.Set("a", []byte("v"), 0))
	f, main := freq("a")
	require.Equal(t, 0, f, "a new key is unread")
	require.False(t, main)
	read("a", 5)
	f, _ = freq("a")
	require.Equal(t, 1, f, "the small queue counts whether its entries were read")
	require.NoError(t, e.Set("a", []byte("w"), 0))
	f, _ = freq("a")
	require.Equal(t, 1, f, "a key stored again in the small queue counts as read")
	require.NoError(t, e.Set("b", []byte("v"), 0))
	require.NoError(t, e.Set("b", []byte("w"), 0))
	f, _ = freq("b")
	require.Equal(t, 1, f, "a key stored twice, never read, counts as read once")
	read("b", 3)
	f, _ = freq("b")
	require.Equal(t, 1, f)

	// New keys past MaxEntries: the small queue's hand passes "a", read,
	// into the main queue (at frequency 0).
	for i := range 16 {
		require.NoError(t, e.Set(strconv.Itoa(i), []byte("v"), 0))
	}
	f, main = freq("a")
	require.True(t, main, "a read key enters the main queue")
	require.Equal(t, 0, f)
	for want := 1; want <= 5; want++ {
		read("a", 1)
		f, _ = freq("a")
		require.Equal(t, min(want, arena.MaxFreq), f)
	}
	checkInvariants(t, e)
}
