package velorueidis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// TestMeasureStores compares the velo store with rueidis's default store
// (its LRU) on one connection holding 100,000 cached GET replies of 100
// bytes: heap objects and bytes the cache adds, the time of a forced
// garbage collection, and the latency of a DoCache hit (one goroutine,
// random keys, all cached). Each store is measured in a process of its
// own (the test binary run again), twice, alternating, next to a client
// without client-side caching as the baseline. It runs only with
// VELORUEIDIS_MEASURE=1 (see docs/scale-out.md):
//
//	VELORUEIDIS_MEASURE=1 GOWORK=off go test -run TestMeasureStores -count=1 -v .
func TestMeasureStores(t *testing.T) {
	if os.Getenv("VELORUEIDIS_MEASURE") == "" {
		t.Skip("a measurement, not a test: set VELORUEIDIS_MEASURE=1 to run it")
	}
	if target := os.Getenv("VELORUEIDIS_MEASURE_TARGET"); target != "" {
		measureOne(t, target, os.Getenv("VELORUEIDIS_MEASURE_ADDR"))
		return
	}
	srv := startRedis(t)
	admin := newAdmin(t, srv.addr)
	val := string(make([]byte, 100))
	for i := 0; i < measureKeys; i += 1000 {
		args := []string{"MSET"}
		for j := i; j < i+1000; j++ {
			args = append(args, measureKey(j), val)
		}
		mustDo(t, admin, args...)
	}
	t.Logf("%d keys, 100-byte values, one connection, GOMAXPROCS %d, %s", measureKeys, runtime.GOMAXPROCS(0), runtime.Version())
	t.Logf("%-24s %12s %9s %14s %10s %10s %10s", "store", "heap objects", "heap MiB", "forced GC p50", "hit mean", "hit p50", "hit p99")
	for _, target := range []string{"none", "lru", "velo", "lru", "velo"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMeasureStores$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "VELORUEIDIS_MEASURE_TARGET="+target, "VELORUEIDIS_MEASURE_ADDR="+srv.addr)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", target, err, out)
		}
		found := false
		for _, line := range strings.Split(string(out), "\n") {
			if _, row, ok := strings.Cut(line, "MEASURE|"); ok {
				t.Log(row)
				found = true
			}
		}
		if !found {
			t.Fatalf("%s: no result in\n%s", target, out)
		}
	}
}

const measureKeys = 100_000

func measureKey(i int) string { return fmt.Sprintf("user:%08d", i) }

// measureOne measures one store in this process and prints a MEASURE|
// line: target "none" (no client-side cache: the baseline), "lru"
// (rueidis's default store) or "velo".
func measureOne(t *testing.T, target, addr string) {
	keys := make([]string, measureKeys)
	for i := range keys {
		keys[i] = measureKey(i)
	}
	opt := rueidis.ClientOption{InitAddress: []string{addr}, PipelineMultiplex: -1, CacheSizeEachConn: 256 << 20}
	name := map[string]string{"none": "none (no client cache)", "lru": "rueidis default (LRU)", "velo": "velo"}[target]
	switch target {
	case "none":
		opt.DisableCache = true
	case "velo":
		stores, err := NewStores(Options{})
		if err != nil {
			t.Fatal(err)
		}
		opt.NewCacheStoreFn = stores.NewCacheStore
	}
	ctx := context.Background()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	get := func(k string) rueidis.RedisResult {
		return c.DoCache(ctx, c.B().Get().Key(k).Cache(), time.Hour)
	}
	if target != "none" {
		for i := 0; i < measureKeys; i += 1000 {
			cmds := make([]rueidis.CacheableTTL, 0, 1000)
			for _, k := range keys[i : i+1000] {
				cmds = append(cmds, rueidis.CT(c.B().Get().Key(k).Cache(), time.Hour))
			}
			for _, r := range c.DoMultiCache(ctx, cmds...) {
				if err := r.Error(); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, k := range keys[:100] {
			if !get(k).IsCacheHit() {
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
	hit := "-"
	p50, p99 := "-", "-"
	if target != "none" {
		const hits = 300_000
		r := rand.New(rand.NewPCG(1, 2))
		lat := make([]time.Duration, 0, hits/10)
		start := time.Now()
		for i := range hits {
			k := keys[r.IntN(measureKeys)]
			if i%10 == 0 {
				s := time.Now()
				get(k)
				lat = append(lat, time.Since(s))
			} else {
				get(k)
			}
		}
		hit = fmt.Sprint(time.Since(start) / hits)
		slices.Sort(lat)
		p50, p99 = fmt.Sprint(lat[len(lat)/2]), fmt.Sprint(lat[len(lat)*99/100])
	}
	fmt.Printf("MEASURE|%-24s %12d %9.1f %14v %10s %10s %10s\n", name,
		int64(m1.HeapObjects)-int64(m0.HeapObjects), float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/(1<<20),
		gcs[len(gcs)/2].Round(time.Microsecond), hit, p50, p99)
}
