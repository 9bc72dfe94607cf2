package velo

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/velocache/velo/clock"
)

// The benchmarks run each workload over velo and over the design velo
// replaces: a map behind one sync.RWMutex, whose Get reads
// time.Now to check expiry and whose cleanup goroutine sweeps expired
// entries. Compare the two in one run:
//
//	go test -run '^$' -bench . -benchmem -cpu 1,2 .

// mutexMap is that map-and-mutex cache: a TTL per item, checked against
// time.Now on every Get.
type mutexMap struct {
	mu    sync.RWMutex
	items map[string]mutexItem
	stop  chan struct{}
}

type mutexItem struct {
	value   []byte
	expires time.Time
}

func newMutexMap() *mutexMap {
	m := &mutexMap{items: make(map[string]mutexItem), stop: make(chan struct{})}
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case now := <-t.C:
				m.mu.Lock()
				for k, it := range m.items {
					if now.After(it.expires) {
						delete(m.items, k)
					}
				}
				m.mu.Unlock()
			}
		}
	}()
	return m
}

func (m *mutexMap) Set(key string, value []byte, ttl time.Duration) {
	m.mu.Lock()
	m.items[key] = mutexItem{value: value, expires: time.Now().Add(ttl)}
	m.mu.Unlock()
}

func (m *mutexMap) Get(_ []byte, key string) ([]byte, bool) {
	m.mu.RLock()
	it, ok := m.items[key]
	m.mu.RUnlock()
	if !ok || time.Now().After(it.expires) {
		return nil, false
	}
	return it.value, true
}

func (m *mutexMap) Close() { close(m.stop) }

// benchCache is what every workload runs against. Get may use dst, a
// buffer owned by the calling goroutine, or ignore it.
type benchCache interface {
	Set(key string, value []byte, ttl time.Duration)
	Get(dst []byte, key string) ([]byte, bool)
	Close()
}

type veloBench struct{ c *Cache }

func (v veloBench) Set(key string, value []byte, ttl time.Duration) { _ = v.c.Set(key, value, ttl) }
func (v veloBench) Get(_ []byte, key string) ([]byte, bool)         { return v.c.Get(key) }
func (v veloBench) Close()                                          { v.c.Close() }

// veloAppend reads with AppendValue into the caller's buffer: the
// zero-allocation read path.
type veloAppend struct{ veloBench }

func (v veloAppend) Get(dst []byte, key string) ([]byte, bool) {
	return v.c.AppendValue(dst[:0], key)
}

var targets = []struct {
	name string
	new  func(b *testing.B) benchCache
}{
	{"velo", func(b *testing.B) benchCache { return veloBench{newBenchVelo(b)} }},
	{"velo-append", func(b *testing.B) benchCache { return veloAppend{veloBench{newBenchVelo(b)}} }},
	{"mutexmap", func(*testing.B) benchCache { return newMutexMap() }},
}

func newBenchVelo(b *testing.B) *Cache {
	c, err := New(Options{MaxBytes: 256 << 20})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkGet reads one key with a 60 s TTL in a loop.
func BenchmarkGet(b *testing.B) {
	value := []byte("a typical small cached value, 48 bytes of it...")
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			c := tg.new(b)
			defer c.Close()
			c.Set("key", value, time.Minute)
			buf := make([]byte, 0, 128)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var ok bool
				if buf, ok = c.Get(buf, "key"); !ok {
					b.Fatal("miss")
				}
			}
		})
	}
}

// BenchmarkSet overwrites one key in a loop.
func BenchmarkSet(b *testing.B) {
	value := []byte("a typical small cached value, 48 bytes of it...")
	for _, tg := range targets {
		if tg.name == "velo-append" {
			continue
		}
		b.Run(tg.name, func(b *testing.B) {
			c := tg.new(b)
			defer c.Close()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.Set("key", value, time.Minute)
			}
		})
	}
}

// A Zipf-distributed key stream over a pre-filled cache, generated before
// the timer starts, in the manner of Caffeine's and otter's throughput
// benchmarks: each goroutine starts at its own point of one shared array of
// key indices and steps through it.
const (
	zipfKeys   = 1 << 16
	zipfStream = 1 << 20
)

var zipfOnce = sync.OnceValues(func() ([]string, []int32) {
	keys := make([]string, zipfKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%08d", i)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(rng, 1.01, 1, zipfKeys-1)
	stream := make([]int32, zipfStream)
	for i := range stream {
		stream[i] = int32(z.Uint64())
	}
	return keys, stream
})

func runMix(b *testing.B, readPercent int) {
	keys, stream := zipfOnce()
	value := make([]byte, 64)
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			c := tg.new(b)
			defer c.Close()
			for _, k := range keys {
				c.Set(k, value, time.Hour)
			}
			var seed atomic.Uint32
			runtime.GC() // the fill's garbage is not the workload's
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seed.Add(1)) * 7919 * 64
				buf := make([]byte, 0, 128)
				for pb.Next() {
					i++
					k := keys[stream[i&(zipfStream-1)]]
					if i%100 < readPercent {
						buf, _ = c.Get(buf, k)
					} else {
						c.Set(k, value, time.Hour)
					}
				}
			})
		})
	}
}

func BenchmarkZipfRead(b *testing.B)  { runMix(b, 100) }
func BenchmarkZipfMix75(b *testing.B) { runMix(b, 75) }
func BenchmarkZipfWrite(b *testing.B) { runMix(b, 0) }

// BenchmarkAppendValue shows the zero-allocation read: the buffer is reused.
func BenchmarkAppendValue(b *testing.B) {
	c := newBenchVelo(b)
	defer c.Close()
	_ = c.Set("key", make([]byte, 256), time.Minute)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf, _ = c.AppendValue(buf[:0], "key")
	}
}

// BenchmarkSetFull times Sets of new keys into a cache whose byte budget
// is full, one at a time, and reports the tail: each Set that needs a new
// segment retires the oldest one, walking it under the shard's lock, and
// that walk is the stall a writer can meet. Run it with a fixed count
// large enough to retire many segments, for example
//
//	go test -run '^$' -bench SetFull -benchtime 4000000x .
//
// The cache has 512 MiB in 8 shards, with the default segment size (64
// MiB shards / 16, capped: the largest the defaults pick) and with 1 MiB
// segments.
func BenchmarkSetFull(b *testing.B) {
	for _, seg := range []struct {
		name  string
		bytes int
	}{{"default", 0}, {"1MiB", 1 << 20}} {
		b.Run(seg.name, func(b *testing.B) { benchSetFull(b, seg.bytes) })
	}
}

func benchSetFull(b *testing.B, segBytes int) {
	c, err := New(Options{MaxBytes: 512 << 20, Shards: 8, SegmentBytes: segBytes})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	value := make([]byte, 64)
	key := func(i int) string { return fmt.Sprintf("%016d", i) }
	// 8M entries of 96 bytes: more than the budget holds, so the cache
	// is evicting when the timer starts.
	n := 8 << 20
	for i := range n {
		_ = c.Set(key(i), value, time.Hour)
	}
	keys := make([]string, b.N)
	for i := range keys {
		keys[i] = key(n + i)
	}
	lat := make([]time.Duration, b.N)
	runtime.GC()
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		_ = c.Set(keys[i], value, time.Hour)
		lat[i] = time.Since(t0)
	}
	b.StopTimer()
	slices.Sort(lat)
	at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) }
	b.ReportMetric(at(0.5), "p50-ns")
	b.ReportMetric(at(0.999), "p99.9-ns")
	b.ReportMetric(at(0.99999), "p99.999-ns")
	b.ReportMetric(at(1), "max-ns")
}

// BenchmarkSetChurn writes 40M new keys, one at a time, into a full 512
// MiB cache of 8 shards (every Set evicts) and reports the longest Sets:
// the stalls a writer meets over a long run of eviction churn, such as the
// index's periodic table replacements (docs/design.md, "The index"). It
// also reports the mean time of a Set, and the heap the cache holds at the
// end over its entries, less their 80 key and value bytes: the overhead
// per entry in the steady state of a full cache (heap-B/entry). It takes
// about 30 s; run it once:
//
//	go test -run '^$' -bench SetChurn -benchtime 1x .
func BenchmarkSetChurn(b *testing.B) {
	for range b.N {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		heap0 := ms.HeapInuse
		start := time.Now()
		c, err := New(Options{MaxBytes: 512 << 20, Shards: 8})
		if err != nil {
			b.Fatal(err)
		}
		value := make([]byte, 64)
		var kb []byte
		var lat []time.Duration
		over5ms := 0
		for i := range 40_000_000 {
			kb = fmt.Appendf(kb[:0], "%016d", i)
			k := string(kb)
			t0 := time.Now()
			_ = c.Set(k, value, time.Hour)
			if d := time.Since(t0); d > 100*time.Microsecond {
				lat = append(lat, d)
				if d > 5*time.Millisecond {
					over5ms++
				}
			}
		}
		b.ReportMetric(float64(time.Since(start).Nanoseconds())/40e6, "ns/set")
		runtime.GC()
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapInuse-heap0)/float64(c.Len())-80, "heap-B/entry")
		c.Close()
		slices.Sort(lat)
		if len(lat) > 0 {
			b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "max-ns")
			b.ReportMetric(float64(lat[max(0, len(lat)-10)].Nanoseconds()), "10th-longest-ns")
		}
		b.ReportMetric(float64(over5ms), "sets-over-5ms")
	}
}

// BenchmarkBounded is loadgen's -preset otter for velo alone, one
// goroutine: MaxEntries 2^15 (and 4 MiB), 2^15/3+1 keys, 64-byte values,
// a stream of Zipf key indices, scrambled, for the read shares of that
// preset (s=1.0001: math/rand's Zipf needs s above 1, where the preset's
// YCSB generator uses 0.99). It exists to count the work of an operation with callgrind,
// which counts instructions and simulated cache misses the same on a busy
// machine as on an idle one (docs/callgrind.sh):
//
//	docs/callgrind.sh 'Bounded/reads=0'
func BenchmarkBounded(b *testing.B) {
	for _, reads := range []int{100, 75, 50, 25, 0} {
		b.Run(fmt.Sprintf("reads=%d", reads), func(b *testing.B) {
			const keys = 1<<15/3 + 1
			// A manual clock and an hourly sweep: no goroutine of the
			// cache wakes up by the clock, so callgrind's counts do not
			// depend on how long the run takes. (The clock is read as
			// the shared one is, by one atomic load.)
			c, err := New(Options{MaxEntries: 1 << 15, MaxBytes: 4 << 20,
				Clock: clock.NewManual(1), ExpiryInterval: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			names := make([]string, keys)
			value := make([]byte, 64)
			for i := range names {
				names[i] = fmt.Sprintf("user:%08d", i)
				_ = c.Set(names[i], value, time.Hour)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			z := rand.NewZipf(rng, 1.0001, 1, keys-1) // s must be above 1 here; otter's 0.99 is YCSB's generator
			perm := rng.Perm(keys)
			stream := make([]int32, 1<<15)
			for i := range stream {
				stream[i] = int32(perm[z.Uint64()])
			}
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			runBounded(c, names, stream, value, reads, b.N)
		})
	}
}

// runBounded is BenchmarkBounded's loop, a function of its own so that
// callgrind can count it alone (--toggle-collect).
//
//go:noinline
func runBounded(c *Cache, names []string, stream []int32, value []byte, reads, n int) {
	buf := make([]byte, 0, 128)
	for i := range n {
		k := names[stream[i&(len(stream)-1)]]
		if i%100 < reads {
			buf, _ = c.AppendValue(buf[:0], k)
		} else {
			_ = c.Set(k, value, time.Hour)
		}
	}
}

// BenchmarkSetParallel overwrites 10,923 keys (64-byte values) from
// GOMAXPROCS goroutines, each picking keys at random, in two states of the
// cache: "fresh", a 1 GiB budget that the run never fills, so that every
// Set appends to memory the process has not touched before (a page fault
// per 4 KiB of it); and "cycled", a 64 MiB budget that the writes have
// gone through twice before the timer starts, so that the log reuses
// segments the collector gave back (and asks it for a collection every
// 16 MiB released). Whether writes scale with cores, and in which state:
// compare -cpu 1 and 2 (or more):
//
//	go test -run '^$' -bench SetParallel -cpu 1,2 -count 5 .
func BenchmarkSetParallel(b *testing.B) {
	const keys = 1<<15/3 + 1
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("user:%08d", i)
	}
	value := make([]byte, 64)
	for _, state := range []struct {
		name     string
		maxBytes int64
		cycles   int
	}{{"fresh", 1 << 30, 0}, {"cycled", 64 << 20, 2}} {
		b.Run(state.name, func(b *testing.B) {
			c, err := New(Options{MaxBytes: state.maxBytes})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			for i := range int(int64(state.cycles)*state.maxBytes/96) + keys {
				_ = c.Set(names[i%keys], value, time.Hour)
			}
			var seed atomic.Uint64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(seed.Add(1), 7))
				for pb.Next() {
					_ = c.Set(names[rng.IntN(keys)], value, time.Hour)
				}
			})
		})
	}
}

// BenchmarkHitRatioShards replays a Zipf read-through (a Get, and a Set
// on a miss) of 64-byte values into small budgets split into more and
// more shards, and reports the hit ratio of the second half of the
// requests: what default sharding on many cores (64 KiB a shard at
// least) costs in hits. It measures hits, not time:
//
//	go test -run '^$' -bench HitRatioShards -benchtime 1x
func BenchmarkHitRatioShards(b *testing.B) {
	for _, budget := range []int64{1 << 20, 4 << 20} {
		for _, keys := range []uint64{50_000, 200_000} {
			for _, shards := range []int{4, 16, 32, 64, 128} {
				b.Run(fmt.Sprintf("budget=%dKiB/keys=%d/shards=%d", budget>>10, keys, shards), func(b *testing.B) {
					var ratio float64
					for range b.N {
						ratio = readThroughHits(b, budget, shards, keys, 2_000_000)
					}
					b.ReportMetric(100*ratio, "hit%")
					b.ReportMetric(float64(budget/int64(shards))/1024, "KiB/shard")
				})
			}
		}
	}
}

// readThroughHits returns the hit ratio of the second half of n Zipf
// (s=1.01) requests over keys keys, read through a cache of the given
// budget and shards.
func readThroughHits(b *testing.B, budget int64, shards int, keys uint64, n int) float64 {
	c, err := New(Options{MaxBytes: budget, Shards: shards})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.01, 1, keys-1)
	value := make([]byte, 64)
	hits := 0
	for i := range n {
		k := fmt.Sprint("k", z.Uint64())
		if _, ok := c.Get(k); !ok {
			if err := c.Set(k, value, 0); err != nil {
				b.Fatal(err)
			}
		} else if i >= n/2 {
			hits++
		}
	}
	return float64(hits) / float64(n-n/2)
}
