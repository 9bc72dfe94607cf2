package targets

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestReplayVeloExactCapacity checks that velo in a replay holds exactly
// its capacity once full, and that only MaxEntries evicts.
func TestReplayVeloExactCapacity(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	keys := make([]string, 20000)
	for i := range keys {
		keys[i] = strconv.Itoa(rng.IntN(3000))
	}
	for _, capacity := range []int{1, 7, 300} {
		c, err := OpenForReplay("velo", capacity)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 0, 64)
		for _, k := range keys { // read-through, as a replay does
			if _, ok := c.Read(buf[:0], k); !ok {
				if err := c.Write(k, ReplayValue, ReplayTTL); err != nil {
					t.Fatal(err)
				}
			}
		}
		v := c.(*replayVelo)
		if n := v.c.Len(); n != capacity || ByteEvictions(c) != 0 {
			t.Errorf("capacity %d: %d entries at the end, %d evicted by bytes", capacity, n, ByteEvictions(c))
		}
		c.Close()
	}
}
