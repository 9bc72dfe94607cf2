package targets

// Peer caches: the in-process Go caches velo is usually compared with, each
// behind a small adapter and set up the way its own documentation or
// benchmarks recommend. Where a library cannot do what the workload asks
// (per-entry TTLs, copying into the worker's buffer), its target's about
// line says so, and so do the comments below.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
	"unsafe"

	"github.com/VictoriaMetrics/fastcache"
	"github.com/Yiling-J/theine-go"
	"github.com/allegro/bigcache/v3"
	"github.com/coocood/freecache"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/maypok86/otter/v2"
	gocache "github.com/patrickmn/go-cache"
)

// Waiter is implemented by targets whose writes are applied asynchronously.
// The harness calls wait after filling such a cache, so that the measured
// reads find the pre-filled keys.
type Waiter interface{ Wait() }

// peerTargets are registered by init, in this order; the tests go through
// them all.
var peerTargets = []target{
	{
		name: "otter",
		about: "otter v2, MaximumSize 2x -keys entries (no byte bound), ExpiryWriting(-ttl); " +
			"GetIfPresent returns the stored slice (no copy)",
		open: openOtter,
	},
	{
		name: "ristretto",
		about: "ristretto v2, NumCounters 10x -keys, MaxCost -capacity bytes with cost len(key)+len(value), BufferItems 64; " +
			"Sets are async (a read right after a write may miss; sets may be dropped under load); Get returns the stored slice",
		open: openRistretto,
	},
	{
		name:  "theine",
		about: "theine, 2x -keys entries (cost 1 each, no byte bound), SetWithTTL; Get returns the stored slice (no copy)",
		open:  openTheine,
	},
	{
		name: "bigcache",
		about: "bigcache v3, 1024 shards, HardMaxCacheSize -capacity in MiB, LifeWindow -ttl for every entry (no per-entry TTL); " +
			"Get allocates a copy",
		open: openBigcache,
	},
	{
		name: "freecache",
		about: "freecache of -capacity bytes (512 KiB at least), TTL in whole seconds (rounded up); " +
			"GetWithBuf copies into the goroutine's buffer",
		open: openFreecache,
	},
	{
		name: "fastcache",
		about: "fastcache of -capacity bytes (32 MiB at least: 512 buckets of 64 KiB chunks), no TTL (never expires); " +
			"HasGet appends to the goroutine's buffer",
		open: openFastcache,
	},
	{
		name: "gocache",
		about: "patrickmn/go-cache: one map behind a sync.RWMutex, no size bound, janitor every minute; " +
			"Get returns the stored slice (no copy)",
		open: openGocache,

		unbounded: true,
	},
}

func init() {
	for _, t := range peerTargets {
		register(t)
	}
}

// peerKeyBytes views key as a byte slice without copying. It is for the
// libraries with []byte keys (freecache, fastcache), whose Get and Set only
// hash the key, compare it and copy it into their own buffers: they neither
// keep nor modify it (fastcache documents that k may be modified after Set
// or Get returns; freecache's segment code only reads it). A []byte(key)
// conversion would also work but may copy the key on every op, a cost that
// a caller storing []byte keys would not pay.
func peerKeyBytes(key string) []byte {
	return unsafe.Slice(unsafe.StringData(key), len(key))
}

// ---- otter ----

// otterPeer is bounded by entry count. Every entry gets cfg.TTL through
// ExpiryWriting; a write with another TTL sets it with SetExpiresAfter.
// Otter keeps the value slice it is given and Get hands it back.
type otterPeer struct {
	c   *otter.Cache[string, []byte]
	ttl time.Duration
}

func openOtter(cfg Config) (Cache, error) {
	c, err := otter.New(&otter.Options[string, []byte]{
		MaximumSize:      entryBound(cfg), // by default room for every pre-filled key, so none is evicted
		InitialCapacity:  cfg.Keys,        // no table resizes while filling
		ExpiryCalculator: otter.ExpiryWriting[string, []byte](cfg.TTL),
	})
	if err != nil {
		return nil, err
	}
	return &otterPeer{c: c, ttl: cfg.TTL}, nil
}

func (o *otterPeer) Read(_ []byte, key string) ([]byte, bool) { return o.c.GetIfPresent(key) }

func (o *otterPeer) Write(key string, value []byte, ttl time.Duration) error {
	o.c.Set(key, value)
	if ttl != o.ttl {
		o.c.SetExpiresAfter(key, ttl)
	}
	return nil
}

// Close stops the periodic clean-up goroutine that a cache with expiry
// starts (otter would otherwise stop it only after the cache is collected).
func (o *otterPeer) Close() { o.c.StopAllGoroutines() }

// ---- ristretto ----

// ristrettoPeer bounds bytes: MaxCost is cfg.Capacity and each entry costs
// len(key)+len(value), plus ristretto's own per-item cost (the
// IgnoreInternalCost default). NumCounters and BufferItems follow
// ristretto's README: 10x the expected entries, and 64.
//
// Sets go through a buffer to a single goroutine that applies them: a new
// key is not visible to Get until then, and a Set that finds the buffer
// full is dropped (SetWithTTL returns false). wait flushes the buffer.
// Ristretto keeps the value slice it is given and Get hands it back.
//
// Under -size-by entries  it is set up as otter's benchmark
// does: MaxCost -entries, each entry costing 1, IgnoreInternalCost, and
// NumCounters 10x -entries.
type ristrettoPeer struct {
	c        *ristretto.Cache[string, []byte]
	unitCost bool
}

func openRistretto(cfg Config) (Cache, error) {
	rc := &ristretto.Config[string, []byte]{
		NumCounters: 10 * int64(cfg.Keys),
		MaxCost:     cfg.Capacity,
		BufferItems: 64,
	}
	if cfg.SizeByEntries {
		rc.NumCounters, rc.MaxCost, rc.IgnoreInternalCost = 10*int64(cfg.Entries), int64(cfg.Entries), true
	}
	c, err := ristretto.NewCache(rc)
	if err != nil {
		return nil, err
	}
	return ristrettoPeer{c, cfg.SizeByEntries}, nil
}

func (r ristrettoPeer) Read(_ []byte, key string) ([]byte, bool) { return r.c.Get(key) }

// Write ignores a dropped or rejected Set, as a ristretto user would: the
// workload's hit ratio shows them.
func (r ristrettoPeer) Write(key string, value []byte, ttl time.Duration) error {
	cost := int64(len(key) + len(value))
	if r.unitCost {
		cost = 1
	}
	r.c.SetWithTTL(key, value, cost, ttl)
	return nil
}

func (r ristrettoPeer) Wait() { r.c.Wait() }

// Close stops the goroutines of the cache and of its policy.
func (r ristrettoPeer) Close() { r.c.Close() }

// ---- theine ----

// theinePeer is bounded by entry count, each entry costing 1 (the
// default). The doorkeeper stays off (the default), so a first Set is
// stored. Writes reach the hash table at once; only the policy is updated
// asynchronously. Theine keeps the value slice and Get hands it back.
type theinePeer struct {
	c *theine.Cache[string, []byte]
}

func openTheine(cfg Config) (Cache, error) {
	c, err := theine.NewBuilder[string, []byte](int64(entryBound(cfg))).Build()
	if err != nil {
		return nil, err
	}
	return theinePeer{c}, nil
}

func (t theinePeer) Read(_ []byte, key string) ([]byte, bool) { return t.c.Get(key) }

func (t theinePeer) Write(key string, value []byte, ttl time.Duration) error {
	t.c.SetWithTTL(key, value, 1, ttl)
	return nil
}

// Close stops the maintenance goroutines.
func (t theinePeer) Close() { t.c.Close() }

// ---- bigcache ----

// bigcacheShards is what bigcache's DefaultConfig uses (a power of two).
const bigcacheShards = 1024

// bigcachePeer bounds bytes: HardMaxCacheSize is cfg.Capacity in whole MiB
// (at least 1), split evenly among the shards. Bigcache has one LifeWindow
// for all entries, cfg.TTL, and ignores the TTL of each write. Expired
// entries are removed by a clean-up goroutine every CleanWindow (cfg.TTL,
// kept within bigcache's 1 s resolution and a minute); Get does not check
// expiry, so an entry may be read for up to CleanWindow past its TTL.
// Set copies the value into the shard's byte queue; Get allocates and
// returns a new copy (it cannot copy into the worker's buffer).
type bigcachePeer struct {
	c *bigcache.BigCache
}

func openBigcache(cfg Config) (Cache, error) {
	c, err := bigcache.New(context.Background(), bigcache.Config{
		Shards:             bigcacheShards,
		LifeWindow:         cfg.TTL,
		CleanWindow:        min(max(cfg.TTL, time.Second), time.Minute),
		MaxEntriesInWindow: cfg.Keys, // sizes the shards' initial maps and queues for the pre-fill
		// MaxEntrySize only sizes the initial queues and each shard's
		// entry buffer: the value, plus room for loadgen's keys.
		MaxEntrySize:     cfg.ValueSize + 32,
		HardMaxCacheSize: int(max(1, PeerBytes(cfg)>>20)),
		Verbose:          false,
		StatsEnabled:     false,
	})
	if err != nil {
		return nil, err
	}
	return bigcachePeer{c}, nil
}

func (b bigcachePeer) Read(_ []byte, key string) ([]byte, bool) {
	v, err := b.c.Get(key)
	return v, err == nil
}

// Write returns bigcache's error for an entry larger than a shard.
func (b bigcachePeer) Write(key string, value []byte, _ time.Duration) error {
	return b.c.Set(key, value)
}

// Close stops the clean-up goroutine. (Bigcache's Close always returns nil.)
func (b bigcachePeer) Close() { _ = b.c.Close() }

// ---- freecache ----

// freecachePeer bounds bytes: freecache allocates cfg.Capacity bytes up
// front (512 KiB at least) in 256 segments and refuses an entry larger than
// about 1/1024 of it (Set's error). TTLs are whole seconds: a TTL is
// rounded up, since 0 would mean no expiry. The default timer reads the
// clock on each op and starts no goroutine. Set copies key and value;
// GetWithBuf copies the value into the worker's buffer.
type freecachePeer struct {
	c *freecache.Cache
}

func openFreecache(cfg Config) (Cache, error) {
	return freecachePeer{freecache.NewCache(int(min(PeerBytes(cfg), math.MaxInt)))}, nil
}

// Read copies into dst's array from its start (GetWithBuf uses buf[:n]
// when cap(buf) >= n), which is what the workers ask for: they pass
// buf[:0].
func (f freecachePeer) Read(dst []byte, key string) ([]byte, bool) {
	v, err := f.c.GetWithBuf(peerKeyBytes(key), dst)
	return v, err == nil
}

func (f freecachePeer) Write(key string, value []byte, ttl time.Duration) error {
	secs := int((ttl + time.Second - 1) / time.Second)
	return f.c.Set(peerKeyBytes(key), value, max(secs, 1))
}

// Close has nothing to stop: freecache starts no goroutine. The memory
// goes with the cache.
func (f freecachePeer) Close() {}

// ---- fastcache ----

// fastcachePeer bounds bytes: cfg.Capacity split among 512 buckets, each
// rounded up to whole 64 KiB chunks (so 32 MiB at least). When a bucket is
// full, fastcache drops its oldest chunk, with every entry in it. It has
// no TTL: entries never expire. Set copies key and value; HasGet appends
// the value to the worker's buffer.
type fastcachePeer struct {
	c *fastcache.Cache
}

// errFastcacheEntry is write's error for an entry fastcache's Set would
// drop silently: a key, value and 4-byte header must fit in a 64 KiB chunk.
var errFastcacheEntry = errors.New("fastcache: entry too large for a 64 KiB chunk (SetBig is not used)")

func openFastcache(cfg Config) (Cache, error) {
	return fastcachePeer{fastcache.New(int(min(PeerBytes(cfg), math.MaxInt)))}, nil
}

func (f fastcachePeer) Read(dst []byte, key string) ([]byte, bool) {
	return f.c.HasGet(dst, peerKeyBytes(key))
}

func (f fastcachePeer) Write(key string, value []byte, _ time.Duration) error {
	if 4+len(key)+len(value) >= 64<<10 {
		return errFastcacheEntry
	}
	f.c.Set(peerKeyBytes(key), value)
	return nil
}

// Close hands the cache's chunks back to fastcache's free list. They are
// mmapped outside the Go heap and never unmapped, so without Reset every
// cache opened by a run would keep its memory to the end of the process;
// with it, the next fastcache reuses them. Fastcache starts no goroutine.
func (f fastcachePeer) Close() { f.c.Reset() }

// ---- go-cache ----

// gocachePeer is patrickmn/go-cache as its README sets it up: cfg.TTL as
// the default expiration and a janitor goroutine that deletes expired
// entries every minute, holding the map's write lock while it does. There
// is no size bound. Storing the []byte in an interface{} allocates on each
// Set; Get hands back the stored slice after a type assertion.
//
// go-cache has no method to stop the janitor: a finalizer on the Cache
// stops it once the Cache is garbage. close drops the adapter's reference,
// so the janitor stops at a later GC (the tests force one).
type gocachePeer struct {
	c *gocache.Cache
}

func openGocache(cfg Config) (Cache, error) {
	return &gocachePeer{gocache.New(cfg.TTL, time.Minute)}, nil
}

func (g *gocachePeer) Read(_ []byte, key string) ([]byte, bool) {
	v, ok := g.c.Get(key)
	if !ok {
		return nil, false
	}
	b, ok := v.([]byte)
	return b, ok
}

func (g *gocachePeer) Write(key string, value []byte, ttl time.Duration) error {
	g.c.Set(key, value, ttl)
	return nil
}

func (g *gocachePeer) Close() {
	g.c.Flush()
	g.c = nil
}

// entryBound is the size of the caches bounded by entry count: -entries, or
// by default twice -keys, so that every pre-filled key fits.
func entryBound(cfg Config) int {
	if cfg.Entries > 0 {
		return cfg.Entries
	}
	return 2 * cfg.Keys
}

// peerEntryHeader is the per-entry overhead assumed when a byte-bounded
// peer is sized by entries: freecache's 24-byte entry header, the largest
// of the three (bigcache's is 18 bytes plus a 4-byte length, fastcache's 4).
const peerEntryHeader = 24

// PeerBytes is the byte bound of freecache, fastcache and bigcache:
// Capacity, or under SizeByEntries room for Entries entries of the
// longest key and ValueSize, rounded up to a whole MiB (bigcache's unit).
// Fastcache still takes its 32 MiB minimum, freecache its 512 KiB.
func PeerBytes(cfg Config) int64 {
	if !cfg.SizeByEntries {
		return cfg.Capacity
	}
	longest := len(fmt.Sprintf("user:%08d", max(cfg.Keys-1, 0)))
	b := int64(cfg.Entries) * int64(peerEntryHeader+longest+cfg.ValueSize)
	const mib = 1 << 20
	return (b + mib - 1) / mib * mib
}

// VeloBytes is velo's MaxBytes: Capacity, or under SizeByEntries the
// byte-bounded peers' bound (PeerBytes), so that every cache that counts
// bytes is given the same budget. (Given Capacity instead, 256 MiB by
// default, velo's log would spend a short run growing through fresh
// memory, whose first touch costs a page fault per 4 KiB, and which the
// peers, sized to what the entries take, never see.)
func VeloBytes(cfg Config) int64 {
	if cfg.SizeByEntries {
		return PeerBytes(cfg)
	}
	return cfg.Capacity
}
