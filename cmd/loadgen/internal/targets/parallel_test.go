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
