package targets

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/VictoriaMetrics/fastcache"
	"github.com/Yiling-J/theine-go"
	"github.com/allegro/bigcache/v3"
	"github.com/maypok86/otter/v2"
	"github.com/velocache/velo"
)

// EntryBytes is velo's size of an entry: the 16-byte header, the key and
// the value, rounded up to 8. The byte-bounded setups weigh entries by it.
func EntryBytes(keyLen, valueLen int) int64 {
	return int64(veloEntryHeader+keyLen+valueLen+7) &^ 7
}

// veloEntryHeader is velo's per-entry header.
const veloEntryHeader = 16

// byteTargetEntries is how many of the largest entries a bigcache shard
// must hold: bigcache refuses an entry larger than a shard.
const byteTargetEntries = 8

// ByteSizing is what a byte-bounded setup (-fill, and -trace in bytes) is
// sized from.
type ByteSizing struct {
	MaxBytes  int64
	Keys      int
	MaxEntry  int64   // the largest entry (EntryBytes)
	MeanEntry float64 // the mean entry
	TTL       time.Duration
}

// ByteTarget is a target set up to be bounded by bytes. Open returns the
// bound the cache really has (some round MaxBytes) and a short description
// of it.
type ByteTarget struct {
	Name string
	// Keeps: the cache keeps the caller's value slice, so each Set is
	// handed a copy of its own.
	Keeps bool
	Open  func(s ByteSizing) (c Cache, bound int64, setup string, err error)
}

var byteTargets = []ByteTarget{
	{Name: "velo", Open: openBytesVelo},
	{Name: "freecache", Open: openBytesFreecache},
	{Name: "fastcache", Open: openBytesFastcache},
	{Name: "bigcache", Open: openBytesBigcache},
	{Name: "otter", Keeps: true, Open: openBytesOtter},
	{Name: "ristretto", Keeps: true, Open: openBytesRistretto},
	{Name: "theine", Keeps: true, Open: openBytesTheine},
}

// FindByteTarget returns the byte-bounded setup of name, or nil.
func FindByteTarget(name string) *ByteTarget {
	i := slices.IndexFunc(byteTargets, func(t ByteTarget) bool { return t.Name == name })
	if i < 0 {
		return nil
	}
	return &byteTargets[i]
}

// ByteTargetNames lists the targets that have a byte-bounded setup.
func ByteTargetNames() []string {
	names := make([]string, len(byteTargets))
	for i, t := range byteTargets {
		names[i] = t.Name
	}
	return names
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// openBytesVelo is velo with MaxBytes and its default segment size, which
// sets the largest entry it takes.
func openBytesVelo(s ByteSizing) (Cache, int64, string, error) {
	c, err := velo.New(velo.Options{MaxBytes: s.MaxBytes})
	if err != nil {
		return nil, 0, "", err
	}
	return veloCache{c}, s.MaxBytes, fmt.Sprintf("largest entry %d KiB", c.MaxEntryBytes()>>10), nil
}

// openBytesFreecache is freecache of MaxBytes (512 KiB at least), split in
// 256 segments; it refuses an entry above about 1/1024 of its size.
func openBytesFreecache(s ByteSizing) (Cache, int64, string, error) {
	c, err := openFreecache(Config{Capacity: s.MaxBytes})
	size := max(s.MaxBytes, 512<<10) / 256 * 256
	return c, size, fmt.Sprintf("%.1f MiB, entries up to %d KiB", mib(size), (size/1024-24)>>10), err
}

// openBytesFastcache is fastcache of MaxBytes: 512 buckets, each of whole
// 64 KiB chunks, so the bound is rounded up to a multiple of 32 MiB.
func openBytesFastcache(s ByteSizing) (Cache, int64, string, error) {
	c, err := openFastcache(Config{Capacity: s.MaxBytes})
	const buckets, chunk = 512, 64 << 10
	perBucket := (s.MaxBytes + buckets - 1) / buckets
	size := buckets * ((perBucket + chunk - 1) / chunk * chunk)
	return c, size, fmt.Sprintf("%.1f MiB (whole 64 KiB chunks per bucket), entries below 64 KiB", mib(size)), err
}

// bytesBigcacheShards is the number of bigcache shards for a bound and a
// largest entry: the most, up to bigcacheShards (a power of two), that
// leaves each shard room for byteTargetEntries of the largest entry.
func bytesBigcacheShards(bound, maxEntry int64) int {
	n := bigcacheShards
	for n > 1 && bound/int64(n) < byteTargetEntries*(maxEntry+bigcacheEntryHeader) {
		n /= 2
	}
	return n
}

// bigcacheEntryHeader is bigcache's per-entry header and length prefix.
const bigcacheEntryHeader = 18 + 4

// openBytesBigcache is bigcache with HardMaxCacheSize MaxBytes in whole
// MiB (rounded down), in bytesBigcacheShards shards. Nothing expires within
// the run (LifeWindow ttl, no clean-up goroutine).
func openBytesBigcache(s ByteSizing) (Cache, int64, string, error) {
	mb := max(1, s.MaxBytes>>20)
	shards := bytesBigcacheShards(mb<<20, s.MaxEntry)
	c, err := bigcache.New(context.Background(), bigcache.Config{
		Shards:             shards,
		LifeWindow:         s.TTL,
		MaxEntriesInWindow: s.Keys,
		MaxEntrySize:       int(s.MeanEntry),
		HardMaxCacheSize:   int(mb),
	})
	if err != nil {
		return nil, 0, "", err
	}
	return bigcachePeer{c}, mb << 20, fmt.Sprintf("%d MiB in %d shards of %d KiB", mb, shards, (mb<<20)/int64(shards)>>10), nil
}

// bytesOtter is otter weighing each entry by EntryBytes, with
// MaximumWeight MaxBytes and no expiry. settle runs the maintenance otter
// may leave pending after a write, evictions among it.
type bytesOtter struct{ *otterPeer }

func (o bytesOtter) Settle() { o.c.CleanUp() }

func openBytesOtter(s ByteSizing) (Cache, int64, string, error) {
	c, err := otter.New(&otter.Options[string, []byte]{
		MaximumWeight:   uint64(s.MaxBytes),
		Weigher:         func(k string, v []byte) uint32 { return uint32(EntryBytes(len(k), len(v))) },
		InitialCapacity: s.Keys,
	})
	if err != nil {
		return nil, 0, "", err
	}
	return bytesOtter{&otterPeer{c: c, ttl: s.TTL}}, s.MaxBytes, "MaximumWeight MaxBytes, weight = entry bytes", nil
}

// bytesRistretto is ristretto with MaxCost MaxBytes and, as in the other
// modes, each entry costing len(key)+len(value) plus ristretto's internal
// cost; NumCounters 10 K. A Set that ristretto drops or refuses (SetWithTTL
// returns false) is an error here, so it counts as rejected: a dropped
// overwrite leaves the previous value readable.
type bytesRistretto struct{ ristrettoPeer }

var errRistrettoDropped = errors.New("ristretto: Set dropped or refused")

func (r bytesRistretto) Write(key string, value []byte, ttl time.Duration) error {
	if !r.c.SetWithTTL(key, value, int64(len(key)+len(value)), ttl) {
		return errRistrettoDropped
	}
	return nil
}

func openBytesRistretto(s ByteSizing) (Cache, int64, string, error) {
	c, err := openRistretto(Config{Keys: s.Keys, Capacity: s.MaxBytes})
	if err != nil {
		return nil, 0, "", err
	}
	return bytesRistretto{c.(ristrettoPeer)}, s.MaxBytes, "MaxCost MaxBytes, cost = key + value + internal", nil
}

// bytesTheine is theine with the maximum cost MaxBytes, each entry costing
// EntryBytes. Its policy is applied asynchronously: wait lets it catch
// up.
type bytesTheine struct{ theinePeer }

func (t bytesTheine) Write(key string, value []byte, ttl time.Duration) error {
	t.c.SetWithTTL(key, value, EntryBytes(len(key), len(value)), ttl)
	return nil
}

func (t bytesTheine) Wait() { t.c.Wait() }

func openBytesTheine(s ByteSizing) (Cache, int64, string, error) {
	c, err := theine.NewBuilder[string, []byte](s.MaxBytes).Build()
	if err != nil {
		return nil, 0, "", err
	}
	return bytesTheine{theinePeer{c}}, s.MaxBytes, "max cost MaxBytes, cost = entry bytes", nil
}

// Settler is a cache with work left after its writes that the harness
// lets it finish before reading back.
type Settler interface{ Settle() }

// OffHeapBytes is the memory c holds outside the Go heap: fastcache's
// mmapped chunks (Stats.BytesSize); 0 for the other targets.
func OffHeapBytes(c Cache) uint64 {
	f, ok := c.(fastcachePeer)
	if !ok {
		return 0
	}
	var s fastcache.Stats
	f.c.UpdateStats(&s)
	return s.BytesSize
}

// VeloStats returns velo's statistics when c is velo's adapter.
func VeloStats(c Cache) (velo.Stats, bool) {
	v, ok := c.(veloCache)
	if !ok {
		return velo.Stats{}, false
	}
	return v.c.Stats(), true
}
