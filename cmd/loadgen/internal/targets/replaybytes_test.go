package targets

import (
	"fmt"
	"strings"
	"testing"
)

// TestByteReplaySizing writes four times a cache's byte bound, read-through
// as a replay does, and checks for every byte-bounded target that what it
// still holds fits its bound (the entries weighed as the target weighs
// them) and is not far below it: each is sized by bytes, not by entries.
func TestByteReplaySizing(t *testing.T) {
	const maxBytes = 8 << 20
	const valueLen = 1000
	value := make([]byte, valueLen)
	for _, name := range ByteTargetNames() {
		t.Run(name, func(t *testing.T) {
			s := ByteSizing{MaxBytes: maxBytes, Keys: 1 << 16, MaxEntry: EntryBytes(12, valueLen), MeanEntry: float64(EntryBytes(12, valueLen))}
			c, bound, setup, err := OpenForByteReplay(name, s)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if bound < maxBytes || bound > 64<<20 || setup == "" {
				t.Fatalf("bound %d, setup %q", bound, setup)
			}
			w, async := c.(Waiter)
			n := int(4 * bound / EntryBytes(12, valueLen))
			key := func(i int) string { return fmt.Sprintf("key:%08d", i) }
			for i := range n {
				_ = c.Write(key(i), value, ReplayTTL) // refusals are misses in a replay
				if async {
					w.Wait()
				}
			}
			if st, ok := c.(Settler); ok {
				st.Settle()
			}
			held := 0
			for i := range n {
				if _, ok := c.Read(make([]byte, 0, valueLen), key(i)); ok {
					held++
				}
			}
			// The weight each target gives an entry: velo, otter and
			// theine EntryBytes; ristretto key + value and its internal
			// cost; the byte caches their own headers (at least key +
			// value).
			weight := EntryBytes(12, valueLen)
			if name == "ristretto" || name == "freecache" || name == "fastcache" || name == "bigcache" {
				weight = 12 + valueLen
			}
			maxHeld := int(bound / weight)
			if held > maxHeld || held < maxHeld/3 {
				t.Errorf("%s (%s): holds %d entries of %d bytes, want %d..%d for a bound of %d bytes",
					name, setup, held, weight, maxHeld/3, maxHeld, bound)
			}
			if st, ok := VeloStats(c); ok && st.HeldBytes > maxBytes {
				t.Errorf("velo holds %d bytes, above MaxBytes %d", st.HeldBytes, maxBytes)
			}
		})
	}
	for _, name := range []string{"mutexmap", "gocache", "redis"} {
		if ok, reason := ByteReplays(name); ok || reason == "" {
			t.Errorf("ByteReplays(%s) = %v, %q", name, ok, reason)
		}
	}
}

// TestByteReplayVeloOptions: velo gets MaxBytes = the capacity, one shard,
// and a largest value raised to the trace's largest object when velo's
// default would refuse it, up to MaxBytes/4.
func TestByteReplayVeloOptions(t *testing.T) {
	o := ByteReplayVeloOptions(ByteSizing{MaxBytes: 64 << 20, MaxEntry: 100})
	if o.MaxBytes != 64<<20 || o.Shards != 1 || o.MaxValueBytes != 0 {
		t.Errorf("small entries: %+v", o)
	}
	o = ByteReplayVeloOptions(ByteSizing{MaxBytes: 64 << 20, MaxEntry: 4 << 20})
	if o.MaxValueBytes != 4<<20-16 {
		t.Errorf("4 MiB entries: MaxValueBytes %d", o.MaxValueBytes)
	}
	o = ByteReplayVeloOptions(ByteSizing{MaxBytes: 64 << 20, MaxEntry: 40 << 20})
	if o.MaxValueBytes != 16<<20 {
		t.Errorf("40 MiB entries: MaxValueBytes %d, want MaxBytes/4", o.MaxValueBytes)
	}
	c, _, setup, err := OpenForByteReplay("velo", ByteSizing{MaxBytes: 64 << 20, MaxEntry: 4 << 20})
	if err != nil || !strings.Contains(setup, "MaxValueBytes") {
		t.Fatalf("%v %q", err, setup)
	}
	defer c.Close()
	if err := c.Write("big", make([]byte, 3<<20), ReplayTTL); err != nil {
		t.Errorf("a 3 MiB value: %v", err)
	}
}
