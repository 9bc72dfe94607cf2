package trace

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/velocache/velo"
	"github.com/velocache/velo/cmd/loadgen/internal/config"
	"github.com/velocache/velo/cmd/loadgen/internal/targets"
	"github.com/velocache/velo/cmd/loadgen/internal/tracefile"
	"github.com/velocache/velo/cmd/loadgen/internal/tracetest"
)

// sharedTraces is the shared traces folder seen from this package's
// directory (cmd/loadgen/internal/trace): ../shared/traces from the
// repository root.
const sharedTraces = "../../../../../shared/traces"

func seqKeys(s string) []uint64 {
	var keys []uint64
	for _, f := range strings.Fields(s) {
		keys = append(keys, uint64(f[0]))
	}
	return keys
}

func mustRefTrace(t *testing.T, keys []uint64) *refTrace {
	t.Helper()
	rt, err := newRefTrace(keys)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func TestRefPoliciesByHand(t *testing.T) {
	for _, tc := range []struct {
		seq                 string
		capacity            int
		lru, clock, optimal int
	}{
		// Optimal: c misses with a (next at 3), b (next at 5) and c (never
		// again) as candidates: c goes. d misses: a and d are never
		// needed again, b is kept and hits.
		// LRU: c evicts a, a evicts b, d evicts c, b evicts a: no hit.
		// CLOCK: no bit is ever set before its entry is evicted: no hit.
		{"a b c a d b", 2, 0, 0, 2},
		{"a b c a d b", 3, 1, 1, 2},
		{"a b c a d b", 4, 2, 2, 2},
		{"a b a b", 2, 2, 2, 2},
		{"a b a", 1, 0, 0, 1}, // optimal keeps a and lets b pass
		{"a a b b a", 1, 2, 2, 2},
		{"a b a", 0, 0, 0, 0},
		// A loop of 3 keys through 2 entries: LRU and CLOCK always miss,
		// optimal keeps a and b and lets c pass.
		{"a b c a b c a b c", 2, 0, 0, 4},
		// CLOCK gives a second chance where LRU does not: at c, LRU
		// evicts a (least recent), CLOCK keeps it (bit set) and evicts b.
		{"a a b c a", 2, 1, 2, 2},
	} {
		rt := mustRefTrace(t, seqKeys(tc.seq))
		if got := rt.lru(tc.capacity); got != tc.lru {
			t.Errorf("%q capacity %d: lru %d hits, want %d", tc.seq, tc.capacity, got, tc.lru)
		}
		if got := rt.clock(tc.capacity); got != tc.clock {
			t.Errorf("%q capacity %d: clock %d hits, want %d", tc.seq, tc.capacity, got, tc.clock)
		}
		if got := rt.optimal(tc.capacity); got != tc.optimal {
			t.Errorf("%q capacity %d: optimal %d hits, want %d", tc.seq, tc.capacity, got, tc.optimal)
		}
	}
}

func TestRefTraceNext(t *testing.T) {
	rt := mustRefTrace(t, seqKeys("a b a c b a"))
	if want := []int32{0, 1, 0, 2, 1, 0}; !slices.Equal(rt.ids, want) {
		t.Errorf("ids %v, want %v", rt.ids, want)
	}
	if want := []int32{2, 4, 5, 6, 6, 6}; !slices.Equal(rt.next, want) {
		t.Errorf("next %v, want %v", rt.next, want)
	}
}

// naiveLRU and naiveFIFOReinsertion are the textbook policies on slices.
func naiveLRU(keys []uint64, capacity int) int {
	var c []uint64 // most recent last
	hits := 0
	for _, k := range keys {
		if i := slices.Index(c, k); i >= 0 {
			hits++
			c = append(slices.Delete(c, i, i+1), k)
			continue
		}
		if len(c) == capacity {
			c = c[1:]
		}
		c = append(c, k)
	}
	return hits
}

func naiveFIFOReinsertion(keys []uint64, capacity int) int {
	type ent struct {
		k   uint64
		ref bool
	}
	var q []ent // oldest first
	hits := 0
	for _, k := range keys {
		if i := slices.IndexFunc(q, func(e ent) bool { return e.k == k }); i >= 0 {
			hits++
			q[i].ref = true
			continue
		}
		if len(q) == capacity {
			for q[0].ref {
				q = append(q[1:], ent{q[0].k, false})
			}
			q = q[1:]
		}
		q = append(q, ent{k, false})
	}
	return hits
}

// bruteOptimal is the most hits any policy can get, by trying every
// choice: on a miss, cache the key in a free entry, in place of any cached
// key, or not at all.
func bruteOptimal(keys []uint64, capacity int) int {
	type state struct {
		i   int
		set string
	}
	memo := map[state]int{}
	var best func(i int, set []uint64) int
	best = func(i int, set []uint64) int {
		if i == len(keys) {
			return 0
		}
		st := state{i, fmt.Sprint(set)}
		if v, ok := memo[st]; ok {
			return v
		}
		k := keys[i]
		var v int
		if slices.Contains(set, k) {
			v = 1 + best(i+1, set)
		} else {
			v = best(i+1, set) // bypass
			if len(set) < capacity {
				v = max(v, best(i+1, sortedWith(set, k, -1)))
			} else {
				for j := range set {
					v = max(v, best(i+1, sortedWith(set, k, j)))
				}
			}
		}
		memo[st] = v
		return v
	}
	return best(0, nil)
}

// sortedWith returns set with its element drop removed (-1: none) and k
// added, sorted.
func sortedWith(set []uint64, k uint64, drop int) []uint64 {
	out := make([]uint64, 0, len(set)+1)
	for j, x := range set {
		if j != drop {
			out = append(out, x)
		}
	}
	out = append(out, k)
	slices.Sort(out)
	return out
}

func TestRefPoliciesRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		keys := make([]uint64, 1+rng.IntN(14))
		distinct := 1 + rng.IntN(6)
		for i := range keys {
			keys[i] = uint64(rng.IntN(distinct))
		}
		capacity := 1 + rng.IntN(4)
		rt := mustRefTrace(t, keys)
		if got, want := rt.lru(capacity), naiveLRU(keys, capacity); got != want {
			t.Fatalf("case %d %v capacity %d: lru %d, naive %d", n, keys, capacity, got, want)
		}
		if got, want := rt.clock(capacity), naiveFIFOReinsertion(keys, capacity); got != want {
			t.Fatalf("case %d %v capacity %d: clock %d, FIFO with reinsertion %d", n, keys, capacity, got, want)
		}
		if got, want := rt.optimal(capacity), bruteOptimal(keys, capacity); got != want {
			t.Fatalf("case %d %v capacity %d: optimal %d, exhaustive search %d", n, keys, capacity, got, want)
		}
	}
}

func TestLRUBytes(t *testing.T) {
	// Sizes 40, 30, 50 in 100 bytes: c evicts a (40+30+50 > 100), a then
	// evicts b, b evicts c; the big object d (150) is never cached.
	keys := seqKeys("a b c a b d d")
	sizes := []uint32{40, 30, 50, 40, 30, 150, 150}
	rt := mustRefTrace(t, keys)
	if got := rt.lruBytes(sizes, 100); got != 0 {
		t.Errorf("lruBytes = %d hits, want 0", got)
	}
	if got := rt.lruBytes(sizes, 120); got != 2 {
		t.Errorf("lruBytes at 120 = %d hits, want 2", got)
	}
	if got := rt.lruBytes(sizes, 150); got != 3 {
		t.Errorf("lruBytes at 150 = %d hits, want 3", got)
	}
}

// zipfTrace writes a LIRS-format trace of n accesses to a Zipf-distributed
// set of keys and returns its path.
func zipfTrace(t *testing.T, n, keys int) string {
	rng := rand.New(rand.NewPCG(7, 8))
	z := rand.NewZipf(rng, 1.05, 1, uint64(keys-1))
	var b bytes.Buffer
	for range n {
		// Scatter the popular keys over the key space.
		fmt.Fprintln(&b, (z.Uint64()*2654435761)%1000003)
	}
	return tracetest.WriteFile(t, t.TempDir(), "lirs_zipf.trace.gz", b.Bytes())
}

func TestTraceReplayZipf(t *testing.T) {
	path := zipfTrace(t, 30000, 5000)
	cfg, err := config.Parse([]string{"-trace", path, "-target", "velo,otter,theine,ristretto,mutexmap",
		"-capacities", "100, 500", "-json", filepath.Join(t.TempDir(), "out.json")})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Run(cfg, &out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cfg.JSONPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep traceReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	wantCaches := []string{"velo", "otter", "theine", "ristretto", "lru", "clock", "optimal"}
	if !slices.Equal(rep.Caches, wantCaches) || !slices.Equal(rep.Capacities, []int{100, 500}) ||
		rep.Accesses != 30000 || rep.Format != "lirs" || len(rep.Results) != 2*len(wantCaches) {
		t.Fatalf("report: caches %v capacities %v accesses %d format %s, %d results",
			rep.Caches, rep.Capacities, rep.Accesses, rep.Format, len(rep.Results))
	}
	if len(rep.Skipped) != 1 || rep.Skipped[0].Target != "mutexmap" {
		t.Errorf("skipped %v, want mutexmap", rep.Skipped)
	}
	ratio := map[string]float64{}
	for _, r := range rep.Results {
		ratio[fmt.Sprint(r.Capacity, r.Cache)] = r.HitRatio
		if r.HitRatio <= 0 || r.HitRatio >= 100 || r.Accesses != 30000 || r.Note != "" {
			t.Errorf("%+v", r)
		}
	}
	for _, c := range rep.Capacities {
		opt := ratio[fmt.Sprint(c, "optimal")]
		for _, name := range wantCaches {
			if r := ratio[fmt.Sprint(c, name)]; r > opt {
				t.Errorf("capacity %d: %s %.2f%% above optimal %.2f%%", c, name, r, opt)
			}
		}
		// On a Zipf trace every cache does far better than nothing, and
		// the bigger cache better than the smaller one.
		for _, name := range wantCaches {
			if r := ratio[fmt.Sprint(c, name)]; r < 20 {
				t.Errorf("capacity %d: %s only %.2f%%", c, name, r)
			}
			if c == 500 && ratio[fmt.Sprint(500, name)] <= ratio[fmt.Sprint(100, name)] {
				t.Errorf("%s: %.2f%% at 500, not above %.2f%% at 100", name, ratio[fmt.Sprint(500, name)], ratio[fmt.Sprint(100, name)])
			}
		}
	}
	for _, s := range []string{"capacity", "optimal", "gap to optimal", "skipped mutexmap"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}

func TestTraceCapacities(t *testing.T) {
	for _, tc := range []struct {
		flag, path string
		distinct   int
		want       []int
		err        bool
	}{
		{"5, 10", "/x/arc_OLTP.lis.gz", 100, []int{5, 10}, false},
		{"", "/x/arc_OLTP.lis.gz", 186880, []int{250, 1000, 2000}, false},
		{"", "/x/arc_P3.lis", 1, []int{25000, 100000, 200000}, false},
		{"", "/x/lirs_cs.trace.gz", 1409, []int{14, 70, 140, 352}, false},
		{"", "/x/lirs_tiny.trace.gz", 50, []int{1, 2, 5, 12}, false},
		{"", "/x/lirs_tiny.trace.gz", 3, []int{1}, false},
		{"0", "/x/a", 10, nil, true},
		{"5,5", "/x/a", 10, nil, true},
		{"x", "/x/a", 10, nil, true},
	} {
		got, src, err := traceCapacities(tc.flag, tc.path, tc.distinct)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) || (err == nil && src == "") {
			t.Errorf("traceCapacities(%q, %q, %d) = %v, %q, %v; want %v", tc.flag, tc.path, tc.distinct, got, src, err, tc.want)
		}
	}
}

func TestTraceRunErrors(t *testing.T) {
	dir := t.TempDir()
	empty := tracetest.WriteFile(t, dir, "lirs_empty.trace", []byte("*\n"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-trace", empty}, "no accesses"},
		{[]string{"-trace", empty, "-format", "csv"}, "-format"},
		{[]string{"-trace", filepath.Join(dir, "unknown.bin")}, "give -format"},
	} {
		// Bad flags are caught by config.Parse (a usage error), the rest
		// when the trace is read.
		cfg, err := config.Parse(tc.args)
		if err == nil {
			err = Run(cfg, new(bytes.Buffer))
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v; want one containing %q", tc.args, err, tc.want)
		}
	}
}

// TestTraceLirsLoop replays the LIRS loop trace (1,011 keys accessed in a
// loop) at capacity 512: LRU and CLOCK miss nearly always, optimal keeps
// half the loop. It reads the shared traces folder and skips without it.
func TestTraceLirsLoop(t *testing.T) {
	td := loadSharedTrace(t, "lirs_loop.trace.gz")
	rt := mustRefTrace(t, td.Keys)
	if len(rt.ids) != 505500 || rt.distinct() != 1011 {
		t.Fatalf("%d accesses, %d distinct keys; the README says 505,500 and 1,011", len(rt.ids), rt.distinct())
	}
	pct := func(hits int) float64 { return 100 * float64(hits) / float64(len(rt.ids)) }
	lru, clock, opt := pct(rt.lru(512)), pct(rt.clock(512)), pct(rt.optimal(512))
	if !(opt > lru) || lru > 1 || clock > 1 || opt < 40 {
		t.Errorf("capacity 512: lru %.2f%%, clock %.2f%%, optimal %.2f%%", lru, clock, opt)
	}
	keys := make([]string, rt.distinct())
	for i, k := range rt.keys {
		keys[i] = strconv.FormatUint(k, 10)
	}
	c, err := targets.OpenForReplay("velo", 512)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hits, err := replayTrace(c, rt.ids, keys)
	if err != nil {
		t.Fatal(err)
	}
	if v := pct(hits); v > opt {
		t.Errorf("velo %.2f%% above optimal %.2f%%", v, opt)
	}
	t.Logf("capacity 512: velo %.2f%%, lru %.2f%%, clock %.2f%%, optimal %.2f%%", pct(hits), lru, clock, opt)
}

// TestTraceOracleLRUBytes checks the oracleGeneral reader against
// libCacheSim's published LRU hit ratios on its cloudPhysicsIO sample
// (18.00 / 28.23 / 37.03% at 128 / 512 / 1024 MiB). It skips without the
// shared traces folder.
func TestTraceOracleLRUBytes(t *testing.T) {
	td := loadSharedTrace(t, "libcachesim_cloudPhysicsIO.oracleGeneral.bin.gz")
	rt := mustRefTrace(t, td.Keys)
	var sum uint64
	for _, s := range td.Sizes {
		sum += uint64(s)
	}
	if len(rt.ids) != 113872 || rt.distinct() != 48974 || sum != 4368040448 {
		t.Fatalf("%d accesses, %d distinct, %d bytes; the README says 113,872, 48,974 and 4,368,040,448",
			len(rt.ids), rt.distinct(), sum)
	}
	for _, tc := range []struct {
		mib  int64
		want float64
	}{{128, 18.00}, {512, 28.23}, {1024, 37.03}} {
		got := 100 * float64(rt.lruBytes(td.Sizes, tc.mib<<20)) / float64(len(rt.ids))
		if got < tc.want-0.1 || got > tc.want+0.1 {
			t.Errorf("LRU at %d MiB: %.2f%%, libCacheSim %.2f%%", tc.mib, got, tc.want)
		}
		t.Logf("LRU at %d MiB: %.2f%% (libCacheSim %.2f%%)", tc.mib, got, tc.want)
	}
}

// TestTraceVeloConfigs is not a check but a measurement for
// docs/hit-ratio.md: velo's hit ratio on the trace named by
// $LOADGEN_TRACE_VELO_CONFIGS, at its default capacities, with the segment
// size and sharding of a replay changed. Skipped unless that is set.
func TestTraceVeloConfigs(t *testing.T) {
	path := os.Getenv("LOADGEN_TRACE_VELO_CONFIGS")
	if path == "" {
		t.Skip("set LOADGEN_TRACE_VELO_CONFIGS to a trace file to measure")
	}
	td, err := tracefile.Load(path, "")
	if err != nil {
		t.Fatal(err)
	}
	rt := mustRefTrace(t, td.Keys)
	keys := make([]string, rt.distinct())
	for i, k := range rt.keys {
		keys[i] = strconv.FormatUint(k, 10)
	}
	caps, _, err := traceCapacities(os.Getenv("LOADGEN_TRACE_CAPACITIES"), path, rt.distinct())
	if err != nil {
		t.Fatal(err)
	}
	pct := func(hits int) string { return strconv.FormatFloat(100*float64(hits)/float64(len(rt.ids)), 'f', 2, 64) }
	t.Logf("%s: capacity | clock | velo, one shard, segments of 4 KiB / 64 KiB / 256 KiB | velo, default shards (MaxBytes 64 MiB)", filepath.Base(path))
	for _, c := range caps {
		line := fmt.Sprintf("| %d | %s |", c, pct(rt.clock(c)))
		for _, seg := range []int{4 << 10, 64 << 10, 256 << 10} {
			v, err := targets.ReplayVelo(velo.Options{MaxEntries: c, MaxBytes: targets.ReplayBudget(c), Shards: 1,
				SegmentBytes: seg, ExpiryInterval: targets.ReplayExpiryInterval})
			if err != nil {
				line += " - |" // the budget is too small or too large for this segment size
				continue
			}
			hits, err := replayTrace(v, rt.ids, keys)
			v.Close()
			if err != nil {
				t.Fatal(err)
			}
			line += " " + pct(hits)
			if lost := targets.ByteEvictions(v); lost > 0 {
				line += fmt.Sprintf(" (%d evicted by bytes)", lost)
			}
			line += " |"
		}
		vc, err := targets.ReplayVelo(velo.Options{MaxEntries: c, MaxBytes: 64 << 20, ExpiryInterval: targets.ReplayExpiryInterval})
		if err != nil {
			t.Fatal(err)
		}
		hits, err := replayTrace(vc, rt.ids, keys)
		vc.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s %s |", line, pct(hits))
	}
}

// loadSharedTrace reads a trace from the shared traces folder, skipping the
// test when the folder is not next to the repository.
func loadSharedTrace(t *testing.T, name string) *tracefile.Data {
	t.Helper()
	path := filepath.Join(sharedTraces, name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s not found (the shared traces folder is not next to the repository): %v", path, err)
	}
	td, err := tracefile.Load(path, "")
	if err != nil {
		t.Fatal(err)
	}
	return td
}

// TestTracePlot replays a small generated LIRS trace with -plot and checks
// that both image formats are written, and that a bad extension is an
// error.
func TestTracePlot(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&b, "%d\n", (i*7)%97+i%5)
	}
	path := tracetest.WriteFile(t, dir, "lirs_small.trace", []byte(b.String()))
	for _, ext := range []string{".svg", ".png"} {
		out := filepath.Join(dir, "curves"+ext)
		cfg, err := config.Parse([]string{"-trace", path, "-capacities", "10,20,40,80", "-target", "velo", "-plot", out})
		if err == nil {
			err = Run(cfg, new(bytes.Buffer))
		}
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(out); err != nil || fi.Size() == 0 {
			t.Fatalf("%s: %v, %v", out, fi, err)
		}
	}
	cfg, err := config.Parse([]string{"-trace", path, "-capacities", "10", "-target", "velo", "-plot", filepath.Join(dir, "x.gif")})
	if err == nil {
		err = Run(cfg, new(bytes.Buffer))
	}
	if err == nil || !strings.Contains(err.Error(), "want a .png or .svg file") {
		t.Fatalf("-plot x.gif: error %v", err)
	}
}

// TestTracePlainCompressed replays an application log of string keys,
// gzipped and zstd-compressed, with the format inferred from the name.
func TestTracePlainCompressed(t *testing.T) {
	var log bytes.Buffer
	rng := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(rng, 1.1, 1, 2000)
	for range 20000 {
		fmt.Fprintf(&log, "/api/items/%d,%d\n", z.Uint64(), 100+rng.IntN(900))
	}
	dir := t.TempDir()
	var gz, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(log.Bytes())
	gw.Close()
	zw, err := zstd.NewWriter(&zs)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(log.Bytes())
	zw.Close()
	var ratios []float64
	for name, data := range map[string][]byte{"access.csv.gz": gz.Bytes(), "access.log.zst": zs.Bytes()} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, name+".json")
		cfg, err := config.Parse([]string{"-trace", path, "-target", "velo", "-capacities", "200", "-json", out})
		if err != nil {
			t.Fatal(err)
		}
		if err := Run(cfg, &bytes.Buffer{}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var rep traceReport
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Format != "plain" || rep.Accesses != 20000 || rep.ObjectBytes == 0 {
			t.Fatalf("%s: format %q, %d accesses, %d object bytes", name, rep.Format, rep.Accesses, rep.ObjectBytes)
		}
		for _, r := range rep.Results {
			if r.Cache == "velo" {
				ratios = append(ratios, r.HitRatio)
			}
		}
	}
	if len(ratios) != 2 || ratios[0] < 30 || ratios[1] < 30 {
		t.Fatalf("velo hit ratios %v, want two above 30%% on a Zipf log", ratios)
	}
}
