package machine

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkStores times atomic stores to random cache lines from one or
// two goroutines: each to an array of its own (private) of 256 KiB, 4 MiB
// or 64 MiB, or both to one array of 256 KiB (shared), where a store
// often finds the line in the other core's cache and waits for it to
// move. ns/op is wall time per store, so two goroutines that scale
// perfectly show half the ns/op of one.
func BenchmarkStores(b *testing.B) {
	for _, c := range []struct {
		name   string
		bytes  int
		shared bool
	}{
		{"private/256KiB", 256 << 10, false},
		{"private/4MiB", 4 << 20, false},
		{"private/64MiB", 64 << 20, false},
		{"shared/256KiB", 256 << 10, true},
	} {
		for _, goroutines := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", c.name, goroutines), func(b *testing.B) {
				const line = 64 / 8 // words per cache line
				lines := c.bytes / 64
				arrays := make([][]atomic.Uint64, goroutines)
				for g := range arrays {
					if c.shared && g > 0 {
						arrays[g] = arrays[0]
					} else {
						arrays[g] = make([]atomic.Uint64, lines*line)
					}
				}
				b.ResetTimer()
				var wg sync.WaitGroup
				for g := range goroutines {
					wg.Go(func() {
						a := arrays[g]
						rng := rand.New(rand.NewPCG(uint64(g), 1))
						for i := range b.N / goroutines {
							a[rng.IntN(lines)*line].Store(uint64(i))
						}
					})
				}
				wg.Wait()
			})
		}
	}
}
