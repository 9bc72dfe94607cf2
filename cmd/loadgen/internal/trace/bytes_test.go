package trace

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/velocache/velo/cmd/loadgen/internal/config"
	"github.com/velocache/velo/cmd/loadgen/internal/genlog"
)

// TestBytePoliciesEqualWeights: with every entry of the same weight w, the
// byte versions of CLOCK and Belady at k*w bytes are the entry versions at
// k entries (LRU's is checked the same way).
func TestBytePoliciesEqualWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for n := range 200 {
		keys := make([]uint64, 1+rng.IntN(60))
		distinct := 1 + rng.IntN(12)
		for i := range keys {
			keys[i] = uint64(rng.IntN(distinct))
		}
		rt := mustRefTrace(t, keys)
		w := make([]uint32, len(keys))
		for i := range w {
			w[i] = 40
		}
		k := 1 + rng.IntN(6)
		c := int64(k*40 + rng.IntN(40)) // room for k entries, not k+1
		if got, want := rt.lruBytes(w, c), rt.lru(k); got != want {
			t.Fatalf("case %d: lruBytes %d, lru %d", n, got, want)
		}
		if got, want := rt.clockBytes(w, c), rt.clock(k); got != want {
			t.Fatalf("case %d %v k %d: clockBytes %d, clock %d", n, keys, k, got, want)
		}
		if got, want := rt.optimalBytes(w, c), rt.optimal(k); got != want {
			t.Fatalf("case %d %v k %d: optimalBytes %d, optimal %d", n, keys, k, got, want)
		}
	}
}

// TestBytePoliciesSizes: by hand, objects of different sizes.
func TestBytePoliciesSizes(t *testing.T) {
	// a(60) b(30) a b c(50) a b: at 100 bytes a and b fit together.
	rt := mustRefTrace(t, seqKeys("a b a b c a b"))
	w := []uint32{60, 30, 60, 30, 50, 60, 30}
	// CLOCK: a and b hit once each, setting their bits. c clears a's and
	// b's bits (both go to the tail) and evicts a; a then evicts b and c;
	// b misses.
	if got := rt.clockBytes(w, 100); got != 2 {
		t.Errorf("clockBytes = %d, want 2", got)
	}
	// Belady: c is never used again, so it bypasses; a and b stay.
	if got := rt.optimalBytes(w, 100); got != 4 {
		t.Errorf("optimalBytes = %d, want 4", got)
	}
	// An object larger than the cache is never inserted.
	if got := rt.optimalBytes(w, 40); got != 2 {
		t.Errorf("optimalBytes at 40 = %d, want 2 (b's; a never fits)", got)
	}
}

// TestTargetHitSelection: the smallest capacity reaching the target per
// cache, "none" when none does, and the bisection between the capacities
// that bracket it.
func TestTargetHitSelection(t *testing.T) {
	rep := &traceReport{CapacityUnit: "bytes", TargetHit: 0.9,
		Capacities: []int{1 << 20, 4 << 20, 16 << 20}, Caches: []string{"velo", "lru"}}
	rep.Results = append(rep.Results, []traceResult{
		{Capacity: 1 << 20, Cache: "velo", HitRatio: 50}, {Capacity: 1 << 20, Cache: "lru", HitRatio: 40},
		{Capacity: 4 << 20, Cache: "velo", HitRatio: 85}, {Capacity: 4 << 20, Cache: "lru", HitRatio: 70},
		{Capacity: 16 << 20, Cache: "velo", HitRatio: 95}, {Capacity: 16 << 20, Cache: "lru", HitRatio: 89.99},
	}...)
	rep.Reached = reached(rep)
	if r := rep.Reached[0]; r.Cache != "velo" || r.Capacity != 16<<20 || r.HitRatio != 95 {
		t.Errorf("velo: %+v", r)
	}
	if r := rep.Reached[1]; r.Cache != "lru" || r.Capacity != 0 || r.Best != 16<<20 || r.HitRatio != 89.99 {
		t.Errorf("lru: %+v", r)
	}
	lo, hi, ok := bracket(rep)
	if !ok || lo != 4<<20 || hi != 16<<20 {
		t.Errorf("bracket = %d, %d, %v", lo, hi, ok)
	}
	// velo's curve: the target is reached from 10 MiB on.
	var asked []int
	steps, err := refine(rep, 20, func(c int) (traceResult, error) {
		asked = append(asked, c)
		hit := 85.0
		if c >= 10<<20 {
			hit = 90
		}
		return traceResult{Capacity: c, Cache: "velo", HitRatio: hit}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rep.Refined = steps
	if b, ok := refinedBudget(rep); !ok || b < 10<<20 || b > 10<<20+1<<10 {
		t.Errorf("refined budget %d (asked %v), want 10 MiB to the KiB", b, asked)
	}
	if asked[0] != 10<<20 || len(asked) > 14 { // (4+16)/2 = 10 MiB first; whole KiB stop it
		t.Errorf("asked %v", asked)
	}
	var out bytes.Buffer
	printReached(&out, rep)
	for _, s := range []string{"16MiB", "none", "best 89.99% at 16MiB", "bisecting", "smallest reaching the target: 10MiB"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
	// No bracket when the smallest capacity already reaches the target.
	rep.Reached[0].Capacity = 1 << 20
	if _, _, ok := bracket(rep); ok {
		t.Error("bracket below the smallest capacity")
	}
}

// TestPlanArithmetic: origin requests = rate x miss ratio; cores = rate /
// per-core throughput, rounded up.
func TestPlanArithmetic(t *testing.T) {
	for _, tc := range []struct {
		rate, hit, perCore float64
		origin             float64
		cores              int
	}{
		{2e6, 90, 500e3, 200e3, 4},
		{2e6, 90, 600e3, 200e3, 4}, // 3.33 cores: 4
		{1e5, 100, 1e6, 0, 1},
		{1e5, 0, 0, 1e5, 0}, // no throughput measured: no core count
	} {
		origin, cores := planArithmetic(tc.rate, tc.hit, tc.perCore)
		if diff := origin - tc.origin; diff > 1e-6 || diff < -1e-6 || cores != tc.cores {
			t.Errorf("planArithmetic(%v, %v, %v) = %v, %d; want %v, %d", tc.rate, tc.hit, tc.perCore, origin, cores, tc.origin, tc.cores)
		}
	}
}

// TestTraceBytesEndToEnd replays a generated log with byte capacities,
// -target-hit, -refine, -rate and -plot, and checks the report: every
// cache within its bound's reach, the summary's arithmetic and its
// bytes per entry.
func TestTraceBytesEndToEnd(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.csv.gz")
	if _, err := genlog.WriteFile(path, genlog.Params{Requests: 40000, Keys: 4000, ZipfS: 0.9, SizeMin: 100, SizeMax: 4000, Rate: 1000, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.json")
	cfg, err := config.Parse([]string{"-trace", path, "-capacities", "512KiB,1MiB,2MiB,4MiB", "-target", "velo,otter,freecache,mutexmap",
		"-target-hit", "0.6", "-refine", "2", "-rate", "1M", "-procs", "1", "-duration", "50ms", "-warmup", "10ms",
		"-json", out, "-plot", filepath.Join(dir, "mrc.svg")})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := Run(cfg, &text); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", text.String())
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep traceReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.CapacityUnit != "bytes" || rep.SizeSource != "from the trace" || len(rep.Capacities) != 4 || rep.Capacities[0] != 512<<10 {
		t.Fatalf("unit %q, sizes %q, capacities %v", rep.CapacityUnit, rep.SizeSource, rep.Capacities)
	}
	if len(rep.Skipped) != 1 || rep.Skipped[0].Target != "mutexmap" {
		t.Errorf("skipped %v", rep.Skipped)
	}
	for _, r := range rep.Results {
		if r.HitRatio <= 0 || r.HitRatio >= 100 {
			t.Errorf("%+v", r)
		}
		if r.Velo != nil && r.Velo.HeldBytes > int64(r.Capacity) {
			t.Errorf("velo at %d holds %d bytes", r.Capacity, r.Velo.HeldBytes)
		}
	}
	p := rep.Plan
	if p == nil {
		t.Fatal("no planner's summary")
	}
	at, _ := veloResultAt(&rep, int(p.Budget))
	if p.Chosen != "-target-hit" || p.HitRatio < 60 || p.HitRatio != at.HitRatio || len(p.Throughput) != 1 || p.PerCore <= 0 {
		t.Errorf("plan %+v", p)
	}
	if p.Entries == 0 || p.BytesPerEntry != float64(p.Bytes)/float64(p.Entries) || p.BytesPerEntry < 100 || p.BytesPerEntry > 4100 {
		t.Errorf("bytes per entry %v (%d bytes, %d entries)", p.BytesPerEntry, p.Bytes, p.Entries)
	}
	origin, cores := planArithmetic(1e6, p.HitRatio, p.PerCore)
	if p.Rate != 1e6 || p.OriginRate != origin || p.Cores != cores {
		t.Errorf("rate %v origin %v cores %d, want %v %d", p.Rate, p.OriginRate, p.Cores, origin, cores)
	}
	for _, s := range []string{"512KiB", "planner's summary", "origin", "cores for velo", "skipped mutexmap"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("output lacks %q", s)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "mrc.svg")); err != nil || fi.Size() == 0 {
		t.Errorf("plot: %v", err)
	}
}

// TestTraceBytesFixedSize: a trace without sizes takes -value-size, and
// -budget alone is the sweep.
func TestTraceBytesFixedSize(t *testing.T) {
	path := zipfTrace(t, 20000, 3000)
	cfg, err := config.Parse([]string{"-trace", path, "-budget", "256KiB", "-value-size", "100", "-target", "velo",
		"-procs", "1", "-duration", "20ms", "-warmup", "0s"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := measure(cfg, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if rep.SizeSource != "-value-size 100" || len(rep.Capacities) != 1 || rep.Plan == nil || rep.Plan.Chosen != "-budget" {
		t.Fatalf("sizes %q capacities %v plan %+v", rep.SizeSource, rep.Capacities, rep.Plan)
	}
	// 100-byte values, decimal keys of up to 7 digits: entries of 128 bytes at most.
	if p := rep.Plan; p.BytesPerEntry < 116 || p.BytesPerEntry > 128 || p.MeanObject != 100 {
		t.Errorf("bytes per entry %v, mean object %v", p.BytesPerEntry, p.MeanObject)
	}
}

// TestTraceEntriesTargetHit: -target-hit and -refine work with entry
// capacities too, and print no planner's summary (it needs bytes).
func TestTraceEntriesTargetHit(t *testing.T) {
	path := zipfTrace(t, 30000, 5000)
	cfg, err := config.Parse([]string{"-trace", path, "-target", "velo", "-capacities", "50,200,800", "-target-hit", "0.6", "-refine", "3"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := measure(cfg, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if rep.CapacityUnit != "entries" || len(rep.Reached) != 4 || rep.Plan != nil {
		t.Fatalf("unit %q reached %+v plan %v", rep.CapacityUnit, rep.Reached, rep.Plan)
	}
	v := rep.Reached[0]
	if v.Cache != "velo" || v.Capacity == 0 {
		t.Fatalf("velo: %+v (results %+v)", v, rep.Results)
	}
	b, ok := refinedBudget(rep)
	if lo, hi, _ := bracket(rep); ok && len(rep.Refined) > 0 && (b <= lo || b > hi) {
		t.Errorf("refined %d outside %d..%d", b, lo, hi)
	}
	var out bytes.Buffer
	printTraceReport(&out, rep)
	if !strings.Contains(out.String(), "smallest capacity of the sweep reaching a 60% hit ratio") || strings.Contains(out.String(), "planner's summary") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestPlanMedian: with -count, a row is the median run, with the spread.
func TestPlanMedian(t *testing.T) {
	m := medianOf([]planProcs{{Procs: 2, RequestsSec: 300, HitRatio: 1}, {Procs: 2, RequestsSec: 100, HitRatio: 2}, {Procs: 2, RequestsSec: 200, HitRatio: 3}})
	if m.RequestsSec != 200 || m.HitRatio != 3 || m.SpreadPct != 100 || len(m.Runs) != 3 {
		t.Errorf("%+v", m)
	}
	if m := medianOf([]planProcs{{RequestsSec: 5}}); m.SpreadPct != 0 || m.Runs != nil {
		t.Errorf("one run: %+v", m)
	}
	// An even count: the mean of the two middle runs, not the faster.
	m = medianOf([]planProcs{{RequestsSec: 5.52e6, PerCore: 5.52e6, HitRatio: 40}, {RequestsSec: 4.60e6, PerCore: 4.60e6, HitRatio: 42}})
	if m.RequestsSec != 5.06e6 || m.PerCore != 5.06e6 || m.HitRatio != 41 {
		t.Errorf("two runs: %+v", m)
	}
}
