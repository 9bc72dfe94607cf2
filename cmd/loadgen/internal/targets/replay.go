package targets

// Replay setups (-trace with capacities in entries; replaybytes.go has
// those in bytes): every entry weighs one, so a cache of capacity c
// holds at most c keys. The throughput targets are sized for the
// throughput workload and some apply writes asynchronously, so a replay
// opens its caches here:
//
//   - velo: MaxEntries c, one shard. MaxEntries is enforced per shard
//     (MaxEntries/Shards each), so with the default sharding a skewed trace
//     would be evicted early in its busy shards; one shard makes the bound
//     exact. MaxBytes is large enough that the byte budget never evicts (see
//     openReplayVelo), and the expiry sweep is pushed out of the replay.
//   - otter: MaximumSize c, and an executor that runs maintenance on the
//     writing goroutine, so that the bound holds after every write (otter's
//     default runs it on a new goroutine, letting the cache overshoot).
//   - theine: capacity c, cost 1 per entry, and Wait after every write: its
//     policy applies writes on a background goroutine.
//   - ristretto: MaxCost c with cost 1 per entry (IgnoreInternalCost),
//     NumCounters 10c, BufferItems 64, and Wait after every write, since its
//     writes are applied asynchronously and may otherwise be dropped.
//
// This is how the otter and theine authors' simulator (maypok86/otter
// benchmarks/simulator) sets the three peers up, so their published hit
// ratios can be compared.

import (
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/maypok86/otter/v2"
	"github.com/velocache/velo"
)

const (
	// ReplayTTL is the TTL of every write of a replay, which no replay
	// outlasts.
	ReplayTTL = time.Hour
	// replayBytesPerEntry is velo's byte budget per entry of capacity in a
	// replay. An entry of a replay (a decimal key, the 8-byte value and a
	// 16-byte header) takes at most 48 bytes, so the live entries fill at
	// most 38% of the budget, and the byte budget never evicts: velo
	// compacts segments until the live entries fill 84% of it.
	replayBytesPerEntry = 128
	// replayMinBytes is the smallest budget of a replay, for tiny
	// capacities.
	replayMinBytes = 64 << 10
	// ReplayExpiryInterval keeps velo's expiry sweep from running during a
	// replay. Nothing expires within one, and the sweep also compacts
	// sparse segments at wall-clock moments, which would make the result
	// vary from run to run.
	ReplayExpiryInterval = 24 * time.Hour
)

// ReplayValue is the value every miss writes.
var ReplayValue = []byte("8 bytes.")

// replayOpeners open an empty cache of capacity entries for a replay. A
// target without one is skipped, for the reason in replaySkipReasons.
var replayOpeners = map[string]func(capacity int) (Cache, error){
	"velo":      openReplayVelo,
	"otter":     openReplayOtter,
	"theine":    openReplayTheine,
	"ristretto": openReplayRistretto,
}

var replaySkipReasons = map[string]string{
	"mutexmap":  "no size bound: it never evicts",
	"gocache":   "no size bound: it never evicts",
	"redis":     "a server; its eviction is set by its own maxmemory, not here",
	"bigcache":  "bounded by bytes only (whole MiB), so it has no entry capacity",
	"freecache": "bounded by bytes only (512 KiB at least), so it has no entry capacity",
	"fastcache": "bounded by bytes only (32 MiB at least), so it has no entry capacity",
}

// replayVelo is velo in a replay. It counts the entries that left other
// than through MaxEntries: the byte budget should never evict here, and the
// report says so if it did.
type replayVelo struct {
	veloCache
	capacity int
	prevLen  int
	lost     int
}

// openReplayVelo opens velo with MaxEntries capacity in one shard (the
// bound is exact with any number of shards; one keeps a replay's policy
// decisions the same on every machine), and a byte budget of
// replayBytesPerEntry per entry, with velo's default segments, so that only
// MaxEntries evicts; replayVelo.lost tells if anything else did.
func openReplayVelo(capacity int) (Cache, error) {
	return ReplayVelo(ReplayVeloOptions(capacity))
}

// ReplayVeloOptions are velo's options in a replay of capacity entries.
func ReplayVeloOptions(capacity int) velo.Options {
	return velo.Options{
		MaxEntries:     capacity,
		MaxBytes:       ReplayBudget(capacity),
		Shards:         1,
		ExpiryInterval: ReplayExpiryInterval,
	}
}

// ReplayBudget is velo's MaxBytes in a replay of capacity entries.
func ReplayBudget(capacity int) int64 {
	return max(int64(capacity)*replayBytesPerEntry, replayMinBytes)
}

// Write is only called after a miss, so the key is new: the cache should
// then hold one entry more, or stay full.
func (v *replayVelo) Write(key string, value []byte, ttl time.Duration) error {
	if err := v.veloCache.Write(key, value, ttl); err != nil {
		return err
	}
	n := v.c.Len()
	if want := min(v.prevLen+1, v.capacity); n < want {
		v.lost += want - n
	}
	v.prevLen = n
	return nil
}

func openReplayOtter(capacity int) (Cache, error) {
	c, err := otter.New(&otter.Options[string, []byte]{
		MaximumSize:      capacity,
		InitialCapacity:  capacity,
		ExpiryCalculator: otter.ExpiryWriting[string, []byte](ReplayTTL),
		Executor:         func(fn func()) { fn() },
	})
	if err != nil {
		return nil, err
	}
	return &otterPeer{c: c, ttl: ReplayTTL}, nil
}

// replayTheine is the theine target's adapter, waiting for the policy after
// each write.
type replayTheine struct{ theinePeer }

func (t replayTheine) Wait() { t.c.Wait() }

func openReplayTheine(capacity int) (Cache, error) {
	p, err := openTheine(Config{Entries: capacity})
	if err != nil {
		return nil, err
	}
	return replayTheine{p.(theinePeer)}, nil
}

// replayRistretto is ristretto with a cost of 1 per entry.
type replayRistretto struct {
	c *ristretto.Cache[string, []byte]
}

func openReplayRistretto(capacity int) (Cache, error) {
	c, err := ristretto.NewCache(&ristretto.Config[string, []byte]{
		NumCounters:        10 * int64(capacity),
		MaxCost:            int64(capacity),
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, err
	}
	return replayRistretto{c}, nil
}

func (r replayRistretto) Read(_ []byte, key string) ([]byte, bool) { return r.c.Get(key) }

func (r replayRistretto) Write(key string, value []byte, ttl time.Duration) error {
	r.c.SetWithTTL(key, value, 1, ttl) // a rejected Set is a policy decision: later reads miss
	return nil
}

func (r replayRistretto) Wait()  { r.c.Wait() }
func (r replayRistretto) Close() { r.c.Close() }

// OpenForReplay opens an empty cache of capacity entries for a replay.
// name must be a target Replays accepts.
func OpenForReplay(name string, capacity int) (Cache, error) {
	return replayOpeners[name](capacity)
}

// Replays reports whether the named target has a replay setup; if not,
// reason says why.
func Replays(name string) (ok bool, reason string) {
	return replayOpeners[name] != nil, replaySkipReasons[name]
}

// ReplayVelo opens velo for a replay with the options o, counting the
// entries that leave other than through MaxEntries (ByteEvicted).
func ReplayVelo(o velo.Options) (Cache, error) {
	c, err := velo.New(o)
	if err != nil {
		return nil, err
	}
	return &replayVelo{veloCache: veloCache{c}, capacity: o.MaxEntries}, nil
}

// ByteEvictions reports how many entries left velo other than through
// MaxEntries in a replay: the byte budget should never evict there.
func ByteEvictions(c Cache) int {
	if v, ok := c.(*replayVelo); ok {
		return v.lost
	}
	return 0
}
