package engine

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// BenchmarkSetShards tells apart two reasons why parallel Sets might not
// scale: cache lines that two cores share because they write the same
// shards (its lock, its head, its bookkeeping), and costs that do not
// depend on which shards a core writes. One or two goroutines overwrite
// random keys among 10,923 (otter's preset key count) in a 64 MiB engine
// whose log has cycled through its budget twice. With keys=shared each
// goroutine writes keys of every shard; with keys=disjoint each writes
// only the keys of its own half of the shards, so the two never touch the
// same shard. Run it at GOMAXPROCS 2 in both cases, so that the collector
// and the clock have the same room:
//
//	go test -run '^$' -bench SetShards -cpu 2 -count 6 ./engine
//
// ns/op is wall time per Set, so two goroutines that scale perfectly show
// half the ns/op of one.
func BenchmarkSetShards(b *testing.B) {
	const (
		keys     = 1<<15/3 + 1
		maxBytes = 64 << 20
	)
	value := make([]byte, 64)
	for _, mode := range []string{"shared", "disjoint"} {
		for _, goroutines := range []int{1, 2} {
			b.Run(fmt.Sprintf("keys=%s/goroutines=%d", mode, goroutines), func(b *testing.B) {
				e, err := New(Config{MaxBytes: maxBytes})
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close()
				// part[g] holds goroutine g's keys: alternate keys when
				// shared, the keys of g's half of the shards when disjoint.
				var part [2][]string
				for i := range keys {
					k := fmt.Sprintf("user:%08d", i)
					g := i & 1
					if mode == "disjoint" {
						g = int(e.hashOf(k)>>e.shift) * 2 / len(e.shards)
					}
					part[g] = append(part[g], k)
				}
				for i := range 2 * maxBytes / 96 {
					p := part[i&1]
					_ = e.Set(p[(i/2)%len(p)], value, time.Hour)
				}
				b.ResetTimer()
				var wg sync.WaitGroup
				for g := range goroutines {
					wg.Go(func() {
						rng := rand.New(rand.NewPCG(uint64(g), 7))
						p := part[g]
						for range b.N / goroutines {
							_ = e.Set(p[rng.IntN(len(p))], value, time.Hour)
						}
					})
				}
				wg.Wait()
			})
		}
	}
}
