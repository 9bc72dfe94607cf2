package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPoolPrefaultsWhileGrowing: while a cache grows into its budget, the
// background goroutine keeps freshSegments new segments prefaulted, within
// the pool's limit, and writers take them. The test writes until the pool
// has made a few segments, then waits (bounded by a count of polls) for
// the fresh ones to be ready, and writes until one is taken.
func TestPoolPrefaultsWhileGrowing(t *testing.T) {
	// No sweep during the test: it would let the prefaulted segments go
	// once writes pause (see segPool.settle).
	e, _ := newTestEngine(t, Config{MaxBytes: 64 << 20, Shards: 2, ExpiryInterval: time.Hour})
	p := &e.pool
	state := func() (made, fresh int) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.made, len(p.fresh)
	}
	value := make([]byte, 1000)
	i := 0
	set := func() {
		require.NoError(t, e.Set(fmt.Sprintf("k%08d", i), value, 0))
		i++
	}
	for made, _ := state(); made < 4; made, _ = state() {
		require.Less(t, i, 1_000_000, "the pool made segments")
		set()
	}
	for polls := 0; ; polls++ {
		if _, fresh := state(); fresh == freshSegments {
			break
		}
		require.Less(t, polls, 10_000, "fresh segments prefaulted")
		time.Sleep(time.Millisecond)
	}
	made, _ := state()
	require.LessOrEqual(t, made, p.limit)
	for _, fresh := state(); fresh == freshSegments; _, fresh = state() {
		require.Less(t, i, 1_000_000, "a writer took a prefaulted segment")
		set()
	}
	checkInvariants(t, e)
	require.NoError(t, e.Close())
	p.mu.Lock()
	defer p.mu.Unlock()
	require.Empty(t, p.fresh, "Close drops the prefaulted segments")
}
