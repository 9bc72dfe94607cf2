package main

import (
	"encoding/binary"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestPresetOtter checks that -preset otter sets what it claims, and that
// a flag given on the command line wins over it.
func TestPresetOtter(t *testing.T) {
	cfg, err := parseFlags([]string{"-preset", "otter"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Entries != 1<<15 || !cfg.sizeByEntries() {
		t.Errorf("entries = %d, size-by %q; want 32768 entries for every cache", cfg.Entries, cfg.SizeBy)
	}
	if cfg.Keys != 1<<15/3+1 || cfg.Keys >= cfg.Entries {
		t.Errorf("keys = %d, want 0..2^15/3 (%d keys), all fitting in the cache", cfg.Keys, 1<<15/3+1)
	}
	if cfg.Dist != "scrambled-zipf" || cfg.ZipfS != 0.99 || cfg.StreamLen != 1<<15 {
		t.Errorf("dist %s s=%v stream %d, want scrambled-zipf s=0.99 stream 32768", cfg.Dist, cfg.ZipfS, cfg.StreamLen)
	}
	if cfg.ValueMin != 64 || cfg.ValueSize != 64 {
		t.Errorf("value size %d-%d, want 64", cfg.ValueMin, cfg.ValueSize)
	}
	if !slices.Equal(cfg.Mixes, []int{100, 75, 50, 25, 0}) {
		t.Errorf("mixes = %v", cfg.Mixes)
	}
	for i, p := range cfg.Procs {
		if p != 1<<i || p > max(runtime.NumCPU(), 1) {
			t.Errorf("procs = %v, want powers of two up to NumCPU", cfg.Procs)
			break
		}
	}
	if !slices.Equal(cfg.Targets, []string{"velo", "otter", "theine", "ristretto"}) {
		t.Errorf("targets = %v", cfg.Targets)
	}
	if cfg.Capacity < 64*int64(cfg.Entries)*16 {
		t.Errorf("velo's MaxBytes %d would bind before MaxEntries %d", cfg.Capacity, cfg.Entries)
	}
	// Byte-bounded peers: room for 2^15 entries of header, key and value,
	// rounded up to a MiB.
	need := int64(cfg.Entries) * int64(peerEntryHeader+len("user:00010922")+64)
	if b := peerBytes(cfg); b < need || b >= need+1<<20 || b%(1<<20) != 0 {
		t.Errorf("peerBytes = %d, want %d rounded up to a MiB", b, need)
	}
	if cfg.flags["preset"] != "otter" || cfg.flags["entries"] != "32768" {
		t.Errorf("JSON config lacks the preset's values: %v", cfg.flags)
	}

	cfg, err = parseFlags([]string{"-preset", "otter", "-keys", "65536", "-target", "velo"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Keys != 65536 || cfg.Entries != 1<<15 || !slices.Equal(cfg.Targets, []string{"velo"}) {
		t.Errorf("command-line flags must win over the preset: keys %d entries %d targets %v", cfg.Keys, cfg.Entries, cfg.Targets)
	}
	if b := peerBytes(config{Capacity: 123}); b != 123 {
		t.Errorf("peerBytes without -size-by entries = %d, want -capacity", b)
	}
}

func TestPresetErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-preset", "caffeine"}, "-preset"},
		{[]string{"-count", "0"}, "-count"},
		{[]string{"-stream", "1000"}, "-stream"},
		{[]string{"-size-by", "items"}, "-size-by"},
		{[]string{"-size-by", "entries"}, "-entries"},
		{[]string{"-dist", "scrambled-zipf", "-zipf-s", "1.2"}, "-zipf-s"},
	} {
		if _, err := parseFlags(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseFlags(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

// TestScrambledZipf checks the generator against YCSB's constants and
// hash, and the preset's stream against the distribution.
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

	cfg, err := parseFlags([]string{"-preset", "otter", "-target", "mutexmap"})
	if err != nil {
		t.Fatal(err)
	}
	wl := newWorkload(cfg)
	if len(wl.stream) != 1<<15 {
		t.Fatalf("stream of %d keys, want 32768", len(wl.stream))
	}
	counts := make([]int, cfg.Keys)
	for _, k := range wl.stream {
		counts[k]++ // panics if out of range
	}
	// Rank 0 has probability 1/zetan = 3.8%, so the hottest key about that
	// (a Zipf over only the 10923 keys would give it 10%).
	top := float64(slices.Max(counts)) / float64(len(wl.stream))
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

func TestMedianSpread(t *testing.T) {
	for _, tc := range []struct {
		in                []float64
		med, lo, hi, sprd float64
	}{
		{nil, 0, 0, 0, 0},
		{[]float64{5}, 5, 5, 5, 0},
		{[]float64{3, 1, 2}, 2, 1, 3, 100},
		{[]float64{10, 9, 11, 12}, 10.5, 9, 12, 100 * 3 / 10.5},
		{[]float64{0, 0}, 0, 0, 0, 0},
	} {
		in := slices.Clone(tc.in)
		med, lo, hi, sprd := medianSpread(in)
		if med != tc.med || lo != tc.lo || hi != tc.hi || math.Abs(sprd-tc.sprd) > 1e-9 {
			t.Errorf("medianSpread(%v) = %v %v %v %v, want %v %v %v %v", tc.in, med, lo, hi, sprd, tc.med, tc.lo, tc.hi, tc.sprd)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("medianSpread modified its input: %v", in)
		}
	}
	if m := medianInt([]int64{100, 300, 200, 250}); m != 225 {
		t.Errorf("medianInt = %d, want 225", m)
	}
}

func TestAggregateRuns(t *testing.T) {
	runs := []cell{
		{Target: "a", Ops: 10, Reads: 8, ReadHits: 8, MopsPerSec: 3, P50ns: 100, P99ns: 1000, Seconds: 1},
		{Target: "b", Ops: 1, MopsPerSec: 1},
		{Target: "a", Ops: 20, Reads: 8, ReadHits: 6, MopsPerSec: 1, P50ns: 300, P99ns: 3000, Seconds: 1},
		{Target: "a", Ops: 30, Reads: 8, ReadHits: 8, MopsPerSec: 2, P50ns: 200, P99ns: 2000, Seconds: 1},
	}
	got := aggregateRuns(runs, []string{"b", "a", "c"})
	if len(got) != 2 || got[0].Target != "b" || got[1].Target != "a" {
		t.Fatalf("aggregateRuns = %+v", got)
	}
	a := got[1]
	if a.Count != 3 || a.MopsPerSec != 2 || a.MopsMin != 1 || a.MopsMax != 3 || a.SpreadPct != 100 ||
		a.Ops != 60 || a.Reads != 24 || a.ReadHits != 22 || a.Seconds != 3 || a.P50ns != 200 || a.P99ns != 2000 ||
		!slices.Equal(a.RunsMops, []float64{3, 1, 2}) {
		t.Errorf("aggregate of a = %+v", a)
	}
	if !strings.Contains(formatCell(a), "2.00 [1.00-3.00]!") {
		t.Errorf("formatCell = %q, want the range and the noisy mark", formatCell(a))
	}
	best, ok := bestPeer([]cell{{Target: "velo", MopsPerSec: 9}, {Target: "otter", MopsPerSec: 2}, {Target: "theine", MopsPerSec: 3}, {Target: "velo-view", MopsPerSec: 8}})
	if !ok || best.Target != "theine" {
		t.Errorf("bestPeer = %v %v, want theine", best.Target, ok)
	}
}

// TestCountInterleaved runs -count 3 on a tiny load: every target runs 3
// times per cell, the targets interleaved in a rotating order, and each
// reported cell is the median of its runs.
func TestCountInterleaved(t *testing.T) {
	cfg, err := parseFlags([]string{"-target", "velo,mutexmap,gocache", "-count", "3", "-mix", "100,0", "-procs", "1",
		"-keys", "200", "-duration", "10ms", "-warmup", "0s"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := run(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cells) != 2*3 || len(rep.Runs) != 2*3*3 {
		t.Fatalf("%d cells and %d runs, want 6 and 18", len(rep.Cells), len(rep.Runs))
	}
	for _, c := range rep.Cells {
		var mine []float64
		for _, r := range rep.Runs {
			if r.Target == c.Target && r.ReadPercent == c.ReadPercent {
				mine = append(mine, r.MopsPerSec)
			}
		}
		med, lo, hi, _ := medianSpread(mine)
		if c.Count != 3 || len(mine) != 3 || !slices.Equal(c.RunsMops, mine) || c.MopsPerSec != med || c.MopsMin != lo || c.MopsMax != hi {
			t.Errorf("%s at %d%%: %+v, runs %v", c.Target, c.ReadPercent, c, mine)
		}
	}
	// Per cell: 3 rounds, each of every target once, the first target
	// rotating from round to round.
	var firsts []string
	for i := 0; i < len(rep.Runs); i += 3 {
		round := rep.Runs[i : i+3]
		var names []string
		for _, r := range round {
			names = append(names, r.Target)
			if r.Run != (i/3)%3+1 || r.ReadPercent != round[0].ReadPercent {
				t.Errorf("run %d: repetition %d at %d%%, want %d", i, r.Run, r.ReadPercent, (i/3)%3+1)
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"gocache", "mutexmap", "velo"}) {
			t.Errorf("round %d ran %v, want each target once", i/3, names)
		}
		firsts = append(firsts, round[0].Target)
	}
	for i := 1; i < len(firsts); i++ {
		if firsts[i] == firsts[i-1] {
			t.Errorf("rounds %d and %d both start with %s: the order does not rotate (%v)", i-1, i, firsts[i], firsts)
		}
	}
	var out strings.Builder
	printReport(&out, cfg, rep)
	for _, want := range []string{"velo/best peer", "run 3 times", "["} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}

	// -count 1 keeps the report as it was: raw cells, no runs.
	cfg.Count, cfg.Mixes, cfg.Targets = 1, []int{100}, []string{"mutexmap"}
	rep, err = run(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cells) != 1 || len(rep.Runs) != 0 || rep.Cells[0].Count != 0 || rep.Cells[0].Run != 0 {
		t.Errorf("-count 1: %+v", rep)
	}
}
