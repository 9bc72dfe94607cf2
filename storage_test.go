package velo

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/velocache/velo/clock"
)

// Tests of what the byte and entry budgets promise: what fits stays, the
// value limit depends on the options only. None is timed: each drives its
// own condition (a count of writes) and checks what the cache holds.

// storageValue is a value of n bytes (at least 8) that names its key and
// version, so that a read can tell the latest value from a stale one.
func storageValue(key, version, n int) []byte {
	v := make([]byte, n)
	binary.LittleEndian.PutUint32(v, uint32(key))
	binary.LittleEndian.PutUint32(v[4:], uint32(version))
	for i := 8; i < n; i++ {
		v[i] = byte(key + version + i)
	}
	return v
}

// TestOverwritesKeepLiveKeys: a live set that fills a quarter of the
// budget, overwritten many times over with Zipf-chosen keys, is kept
// whole: dead versions are compacted away, never a live key evicted.
func TestOverwritesKeepLiveKeys(t *testing.T) {
	overwrites := 400_000
	if testing.Short() || raceEnabled {
		overwrites = 100_000
	}
	// Default sharding here, a shard, and default sharding for 16
	// processors: 64 shards of 70 KiB.
	for _, tc := range []struct{ procs, shards int }{{0, 0}, {0, 1}, {16, 0}} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d/shards=%d", tc.procs, tc.shards), func(t *testing.T) {
			if tc.procs > 0 {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(tc.procs))
			}
			const keys, maxBytes = 10_922, 4_587_520
			c, err := New(Options{MaxBytes: maxBytes, Shards: tc.shards})
			require.NoError(t, err)
			defer c.Close()
			key := func(i int) string { return fmt.Sprintf("session:%08d", i) } // 16 bytes
			version := make([]int, keys)
			for i := range keys {
				require.NoError(t, c.Set(key(i), storageValue(i, 0, 64), 0))
			}
			r := rand.New(rand.NewSource(1))
			z := rand.NewZipf(r, 1.01, 1, keys-1)
			for range overwrites {
				i := int(z.Uint64())
				version[i]++
				require.NoError(t, c.Set(key(i), storageValue(i, version[i], 64), 0))
			}
			for i := range keys {
				v, ok := c.Get(key(i))
				require.True(t, ok, "key %d of %d lost", i, keys)
				require.Equal(t, storageValue(i, version[i], 64), v, "key %d", i)
			}
			s := c.Stats()
			t.Logf("%d entries, %d live bytes, %d held, %d set, %d moved (write amplification %.2f)",
				s.Entries, s.Bytes, s.HeldBytes, s.SetBytes, s.MovedBytes, float64(s.SetBytes+s.MovedBytes)/float64(s.SetBytes))
			require.Zero(t, s.Evictions)
			require.Equal(t, int64(keys*(16+16+64)), s.Bytes)
			require.LessOrEqual(t, s.HeldBytes, int64(maxBytes))
		})
	}
}

// TestUtilisationBeforeEviction writes new keys, each followed by
// overwrites of keys already stored, until the first eviction, and checks
// that live entries then filled at least 80% of MaxBytes: whatever the
// overwrite share and value sizes, eviction waits until the live data,
// not the dead versions, fill the budget.
func TestUtilisationBeforeEviction(t *testing.T) {
	// Default sharding here, and for 16 processors (64 shards of 64 KiB).
	for _, procs := range []int{0, 16} {
		for _, overwritePct := range []int{0, 50, 90} {
			for _, sizes := range []string{"fixed", "mixed"} {
				t.Run(fmt.Sprintf("GOMAXPROCS=%d/overwrites=%d%%/%s", procs, overwritePct, sizes), func(t *testing.T) {
					if procs > 0 {
						defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
					}
					testUtilisation(t, overwritePct, sizes)
				})
			}
		}
	}
}

func testUtilisation(t *testing.T, overwritePct int, sizes string) {
	const maxBytes = 4 << 20
	c, err := New(Options{MaxBytes: maxBytes})
	require.NoError(t, err)
	defer c.Close()
	r := rand.New(rand.NewSource(int64(overwritePct)))
	size := func() int {
		if sizes == "fixed" {
			return 100
		}
		return 8 + r.Intn(1000)
	}
	key := func(i int) string { return fmt.Sprintf("key:%08d", i) }
	n := 0
	// Bounded by a count, not a time: a budget of 4 MiB holds fewer than
	// 4 MiB / 24 bytes of entries, and each round adds one.
	for writes := 0; writes < 2_000_000; writes++ {
		if n > 0 && r.Intn(100) < overwritePct {
			i := r.Intn(n)
			require.NoError(t, c.Set(key(i), storageValue(i, writes, size()), 0))
		} else {
			require.NoError(t, c.Set(key(n), storageValue(n, writes, size()), 0))
			n++
		}
		if writes%64 != 0 {
			continue
		}
		if s := c.Stats(); s.Evictions > 0 {
			util := float64(s.Bytes) / maxBytes
			t.Logf("first eviction after %d writes of %d keys: %d entries, live %.1f%% of MaxBytes, held %.1f%%, write amplification %.2f",
				writes, n, s.Entries, 100*util, 100*float64(s.HeldBytes)/maxBytes, float64(s.SetBytes+s.MovedBytes)/float64(s.SetBytes))
			require.GreaterOrEqual(t, util, 0.80)
			return
		}
	}
	t.Fatal("no eviction")
}

// TestMaxEntriesExact: N distinct keys set into a cache of MaxEntries N
// are all kept, and one more evicts exactly one.
func TestMaxEntriesExact(t *testing.T) {
	for _, n := range []int{1_000, 10_000, 32_768} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			c, err := New(Options{MaxEntries: n, MaxBytes: 64 << 20})
			require.NoError(t, err)
			defer c.Close()
			for i := range n {
				require.NoError(t, c.Set(fmt.Sprintf("k%d", i), []byte("v"), 0))
			}
			require.Equal(t, n, c.Len())
			for i := range n {
				require.True(t, c.Has(fmt.Sprintf("k%d", i)), "key %d", i)
			}
			require.NoError(t, c.Set("one more", []byte("v"), 0))
			require.Equal(t, n, c.Len())
			require.Equal(t, uint64(1), c.Stats().Evictions)
		})
	}
}

// TestValueLimitIgnoresGOMAXPROCS: a 64 MiB cache takes a 1 MiB value on
// any machine and with any shard count; one byte more is refused and
// counted.
func TestValueLimitIgnoresGOMAXPROCS(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	big := storageValue(1, 1, 1<<20)
	for _, procs := range []int{1, 64} {
		for _, shards := range []int{0, 1, 256, 4096} {
			t.Run(fmt.Sprintf("GOMAXPROCS=%d/shards=%d", procs, shards), func(t *testing.T) {
				runtime.GOMAXPROCS(procs)
				c, err := New(Options{MaxBytes: 64 << 20, Shards: shards})
				require.NoError(t, err)
				defer c.Close()
				require.Equal(t, 1<<20, c.MaxValueBytes())
				// Many of them, and small entries between: the large ones
				// go through eviction too, and the budget holds.
				for i := range 200 {
					require.NoError(t, c.Set(fmt.Sprint("big", i), big, 0))
					require.NoError(t, c.Set(fmt.Sprint("small", i), []byte("s"), 0))
					require.LessOrEqual(t, c.Stats().HeldBytes, int64(64<<20))
				}
				v, ok := c.Get("big199")
				require.True(t, ok)
				require.Equal(t, big, v)
				require.ErrorIs(t, c.Set("too big", make([]byte, 1<<20+1), 0), ErrTooLarge)
				require.Equal(t, uint64(1), c.Stats().Rejected)
			})
		}
	}
}

// TestLargeOverwriteKeepsOtherKeys: overwriting a value that has a
// segment of its own (above a fraction of a segment) frees the old
// segment as it adds the new one, so the overwrite evicts no other key,
// however close the two together come to the budget.
func TestLargeOverwriteKeepsOtherKeys(t *testing.T) {
	var evicted []string
	c, err := New(Options{MaxBytes: 1 << 20, Shards: 1, MaxValueBytes: 256 << 10,
		OnRemove: func(key string, _ []byte, r Reason) {
			if r == Evicted {
				evicted = append(evicted, key)
			}
		}})
	require.NoError(t, err)
	defer c.Close()
	keys := []string{"a", "b", "c"} // 3 x 240 KiB: 70% of MaxBytes
	for i, k := range keys {
		require.NoError(t, c.Set(k, storageValue(i, 0, 240<<10), 0))
	}
	for version := 1; version <= 20; version++ {
		i := version % len(keys)
		require.NoError(t, c.Set(keys[i], storageValue(i, version, 240<<10), 0))
	}
	require.Empty(t, evicted)
	for _, k := range keys {
		require.True(t, c.Has(k), "key %s lost", k)
	}
}

// TestDeletesEndEviction: once deletes take the live entries back below
// the line, new writes are compacted into the room they left, not
// evicted, although every shard was evicting before the deletes.
func TestDeletesEndEviction(t *testing.T) {
	for _, ending := range []string{"deletes", "expiry"} {
		t.Run(ending, func(t *testing.T) {
			clk := clock.NewManual(1e9)
			c, err := newTestCache(Options{MaxBytes: 4 << 20, Shards: 16, SegmentBytes: 16 << 10, ExpiryInterval: time.Millisecond}, clk)
			require.NoError(t, err)
			defer c.Close()
			v := make([]byte, 64)
			ttl := time.Duration(0)
			if ending == "expiry" {
				ttl = time.Minute
			}
			// Past the line, until evictions happen; bounded by a count.
			i := 0
			for ; c.Stats().Evictions < 1000 && i < 1_000_000; i++ {
				k := fmt.Sprintf("old-%08d", i)
				if i%2 == 0 {
					require.NoError(t, c.Set(k, v, ttl))
				} else {
					require.NoError(t, c.Set(k, v, 0))
				}
			}
			require.GreaterOrEqual(t, c.Stats().Evictions, uint64(1000))
			// Half the live entries go: the even ones.
			if ending == "deletes" {
				for j := 0; j < i; j += 2 {
					c.Delete(fmt.Sprintf("old-%08d", j))
				}
			} else {
				odd := 0
				for j := 1; j < i; j += 2 {
					if c.Has(fmt.Sprintf("old-%08d", j)) {
						odd++
					}
				}
				clk.Advance(2 * time.Minute)
				waitFor(t, func() bool { return c.Len() == odd }) // swept
			}
			evictions := c.Stats().Evictions
			live := c.Stats().Bytes
			// Refill to 60% of MaxBytes live.
			for j := 0; c.Stats().Bytes < 6*(4<<20)/10 && j < 1_000_000; j++ {
				require.NoError(t, c.Set(fmt.Sprintf("new-%08d", j), v, 0))
			}
			t.Logf("live %.1f%% after the %s, refilled to %.1f%%", 100*float64(live)/(4<<20), ending, 100*float64(c.Stats().Bytes)/(4<<20))
			require.Equal(t, evictions, c.Stats().Evictions, "evictions while refilling to 60% live")
		})
	}
}

// TestConcurrentOverwritesKeepLiveKeys: writers that overwrite their own
// keys at once, with values of about a quarter segment (so segments are
// few and their tails wide), keep every key below the line: when the
// shard with the most dead bytes is busy with another writer, a shard
// that must make room compacts another one instead of evicting.
func TestConcurrentOverwritesKeepLiveKeys(t *testing.T) {
	writes := 160_000
	if testing.Short() || raceEnabled {
		writes = 40_000
	}
	for _, shards := range []int{16, 64} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			const writers, maxBytes = 4, 4 << 20
			keys := 800 // 73% of MaxBytes live at 16 shards (the line is at 84%)
			if shards == 64 {
				keys = 680 // 62% (the line is at 68%: a segment per shard is 6% of MaxBytes)
			}
			c, err := New(Options{MaxBytes: maxBytes, Shards: shards, SegmentBytes: 16 << 10})
			require.NoError(t, err)
			defer c.Close()
			done := make(chan struct{})
			for w := range writers {
				go func() {
					defer func() { done <- struct{}{} }()
					r := rand.New(rand.NewSource(int64(w)))
					for i := range writes / writers {
						k := w + writers*r.Intn(keys/writers)
						if err := c.Set(fmt.Sprintf("key-%08d", k), storageValue(k, i, 3600+r.Intn(401)), 0); err != nil {
							panic(err)
						}
					}
				}()
			}
			for range writers {
				<-done
			}
			s := c.Stats()
			t.Logf("live %.1f%% of MaxBytes, held %.1f%%, write amplification %.2f",
				100*float64(s.Bytes)/maxBytes, 100*float64(s.HeldBytes)/maxBytes, float64(s.SetBytes+s.MovedBytes)/float64(s.SetBytes))
			require.Zero(t, s.Evictions)
			require.Equal(t, keys, c.Len())
			require.LessOrEqual(t, s.HeldBytes, int64(maxBytes))
		})
	}
}

// TestNoEvictionBelowTheLine: a hard case for the line, a cold head that
// holds one entry (all but one of the oldest segment's entries deleted,
// then compacted) and every other segment live: a Set evicts only once
// the live entries, its own included, fill 90% of MaxBytes less one
// segment per shard. The cold head's room is taken back by moving its
// entries to the head.
func TestNoEvictionBelowTheLine(t *testing.T) {
	const seg, maxBytes = 64 << 10, 6 * 64 << 10
	line := int64(maxBytes-seg) * 9 / 10
	c, err := New(Options{MaxBytes: maxBytes, Shards: 1, SegmentBytes: seg, MaxValueBytes: maxBytes / 4})
	require.NoError(t, err)
	defer c.Close()
	key := func(p string, i int) string { return fmt.Sprintf("%s%015d", p, i) } // 16 bytes
	set := func(k string, size int) {
		t.Helper()
		before := c.Stats()
		require.NoError(t, c.Set(k, storageValue(0, 0, size), 0))
		if after := c.Stats(); after.Evictions > before.Evictions {
			require.GreaterOrEqual(t, before.Bytes+int64(16+len(k)+size), line,
				"a Set of %d bytes evicted with %d bytes live", size, before.Bytes)
		}
	}
	for i := range 1024 { // one segment of 64-byte entries
		set(key("a", i), 32)
	}
	for i := 1; i < 1024; i++ {
		c.Delete(key("a", i))
	}
	for i := range 3*1024 + 1 {
		set(key("b", i), 32)
	}
	set("big", 80<<10)
	for i := 0; c.Stats().Evictions == 0 && i < 100_000; i++ {
		set(key("c", i), 32)
	}
	s := c.Stats()
	t.Logf("%.1f%% of MaxBytes live after the first eviction (the line: %.1f%%)", 100*float64(s.Bytes)/maxBytes, 100*float64(line)/maxBytes)
	require.Positive(t, s.Evictions, "the cache evicts once full")
}

// Expired entries, kept for StaleIfError or only not swept yet, are
// evicted before live ones: a working set at 30% of MaxBytes that never
// expires stays while a stream of short-lived entries, each batch expired
// before the next, fills the budget many times over, in one shard and in
// several (where the shard that must evict may hold none of the expired
// entries), with no sweep to help.
func TestExpiredEntriesEvictedBeforeLive(t *testing.T) {
	for _, keep := range []time.Duration{0, time.Hour} {
		for _, shards := range []int{1, 4} {
			t.Run(fmt.Sprintf("StaleIfError=%v/shards=%d", keep, shards), func(t *testing.T) {
				var evicted atomic.Int64
				c, clk := newManual(t, Options{MaxBytes: 1 << 20, Shards: shards, StaleIfError: keep, ExpiryInterval: time.Hour,
					OnRemove: func(k string, _ []byte, r Reason) {
						if r == Evicted && strings.HasPrefix(k, "live/") {
							evicted.Add(1)
						}
					}})
				v := make([]byte, 96) // 128-byte entries with 16-byte keys
				const live = (1 << 20) * 3 / 10 / 128
				for i := range live {
					require.NoError(t, c.Set(fmt.Sprintf("live/%011d", i), v, 0))
				}
				for i := range 20000 {
					require.NoError(t, c.Set(fmt.Sprintf("temp/%011d", i), v, time.Millisecond))
					if i%100 == 99 {
						clk.Advance(2 * time.Millisecond)
					}
				}
				for i := range live {
					require.True(t, c.Has(fmt.Sprintf("live/%011d", i)), "live key %d lost (%d evicted)", i, evicted.Load())
				}
				require.Zero(t, evicted.Load())
			})
		}
	}
}

// A working set written in one go, then read, reaches the oldest end of
// the log as segments whose every entry is hot. A stream of keys never
// read must go before it: the reinsertion credit a shard saves while it
// evicts cold segments keeps those hot segments' entries (see
// reinsertRoom in the engine).
func TestReadKeysOutliveUnreadStream(t *testing.T) {
	const hot, stream = 3000, 60000
	var lost int
	c, err := New(Options{MaxBytes: 2 << 20, Shards: 4, OnRemove: func(key string, _ []byte, r Reason) {
		if r == Evicted && strings.HasPrefix(key, "hot:") {
			lost++
		}
	}})
	require.NoError(t, err)
	defer c.Close()
	val := make([]byte, 32)
	hotKey := func(i int) string { return fmt.Sprintf("hot:%06d", i) }
	for i := range hot {
		require.NoError(t, c.Set(hotKey(i), val, 0))
	}
	next := 0
	read := func() {
		c.Get(hotKey(next))
		next = (next + 1) % hot
	}
	for range hot {
		read()
	}
	for i := range stream {
		require.NoError(t, c.Set(fmt.Sprintf("one-hit:%08d", i), val, 0))
		for range 4 {
			read()
		}
	}
	s := c.Stats()
	require.Greater(t, s.Evictions, uint64(stream/2), "the stream did not fill the cache")
	require.LessOrEqual(t, lost, hot/100, "working-set keys read since they were written were evicted while never-read keys stayed")
}

// A segment's recorded first expiry can be stale (the entry that set it
// was overwritten): the look for expired entries before an eviction must
// go on to the next segment rather than evict a live entry while expired
// ones stay.
func TestExpiredGoFirstPastAStaleFirstExpiry(t *testing.T) {
	clk := clock.NewManual(1e12)
	var evicted []string
	c, err := New(Options{MaxBytes: 64 << 10, Shards: 1, SegmentBytes: 4 << 10, Clock: clk, ExpiryInterval: time.Hour,
		OnRemove: func(k string, _ []byte, r Reason) {
			if r == Evicted {
				evicted = append(evicted, k)
			}
		}})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Set("x", []byte("v"), time.Nanosecond)) // sets the head's first expiry...
	require.NoError(t, c.Set("x", []byte("v"), 0))               // ...and is overwritten at once
	big := make([]byte, 3000)                                    // over a quarter segment: a segment each
	for i := range 10 {
		require.NoError(t, c.Set(fmt.Sprintf("live/%d", i), big, 0))
		require.NoError(t, c.Set(fmt.Sprintf("temp/%d", i), big, 10*time.Millisecond))
	}
	clk.Advance(20 * time.Millisecond) // the ten temp entries expire
	require.NoError(t, c.Set("new", big, 0))
	require.Empty(t, evicted, "live entries evicted while expired ones stayed")
	require.EqualValues(t, 1, c.Stats().Expirations)
}
