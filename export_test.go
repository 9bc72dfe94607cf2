package velo

import (
	"testing"
	"time"

	"github.com/velocache/velo/clock"
)

// newTestCache builds a cache on a manual clock.
func newTestCache(opts Options, clk *clock.Clock) (*Cache, error) {
	opts.Clock = clk
	return New(opts)
}

// waitFor waits until cond holds, for what a background goroutine does
// (the expiry sweep, every ExpiryInterval): it polls, and fails after
// guard.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached in %v", guard)
		}
		time.Sleep(time.Millisecond)
	}
}

// recycled returns how many segments the engine has taken from its pool.
func (c *Cache) recycled() uint64 { return c.e.Stats().Recycled }

// loadWaiting reports whether the load of key in flight is waiting, in a
// GetOrLoad of its load function, for another load.
func (c *Cache) loadWaiting(key string) bool {
	cl, ok := c.loads.calls.Load(key)
	if !ok {
		return false
	}
	c.loads.cycleMu.Lock()
	defer c.loads.cycleMu.Unlock()
	return cl.waitingOn != nil
}
