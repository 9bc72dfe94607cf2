package engine

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/velocache/velo/arena"
)

// BenchmarkCompaction measures what keeping every live key costs writes:
// Zipf(1.01)-chosen overwrites of a live set that fills a given share of
// the budget, after the log has cycled through the budget, so that every
// Set's share of compaction is in the figure. Besides ns/op it reports
// moved/set, the bytes compaction copied per byte set (Stats.MovedBytes
// over Stats.SetBytes): write amplification less one.
//
//	go test -run '^$' -bench Compaction -count 6 ./engine
//
// live=37% is loadgen's default key set (65,536 keys of 64 bytes) in a
// 16 MiB budget.
func BenchmarkCompaction(b *testing.B) {
	const maxBytes = 16 << 20
	value := make([]byte, 64)
	for _, livePct := range []int{5, 37, 60, 80} {
		b.Run(fmt.Sprintf("live=%d%%", livePct), func(b *testing.B) {
			e, err := New(Config{MaxBytes: maxBytes})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			keys := make([]string, maxBytes*livePct/100/arena.EntrySize(13, len(value)))
			for i := range keys {
				keys[i] = fmt.Sprintf("user:%08d", i)
				_ = e.Set(keys[i], value, time.Hour)
			}
			z := rand.NewZipf(rand.New(rand.NewSource(1)), 1.01, 1, uint64(len(keys)-1))
			stream := make([]uint32, 1<<20)
			for i := range stream {
				stream[i] = uint32(z.Uint64())
			}
			for i := range 2 * maxBytes / arena.EntrySize(13, len(value)) {
				_ = e.Set(keys[stream[i&(len(stream)-1)]], value, time.Hour)
			}
			before := e.Stats()
			b.ResetTimer()
			for i := range b.N {
				_ = e.Set(keys[stream[i&(len(stream)-1)]], value, time.Hour)
			}
			b.StopTimer()
			after := e.Stats()
			if after.Evictions != 0 {
				b.Fatalf("%d live keys evicted", after.Evictions)
			}
			b.ReportMetric(float64(after.MovedBytes-before.MovedBytes)/float64(after.SetBytes-before.SetBytes), "moved/set")
		})
	}
}

// TestColdHeadSeparatesAges: compaction moves what it keeps to the cold
// head, apart from new writes, so that Zipf overwrites of a live set that
// fills 37% of the budget copy less than a third of a byte per byte set
// (about 0.25). Moved into the head among new writes, the same entries
// would be copied 0.40 bytes per byte set: the short-lived writes and the
// survivors would share segments, and the survivors be moved again each
// time one was compacted. A count of writes bounds the test, not a time.
func TestColdHeadSeparatesAges(t *testing.T) {
	const maxBytes = 4 << 20
	e, _ := newTestEngine(t, Config{MaxBytes: maxBytes, Shards: 4})
	value := make([]byte, 64)
	keys := make([]string, maxBytes*37/100/arena.EntrySize(13, len(value)))
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%08d", i)
		require.NoError(t, e.Set(keys[i], value, time.Hour))
	}
	z := rand.NewZipf(rand.New(rand.NewSource(1)), 1.01, 1, uint64(len(keys)-1))
	set := func(n int) {
		for range n {
			require.NoError(t, e.Set(keys[z.Uint64()], value, time.Hour))
		}
	}
	set(2 * maxBytes / arena.EntrySize(13, len(value))) // the log cycles twice
	before := e.Stats()
	set(300_000)
	after := e.Stats()
	moved := float64(after.MovedBytes-before.MovedBytes) / float64(after.SetBytes-before.SetBytes)
	t.Logf("%.3f bytes moved per byte set", moved)
	require.Zero(t, after.Evictions)
	require.Positive(t, moved, "compaction ran")
	require.Less(t, moved, 0.33)
	checkInvariants(t, e)
}

// TestCompactionSkipsTailsWithNoDeadEntry: a segment's unused tail, left
// when the next entry did not fit, is not dead bytes for compaction:
// moving the segment's live entries would leave tails as large in the
// cold head, so a shard whose segments are all live, with tails above
// minDead, compacts none of them (else it would move them round in a
// circle, up to reclaimTries times per write). A segment with a dead
// entry is still chosen.
func TestCompactionSkipsTailsWithNoDeadEntry(t *testing.T) {
	const seg = 4096
	e, _ := newTestEngine(t, Config{MaxBytes: 64 * seg, Shards: 1, SegmentBytes: seg})
	sh := &e.shards[0]
	// Three quarter-segment entries and one of 500 bytes fill a segment
	// to 3,572 bytes; the next quarter-segment entry rotates, leaving a
	// 524-byte tail, more than an eighth of the segment.
	quarter := make([]byte, seg/4-arena.HeaderSize-8)
	small := make([]byte, 500-arena.HeaderSize-8)
	for i := range 40 {
		v := quarter
		if i%4 == 3 {
			v = small
		}
		require.NoError(t, e.Set(fmt.Sprintf("k%07d", i), v, 0))
	}
	sh.mu.Lock()
	tails := 0
	for _, slot := range sh.fifo {
		if s := sh.slots[slot].Load(); !sh.isHead(slot) && s.Size()-s.Used() >= seg/8 {
			tails++
		}
	}
	got := sh.sparsest(sh.moveRoom(seg), -1, seg/8)
	sh.mu.Unlock()
	require.Positive(t, tails, "segments with tails above minDead")
	require.Equal(t, -1, got, "no segment has a dead entry")

	require.NoError(t, e.Set("k0000001", quarter, 0)) // k0000001's old entry dies
	sh.mu.Lock()
	got = sh.sparsest(sh.moveRoom(seg), -1, seg/8)
	sh.mu.Unlock()
	require.GreaterOrEqual(t, got, 0, "the segment with a dead entry")
}
