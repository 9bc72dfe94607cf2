package lincheck

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/velocache/velo"
	"github.com/velocache/velo/clock"
)

// TestGetOrLoadJoinsStoredLoad builds, step by step, the schedule in which
// a GetOrLoad could return a value removed before it was called:
//
//  1. B sets k to w0, which expires.
//  2. A calls GetOrLoad(k), misses and starts load 1.
//  3. Load 1 returns L1; velo's loader goroutine stores it with Set,
//     replacing the expired w0, and has not yet taken the call out of
//     the map of loads in flight: OnRemove, which that Set calls in the
//     loader's goroutine, is made to wait here, as a slow callback or a
//     preemption would.
//  4. B reads L1, then removes it: Delete(k) returns true (or, in the
//     "expired" case, advances the clock past L1's TTL).
//  5. C calls GetOrLoad(k) and misses, which is right: k is absent.
//
// If C joined load 1, still in flight, it would return L1, which no
// sequential order explains: a writer that updates the source of truth
// and then Deletes k could have its next GetOrLoad(k) return the value
// from before the update. The random histories of TestLinearizable found
// it; velo's loader now refuses new waiters once a load begins storing
// its value (storedLoad in loader.go), and C waits for that load to end
// and looks again.
func TestGetOrLoadJoinsStoredLoad(t *testing.T) {
	for _, how := range []string{"deleted", "expired"} {
		t.Run(how, func(t *testing.T) {
			clk := clock.NewManual(clockStart)
			var hold atomic.Bool
			entered := make(chan struct{})
			release := make(chan struct{})
			// No sweep: w0 is removed by load 1's store, not before.
			c, err := velo.New(velo.Options{Clock: clk, ExpiryInterval: time.Hour, OnRemove: func(key string, _ []byte, reason velo.Reason) {
				if key == "k" && reason == velo.Expired && hold.CompareAndSwap(true, false) {
					close(entered)
					<-release
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			r := newRecorder(clk, []string{"k"})
			r.policy = func(int64) (bool, time.Duration) { return false, 2 * tick }
			started, gate := make(chan struct{}), make(chan struct{})
			var extraLoads atomic.Int64
			r.onLoad = func(n int64) {
				if n == 1 {
					close(started)
					<-gate
				} else {
					extraLoads.Add(1)
				}
			}
			a, b, cw := &worker{id: 0, r: r}, &worker{id: 1, r: r}, &worker{id: 2, r: r}
			var wg sync.WaitGroup
			fail := func(err error) {
				if err != nil {
					t.Error(err)
				}
			}

			fail(b.set(c, "k", "w0", tick)) // 1
			b.advance(tick)
			wg.Go(func() { fail(a.getOrLoad(c, "k")) }) // 2
			<-started
			hold.Store(true)
			close(gate) // 3
			select {
			case <-entered:
			case <-time.After(10 * time.Second):
				t.Fatal("load 1's store did not replace the expired w0")
			}
			b.get(c, "k", 0) // 4
			if how == "deleted" {
				b.delete(c, "k")
			} else {
				b.advance(2 * tick)
			}
			b.get(c, "k", 0)
			misses := c.Stats().Misses
			wg.Go(func() { fail(cw.getOrLoad(c, "k")) }) // 5
			// Let C miss and join before the loader goes on.
			deadline := time.Now().Add(10 * time.Second)
			for c.Stats().Misses == misses && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond)
			close(release)
			wg.Wait()
			b.get(c, "k", 0)
			if t.Failed() {
				return
			}

			hist := r.history([]*worker{a, b, cw})
			var got string
			for _, op := range cw.ops {
				got = describeOp(op.Input.(input), op.Output.(output))
			}
			o := check(t, rules{}, hist, "getorload-joins-stored-load-"+how)
			switch {
			case o.result == porcupine.Ok:
				t.Logf("fixed: C's %s is linearizable (C loaded again or waited correctly); %d further loads", got, extraLoads.Load())
			case o.result == porcupine.Illegal:
				t.Fatalf("a GetOrLoad joined a load whose value was already stored and then %s: C called GetOrLoad after L1 was %s and got %s; history and visualization in %s",
					how, how, got, o.dir)
			}
		})
	}
}

// TestRefreshAheadOverwritesNewerSet: a background refresh stores its
// value only if the entry it reloads is still there. A Set made while the
// refresh runs, whose entry happens to expire at the same clock time (a
// TTL computed to an absolute deadline does that), must not be taken for
// the refreshed entry and overwritten by the older load: the newer write
// wins, as Options.RefreshAhead and GetOrLoad promise. Engine.Refresh
// tells the entry by its location, not its expiry.
func TestRefreshAheadOverwritesNewerSet(t *testing.T) {
	clk := clock.NewManual(clockStart)
	replaced := make(chan string, 4)
	c, err := velo.New(velo.Options{Clock: clk, RefreshAhead: 0.5, OnRemove: func(key string, value []byte, reason velo.Reason) {
		if key == "k" && reason == velo.Replaced {
			replaced <- decode(value)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	if err := c.Set("k", encode("v1"), 10*tick); err != nil { // expires at 10
		t.Fatal(err)
	}
	clk.Advance(6 * tick) // 4 ticks left: in the refresh window
	started, gate := make(chan struct{}), make(chan struct{})
	v, err := c.GetOrLoad(context.Background(), "k", func(context.Context) ([]byte, time.Duration, error) {
		close(started)
		<-gate
		return encode("refresh"), 10 * tick, nil
	})
	if err != nil || decode(v) != "v1" {
		t.Fatalf("GetOrLoad = %q, %v; want v1", v, err)
	}
	<-started
	if err := c.Set("k", encode("v2"), 4*tick); err != nil { // a newer write, also expiring at 10
		t.Fatal(err)
	}
	close(gate)

	timeout := time.After(time.Second)
	for {
		select {
		case old := <-replaced:
			if old != "v2" {
				continue // v1, replaced by the Set of v2
			}
			got, _ := c.Get("k")
			t.Fatal("the background refresh, begun before Set(k, v2), replaced v2 (which expires at the same " +
				"clock time as v1) with its older load once Set returned: Get(k) = " + decode(got))
		case <-timeout:
			if got, ok := c.Get("k"); !ok || !bytes.Equal(got, encode("v2")) {
				t.Fatalf("Get(k) = %q, %v; want v2, the newer write", got, ok)
			}
			return
		}
	}
}
