package engine

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/velocache/velo/arena"
	"github.com/velocache/velo/clock"
)

// testStart is where manual clocks start: far from zero, so that an expiry
// computed from a zero clock would show.
const testStart = int64(1) << 40

// newTestEngine returns an engine on a manual clock (the one in cfg, or a
// new one) whose background sweep never runs during the test, so that only
// the test's sweepExpired calls remove expired entries. Unless cfg says
// otherwise, keys hash with unseeded xxhash, so that a test's keys share
// the same sketch counters and index slots on every run: the policy's
// choices between keys seen equally often depend on those collisions, and
// with the random seed a test pinning them would pass only most of the
// time. The seeded hash is what velo's own tests run with.
func newTestEngine(t testing.TB, cfg Config) (*Engine, *clock.Clock) {
	t.Helper()
	if cfg.Clock == nil {
		cfg.Clock = clock.NewManual(testStart)
	}
	if cfg.hash == nil {
		cfg.hash = xxhash.Sum64String
	}
	if cfg.ExpiryInterval == 0 {
		cfg.ExpiryInterval = time.Hour
	}
	e, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	return e, cfg.Clock
}

func getString(e *Engine, key string) (string, bool) {
	v, ok := e.AppendValue(nil, key)
	return string(v), ok
}

func requireHit(t testing.TB, e *Engine, key, want string) {
	t.Helper()
	v, ok := getString(e, key)
	require.True(t, ok, "Get(%q) missed", key)
	require.Equal(t, want, v, "Get(%q)", key)
}

func requireMiss(t testing.TB, e *Engine, key string) {
	t.Helper()
	v, ok := getString(e, key)
	require.False(t, ok, "Get(%q) hit with %q", key, v)
	require.False(t, e.Has(key), "Has(%q)", key)
}

// expiryOf returns the expireAt stored in key's entry.
func expiryOf(t testing.TB, e *Engine, key string) int64 {
	t.Helper()
	h := e.hashOf(key)
	sh := e.shardOf(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	l, ok := sh.index.load(h)
	require.True(t, ok, "%q not in the index", key)
	exp, k, _ := sh.slots[l.slot()].Load().Entry(l.off())
	require.Equal(t, key, string(k))
	return exp
}

func TestSetGetOverwriteDelete(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 4})

	requireMiss(t, e, "a")
	require.NoError(t, e.Set("a", []byte("1"), 0))
	require.NoError(t, e.Set("b", []byte("2"), 0))
	requireHit(t, e, "a", "1")
	requireHit(t, e, "b", "2")
	require.True(t, e.Has("a"))
	require.Equal(t, 2, e.Len())
	checkInvariants(t, e)

	// Overwrite with a longer and then a shorter value.
	require.NoError(t, e.Set("a", []byte("longer value"), 0))
	requireHit(t, e, "a", "longer value")
	require.NoError(t, e.Set("a", []byte("x"), 0))
	requireHit(t, e, "a", "x")
	require.Equal(t, 2, e.Len())
	checkInvariants(t, e)

	require.True(t, e.Delete("a"))
	requireMiss(t, e, "a")
	require.False(t, e.Delete("a"), "second Delete")
	require.False(t, e.Delete("never"), "Delete of an absent key")
	requireHit(t, e, "b", "2")
	require.Equal(t, 1, e.Len())
	checkInvariants(t, e)

	// The caller may reuse the slice it passed to Set.
	buf := []byte("original")
	require.NoError(t, e.Set("c", buf, 0))
	copy(buf, "XXXXXXXX")
	requireHit(t, e, "c", "original")

	s := e.Stats()
	require.Equal(t, uint64(5), s.Sets)
	require.Equal(t, uint64(1), s.Deletes)
	require.Zero(t, s.Evictions)
	require.Equal(t, 2, s.Entries)
	require.Positive(t, s.HeldBytes)
	checkInvariants(t, e)
}

func TestGetAppendsToDst(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 1})
	require.NoError(t, e.Set("k", []byte("value"), 0))

	dst := make([]byte, 0, 64)
	dst = append(dst, "prefix:"...)
	got, ok := e.AppendValue(dst, "k")
	require.True(t, ok)
	require.Equal(t, "prefix:value", string(got))
	require.Same(t, &dst[:1][0], &got[:1][0], "Get reallocated although dst had room")

	// A miss returns dst unchanged.
	got, ok = e.AppendValue(dst, "absent")
	require.False(t, ok)
	require.Equal(t, "prefix:", string(got))

	s := e.Stats()
	require.Equal(t, uint64(1), s.Hits)
	require.Equal(t, uint64(1), s.Misses)
}

func TestEmptyKeyAndValue(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 2})

	require.NoError(t, e.Set("", []byte("empty key"), 0))
	require.NoError(t, e.Set("empty value", nil, 0))
	require.NoError(t, e.Set("empty value 2", []byte{}, 0))
	requireHit(t, e, "", "empty key")
	for _, k := range []string{"empty value", "empty value 2"} {
		v, ok := e.AppendValue([]byte("dst"), k)
		require.True(t, ok, k)
		require.Equal(t, "dst", string(v), k)
		require.True(t, e.Has(k), k)
	}
	checkInvariants(t, e)

	require.NoError(t, e.Set("", nil, 0))
	requireHit(t, e, "", "")
	require.True(t, e.Delete(""))
	requireMiss(t, e, "")
	require.True(t, e.Delete("empty value"))
	require.Equal(t, 1, e.Len())
	checkInvariants(t, e)
}

func TestTTLExpiry(t *testing.T) {
	e, clk := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 1})

	require.NoError(t, e.Set("short", []byte("v"), 10*time.Nanosecond))
	require.NoError(t, e.Set("long", []byte("w"), time.Hour))
	require.NoError(t, e.Set("forever", []byte("f"), 0))
	require.Equal(t, testStart+10, expiryOf(t, e, "short"))
	require.Equal(t, int64(arena.Never), expiryOf(t, e, "forever"))

	clk.Advance(9)
	requireHit(t, e, "short", "v")
	clk.Advance(1) // now == expireAt: dead
	requireMiss(t, e, "short")
	requireHit(t, e, "long", "w")
	// Expired but not yet swept: still counted by Len.
	require.Equal(t, 3, e.Len())

	// Delete of an expired entry removes it but reports absent.
	require.False(t, e.Delete("short"))
	require.Equal(t, 2, e.Len())
	require.Equal(t, uint64(1), e.Stats().Expirations)
	require.Zero(t, e.Stats().Deletes)

	clk.Advance(time.Hour)
	requireMiss(t, e, "long")
	requireHit(t, e, "forever", "f")

	// Setting an expired key again revives it.
	require.NoError(t, e.Set("long", []byte("again"), time.Minute))
	requireHit(t, e, "long", "again")
	checkInvariants(t, e)
}

func TestDefaultTTL(t *testing.T) {
	e, clk := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 1, DefaultTTL: time.Minute})

	require.NoError(t, e.Set("default", []byte("d"), 0))
	require.NoError(t, e.Set("explicit", []byte("x"), time.Hour))
	require.Equal(t, testStart+int64(time.Minute), expiryOf(t, e, "default"))

	clk.Advance(time.Minute - 1)
	requireHit(t, e, "default", "d")
	clk.Advance(1)
	requireMiss(t, e, "default")
	requireHit(t, e, "explicit", "x")
	checkInvariants(t, e)
}

func TestSaturatingExpiry(t *testing.T) {
	const years200 = 200 * 365 * 24 * time.Hour
	tests := []struct {
		name  string
		start int64
		ttl   time.Duration
	}{
		{"MaxInt64 ttl", testStart, math.MaxInt64},
		{"MaxInt64 ttl at zero", 0, math.MaxInt64},
		{"200 years from late clock", math.MaxInt64 - int64(years200) + 1, years200},
		{"200 years near the end", math.MaxInt64 - 1, years200},
		{"1ns at the last instant", math.MaxInt64 - 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewManual(tt.start)
			e, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 1, Clock: clk})
			require.NoError(t, e.Set("k", []byte("v"), tt.ttl))
			require.Equal(t, int64(arena.Never), expiryOf(t, e, "k"), "expiry did not saturate")
			clk.Set(math.MaxInt64 - 1)
			requireHit(t, e, "k", "v")
			e.sweepExpired()
			requireHit(t, e, "k", "v")
			checkInvariants(t, e)
		})
	}

	// 200 years from an ordinary clock is an ordinary, finite expiry.
	e, clk := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 1})
	require.NoError(t, e.Set("k", []byte("v"), years200))
	require.Equal(t, testStart+int64(years200), expiryOf(t, e, "k"))
	clk.Advance(years200 - 1)
	requireHit(t, e, "k", "v")
	clk.Advance(1)
	requireMiss(t, e, "k")
}

func TestNegativeTTL(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 1})
	require.NoError(t, e.Set("k", []byte("old"), 0))
	for _, ttl := range []time.Duration{-1, -time.Hour, math.MinInt64} {
		err := e.Set("k", []byte("new"), ttl)
		require.ErrorIs(t, err, ErrInvalidTTL, "ttl %v", ttl)
		requireHit(t, e, "k", "old")
		// Rejected for an absent key too, and nothing is stored.
		require.ErrorIs(t, e.Set("absent", []byte("new"), ttl), ErrInvalidTTL)
		requireMiss(t, e, "absent")
	}
	require.Equal(t, uint64(1), e.Stats().Sets)
	checkInvariants(t, e)
}

// TestKeyLimitInSmallBudget: in a small budget a key may take only what
// the largest value and the shards' heads leave, so that the largest
// entry the engine takes still leaves it within MaxBytes.
func TestKeyLimitInSmallBudget(t *testing.T) {
	const maxBytes = 4 << 10
	e, _ := newTestEngine(t, Config{MaxBytes: maxBytes})
	require.Less(t, e.maxKey, arena.MaxKeyLen)
	require.GreaterOrEqual(t, e.maxKey, maxBytes/4-arena.HeaderSize-8)
	require.LessOrEqual(t, len(e.shards)*e.segBytes+e.MaxEntryBytes(), maxBytes)
	require.NoError(t, e.Set("k", []byte("old"), 0))
	err := e.Set(strings.Repeat("k", e.maxKey+1), []byte("v"), 0)
	require.ErrorIs(t, err, ErrTooLarge)
	requireHit(t, e, "k", "old")
	longest := strings.Repeat("k", e.maxKey)
	require.NoError(t, e.Set(longest, make([]byte, e.MaxValueBytes()), 0))
	require.LessOrEqual(t, e.Stats().HeldBytes, int64(maxBytes))
	_, ok := e.Get(longest)
	require.True(t, ok)
}

// A large entry's segment counts what the Go allocator gives it, not only
// the entry: just above 32 KiB that is whole pages, a fifth more, and
// HeldBytes would otherwise understate the memory by as much.
func TestLargeSegmentCountsAllocatorRounding(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxBytes: 4 << 20, Shards: 1, SegmentBytes: 64 << 10})
	require.NoError(t, e.Set("small", []byte("v"), 0)) // the head
	before := e.Stats().HeldBytes
	v := make([]byte, 32<<10+8-arena.HeaderSize-len("k")) // an entry of 32 KiB + 8
	require.Equal(t, 32<<10+8, arena.EntrySize(len("k"), len(v)))
	require.NoError(t, e.Set("k", v, 0))
	require.Equal(t, int64(40<<10), e.Stats().HeldBytes-before, "five pages")
	require.True(t, e.Delete("k"))
	require.Equal(t, before, e.Stats().HeldBytes)
	checkInvariants(t, e)
}

func TestTooLarge(t *testing.T) {
	// Segments larger than the longest key, so that the key limit is tested
	// on its own.
	const segBytes = 256 << 10
	e, _ := newTestEngine(t, Config{MaxBytes: 4 * segBytes, Shards: 1, SegmentBytes: segBytes})
	require.Equal(t, segBytes-arena.HeaderSize, e.MaxValueBytes(), "a SegmentBytes set by hand takes values that fill a segment")

	longKey := strings.Repeat("k", arena.MaxKeyLen)
	require.NoError(t, e.Set(longKey, []byte("v"), 0), "a key of MaxKeyLen bytes is fine")
	requireHit(t, e, longKey, "v")

	require.NoError(t, e.Set("k", []byte("old"), 0))
	exact := make([]byte, e.MaxValueBytes())
	require.NoError(t, e.Set("exact", exact, 0), "a value of MaxValueBytes is fine")
	tests := []struct {
		name  string
		key   string
		value []byte
	}{
		{"key over 65535 bytes", longKey + "!", nil},
		{"value one byte over MaxValueBytes", "k", append(exact, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.Set(tt.key, tt.value, 0)
			require.ErrorIs(t, err, ErrTooLarge)
			requireHit(t, e, "k", "old")
		})
	}
	requireMiss(t, e, longKey+"!")

	// An entry of exactly SegmentBytes fits (in a segment of its own).
	require.NoError(t, e.Set("k", exact, 0))
	v, ok := e.AppendValue(nil, "k")
	require.True(t, ok)
	require.Len(t, v, len(exact))
	checkInvariants(t, e)
}

func TestResolveRejects(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		field string // named in the error; "" where the wording is free
	}{
		{"negative MaxBytes", Config{MaxBytes: -1}, "MaxBytes"},
		{"negative MaxEntries", Config{MaxEntries: -1}, "MaxEntries"},
		{"negative DefaultTTL", Config{DefaultTTL: -time.Second}, "DefaultTTL"},
		{"negative Shards", Config{Shards: -1}, "Shards"},
		{"Shards not a power of two", Config{Shards: 3}, "Shards"},
		{"Shards 6", Config{Shards: 6}, "Shards"},
		{"Shards over MaxShards", Config{Shards: 2 * MaxShards}, "Shards"},
		{"negative SegmentBytes", Config{SegmentBytes: -1}, "SegmentBytes"},
		{"SegmentBytes over the arena limit", Config{MaxBytes: 1 << 30, Shards: 1, SegmentBytes: maxPackedBytes + 1}, "SegmentBytes"},
		{"negative ExpiryInterval", Config{ExpiryInterval: -1}, "ExpiryInterval"},
		{"MaxBytes below minimum", Config{MaxBytes: MinMaxBytes - 1}, "MaxBytes"},
		{"MaxBytes 1", Config{MaxBytes: 1}, "MaxBytes"},
		{"one segment per shard", Config{MaxBytes: 4096, Shards: 1, SegmentBytes: 4096}, ""},
		{"one segment per shard, 2 shards", Config{MaxBytes: 8192, Shards: 2, SegmentBytes: 4096}, ""},
		{"segment larger than the shard", Config{MaxBytes: 8192, Shards: 1, SegmentBytes: 1 << 20}, ""},
		{"too many segments", Config{MaxBytes: 1 << 30, Shards: 1, SegmentBytes: 16}, ""},
		{"too many segments by default", Config{MaxBytes: 1 << 42, Shards: 1}, ""},
		{"SegmentBytes below the header", Config{MaxBytes: 4096, Shards: 1, SegmentBytes: arena.HeaderSize - 1}, ""},
		{"default segments below the header", Config{MaxBytes: 8192, Shards: MaxShards}, ""},
		{"bookkeeping over the budget", Config{MaxBytes: 1 << 20, Shards: MaxShards}, "bookkeeping"},
		{"bookkeeping over the budget, by segments", Config{MaxBytes: 16 << 20, Shards: 2048, SegmentBytes: 16}, "bookkeeping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			err := resolve(&cfg)
			require.ErrorIs(t, err, ErrInvalidOptions)
			if tt.field != "" {
				require.ErrorContains(t, err, tt.field)
			}

			e, err := New(tt.cfg)
			require.ErrorIs(t, err, ErrInvalidOptions)
			require.Nil(t, e)
		})
	}
}

func TestResolveDefaults(t *testing.T) {
	// Default sharding depends on GOMAXPROCS; pin it.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))

	// Segment sizes are written with the tuning constants, so that the
	// test checks the derivation, not today's tuning.
	clampSeg := func(s int) int { return min(max(s, minDefaultSegBytes), maxDefaultSegBytes) }
	tests := []struct {
		name string
		in   Config
		want Config // Clock and hash are left alone
	}{
		{"zero", Config{},
			Config{MaxBytes: DefaultMaxBytes, Shards: 16, SegmentBytes: clampSeg(DefaultMaxBytes / 16 / segmentsPerShard), MaxValueBytes: 1 << 20, ExpiryInterval: time.Second}},
		{"minimum budget", Config{MaxBytes: MinMaxBytes},
			Config{MaxBytes: MinMaxBytes, Shards: 1, SegmentBytes: 2048, MaxValueBytes: MinMaxBytes / 4, ExpiryInterval: time.Second}},
		{"shards shrink to keep 256 KiB each", Config{MaxBytes: 1 << 20},
			Config{MaxBytes: 1 << 20, Shards: 4, SegmentBytes: clampSeg(1 << 20 / 4 / segmentsPerShard), MaxValueBytes: 16 << 10, ExpiryInterval: time.Second}},
		{"shards shrink to keep 256 entries each", Config{MaxBytes: 1 << 30, MaxEntries: 1000},
			Config{MaxBytes: 1 << 30, MaxEntries: 1000, Shards: 2, SegmentBytes: maxDefaultSegBytes, MaxValueBytes: 16 << 20, ExpiryInterval: time.Second}},
		{"a huge budget with few entries keeps the shards it needs", Config{MaxBytes: 16 << 30, MaxEntries: 300},
			Config{MaxBytes: 16 << 30, MaxEntries: 300, Shards: 2, SegmentBytes: maxPackedBytes, MaxValueBytes: 16 << 20, ExpiryInterval: time.Second}},
		{"... and with segments set by hand", Config{MaxBytes: 64 << 30, MaxEntries: 1000, SegmentBytes: 4 << 20},
			Config{MaxBytes: 64 << 30, MaxEntries: 1000, Shards: 32, SegmentBytes: 4 << 20, MaxValueBytes: 16 << 20, ExpiryInterval: time.Second}},
		{"few entries: one shard", Config{MaxEntries: 100},
			Config{MaxBytes: DefaultMaxBytes, MaxEntries: 100, Shards: 1, SegmentBytes: maxDefaultSegBytes, MaxValueBytes: 1 << 20, ExpiryInterval: time.Second}},
		{"small shards get two segments", Config{MaxBytes: 4096, Shards: 2},
			Config{MaxBytes: 4096, Shards: 2, SegmentBytes: 1024, MaxValueBytes: 1024, ExpiryInterval: time.Second}},
		{"large budget on one shard doubles the segment", Config{MaxBytes: 8 << 30, Shards: 1},
			Config{MaxBytes: 8 << 30, Shards: 1, SegmentBytes: maxPackedBytes, MaxValueBytes: 16 << 20, ExpiryInterval: time.Second}},
		{"huge budget gets more shards", Config{MaxBytes: 1 << 39},
			Config{MaxBytes: 1 << 39, Shards: 256, SegmentBytes: maxDefaultSegBytes, MaxValueBytes: 16 << 20, ExpiryInterval: time.Second}},
		{"explicit values kept",
			Config{MaxBytes: 1 << 20, Shards: 2, SegmentBytes: 8192, DefaultTTL: time.Minute, ExpiryInterval: time.Millisecond, MaxEntries: 7},
			Config{MaxBytes: 1 << 20, Shards: 2, SegmentBytes: 8192, MaxValueBytes: 16 << 10, DefaultTTL: time.Minute, ExpiryInterval: time.Millisecond, MaxEntries: 7}},
		{"many small shards", Config{MaxBytes: 64 << 20, Shards: MaxShards},
			Config{MaxBytes: 64 << 20, Shards: MaxShards, SegmentBytes: minDefaultSegBytes, MaxValueBytes: 1 << 20, ExpiryInterval: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.in
			require.NoError(t, resolve(&cfg))
			require.Equal(t, tt.want, cfg)
		})
	}
}

func TestResolveShardsByProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	tests := []struct {
		procs      int
		maxBytes   int64
		maxEntries int
		shards     int
	}{
		// otter's benchmark: 2^15 entries in 4 MiB
		{1, 4 << 20, 1 << 15, 4},
		{2, 4 << 20, 1 << 15, 8},
		{4, 4 << 20, 1 << 15, 16},  // 256 KiB each
		{8, 4 << 20, 1 << 15, 32},  // 128 KiB each
		{16, 4 << 20, 1 << 15, 64}, // 64 KiB each
		{64, 4 << 20, 1 << 15, 64}, // no smaller than 64 KiB
		{16, 1 << 20, 0, 16},
		{16, 1 << 20, 2048, 8}, // 256 entries each
		{16, 256 << 20, 0, 64},
	}
	for _, tt := range tests {
		runtime.GOMAXPROCS(tt.procs)
		cfg := Config{MaxBytes: tt.maxBytes, MaxEntries: tt.maxEntries}
		require.NoError(t, resolve(&cfg))
		require.Equal(t, tt.shards, cfg.Shards, "GOMAXPROCS %d, MaxBytes %d, MaxEntries %d", tt.procs, tt.maxBytes, tt.maxEntries)
	}
}

func TestNewDerivedSizes(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxBytes: 64 << 10, Shards: 4, SegmentBytes: 4096, MaxEntries: 10})
	require.Len(t, e.shards, 4)
	require.Equal(t, 4096, e.MaxValueBytes())
	for i := range e.shards {
		sh := &e.shards[i]
		require.Equal(t, int64(16<<10), sh.share, "16 KiB per shard")
		require.Len(t, sh.slots, 6*4+4, "room for six times the share in 4 KiB segments")
		require.Equal(t, 3, sh.maxEntries, "MaxEntries/Shards rounded up")
	}
	// The top bits pick the shard.
	require.Same(t, &e.shards[3], e.shardOf(math.MaxUint64))
	require.Same(t, &e.shards[0], e.shardOf(1<<62-1))
	checkInvariants(t, e)
}

// fillKeys writes n keys prefix%05d with values of size bytes.
func fillKeys(t testing.TB, e *Engine, prefix string, n, size int) {
	t.Helper()
	for i := range n {
		k := fmt.Sprintf("%s%05d", prefix, i)
		require.NoError(t, e.Set(k, valueFor(k, size), 0))
	}
}

// valueFor is a value that names its key, so that a value returned for the
// wrong key shows.
func valueFor(key string, size int) []byte {
	v := make([]byte, size)
	for i := range v {
		v[i] = key[i%len(key)]
	}
	return v
}

func TestRotationStaysWithinBudget(t *testing.T) {
	const maxBytes = 16 << 10
	for _, shards := range []int{1, 2} {
		t.Run(fmt.Sprint(shards, " shards"), func(t *testing.T) {
			e, _ := newTestEngine(t, Config{MaxBytes: maxBytes, Shards: shards, SegmentBytes: 2048})
			const n = 2000
			for i := range n {
				k := fmt.Sprintf("key%05d", i)
				// Sizes vary so that segments end with gaps.
				require.NoError(t, e.Set(k, valueFor(k, 20+i%300), 0))
				s := e.Stats()
				require.LessOrEqual(t, s.HeldBytes, int64(maxBytes))
				if i%97 == 0 {
					checkInvariants(t, e)
				}
			}
			s := e.Stats()
			require.Positive(t, s.Evictions)
			require.Equal(t, uint64(n), s.Evictions+uint64(s.Entries), "every entry is stored or evicted")
			require.Less(t, e.Len(), n)
			// The newest key is in the head, and every hit is its own value.
			k := fmt.Sprintf("key%05d", n-1)
			requireHit(t, e, k, string(valueFor(k, 20+(n-1)%300)))
			for i := range n {
				k := fmt.Sprintf("key%05d", i)
				if v, ok := getString(e, k); ok {
					require.Equal(t, string(valueFor(k, 20+i%300)), v)
				}
			}
			checkInvariants(t, e)
		})
	}
}

func TestReinsertionKeepsHotEntries(t *testing.T) {
	// 16 segments of 4 KiB; entries are 16+6+40 = 62 bytes.
	e, _ := newTestEngine(t, Config{MaxBytes: 64 << 10, Shards: 1, SegmentBytes: 4096})
	const n, size = 800, 40
	fillKeys(t, e, "k", n, size)
	require.Zero(t, e.Stats().Evictions, "the initial fill fits")
	checkInvariants(t, e)

	isHot := func(i int) bool { return i%10 == 0 }
	readHot := func() {
		for i := 0; i < n; i += 10 {
			_, _ = e.AppendValue(nil, fmt.Sprintf("k%05d", i))
		}
	}
	// Write five budgets' worth of new keys, reading the hot tenth of the
	// old ones now and then (more often than a segment takes to travel
	// from head to tail).
	readHot()
	for i := range 5000 {
		k := fmt.Sprintf("n%05d", i)
		require.NoError(t, e.Set(k, valueFor(k, size), 0))
		if i%100 == 99 {
			readHot()
		}
	}
	require.Positive(t, e.Stats().Evictions)

	hot, cold := 0, 0
	for i := range n {
		k := fmt.Sprintf("k%05d", i)
		v, ok := getString(e, k)
		if !ok {
			continue
		}
		require.Equal(t, string(valueFor(k, size)), v)
		if isHot(i) {
			hot++
		} else {
			cold++
		}
	}
	t.Logf("survivors: %d/%d hot, %d/%d cold", hot, n/10, cold, n-n/10)
	require.GreaterOrEqual(t, hot, n/10*9/10, "hot entries should survive rotation")
	require.Zero(t, cold, "cold entries of retired segments are evicted")
	checkInvariants(t, e)
}

func TestMaxEntriesBound(t *testing.T) {
	const maxEntries, shards = 100, 4
	e, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: shards, MaxEntries: maxEntries})
	for i := range 2000 {
		k := fmt.Sprintf("key%d", i)
		require.NoError(t, e.Set(k, valueFor(k, 1+i%50), 0))
		require.Equal(t, min(i+1, maxEntries), e.Len(), "the bound is the engine's, not a shard's")
		if i%101 == 0 {
			checkInvariants(t, e)
		}
	}
	s := e.Stats()
	require.Equal(t, uint64(2000), s.Evictions+uint64(s.Entries))
	require.Zero(t, s.HeldBytes%int64(e.segBytes))
	checkInvariants(t, e)
}

// TestMaxEntriesShardWithOnlyTheNewEntry: a Set that puts the engine over
// MaxEntries, into a shard that holds only the entry just written (in a
// segment of its own, a large value, or in the head), evicts in another
// shard, and keeps the new key. If the other shard is busy, it evicts the
// new key instead, and returns: the small queue's hand must be the one
// that finds it, since the main queue is empty and its hand passes over
// segments without main-queue entries.
func TestMaxEntriesShardWithOnlyTheNewEntry(t *testing.T) {
	for _, size := range []int{100, 3000} { // 3000: above a quarter of the 8 KiB segments
		for _, busy := range []bool{false, true} {
			// "a..." keys in shard 0, the others in shard 1.
			hash := func(k string) uint64 { return xxhash.Sum64String(k)>>1 | uint64(min(1, k[0]-'a'))<<63 }
			e, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 2, SegmentBytes: 8 << 10, MaxEntries: 1, hash: hash})
			require.NoError(t, e.Set("a", []byte("first"), 0))
			if busy {
				e.shards[0].mu.Lock()
			}
			done := make(chan error, 1)
			go func() { done <- e.Set("b", make([]byte, size), 0) }() // shard 1, empty until now
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatalf("value size %d: Set did not return", size)
			}
			if busy {
				e.shards[0].mu.Unlock()
				requireHit(t, e, "a", "first")
			} else {
				requireMiss(t, e, "a")
				_, ok := e.AppendValue(nil, "b")
				require.True(t, ok, "value size %d: the new key was evicted", size)
			}
			require.Equal(t, 1, e.Len(), "value size %d", size)
			require.Equal(t, uint64(1), e.Stats().Evictions, "value size %d", size)
			checkInvariants(t, e)
		}
	}
}

// TestMaxEntriesKeepsTheNewKey: with a bound of a few entries per shard,
// some shards are empty by chance, and a Set into one at the bound evicts
// in another: every key Set is there at once (evicting at home would lose
// about 600 of 5,000 at 32 entries in 16 shards). Writers on several goroutines take
// other shards' locks only when free, so they never wait for each other.
func TestMaxEntriesKeepsTheNewKey(t *testing.T) {
	for _, maxEntries := range []int{4, 32} {
		e, _ := newTestEngine(t, Config{MaxBytes: 4 << 20, Shards: 16, MaxEntries: maxEntries})
		for i := range 5000 {
			k := fmt.Sprintf("k%06d", i)
			require.NoError(t, e.Set(k, valueFor(k, 8), 0))
			requireHit(t, e, k, string(valueFor(k, 8)))
			require.Equal(t, min(i+1, maxEntries), e.Len())
		}
		checkInvariants(t, e)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := range 2000 {
					k := fmt.Sprintf("w%d-%06d", w, i)
					assert.NoError(t, e.Set(k, valueFor(k, 8), 0))
				}
			})
		}
		wg.Wait()
		require.LessOrEqual(t, e.Len(), maxEntries)
		checkInvariants(t, e)
	}
}

func TestMaxEntriesClockPrefersRead(t *testing.T) {
	// Plenty of bytes: only the entry bound evicts.
	e, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 1, MaxEntries: 100})
	// Every k key is in the main queue and counted twice, as if read in
	// the small queue and admitted.
	fillKeys(t, e, "k", 100, 10)
	for i := range 100 {
		admit(e, fmt.Sprintf("k%05d", i))
	}
	for i := range 50 {
		_, ok := e.AppendValue(nil, fmt.Sprintf("k%05d", i))
		require.True(t, ok)
	}
	// Each new key evicts one. While the small queue has room for the new
	// keys, the main queue's hand passes over the read half (lowering
	// their frequency) and takes the unread half in order. Then the small
	// queue is full, and each new key, seen once, loses to the main
	// queue's victim, seen twice: it is evicted and the victim stays.
	fillKeys(t, e, "n", 50, 10)
	require.Equal(t, 100, e.Len())
	require.Equal(t, uint64(50), e.Stats().Evictions)
	quota := max(1, 100*smallShare/100)
	for i := range 100 {
		k := fmt.Sprintf("k%05d", i)
		if i >= 50 && i < 50+quota {
			requireMiss(t, e, k)
		} else {
			requireHit(t, e, k, string(valueFor(k, 10)))
		}
	}
	for i := range 50 {
		k := fmt.Sprintf("n%05d", i)
		if i >= 50-quota {
			requireHit(t, e, k, string(valueFor(k, 10)))
		} else {
			requireMiss(t, e, k)
		}
	}
	checkInvariants(t, e)
}

// TestNewKeyKeptWhileCompacting: with MaxEntries and MaxBytes both
// binding, compaction moves small-queue entries into the cold head, which
// is before the head in the log and may be behind the small queue's hand.
// The hand must go back to them: a hand that took the entry just written
// as the next candidate for the main queue would evict about half the new
// keys at once (about 9,000 of 20,000 in 16 shards).
func TestNewKeyKeptWhileCompacting(t *testing.T) {
	for _, shards := range []int{16, 64} {
		e, _ := newTestEngine(t, Config{MaxBytes: 256 << 10, MaxEntries: 1000, Shards: shards})
		r := rand.New(rand.NewPCG(3, 7))
		lost := 0
		for i := range 20000 {
			k := fmt.Sprintf("k:%d", i)
			require.NoError(t, e.Set(k, make([]byte, 40+r.IntN(200)), 0))
			if _, ok := e.AppendValue(nil, k); !ok {
				lost++
			}
		}
		require.Zero(t, lost, "%d shards: new keys gone right after their Set", shards)
		require.LessOrEqual(t, e.Len(), 1000)
		checkInvariants(t, e)
	}
}

// admit moves key from the small queue to the main one and counts it once
// more, as the small queue's hand does with an entry read there that wins
// its place.
func admit(e *Engine, key string) {
	h := e.hashOf(key)
	sh := e.shardOf(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if l, ok := sh.index.load(h); ok && !l.main() {
		sh.sketch.add(h)
		sh.toMain(h, l)
	}
}

// A loop over more keys than the cache holds defeats recency: LRU or a
// plain CLOCK evicts each key just before it comes back, and never hits.
// Admission keeps most of the main queue in place instead.
func TestMaxEntriesLoop(t *testing.T) {
	const maxEntries, loop, turns = 100, 150, 40
	e, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 1, MaxEntries: maxEntries})
	hits := 0
	for turn := range turns {
		for i := range loop {
			k := fmt.Sprintf("k%05d", i)
			if _, ok := e.AppendValue(nil, k); ok {
				if turn > 0 {
					hits++
				}
				continue
			}
			require.NoError(t, e.Set(k, valueFor(k, 10), 0))
		}
	}
	// The best possible is (maxEntries-1)/loop = 66%: keep 99 keys for
	// good and let the rest take turns in the last place.
	require.Greater(t, float64(hits)/float64(loop*(turns-1)), 0.55)
	checkInvariants(t, e)
}

func TestHashCollisionConstant(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 2,
		hash: func(string) uint64 { return 42 }})

	require.NoError(t, e.Set("a", []byte("A"), 0))
	require.NoError(t, e.Set("b", []byte("B"), 0))
	// One entry per hash: b displaced a, which is a miss, never b's value.
	requireMiss(t, e, "a")
	requireHit(t, e, "b", "B")
	// (Whether a displacement counts as an eviction is not pinned here.)
	require.Equal(t, 1, e.Len())

	// Deleting the absent colliding key leaves b alone.
	require.False(t, e.Delete("a"))
	requireHit(t, e, "b", "B")
	require.Equal(t, 1, e.Len())
	checkInvariants(t, e)

	require.True(t, e.Delete("b"))
	require.Zero(t, e.Len())
	checkInvariants(t, e)
}

func TestHashCollisionCountedWithCallback(t *testing.T) {
	// With a callback, the old entry is read: a displacement is reported
	// as Evicted and counted as an eviction, so Stats and OnRemove agree.
	var reasons []Reason
	e, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 1,
		hash:     func(string) uint64 { return 42 },
		OnRemove: func(_ string, _ []byte, r Reason) { reasons = append(reasons, r) }})
	require.NoError(t, e.Set("a", []byte("A"), 0))
	require.NoError(t, e.Set("a", []byte("A2"), 0))
	require.NoError(t, e.Set("b", []byte("B"), 0))
	require.Equal(t, []Reason{Replaced, Evicted}, reasons)
	require.Equal(t, uint64(1), e.Stats().Evictions)
	require.Equal(t, 1, e.Len())
	checkInvariants(t, e)
}

func TestHashCollisionSmallSet(t *testing.T) {
	// 16 hash values spread over 4 shards: keys collide constantly, also
	// through rotation, reinsertion and the CLOCK hand.
	hash := func(s string) uint64 { return xxhash.Sum64String(s) & (3<<62 | 3) }
	e, clk := newTestEngine(t, Config{MaxBytes: 32 << 10, Shards: 4, SegmentBytes: 2048, MaxEntries: 12, hash: hash})

	last := map[string]string{}
	for i := range 3000 {
		k := fmt.Sprintf("key%d", i%40)
		switch i % 7 {
		case 0, 1, 2:
			v := fmt.Sprintf("%s=%d%s", k, i, strings.Repeat(".", i%200))
			require.NoError(t, e.Set(k, []byte(v), time.Duration(i%3)*time.Second))
			last[k] = v
		case 3:
			if e.Delete(k) {
				require.Contains(t, last, k)
			}
			delete(last, k)
		case 4:
			clk.Advance(300 * time.Millisecond)
		case 5:
			e.sweepExpired()
		default:
			for j := range 40 {
				k := fmt.Sprintf("key%d", j)
				if v, ok := getString(e, k); ok {
					require.Equal(t, last[k], v, "Get(%q) returned another value", k)
				}
			}
		}
		if i%50 == 0 {
			checkInvariants(t, e)
		}
	}
	require.LessOrEqual(t, e.Len(), 16, "at most one entry per hash value")
	checkInvariants(t, e)
}

func TestSweepReleasesSegments(t *testing.T) {
	e, clk := newTestEngine(t, Config{MaxBytes: 64 << 10, Shards: 1, SegmentBytes: 4096})
	const n = 500
	for i := range n {
		k := fmt.Sprintf("k%05d", i)
		require.NoError(t, e.Set(k, valueFor(k, 40), time.Second))
	}
	before := e.Stats()
	require.Zero(t, before.Evictions)
	require.Greater(t, before.HeldBytes, int64(4*4096))

	clk.Advance(time.Second - 1)
	e.sweepExpired()
	require.Equal(t, n, e.Len(), "nothing has expired yet")
	checkInvariants(t, e)

	clk.Advance(1)
	require.Equal(t, n, e.Len(), "expired entries count until swept")
	e.sweepExpired()
	after := e.Stats()
	require.Zero(t, e.Len())
	require.Equal(t, uint64(n), after.Expirations)
	require.LessOrEqual(t, after.HeldBytes, int64(4096), "only the (empty) head may remain")
	checkInvariants(t, e)

	// The engine works on after a full sweep.
	require.NoError(t, e.Set("k", []byte("v"), 0))
	requireHit(t, e, "k", "v")
	checkInvariants(t, e)
}

func TestSweepCompactsSparseSegments(t *testing.T) {
	e, clk := newTestEngine(t, Config{MaxBytes: 64 << 10, Shards: 1, SegmentBytes: 4096})
	const n = 800
	for i := range n {
		k := fmt.Sprintf("k%05d", i)
		ttl := time.Second
		if i%8 == 0 {
			ttl = 0 // one in eight stays
		}
		require.NoError(t, e.Set(k, valueFor(k, 40), ttl))
	}
	before := e.Stats()
	require.Zero(t, before.Evictions)

	clk.Advance(time.Second)
	e.sweepExpired()
	require.Equal(t, n/8, e.Len())
	require.Equal(t, uint64(n-n/8), e.Stats().Expirations)
	checkInvariants(t, e)
	// The sweep may decide to compact a segment before it removes the
	// expired entries that make it sparse; the next sweep compacts it then.
	e.sweepExpired()
	after := e.Stats()
	t.Logf("bytes %d -> %d", before.HeldBytes, after.HeldBytes)
	require.Less(t, after.HeldBytes, before.HeldBytes, "sparse segments were compacted")
	require.Equal(t, n/8, e.Len())
	checkInvariants(t, e)
	for i := 0; i < n; i += 8 {
		k := fmt.Sprintf("k%05d", i)
		requireHit(t, e, k, string(valueFor(k, 40)))
	}
}

func TestClose(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 2})
	require.NoError(t, e.Set("k", []byte("v"), 0))
	require.NoError(t, e.Close())

	requireMiss(t, e, "k")
	require.ErrorIs(t, e.Set("k", []byte("w"), 0), ErrClosed)
	require.ErrorIs(t, e.Set("new", []byte("w"), 0), ErrClosed)
	require.False(t, e.Delete("k"))
	require.Zero(t, e.Len())
	require.NoError(t, e.Close(), "Close twice")
	require.NotPanics(t, e.sweepExpired)
	s := e.Stats()
	require.Zero(t, s.HeldBytes)
	require.Zero(t, s.Entries)
}

func TestCloseLeaksNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	var engines []*Engine
	for _, cfg := range []Config{
		{MaxBytes: 1 << 20, Clock: clock.NewManual(0)},
		{MaxBytes: 1 << 20}, // the shared coarse clock
		{MaxBytes: 1 << 20, ExpiryInterval: time.Millisecond},
	} {
		e, err := New(cfg)
		require.NoError(t, err)
		require.NoError(t, e.Set("k", []byte("v"), 0))
		engines = append(engines, e)
	}
	require.Greater(t, runtime.NumGoroutine(), before)
	for _, e := range engines {
		require.NoError(t, e.Close())
	}
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines left after Close")
}

// TestConcurrentReadersWriters runs readers, writers and the sweep against
// one small engine under constant rotation. Readers check that a hit is a
// whole value written for that key. Run with -race.
func TestConcurrentReadersWriters(t *testing.T) {
	e, clk := newTestEngine(t, Config{MaxBytes: 16 << 10, Shards: 2, SegmentBytes: 1024, MaxEntries: 64})
	const keys, writers, readers, ops = 64, 4, 4, 3000

	// A value is key, '=', then one byte repeated: a torn or misdirected
	// read shows as a wrong prefix or a mixed tail.
	check := func(key string, v []byte) error {
		rest, ok := bytes.CutPrefix(v, []byte(key+"="))
		if !ok {
			return fmt.Errorf("Get(%q) = %q: another key's value", key, v)
		}
		for _, c := range rest {
			if c != rest[0] {
				return fmt.Errorf("Get(%q) = %q: torn value", key, v)
			}
		}
		return nil
	}
	var (
		wg       sync.WaitGroup
		stop     atomic.Bool
		firstErr atomic.Pointer[error]
	)
	fail := func(err error) { firstErr.CompareAndSwap(nil, &err) }
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ops {
				k := fmt.Sprintf("k%d", (i*7+w)%keys)
				if i%10 == 9 {
					e.Delete(k)
					continue
				}
				v := append([]byte(k+"="), bytes.Repeat([]byte{byte('a' + (i+w)%26)}, (i*13)%200)...)
				if err := e.Set(k, v, time.Duration(i%3)*time.Millisecond); err != nil {
					fail(err)
				}
			}
		}()
	}
	var rg sync.WaitGroup
	for r := range readers {
		rg.Add(1)
		go func() {
			defer rg.Done()
			var buf []byte
			for i := 0; !stop.Load(); i++ {
				k := fmt.Sprintf("k%d", (i+r)%keys)
				v, ok := e.AppendValue(buf[:0], k)
				if ok {
					if err := check(k, v); err != nil {
						fail(err)
						return
					}
				}
				buf = v
				e.Has(k)
			}
		}()
	}
	rg.Add(1)
	go func() {
		defer rg.Done()
		for !stop.Load() {
			clk.Advance(time.Millisecond / 2)
			e.sweepExpired()
			_ = e.Stats()
			runtime.Gosched()
		}
	}()
	wg.Wait()
	stop.Store(true)
	rg.Wait()
	if err := firstErr.Load(); err != nil {
		t.Fatal(*err)
	}
	checkInvariants(t, e)
	require.LessOrEqual(t, e.Stats().HeldBytes, int64(16<<10))
}

// The three tests below are regression tests for bugs found at commit
// 423db99 and fixed since (in 3677ee6): each failed there.

// With Shards = MaxShards and MaxBytes below 8 KiB a shard's budget is one
// byte; the default segment size came out as 0 and resolve divided by it
// (a runtime panic in New instead of ErrInvalidOptions).
func TestResolveOneByteShards(t *testing.T) {
	for _, maxBytes := range []int64{MinMaxBytes, 2*MaxShards - 1} {
		cfg := Config{MaxBytes: maxBytes, Shards: MaxShards}
		var err error
		require.NotPanics(t, func() { err = resolve(&cfg) }, "MaxBytes %d", maxBytes)
		require.ErrorIs(t, err, ErrInvalidOptions)
	}
}

// The CLOCK hand gives up on hot entries after a bounded number of steps,
// counting live entries only: were dead ones counted, the 29 dead copies
// of k0 below would use up the limit (2*11+2) before the hand reached the
// live k0, which would then be evicted although k9 was unread.
func TestMaxEntriesHandSkipsDeadEntries(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 1, MaxEntries: 10})
	for range 30 {
		require.NoError(t, e.Set("k0", []byte("v"), 0))
	}
	for i := 1; i < 10; i++ {
		require.NoError(t, e.Set(fmt.Sprintf("k%d", i), []byte("v"), 0))
	}
	for i := range 9 {
		requireHit(t, e, fmt.Sprintf("k%d", i), "v") // all hot but k9
	}
	require.NoError(t, e.Set("new", []byte("v"), 0))
	requireHit(t, e, "k0", "v")
	requireMiss(t, e, "k9")
	checkInvariants(t, e)
}

// Close replaced each shard's index with a plain store while a Get that had
// already passed the closed check could be reading it: a data race (run
// with -race). One Get of an absent key reads the index and nothing else
// that Close writes; waiting for its goroutine by polling NumGoroutine,
// which the race detector does not treat as synchronization, leaves that
// read unordered with Close's writes, so the detector reports any conflict
// every time.
func TestCloseDoesNotRaceWithGet(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxBytes: 1 << 20, Shards: 1})
	before := runtime.NumGoroutine()
	go e.AppendValue(nil, "absent")
	for runtime.NumGoroutine() > before {
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, e.Close())
}
