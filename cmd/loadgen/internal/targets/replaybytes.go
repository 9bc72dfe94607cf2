package targets

// Byte-bounded replay setups (-trace with capacities in bytes): a cache of
// capacity c bytes, each entry weighing its object's size. A user sizes
// each cache by bytes this way:
//
//   - velo: MaxBytes c, which counts key + value + a 16-byte header per
//     entry (EntryBytes), one shard as in the entry replays (the policy is
//     then the same on every machine), and MaxValueBytes raised to the
//     trace's largest object (up to c/4) so that velo takes what it can.
//   - otter: MaximumWeight c, weight = EntryBytes, maintenance run on the
//     writing goroutine so the bound holds after every write.
//   - theine: maximum cost c, cost = EntryBytes, Wait after each write.
//   - ristretto: MaxCost c, cost = key + value plus ristretto's internal
//     cost, NumCounters 10 x the trace's distinct keys, Wait after each
//     write.
//   - freecache, fastcache, bigcache: their byte sizes, as under -fill
//     (bytes.go), with the rounding each applies.
//
// A write a cache refuses (too large, or dropped) is a miss: the replay
// counts them.

import (
	"fmt"

	"github.com/maypok86/otter/v2"
	"github.com/velocache/velo"
)

// byteReplaySkipReasons are the targets that have no byte bound.
var byteReplaySkipReasons = map[string]string{
	"mutexmap": "no size bound: it never evicts",
	"gocache":  "no size bound: it never evicts",
	"redis":    "a server; its eviction is set by its own maxmemory, not here",
}

// ByteReplays reports whether the named target can be replayed with a
// capacity in bytes; if not, reason says why.
func ByteReplays(name string) (ok bool, reason string) {
	if FindByteTarget(name) != nil {
		return true, ""
	}
	if r, found := byteReplaySkipReasons[name]; found {
		return false, r
	}
	return false, "no byte-bounded setup"
}

// OpenForByteReplay opens an empty cache bounded by s.MaxBytes for a
// replay, and returns the bound it really has (some caches round it) and
// how it is set up. s.MaxEntry is the largest entry of
// the trace (EntryBytes), s.Keys its distinct keys. name must be a target
// ByteReplays accepts.
func OpenForByteReplay(name string, s ByteSizing) (c Cache, bound int64, setup string, err error) {
	s.TTL = ReplayTTL
	switch name {
	case "velo":
		return openByteReplayVelo(s)
	case "otter":
		c, err := otter.New(&otter.Options[string, []byte]{
			MaximumWeight:    uint64(s.MaxBytes),
			Weigher:          func(k string, v []byte) uint32 { return uint32(EntryBytes(len(k), len(v))) },
			ExpiryCalculator: otter.ExpiryWriting[string, []byte](ReplayTTL),
			Executor:         func(fn func()) { fn() },
		})
		if err != nil {
			return nil, 0, "", err
		}
		return &otterPeer{c: c, ttl: ReplayTTL}, s.MaxBytes, "MaximumWeight c, weight = entry bytes", nil
	}
	t := FindByteTarget(name)
	if t == nil {
		return nil, 0, "", fmt.Errorf("%s: no byte-bounded setup", name)
	}
	return t.Open(s)
}

// ByteReplayVeloOptions are velo's options in a byte replay of
// s.MaxBytes whose largest entry is s.MaxEntry bytes.
func ByteReplayVeloOptions(s ByteSizing) velo.Options {
	o := velo.Options{
		MaxBytes:       s.MaxBytes,
		Shards:         1,
		ExpiryInterval: ReplayExpiryInterval,
	}
	// velo's default largest value is MaxBytes/64, at least 4 KiB and at
	// most 16 MiB; it may be raised to MaxBytes/4 or 1 GiB.
	def := min(max(s.MaxBytes/64, 4<<10), 16<<20)
	if v := s.MaxEntry - veloEntryHeader; v > def {
		o.MaxValueBytes = int(min(v, s.MaxBytes/4, 1<<30))
	}
	return o
}

func openByteReplayVelo(s ByteSizing) (Cache, int64, string, error) {
	o := ByteReplayVeloOptions(s)
	c, err := velo.New(o)
	if err != nil {
		return nil, 0, "", err
	}
	setup := "MaxBytes c, one shard"
	if o.MaxValueBytes > 0 {
		setup += fmt.Sprintf(", MaxValueBytes %d", o.MaxValueBytes)
	}
	return veloCache{c}, s.MaxBytes, setup, nil
}
