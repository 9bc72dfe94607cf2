package targets

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSetParallel times overwrites of random keys among 10,923 (the
// preset's key count, with no hot keys) from every goroutine of
// b.RunParallel, for velo and the peers that lead the preset's write
// cells, each sized as -preset otter sizes it. It also reports the
// collections per million Sets (gc/Mop), which velo's pool asks for to
// recycle its segments. Compare one goroutine with two:
//
//	go test -run '^$' -bench SetParallel -cpu 1,2 -count 6 ./cmd/loadgen/internal/targets
//
// ns/op is wall time per Set, so a cache that scales perfectly shows half
// the ns/op at -cpu 2.
func BenchmarkSetParallel(b *testing.B) {
	const keys = 1<<15/3 + 1
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("user:%08d", i)
	}
	value := make([]byte, 64)
	cfg := Config{Keys: keys, ValueSize: 64, Entries: 1 << 15, SizeByEntries: true, TTL: time.Hour, Procs: []int{runtime.GOMAXPROCS(0)}}
	cfg.Capacity = PeerBytes(cfg)
	for _, name := range []string{"velo", "fastcache", "freecache", "otter"} {
		b.Run("target="+name, func(b *testing.B) {
			c, err := Open(name, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			// Past the fill: a log that has cycled through its budget.
			for i := range 1 << 21 {
				if err := c.Write(names[i%keys], value, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
			var seed atomic.Uint64
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(seed.Add(1), 7))
				for pb.Next() {
					_ = c.Write(names[rng.IntN(keys)], value, time.Hour)
				}
			})
			b.StopTimer()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.NumGC-before.NumGC)*1e6/float64(b.N), "gc/Mop")
		})
	}
}

// BenchmarkWriteBesideRead splits the preset's mixed cells into their two
// sides: one goroutine writes and one reads, the same Zipf keys (s=1.01
// over 10,923), on their own cores, and each side's time per operation is
// reported (write-ns, read-ns), beside the time of each alone. The sum of
// the two sides' slowdowns is what a two-core mix pays for sharing its
// hot keys' lines between a core that writes them and one that reads
// them:
//
//	go test -run '^$' -bench WriteBesideRead -cpu 2 -count 3 ./cmd/loadgen/internal/targets
func BenchmarkWriteBesideRead(b *testing.B) {
	const keys = 1<<15/3 + 1
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("user:%08d", i)
	}
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.01, 1, keys-1)
	stream := make([]int32, 1<<15)
	for i := range stream {
		stream[i] = int32(z.Uint64())
	}
	value := make([]byte, 64)
	cfg := Config{Keys: keys, ValueSize: 64, Entries: 1 << 15, SizeByEntries: true, TTL: time.Hour, Procs: []int{runtime.GOMAXPROCS(0)}}
	cfg.Capacity = PeerBytes(cfg)
	for _, name := range []string{"velo", "fastcache", "otter"} {
		for _, sides := range []string{"read", "write", "both"} {
			b.Run(fmt.Sprintf("target=%s/%s", name, sides), func(b *testing.B) {
				c, err := Open(name, cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				for i := range 1 << 20 {
					_ = c.Write(names[i%keys], value, time.Hour)
				}
				var stop atomic.Bool
				var reads atomic.Int64
				read := func() {
					buf := make([]byte, 0, 128)
					i := 0
					for ; !stop.Load(); i++ {
						buf, _ = c.Read(buf[:0], names[stream[i&(len(stream)-1)]])
					}
					reads.Store(int64(i))
				}
				write := func(n int) {
					for i := range n {
						_ = c.Write(names[stream[(i+12345)&(len(stream)-1)]], value, time.Hour)
					}
				}
				b.ResetTimer()
				start := time.Now()
				switch sides {
				case "read":
					buf := make([]byte, 0, 128)
					for i := range b.N {
						buf, _ = c.Read(buf[:0], names[stream[i&(len(stream)-1)]])
					}
				case "write":
					write(b.N)
				case "both":
					done := make(chan struct{})
					go func() { read(); close(done) }()
					write(b.N)
					stop.Store(true)
					<-done
					elapsed := time.Since(start)
					b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N), "write-ns")
					b.ReportMetric(float64(elapsed.Nanoseconds())/float64(max(reads.Load(), 1)), "read-ns")
				}
			})
		}
	}
}
