package targets

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSingle times one goroutine's Get of a present key, Get of an
// absent key and Set (an overwrite) over 32,768 present keys with 64-byte
// values, for velo and the peers that lead otter's benchmark, each sized
// as -preset otter sizes it (2^15 entries, by entries or by the bytes they
// take). Keys are read in a fixed scrambled order, so that every read
// lands on a different key. Compare the targets of one run:
//
//	go test -run '^$' -bench Single -count 5 ./cmd/loadgen/internal/targets | benchstat -col /target -
func BenchmarkSingle(b *testing.B) {
	const keys = 1 << 15
	present := make([]string, keys)
	absent := make([]string, keys)
	for i := range present {
		j := (i * 7919) % keys // a fixed order that jumps around
		present[i] = fmt.Sprintf("user:%08d", j)
		absent[i] = fmt.Sprintf("none:%08d", j)
	}
	value := make([]byte, 64)
	cfg := Config{Keys: keys, ValueSize: 64, Entries: keys, SizeByEntries: true, TTL: time.Hour, Procs: []int{1}}
	cfg.Capacity = PeerBytes(cfg)
	for _, op := range []string{"get", "miss", "set"} {
		for _, name := range []string{"velo", "otter", "fastcache", "mutexmap"} {
			b.Run(fmt.Sprintf("op=%s/target=%s", op, name), func(b *testing.B) {
				c, err := Open(name, cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				for _, k := range present {
					if err := c.Write(k, value, time.Hour); err != nil {
						b.Fatal(err)
					}
				}
				buf := make([]byte, 0, 128)
				b.ResetTimer()
				switch op {
				case "get":
					for i := range b.N {
						if buf, _ = c.Read(buf[:0], present[i&(keys-1)]); len(buf) != len(value) {
							b.Fatal("miss")
						}
					}
				case "miss":
					for i := range b.N {
						if _, ok := c.Read(buf[:0], absent[i&(keys-1)]); ok {
							b.Fatal("hit")
						}
					}
				case "set":
					for i := range b.N {
						_ = c.Write(present[i&(keys-1)], value, time.Hour)
					}
				}
			})
		}
	}
}
