package engine

import (
	"math/rand/v2"
	"sync"
	"testing"
)

// TestCounterStripes checks that two goroutine stacks share a stripe about
// as often as chance has it, whatever the distance between them (stacks
// cut from one span are a multiple of their size apart): for 8 and 32
// stripes and distances from 2 KiB to 1 MiB, pairs of stacks at random
// places collide less than twice as often as 1/stripes.
func TestCounterStripes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, stripes := range []int{8, 32} {
		c := newCounter(stripes)
		for gap := uintptr(2 << 10); gap <= 1<<20; gap *= 2 {
			const pairs = 20000
			same := 0
			for range pairs {
				// A heap-like address on a 2 KiB boundary, plus the
				// offset of a local variable in its frame.
				base := uintptr(heapLike) + uintptr(rng.IntN(1<<19))<<11 + 0x7a8
				if c.stripe(base) == c.stripe(base+gap) {
					same++
				}
			}
			if limit := 2 * pairs / stripes; same > limit {
				t.Errorf("%d stripes, stacks %d KiB apart: %d of %d pairs share a stripe (chance: %d)",
					stripes, gap>>10, same, pairs, pairs/stripes)
			}
		}
	}
}

// TestCounterCounts checks that concurrent adds are all counted.
func TestCounterCounts(t *testing.T) {
	c := newCounter(8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10000 {
				c.inc()
			}
		})
	}
	wg.Wait()
	if got := c.load(); got != 80000 {
		t.Fatalf("counted %d, want 80000", got)
	}
	if one := newCounter(1); one.stripe(uintptr(heapLike)+0x123456) != 0 {
		t.Fatal("a counter of one stripe uses another")
	}
}

// heapLike is where the Go heap starts on 64-bit Linux. A variable, so
// that its conversion to uintptr truncates where uintptr has 32 bits,
// where a constant would not compile.
var heapLike uint64 = 0xc000000000
