package engine

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
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
