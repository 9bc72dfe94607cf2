package velorueidis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// TestMeasureStores compares the velo store with rueidis's default store
// (its LRU) on one connection holding N cached GET replies of 100 bytes
// (N = VELORUEIDIS_MEASURE_KEYS, 100,000 by default):
//
//   - heap objects and bytes the cache adds, the time of a forced garbage
//     collection, and the latency of a DoCache hit (one goroutine, random
//     keys, all cached: mean, p50, p99, p99.9);
//   - the same reads while another goroutine writes cached keys to Redis
//     (VELORUEIDIS_MEASURE_WRITES per second, 5,000 by default), so that
//     invalidations arrive during the reads: hits and misses reported
//     apart;
//   - the hit ratio of each store given the same byte budget
//     (CacheSizeEachConn, VELORUEIDIS_MEASURE_BUDGET_MIB, 8 by default),
//     smaller than the working set, over the same Zipf-distributed read
//     sequence, and how many replies the budget holds; then velo again
//     at the budget where it holds as many replies as the LRU did
//     (VELORUEIDIS_MEASURE_HITRATIO_ONLY=1 runs only this part).
//
// Each store is measured in a process of its own (the test binary run
// again), twice, alternating, next to a client without client-side
// caching as the baseline; the hit ratio runs once per store. It runs
// only with VELORUEIDIS_MEASURE=1 (see docs/scale-out.md):
//
//	VELORUEIDIS_MEASURE=1 GOWORK=off go test -run TestMeasureStores -count=1 -v .
//	VELORUEIDIS_MEASURE=1 VELORUEIDIS_MEASURE_KEYS=1000000 GOWORK=off go test -run TestMeasureStores -count=1 -v -timeout 30m .
func TestMeasureStores(t *testing.T) {
	if os.Getenv("VELORUEIDIS_MEASURE") == "" {
		t.Skip("a measurement, not a test: set VELORUEIDIS_MEASURE=1 to run it")
	}
	keys := measureEnv(t, "VELORUEIDIS_MEASURE_KEYS", 100_000)
	if target := os.Getenv("VELORUEIDIS_MEASURE_TARGET"); target != "" {
		addr := os.Getenv("VELORUEIDIS_MEASURE_ADDR")
		if store, ok := strings.CutSuffix(target, "-budget"); ok {
			budget := measureEnv(t, "VELORUEIDIS_MEASURE_BUDGET_MIB", 8) << 20
			if os.Getenv("VELORUEIDIS_MEASURE_BUDGET_BYTES") != "" {
				budget = measureEnv(t, "VELORUEIDIS_MEASURE_BUDGET_BYTES", 0)
			}
			measureHitRatio(t, store, addr, keys, budget)
			return
		}
		measureOne(t, target, addr, keys, measureEnv(t, "VELORUEIDIS_MEASURE_WRITES", 5000))
		return
	}
	srv := startRedis(t)
	admin := newAdmin(t, srv.addr)
	// The server remembers which keys each connection has cached in a
	// table of at most 1M keys by default, and forgets those of a closed
	// connection only when the key is written or the table is full. At
	// 1M keys, the later runs would find it full and get invalidations
	// for keys the table drops: lift the limit.
	mustDo(t, admin, "CONFIG", "SET", "tracking-table-max-keys", "0")
	val := string(make([]byte, 100))
	for i := 0; i < keys; i += 1000 {
		args := []string{"MSET"}
		for j := i; j < min(i+1000, keys); j++ {
			args = append(args, measureKey(j), val)
		}
		mustDo(t, admin, args...)
	}
	t.Logf("%d keys, 100-byte values, one connection, GOMAXPROCS %d, %s", keys, runtime.GOMAXPROCS(0), runtime.Version())
	tables := map[string][]string{}
	// The last run gives velo the budget at which it holds about as many
	// replies as the LRU did at the common budget (from the two rows
	// before it), to tell the policies apart from the accounting.
	targets := []string{"none", "lru", "velo", "lru", "velo", "lru-budget", "velo-budget", "velo-budget"}
	if os.Getenv("VELORUEIDIS_MEASURE_HITRATIO_ONLY") != "" {
		targets = targets[5:]
	}
	for _, target := range targets {
		start := time.Now()
		cmd := exec.Command(os.Args[0], "-test.run=^TestMeasureStores$", "-test.count=1", "-test.v", "-test.timeout=0")
		cmd.Env = append(os.Environ(), "VELORUEIDIS_MEASURE_TARGET="+target, "VELORUEIDIS_MEASURE_ADDR="+srv.addr)
		if hr := tables["MEASUREHR|"]; len(hr) == 2 {
			budget, lru, velo := 0.0, 0.0, 0.0
			for i, row := range hr {
				f := strings.Fields(row)
				e, err := strconv.ParseFloat(f[len(f)-3], 64)
				if err != nil || e == 0 {
					t.Fatalf("no entry count in %q", row)
				}
				if i == 0 {
					lru = e
				} else {
					velo = e
					budget, _ = strconv.ParseFloat(f[len(f)-7], 64)
				}
			}
			cmd.Env = append(cmd.Env, fmt.Sprintf("VELORUEIDIS_MEASURE_BUDGET_BYTES=%d", int(budget*(1<<20)*lru/velo)))
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", target, err, out)
		}
		found := false
		for _, line := range strings.Split(string(out), "\n") {
			for _, table := range []string{"MEASURE|", "MEASURELOAD|", "MEASUREHR|"} {
				if _, row, ok := strings.Cut(line, table); ok {
					tables[table] = append(tables[table], row)
					found = true
				}
			}
		}
		if !found {
			t.Fatalf("%s: no result in\n%s", target, out)
		}
		t.Logf("%s: %v", target, time.Since(start).Round(time.Millisecond))
	}
	t.Logf("idle: heap, forced GC, DoCache hits (all cached)")
	t.Logf("%-24s %12s %9s %14s %10s %10s %10s %10s", "store", "heap objects", "heap MiB", "forced GC p50", "hit mean", "hit p50", "hit p99", "hit p99.9")
	for _, row := range tables["MEASURE|"] {
		t.Log(row)
	}
	t.Logf("under writes: the same reads while another goroutine SETs random cached keys")
	t.Logf("%-24s %9s %8s %7s %10s %10s %10s %10s %10s %10s", "store", "writes/s", "hits", "misses", "hit mean", "hit p50", "hit p99", "hit p99.9", "miss p50", "miss p99")
	for _, row := range tables["MEASURELOAD|"] {
		t.Log(row)
	}
	t.Logf("equal bytes: same CacheSizeEachConn, same Zipf read sequence")
	t.Logf("%-24s %10s %9s %9s %9s %9s %9s %10s", "store", "budget MiB", "reads", "hits", "hit ratio", "entries", "heap MiB", "elapsed")
	for _, row := range tables["MEASUREHR|"] {
		t.Log(row)
	}
}

// measureEnv returns the positive integer in the environment variable
// name, or def when it is not set.
func measureEnv(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

func measureKey(i int) string { return fmt.Sprintf("user:%08d", i) }

var measureNames = map[string]string{"none": "none (no client cache)", "lru": "rueidis default (LRU)", "velo": "velo"}

// measureClient returns a client of target's kind: "none" (no
// client-side cache: the baseline), "lru" (rueidis's default store) or
// "velo", with a cache of eachConn bytes on its one connection.
func measureClient(t *testing.T, target, addr string, eachConn int) (rueidis.Client, *Stores) {
	var stores *Stores
	opt := rueidis.ClientOption{InitAddress: []string{addr}, PipelineMultiplex: -1, CacheSizeEachConn: eachConn}
	switch target {
	case "none":
		opt.DisableCache = true
	case "velo":
		var err error
		stores, err = NewStores(Options{})
		if err != nil {
			t.Fatal(err)
		}
		opt.NewCacheStoreFn = stores.NewCacheStore
	case "lru":
	default:
		t.Fatalf("unknown target %q", target)
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	return c, stores
}

// percentiles formats the p-th fractions of sorted lat, "-" when empty.
func percentiles(lat []time.Duration, ps ...float64) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = "-"
		if len(lat) > 0 {
			out[i] = fmt.Sprint(lat[min(int(float64(len(lat))*p), len(lat)-1)])
		}
	}
	return out
}

// measureOne measures one store in this process and prints a MEASURE|
// line (heap, forced GC, idle hits) and, but for "none", a MEASURELOAD|
// line (reads while another goroutine writes writesPerSec cached keys).
func measureOne(t *testing.T, target, addr string, n, writesPerSec int) {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = measureKey(i)
	}
	ctx := context.Background()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	// A budget that holds every key: 256 MiB, or 512 bytes a key.
	c, _ := measureClient(t, target, addr, max(256<<20, n*512))
	defer c.Close()
	get := func(k string) rueidis.RedisResult {
		return c.DoCache(ctx, c.B().Get().Key(k).Cache(), time.Hour)
	}
	if target != "none" {
		const batch = 1000
		cmds := make([]rueidis.CacheableTTL, 0, batch)
		for i := 0; i < n; i += batch {
			cmds = cmds[:0]
			for _, k := range keys[i:min(i+batch, n)] {
				cmds = append(cmds, rueidis.CT(c.B().Get().Key(k).Cache(), time.Hour))
			}
			for _, r := range c.DoMultiCache(ctx, cmds...) {
				if err := r.Error(); err != nil {
					t.Fatal(err)
				}
			}
		}
		cmds = nil
		for i := 0; i < n; i += max(1, n/1000) {
			if k := keys[i]; !get(k).IsCacheHit() {
				t.Fatalf("%s: %q not cached", target, k)
			}
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	var gcs []time.Duration
	for range 7 {
		start := time.Now()
		runtime.GC()
		gcs = append(gcs, time.Since(start))
	}
	slices.Sort(gcs)
	name := measureNames[target]
	if target == "none" {
		fmt.Printf("MEASURE|%-24s %12d %9.1f %14v %10s %10s %10s %10s\n", name,
			int64(m1.HeapObjects)-int64(m0.HeapObjects), float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/(1<<20),
			gcs[len(gcs)/2].Round(time.Microsecond), "-", "-", "-", "-")
		return
	}
	const reads = 300_000
	// Idle: every key cached, nothing written; every read timed.
	r := rand.New(rand.NewPCG(1, 2))
	lat := make([]time.Duration, reads)
	start := time.Now()
	for i := range lat {
		s := time.Now()
		get(keys[r.IntN(n)])
		lat[i] = time.Since(s)
	}
	mean := time.Since(start) / reads
	slices.Sort(lat)
	p := percentiles(lat, 0.5, 0.99, 0.999)
	fmt.Printf("MEASURE|%-24s %12d %9.1f %14v %10s %10s %10s %10s\n", name,
		int64(m1.HeapObjects)-int64(m0.HeapObjects), float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/(1<<20),
		gcs[len(gcs)/2].Round(time.Microsecond), mean, p[0], p[1], p[2])

	// Under writes: a second client (no client cache) SETs random keys,
	// paced at writesPerSec, while this goroutine reads as above. A read
	// of a key invalidated since it was cached is a miss (a round trip,
	// which caches it again).
	w, _ := measureClient(t, "none", addr, 0)
	defer w.Close()
	val := string(make([]byte, 100))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var written int
	wg.Add(1)
	go func() {
		defer wg.Done()
		wr := rand.New(rand.NewPCG(3, 4))
		begin := time.Now()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			due := int(time.Since(begin).Seconds()*float64(writesPerSec)) - written
			if due <= 0 {
				continue
			}
			cmds := make(rueidis.Commands, 0, due)
			for range due {
				cmds = append(cmds, w.B().Set().Key(keys[wr.IntN(n)]).Value(val).Build())
			}
			for _, res := range w.DoMulti(ctx, cmds...) {
				if err := res.Error(); err != nil {
					t.Error(err)
					return
				}
			}
			written += due
		}
	}()
	time.Sleep(100 * time.Millisecond) // let the writes begin
	hits, misses := make([]time.Duration, 0, reads), make([]time.Duration, 0, reads/10)
	start = time.Now()
	for range reads {
		s := time.Now()
		res := get(keys[r.IntN(n)])
		d := time.Since(s)
		if err := res.Error(); err != nil {
			t.Fatal(err)
		}
		if res.IsCacheHit() {
			hits = append(hits, d)
		} else {
			misses = append(misses, d)
		}
	}
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	rate := float64(written) / (elapsed + 100*time.Millisecond).Seconds()
	var sum time.Duration
	for _, d := range hits {
		sum += d
	}
	hitMean := "-"
	if len(hits) > 0 {
		hitMean = fmt.Sprint(sum / time.Duration(len(hits)))
	}
	slices.Sort(hits)
	slices.Sort(misses)
	hp, mp := percentiles(hits, 0.5, 0.99, 0.999), percentiles(misses, 0.5, 0.99)
	fmt.Printf("MEASURELOAD|%-24s %9.0f %8d %7d %10s %10s %10s %10s %10s %10s\n", name,
		rate, len(hits), len(misses), hitMean, hp[0], hp[1], hp[2], mp[0], mp[1])
}

// measureHitRatio reads keys chosen by a Zipf law (s = 1.01) through a
// client of target's kind whose connection has a cache of budget bytes, and
// prints a MEASUREHR| line: the hit ratio over the reads after a warm-up,
// the heap the client holds then, and how many replies the budget holds
// (measured after the reads, with keys of another name). The read
// sequence is the same for every store (a fixed seed).
func measureHitRatio(t *testing.T, target, addr string, n, budget int) {
	const warm, reads = 100_000, 200_000
	ctx := context.Background()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	c, stores := measureClient(t, target, addr, budget)
	defer c.Close()
	z := rand.NewZipf(rand.New(rand.NewPCG(5, 6)), 1.01, 1, uint64(n-1))
	hits := 0
	start := time.Now()
	for i := range warm + reads {
		k := measureKey(int(z.Uint64()))
		res := c.DoCache(ctx, c.B().Get().Key(k).Cache(), time.Hour)
		if err := res.Error(); err != nil {
			t.Fatal(err)
		}
		if i >= warm && res.IsCacheHit() {
			hits++
		}
	}
	elapsed := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	// How many replies the budget holds: read keys never read before in
	// order, then count velo's entries, or, for the LRU (which does not
	// say), probe from the newest key back to the first one it evicted.
	// The batches are small: the LRU takes a place for each request of
	// a batch when it is sent, and a batch larger than what the budget
	// holds evicts replies of its own.
	fill := make([]string, min(n, 200_000))
	for i := range fill {
		fill[i] = fmt.Sprintf("fill:%07d", i) // as long as measureKey's
	}
	val := string(make([]byte, 100))
	for i := 0; i < len(fill); i += 1000 {
		args := []string{"MSET"}
		for _, k := range fill[i:min(i+1000, len(fill))] {
			args = append(args, k, val)
		}
		mustDo(t, c, args...)
	}
	for i := 0; i < len(fill); i += 100 {
		cmds := make([]rueidis.CacheableTTL, 0, 100)
		for _, k := range fill[i:min(i+100, len(fill))] {
			cmds = append(cmds, rueidis.CT(c.B().Get().Key(k).Cache(), time.Hour))
		}
		for _, r := range c.DoMultiCache(ctx, cmds...) {
			if err := r.Error(); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries := 0
	if stores != nil {
		entries = stores.Stats().Velo.Entries
	} else {
		for i := len(fill) - 1; i >= 0 && c.DoCache(ctx, c.B().Get().Key(fill[i]).Cache(), time.Hour).IsCacheHit(); i-- {
			entries++
		}
	}
	fmt.Printf("MEASUREHR|%-24s %10.2f %9d %9d %8.1f%% %9d %9.1f %10v\n", measureNames[target], float64(budget)/(1<<20), reads, hits,
		100*float64(hits)/reads, entries, float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/(1<<20), elapsed.Round(time.Millisecond))
}
