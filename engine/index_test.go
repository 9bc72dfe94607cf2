package engine

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/puzpuzpuz/xsync/v3"
	"github.com/stretchr/testify/require"
)

func TestIndexBasics(t *testing.T) {
	var x index
	x.init()
	_, ok := x.load(42)
	require.False(t, ok)

	_, replaced := x.store(42, 7)
	require.False(t, replaced)
	l, ok := x.load(42)
	require.True(t, ok)
	require.Equal(t, loc(7), l)

	old, replaced := x.store(42, 8)
	require.True(t, replaced)
	require.Equal(t, loc(7), old)
	require.Equal(t, 1, x.size())

	// The reserved values 0 and 1 still work as hashes (they alias 2 and
	// 3, which the key compare tells apart).
	x.store(0, 100)
	x.store(1, 101)
	l, _ = x.load(0)
	require.Equal(t, loc(100), l)
	l, _ = x.load(1)
	require.Equal(t, loc(101), l)

	x.delete(42)
	x.delete(42) // absent: nothing happens
	_, ok = x.load(42)
	require.False(t, ok)
	require.Equal(t, 2, x.size())
	x.clear()
	require.Equal(t, 0, x.size())
}

// TestIndexModel checks growth, shrinking and tombstone reuse against a map.
func TestIndexModel(t *testing.T) {
	var x index
	x.init()
	model := map[uint64]loc{}
	rng := rand.New(rand.NewPCG(1, 1))
	migrations := 0
	for i := 0; i < 200000; i++ {
		// Few distinct hashes with many colliding low bits stress probing.
		h := uint64(1+rng.IntN(5000)) << 20
		if rng.IntN(3) == 0 {
			x.delete(h)
			delete(model, h)
		} else {
			l := loc(rng.Uint64())
			old, replaced := x.store(h, l)
			want, had := model[h]
			require.Equal(t, had, replaced)
			require.Equal(t, want, old)
			model[h] = l
		}
		// A migration keeps the readers' table below 3/4 +
		// 1/migrateStep full (see index), and while it runs every hash
		// answers from that table.
		tb := x.t.Load()
		require.LessOrEqual(t, tb.used, len(tb.slots)*3/4+len(tb.slots)/migrateStep+1)
		if tb.next != nil && i%97 == 0 {
			migrations++
			for k, want := range model {
				l, ok := x.load(k)
				require.True(t, ok)
				require.Equal(t, want, l)
			}
		}
		if i%10000 == 0 {
			// Phases of mostly deletes let the table shrink.
			for k := range model {
				if rng.IntN(2) == 0 {
					x.delete(k)
					delete(model, k)
				}
			}
		}
	}
	require.Equal(t, len(model), x.size())
	n := 0
	x.each(func(h uint64, l loc) {
		n++
		require.Equal(t, model[h], l)
	})
	require.Equal(t, len(model), n)
	for h, want := range model {
		l, ok := x.load(h)
		require.True(t, ok)
		require.Equal(t, want, l)
	}
	require.Positive(t, migrations, "the test should check the index during migrations")
}

// TestIndexConcurrentReaders runs lock-free readers against a writer that
// inserts, overwrites, deletes and makes the table grow and shrink. A
// reader may only ever get a location that the writer stored for some
// hash (the engine's key compare handles a reused slot), and must always
// find the stable hashes, stored before it starts and never changed, however
// the slots around them are emptied, reused and migrated; under -race this
// also proves the table's accesses are all synchronized.
func TestIndexConcurrentReaders(t *testing.T) {
	var x index
	x.init()
	const hashes = 1 << 15
	locOf := func(h uint64, version uint64) loc { return loc(h<<32 | version&0xffffffff) }
	const stable = 512
	stableHash := func(i int) uint64 { return 1<<40 + uint64(i) }
	for i := range stable {
		x.store(stableHash(i), loc(i))
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var mismatched atomic.Int64
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			for !stop.Load() {
				if i := rng.IntN(stable); rng.IntN(4) == 0 {
					l, ok := x.load(stableHash(i))
					if !ok || l != loc(i) {
						t.Errorf("stable hash %d: got %v, %v", i, l, ok)
						return
					}
				}
				h := uint64(2 + rng.IntN(hashes))
				if l, ok := x.load(h); ok {
					if got := uint64(l) >> 32; got != h {
						require.Less(t, got, uint64(2+hashes), "a location nobody stored")
						mismatched.Add(1)
					}
				}
			}
		}(r)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	deadline := time.Now().Add(500 * time.Millisecond)
	for v := uint64(0); time.Now().Before(deadline); v++ {
		// Phases: mostly inserts (the table grows), then only deletes
		// (it empties slots and shrinks).
		h := uint64(2 + rng.IntN(hashes))
		if rng.IntN(4) == 0 || v%200000 > 150000 {
			x.delete(h)
		} else {
			x.store(h, locOf(h, v))
		}
		if v%1000 == 0 {
			runtime.Gosched()
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("loads that saw a reused slot: %d; table of %d slots at the end", mismatched.Load(), len(x.t.Load().slots))
	for i := range stable {
		l, ok := x.load(stableHash(i))
		require.True(t, ok)
		require.Equal(t, loc(i), l)
	}
}

// BenchmarkIndex compares the index with xsync's MapOf, which it replaced
// (docs/design.md): random loads and overwrites over 1M entries, and the
// heap objects each leaves for the garbage collector.
func BenchmarkIndex(b *testing.B) {
	const n = 1 << 20
	hashes := make([]uint64, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range hashes {
		hashes[i] = rng.Uint64()
	}
	var x index
	x.init()
	m := xsync.NewMapOfWithHasher[uint64, uint64](mixHash)
	for i, h := range hashes {
		x.store(h, loc(i))
		m.Store(h, uint64(i))
	}
	b.Run("load/table", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(n)
			for pb.Next() {
				i = (i + 7919) & (n - 1)
				x.load(hashes[i])
			}
		})
	})
	b.Run("load/mapof", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(n)
			for pb.Next() {
				i = (i + 7919) & (n - 1)
				m.Load(hashes[i])
			}
		})
	})
	var mu sync.Mutex // the table's writers are serialized by the shard
	b.Run("store/table", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			j := (i * 7919) & (n - 1)
			mu.Lock()
			x.store(hashes[j], loc(i))
			mu.Unlock()
		}
	})
	b.Run("store/mapof", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			j := (i * 7919) & (n - 1)
			m.Store(hashes[j], uint64(i))
		}
	})
	runtime.KeepAlive(m)
	runtime.KeepAlive(&x)
}

// BenchmarkIndexGC measures a forced garbage collection with 1M entries in
// one index or the other (only one is alive at a time).
func BenchmarkIndexGC(b *testing.B) {
	const n = 1 << 20
	rng := rand.New(rand.NewPCG(1, 2))
	b.Run("table", func(b *testing.B) {
		var x index
		x.init()
		for i := 0; i < n; i++ {
			x.store(rng.Uint64(), loc(i))
		}
		runtime.GC()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			runtime.GC()
		}
		runtime.KeepAlive(&x)
	})
	b.Run("mapof", func(b *testing.B) {
		m := xsync.NewMapOfWithHasher[uint64, uint64](mixHash)
		for i := 0; i < n; i++ {
			m.Store(rng.Uint64(), uint64(i))
		}
		runtime.GC()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			runtime.GC()
		}
		runtime.KeepAlive(m)
	})
}

// mixHash was the seeded mixer the MapOf index used; kept for the
// comparison above.
func mixHash(h, seed uint64) uint64 {
	h ^= seed
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// TestIndexDensity checks the table's fullness, which is most of an
// entry's memory overhead: while it fills, and under churn at a constant
// number of entries (eviction: each insert of a new hash deletes an old
// one), the live hashes fill between about half and three quarters of it.
func TestIndexDensity(t *testing.T) {
	// A quarter of the sizes under the race detector, which slows this
	// one goroutine's run tenfold and has nothing to check in it.
	filled, kept, churned := 1000000, 300000, 3000000
	if raceEnabled {
		filled, kept, churned = filled/4, kept/4, churned/4
	}
	var x index
	x.init()
	rng := rand.New(rand.NewPCG(5, 5))
	var hs []uint64
	// While it fills: the fullness between migrations, and the bytes per
	// hash of the tables in memory (two during a migration) at sizes
	// spread evenly on a log scale, as a cache of any size would be.
	sample, bytes, samples := 1000.0, 0.0, 0
	for n := 1; n <= filled; n++ {
		h := rng.Uint64()
		hs = append(hs, h)
		x.store(h, loc(n))
		tb := x.t.Load()
		if n > 1000 && tb.next == nil {
			fill := float64(tb.live) / float64(len(tb.slots))
			require.Truef(t, fill > 0.5 && fill <= 0.75, "%d hashes fill %.3f of %d slots", n, fill, len(tb.slots))
		}
		if float64(n) >= sample {
			sample *= 1.01
			slots := len(tb.slots)
			if tb.next != nil {
				slots += len(tb.next.slots)
			}
			bytes += float64(slots) * 16 / float64(n)
			samples++
		}
	}
	t.Logf("while filling, the tables take %.1f bytes per hash on average", bytes/float64(samples))
	require.Less(t, bytes/float64(samples), 30.0)
	// Deletes down to kept hashes: the table shrinks once it has
	// stayed sparse for as many inserts as it has slots (or tombstones
	// fill it first).
	for _, h := range hs[:len(hs)-kept] {
		x.delete(h)
	}
	hs = hs[len(hs)-kept:]
	wait := len(x.t.Load().slots) + kept // the shrink's own inserts too
	// Churn: the oldest hash goes for each new one. (The inserts before
	// the shrink are left out.)
	lo, hi := 1.0, 0.0
	for i := 0; i < wait+churned; i++ {
		x.delete(hs[i])
		h := rng.Uint64()
		hs = append(hs, h)
		x.store(h, loc(i))
		if tb := x.t.Load(); i >= wait && i%1000 == 0 {
			fill := float64(tb.live) / float64(len(tb.slots))
			lo, hi = min(lo, fill), max(hi, fill)
		}
	}
	t.Logf("under churn the live hashes fill %.3f to %.3f of the table", lo, hi)
	require.Greater(t, lo, 0.4)
	require.Equal(t, kept, x.size())
	for _, h := range hs[len(hs)-kept:] {
		_, ok := x.load(h)
		require.True(t, ok)
	}
}

// TestIndexSparseSmallTable: a small table left sparse by deletes shrinks
// once, or stays, but does not start a rebuild (and allocate a table) on
// every insert.
func TestIndexSparseSmallTable(t *testing.T) {
	var x index
	x.init()
	// A table just over the smallest size: shrinking it would give the
	// smallest size, which is within a tenth of its own.
	x.t.Store(newTable(minTable+1, 1))
	x.store(1000, 1)
	allocs := testing.AllocsPerRun(1000, func() {
		x.delete(5000)
		x.store(5000, 1)
	})
	require.Zero(t, allocs, "table of %d slots, %d live", len(x.t.Load().slots), x.size())
}

// A set of TTL'd keys that the sweep removes and that comes back, over
// and over (sessions, API responses), makes no new index tables: the
// emptied table waits for the keys instead of shrinking at once and
// growing back through several sizes.
func TestSweptKeysComeBackWithoutNewTables(t *testing.T) {
	e, clk := newTestEngine(t, Config{MaxBytes: 32 << 20, Shards: 4})
	keys := make([]string, 20000)
	for i := range keys {
		keys[i] = fmt.Sprintf("session:%08d", i)
	}
	value := make([]byte, 100)
	cycle := func() {
		for _, k := range keys {
			require.NoError(t, e.Set(k, value, time.Second))
		}
		clk.Advance(2 * time.Second)
		e.sweepExpired()
		require.Zero(t, e.Len())
	}
	tables := func() []*table {
		var ts []*table
		for i := range e.shards {
			sh := &e.shards[i]
			sh.mu.Lock()
			ts = append(ts, sh.index.t.Load())
			sh.mu.Unlock()
		}
		return ts
	}
	cycle() // the tables grow to the keys
	cycle() // and are rebuilt once to clear the sweep's tombstones
	before := tables()
	for range 5 {
		cycle()
	}
	require.Equal(t, before, tables(), "new index tables")
}
