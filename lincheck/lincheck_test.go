package lincheck

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/velocache/velo"
	"github.com/velocache/velo/clock"
)

// hotKeys are the keys the workers share.
var hotKeys = []string{"hot0", "hot1", "hot2", "hot3"}

func isHot(key string) bool { return slices.Contains(hotKeys, key) }

// A config is a cache configuration to check.
type config struct {
	name string
	opts velo.Options // Clock and OnRemove are filled in
	// evicts says whether the configuration evicts: the model then lets
	// entries vanish, and the run must have evicted; otherwise the model
	// is strict and the run must not have evicted.
	evicts bool
	// Background writers Set keys of their own (bgKeys distinct ones, with
	// values of bgValue bytes) while the workers run, to rotate segments
	// and, under a small budget, to evict the hot keys; the workers' noise
	// steps (noise per cent of them, noiseWrites Sets each) do the same in
	// step with the history.
	bgWriters, bgKeys, bgValue int
	noise, noiseWrites         int
}

var configs = []config{
	{
		// Large enough that nothing is evicted; small segments, so that
		// writes rotate and release them while readers are in them. The
		// sweep runs every millisecond of real time (expiry follows the
		// manual clock).
		name:      "no-eviction",
		opts:      velo.Options{MaxBytes: 8 << 20, Shards: 2, SegmentBytes: 16 << 10, ExpiryInterval: time.Millisecond},
		bgWriters: 1, bgKeys: 64, bgValue: 100, noise: 5, noiseWrites: 16,
	},
	{
		// 16 segments of 4 KiB: the background writers fill the budget
		// many times over, so segments are drained, retired and their
		// entries moved or evicted, hot keys among them.
		name:      "max-bytes",
		opts:      velo.Options{MaxBytes: 64 << 10, Shards: 1, SegmentBytes: 4 << 10, ExpiryInterval: time.Millisecond},
		evicts:    true,
		bgWriters: 2, bgKeys: 4096, bgValue: 300, noise: 15, noiseWrites: 16,
	},
	{
		// Four segments: the hot keys, read as often as they are, are
		// evicted too (a few hundred times a run rather than a few dozen).
		name:      "max-bytes-tiny",
		opts:      velo.Options{MaxBytes: 16 << 10, Shards: 1, SegmentBytes: 4 << 10, ExpiryInterval: time.Millisecond},
		evicts:    true,
		bgWriters: 1, bgKeys: 4096, bgValue: 300, noise: 15, noiseWrites: 16,
	},
	{
		// At most 50 entries: new keys compete with the hot ones for a
		// place in the main queue (TinyLFU admission).
		name:      "max-entries",
		opts:      velo.Options{MaxEntries: 50, MaxBytes: 4 << 20, Shards: 1, SegmentBytes: 16 << 10, ExpiryInterval: time.Millisecond},
		evicts:    true,
		bgWriters: 2, bgKeys: 1000, bgValue: 40, noise: 15, noiseWrites: 8,
	},
}

// size returns the number of workers, operations per worker and rounds
// per configuration.
func size() (workers, opsEach, rounds int) {
	if *long {
		return 8, 4000, 8
	}
	return 6, 500, 2
}

func seed(round int) uint64 {
	s := *seedFlag
	if s == 0 {
		s = 0x5eed
	}
	return s + uint64(round)*0x9e3779b9
}

// evictCounter counts what OnRemove reports.
type evictCounter struct {
	hotEvicted, hotExpired, evicted atomic.Int64
}

func (ec *evictCounter) onEvict(key string, _ []byte, reason velo.Reason) {
	switch {
	case reason == velo.Evicted && isHot(key):
		ec.hotEvicted.Add(1)
		ec.evicted.Add(1)
	case reason == velo.Evicted:
		ec.evicted.Add(1)
	case reason == velo.Expired && isHot(key):
		ec.hotExpired.Add(1)
	}
}

// background runs n goroutines that Set (and now and then Get) keys of
// their own until stop is closed.
func background(c *velo.Cache, n, keys, valueBytes int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	value := []byte(strings.Repeat("b", valueBytes))
	for g := range n {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if i%32 == 0 {
					runtime.Gosched() // leave the workers their share of few cores
				}
				key := fmt.Sprintf("bg%d-%d", g, (i*7919)%keys)
				if i%4 == 3 {
					c.Get(key)
				} else if err := c.Set(key, value, 0); err != nil {
					panic(err)
				}
			}
		})
	}
	return &wg
}

// TestLinearizable records histories of each configuration and checks them
// against the model.
func TestLinearizable(t *testing.T) {
	nWorkers, opsEach, rounds := size()
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			unknown := 0
			var hotEvicted, hotExpired, loads, ops, concurrent int64
			var checkTime, runTime time.Duration
			for round := range rounds {
				clk := clock.NewManual(clockStart)
				var ec evictCounter
				opts := cfg.opts
				opts.Clock = clk
				opts.OnRemove = ec.onEvict
				c, err := velo.New(opts)
				if err != nil {
					t.Fatal(err)
				}
				stop := make(chan struct{})
				bg := background(c, cfg.bgWriters, cfg.bgKeys, cfg.bgValue, stop)
				r := newRecorder(clk, hotKeys)
				runStart := time.Now()
				m := defaultMix
				m.noise = cfg.noise
				hist, err := runWorkers(c, r, workload{
					workers: nWorkers, opsEach: opsEach, seed: seed(round), mix: m,
					noiseWrites: cfg.noiseWrites, noiseKeys: 512, noiseBytes: cfg.bgValue,
				})
				close(stop)
				bg.Wait()
				runTime += time.Since(runStart)
				stats := c.Stats()
				c.Close()
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case cfg.evicts && ec.evicted.Load() == 0:
					t.Errorf("round %d: the configuration evicted nothing; it checks nothing about eviction", round)
				case !cfg.evicts && stats.Evictions != 0:
					t.Fatalf("round %d: %d evictions in a configuration checked without eviction: raise its budget", round, stats.Evictions)
				}
				hotEvicted += ec.hotEvicted.Load()
				hotExpired += ec.hotExpired.Load()
				loads += int64(r.nLoads)
				ops += int64(len(hist))
				concurrent += int64(overlapping(hist))
				o := check(t, rules{vanish: cfg.evicts}, hist, fmt.Sprintf("%s-round%d-seed%#x", cfg.name, round, seed(round)))
				checkTime += o.took
				if o.result == porcupine.Unknown {
					unknown++
				}
			}
			t.Logf("%d rounds, %d operations (%d loads; %d concurrent with another on their key); hot keys evicted %d times, expired (sweep or overwrite) %d times; running took %v, checking %v",
				rounds, ops, loads, concurrent, hotEvicted, hotExpired, runTime.Round(time.Millisecond), checkTime.Round(time.Millisecond))
			if cfg.evicts && hotEvicted == 0 {
				t.Errorf("no hot key was ever evicted: the model's eviction step was not exercised")
			}
			if unknown > 0 && !t.Failed() {
				t.Skipf("%d of %d histories were not verified (porcupine timed out); no violation found in the others", unknown, rounds)
			}
		})
	}
}
