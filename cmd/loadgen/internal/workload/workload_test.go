package workload

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/velocache/velo/cmd/loadgen/internal/targets"
)

func TestPercentiles(t *testing.T) {
	h := NewHist()
	for i := int64(1000); i >= 1; i-- {
		if err := h.RecordValue(i); err != nil {
			t.Fatal(err)
		}
	}
	// HDR histograms with 3 significant digits are exact below 2048.
	if p50, p99, p999 := Percentiles(h); p50 != 500 || p99 != 990 || p999 != 999 {
		t.Errorf("percentiles = %d %d %d, want 500 990 999", p50, p99, p999)
	}
	if p50, p99, p999 := Percentiles(NewHist()); p50 != 0 || p99 != 0 || p999 != 0 {
		t.Errorf("Percentiles(empty) = %d %d %d", p50, p99, p999)
	}
}

func TestMixTable(t *testing.T) {
	for _, pct := range []int{0, 25, 75, 100} {
		n := 0
		for _, r := range MixTable(pct, 1) {
			if r {
				n++
			}
		}
		if n != pct {
			t.Errorf("MixTable(%d) has %d reads", pct, n)
		}
	}
}

func TestWorkloadDistAndSizes(t *testing.T) {
	wl := New(Params{Dist: "sequential", Keys: 100, ValueMin: 10, ValueSize: 20, Seed: 1})
	for i := 0; i < 300; i++ {
		if wl.Stream[i] != int32(i%100) {
			t.Fatalf("sequential stream[%d] = %d", i, wl.Stream[i])
		}
	}
	sizes := map[int]bool{}
	for k := int32(0); k < 100; k++ {
		n := len(wl.Value(k))
		if n < 10 || n > 20 {
			t.Fatalf("value of key %d has %d bytes, want 10..20", k, n)
		}
		if len(wl.Value(k)) != len(wl.Value(k+valueCount)) {
			t.Fatal("a key's value size must not change")
		}
		sizes[n] = true
	}
	if len(sizes) < 5 {
		t.Errorf("only %d distinct sizes in 10..20", len(sizes))
	}
}

func TestFormatKey(t *testing.T) {
	for _, i := range []int{0, 7, 123456, min(9999999999999999, math.MaxInt)} {
		var b [KeyBytes]byte
		FormatKey(&b, i)
		if got, want := string(b[:]), fmt.Sprintf("%016d", i); got != want {
			t.Errorf("FormatKey(%d) = %q, want %q", i, got, want)
		}
	}
}

// TestScrambledZipf checks the generator against YCSB's constants and
// hash, and the stream of -preset otter against the distribution.
func TestScrambledZipf(t *testing.T) {
	if z := zeta(ycsbItems, 0.99); math.Abs(z-ycsbZetan) > 1e-6*ycsbZetan {
		t.Errorf("zeta(1e10, 0.99) = %v, YCSB's constant is %v", z, ycsbZetan)
	}
	direct := 0.0
	for i := 1; i <= 5000; i++ {
		direct += math.Pow(float64(i), -0.7)
	}
	if z := zeta(5000, 0.7); math.Abs(z-direct) > 1e-9*direct {
		t.Errorf("zeta(5000, 0.7) = %v, direct sum %v", z, direct)
	}
	for _, v := range []uint64{0, 1, 255, 1 << 40, 123456789} {
		h := fnv.New64a()
		h.Write(binary.LittleEndian.AppendUint64(nil, v))
		want := h.Sum64()
		if int64(want) < 0 {
			want = -want
		}
		if got := fnv64(v); got != want {
			t.Errorf("fnv64(%d) = %x, want %x", v, got, want)
		}
	}

	// The stream of -preset otter.
	p := Params{Keys: 1<<15/3 + 1, Dist: "scrambled-zipf", ZipfS: 0.99, StreamLen: 1 << 15, ValueMin: 64, ValueSize: 64, Seed: 1}
	wl := New(p)
	if len(wl.Stream) != 1<<15 {
		t.Fatalf("stream of %d keys, want 32768", len(wl.Stream))
	}
	counts := make([]int, p.Keys)
	for _, k := range wl.Stream {
		counts[k]++ // panics if out of range
	}
	// Rank 0 has probability 1/zetan = 3.8%, so the hottest key about that
	// (a Zipf over only the 10923 keys would give it 10%).
	top := float64(slices.Max(counts)) / float64(len(wl.Stream))
	if top < 0.03 || top > 0.05 {
		t.Errorf("hottest key has %.2f%% of the stream, want about 3.8%%", 100*top)
	}
	z := newScrambledZipf(0.99, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	hot := 0
	for range 100000 {
		if z.rank(rng) == 0 {
			hot++
		}
	}
	if p := float64(hot) / 100000; math.Abs(p-1/ycsbZetan) > 0.003 {
		t.Errorf("P(rank 0) = %v, want 1/zetan = %v", p, 1/ycsbZetan)
	}
}

// TestFromTraceReadThrough: a trace workload goes round the trace up to a
// power of two, writes each key with its own value, and a read-through
// worker writes the keys it misses, counting one op per request.
func TestFromTraceReadThrough(t *testing.T) {
	keys := []string{"a", "bb", "ccc"}
	ids := []int32{0, 1, 2, 0, 1}
	values := [][]byte{[]byte("1"), []byte("22"), []byte("333")}
	wl := FromTrace(keys, ids, values)
	if !slices.Equal(wl.Stream, []int32{0, 1, 2, 0, 1, 0, 1, 2}) {
		t.Fatalf("stream %v", wl.Stream)
	}
	for k := range keys {
		if string(wl.Value(int32(k))) != string(values[k]) {
			t.Errorf("value of %d: %q", k, wl.Value(int32(k)))
		}
	}
	c, err := targets.Open("mutexmap", targets.Config{Keys: 3, ValueSize: 3, Capacity: 1 << 20, TTL: time.Hour, Procs: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var phase atomic.Int32
	phase.Store(PhaseMeasure)
	w := Worker{Buf: make([]byte, 0, 8), SampleEvery: 1 << 62, ReadHist: NewHist(), ReadThrough: true}
	w.WriteHist = w.ReadHist
	done := make(chan struct{})
	go func() { w.Run(&phase, c, wl, MixTable(100, 1), time.Hour); close(done) }()
	time.Sleep(20 * time.Millisecond)
	phase.Store(PhaseStop)
	<-done
	// Three keys: three misses, every other request a hit.
	if w.Ops < batchOps || w.Ops != w.Reads || w.Hits != w.Reads-3 {
		t.Errorf("ops %d reads %d hits %d", w.Ops, w.Reads, w.Hits)
	}
	for k, key := range keys {
		if v, ok := c.Read(nil, key); !ok || string(v) != string(values[k]) {
			t.Errorf("%s: %q, %v", key, v, ok)
		}
	}
}
