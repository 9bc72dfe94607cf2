// Package gcbench is -gc: what a cache holding millions of entries costs
// the garbage collector.
//
// For each target and each entry count N, a fresh process (this binary,
// re-executed with VELO_LOADGEN_GC_CHILD=target,N,load) measures:
//
//  1. Fill: N entries with 16-byte keys ("%016d") and 64-byte values, TTL
//     -ttl (1h by default), written one after another through the target's
//     write. Each key string and each value is a new allocation, as in a
//     service that decodes them from requests: caches that copy leave them
//     as garbage, caches that keep them keep them.
//  2. At rest, restWait after the fill (time for a cache's background work
//     to settle, as in a service between bursts: velo lets go of the
//     segments it prefaults while growing once a sweep interval passes
//     with no growth), and after two runtime.GC calls: HeapInuse,
//     HeapObjects and RSS (after
//     debug.FreeOSMemory, so that RSS is live memory, including memory a
//     cache maps outside the Go heap), the bytes per entry beyond the 80
//     raw key and value bytes, and the wall time of a forced runtime.GC
//     (median of 5), at GOMAXPROCS and again at GOMAXPROCS=1: with one P
//     the collector wakes no other thread, so the second figure is its own
//     work, free of the machine's wake-up latency (4 ms ticks on small VMs).
//  3. GC under load: GOMAXPROCS goroutines run 75% reads / 25% writes on
//     uniformly random existing keys while one goroutine allocates 4 KiB
//     pointerful objects at 100 MB/s into a ring. GOGC is lowered for the
//     load so that about 100 MiB of new allocation starts a cycle whatever
//     the cache's live heap (with the default GOGC=100 a 2 GiB heap would
//     not collect once in 10 s): every target then goes through about one
//     GC cycle per second, as a service with little GC headroom does. Every
//     16th op is timed; the table reports the p99 and p99.9 of the reads,
//     the GC cycles, and the share of the CPU the GC used
//     (/cpu/classes/gc/total over /cpu/classes/total in runtime/metrics).
//  4. Allocations per Set (overwrite) and per Get (hit): the Mallocs delta
//     of runtime.MemStats over 100,000 ops each from one goroutine, with
//     the key strings built beforehand and one value slice for every Set.
//
// The child prints its result as one JSON line; the parent prints a table
// and, with -json, writes every row. A (target, N) whose estimated memory
// exceeds MemAvailable is skipped with a line saying so.
package gcbench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
	"unsafe"

	"github.com/velocache/velo/cmd/loadgen/internal/config"
	"github.com/velocache/velo/cmd/loadgen/internal/report"
	"github.com/velocache/velo/cmd/loadgen/internal/targets"
	"github.com/velocache/velo/cmd/loadgen/internal/workload"
)

const (
	// gcChildEnv, in a child, is "target,entries,load".
	gcChildEnv = "VELO_LOADGEN_GC_CHILD"
	// gcLoadEnv sets the load duration of step 3 (default gcDefaultLoad).
	gcLoadEnv     = "VELO_LOADGEN_GC_LOAD"
	gcDefaultLoad = 10 * time.Second

	gcKeyBytes    = workload.KeyBytes // keys are "%016d" (workload.FormatKey)
	gcValueBytes  = 64
	gcRawBytes    = gcKeyBytes + gcValueBytes // what an entry holds: the baseline of the overhead
	gcReadPercent = 75
	gcSampleEvery = 16        // one op in this many is timed under load
	gcForcedRuns  = 5         // forced collections timed; the median is reported
	gcAllocOps    = 100_000   // ops per allocation count
	gcGarbageRate = 100 << 20 // bytes per second of background garbage
	gcGarbageRing = 1024      // garbage objects kept live (4 MiB)
	// gcCycleBytes is the new allocation that should start a GC cycle
	// under load; GOGC is set from it and the live heap.
	gcCycleBytes = 100 << 20
)

// gcRow is one (target, entries) measurement: a child's JSON line, and a
// row of the table and of the JSON file.
type gcRow struct {
	Target  string `json:"target"`
	Entries int    `json:"entries"`
	Skipped string `json:"skipped,omitempty"` // why it was not run
	Error   string `json:"error,omitempty"`

	GOMAXPROCS  int     `json:"gomaxprocs"`
	FillSeconds float64 `json:"fill_seconds"`

	// Before opening the cache, and after filling it, each after two GCs.
	BaseHeapInuse   uint64 `json:"base_heap_inuse"`
	BaseHeapObjects uint64 `json:"base_heap_objects"`
	BaseRSS         uint64 `json:"base_rss"`
	HeapInuse       uint64 `json:"heap_inuse"`
	HeapObjects     uint64 `json:"heap_objects"`
	RSS             uint64 `json:"rss"`
	// Bytes per entry beyond the 80 raw key and value bytes, from the heap
	// and from RSS (which also sees memory mapped outside the Go heap).
	HeapOverhead    float64 `json:"heap_overhead_bytes_per_entry"`
	RSSOverhead     float64 `json:"rss_overhead_bytes_per_entry"`
	ObjectsPerEntry float64 `json:"heap_objects_per_entry"`

	GCForcedNs []int64 `json:"gc_forced_ns"`
	GCMedianNs int64   `json:"gc_forced_median_ns"`
	// The same at GOMAXPROCS=1, where no other thread has to be woken:
	// the collector's own work, without the machine's wake-up latency.
	GCForced1PNs []int64 `json:"gc_forced_1p_ns"`
	GCMedian1PNs int64   `json:"gc_forced_1p_median_ns"`

	// Under load.
	LoadSeconds    float64 `json:"load_seconds"`
	GOGC           int     `json:"load_gogc"`
	GarbageBytes   uint64  `json:"load_garbage_bytes"`
	Ops            uint64  `json:"load_ops"`
	Reads          uint64  `json:"load_reads"`
	ReadHits       uint64  `json:"load_read_hits"`
	GCCycles       uint32  `json:"load_gc_cycles"`
	GCCPUFraction  float64 `json:"load_gc_cpu_fraction"`
	GCPauseTotalNs uint64  `json:"load_gc_pause_total_ns"`
	GCPauseMaxNs   uint64  `json:"load_gc_pause_max_ns"`
	GetSamples     int64   `json:"load_get_samples"`
	GetP50ns       int64   `json:"load_get_p50_ns"`
	GetP99ns       int64   `json:"load_get_p99_ns"`
	GetP999ns      int64   `json:"load_get_p999_ns"`
	SetP99ns       int64   `json:"load_set_p99_ns"`
	SetP999ns      int64   `json:"load_set_p999_ns"`

	AllocsPerSet float64 `json:"allocs_per_set"`
	AllocsPerGet float64 `json:"allocs_per_get"`
}

// gcReport is the -json file of -gc.
type gcReport struct {
	Meta        report.Meta       `json:"meta"`
	Config      map[string]string `json:"config"`
	LoadSeconds float64           `json:"load_seconds"`
	Rows        []gcRow           `json:"rows"`
}

// Run is -gc: in a child (gcChildEnv set) one measurement printed as a
// JSON line on w; otherwise a child per target and entry count, and the
// table on w.
func Run(cfg config.Config, w io.Writer) error {
	if spec := os.Getenv(gcChildEnv); spec != "" {
		return runGCChild(cfg, spec, w)
	}
	load := gcDefaultLoad
	if cfg.GCLoad > 0 {
		load = cfg.GCLoad
	} else if s := os.Getenv(gcLoadEnv); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return fmt.Errorf("%s=%q: want a positive duration", gcLoadEnv, s)
		}
		load = d
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("-gc re-executes itself: %w", err)
	}
	args := func(target string) []string {
		return []string{"-gc", "-target", target, "-ttl", cfg.TTL.String(), "-seed", strconv.FormatUint(cfg.Seed, 10)}
	}
	return runGCParent(cfg, w, load, execGCChild(exe, args))
}

// gcSpawner measures one (target, entries) in a child process.
type gcSpawner func(target string, entries int, load time.Duration) (gcRow, error)

// execGCChild runs exe with args(target) and gcChildEnv in its
// environment, and parses the JSON line it prints. The child's stderr goes
// to ours; its last line is kept for the error.
func execGCChild(exe string, args func(target string) []string) gcSpawner {
	return func(target string, entries int, load time.Duration) (gcRow, error) {
		cmd := exec.Command(exe, args(target)...)
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%s", gcChildEnv, target, entries, load))
		var stdout, stderr bytes.Buffer
		cmd.Stdout = &stdout
		cmd.Stderr = io.MultiWriter(os.Stderr, &stderr)
		runErr := cmd.Run()
		row, parseErr := parseGCChild(stdout.Bytes())
		if runErr != nil {
			last := strings.TrimSpace(stderr.String())
			if i := strings.LastIndexByte(last, '\n'); i >= 0 {
				last = last[i+1:]
			}
			return row, fmt.Errorf("child for %s at %d entries: %v: %s", target, entries, runErr, last)
		}
		return row, parseErr
	}
}

// parseGCChild finds the child's result: the last line of out that starts
// with '{' (a test binary adds lines of its own).
func parseGCChild(out []byte) (gcRow, error) {
	var line []byte
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if b := bytes.TrimSpace(sc.Bytes()); len(b) > 0 && b[0] == '{' {
			line = slices.Clone(b)
		}
	}
	if line == nil {
		return gcRow{}, errors.New("the child printed no JSON line")
	}
	var row gcRow
	if err := json.Unmarshal(line, &row); err != nil {
		return gcRow{}, fmt.Errorf("the child's JSON line: %w", err)
	}
	return row, nil
}

// runGCParent measures every entry count and target, one child each,
// smaller counts first, and prints the table. A failed child becomes a row
// with its error; Run then fails after printing everything.
func runGCParent(cfg config.Config, w io.Writer, load time.Duration, spawn gcSpawner) error {
	counts, err := config.ParseInts("-gc-entries", cfg.GCEntries, 1, math.MaxInt32)
	if err != nil {
		return err
	}
	progress := report.ProgressWriter(cfg.Progress)
	var rows []gcRow
	var failed []string
	for _, n := range counts {
		for _, t := range cfg.Targets {
			if t == "redis" {
				rows = append(rows, gcRow{Target: t, Entries: n, Skipped: "skipped: not in process"})
				continue
			}
			need := gcEstimate(t, n)
			if avail := memAvailable(); avail > 0 && need > avail {
				rows = append(rows, gcRow{Target: t, Entries: n,
					Skipped: fmt.Sprintf("skipped: would need %.1f GiB, %.1f GiB available", gib(need), gib(avail))})
				fmt.Fprintf(progress, "loadgen: -gc %s %d: %s\n", t, n, rows[len(rows)-1].Skipped)
				continue
			}
			start := time.Now()
			row, err := spawn(t, n, load)
			if err != nil {
				row.Target, row.Entries, row.Error = t, n, err.Error()
				failed = append(failed, err.Error())
			}
			rows = append(rows, row)
			fmt.Fprintf(progress, "loadgen: -gc %s %d: done in %.1fs\n", t, n, time.Since(start).Seconds())
		}
	}
	m := report.CollectMeta()
	printGCTable(w, m, load, rows)
	if cfg.PlotPath != "" {
		if err := writePlot(cfg.PlotPath, rows); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "loadgen: wrote %s\n", cfg.PlotPath)
	}
	if cfg.JSONPath != "" {
		b, err := json.MarshalIndent(gcReport{Meta: m, Config: cfg.Flags, LoadSeconds: load.Seconds(), Rows: rows}, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.JSONPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("-gc: %d measurement(s) failed: %s", len(failed), strings.Join(failed, "; "))
	}
	return nil
}

// gcEstimate is a generous guess at the memory a child needs for n
// entries: the bytes an entry takes, doubled for the garbage the fill
// leaves between collections, plus room for the runtime and the load.
func gcEstimate(target string, n int) uint64 {
	perEntry := uint64(400) // a heap object or more per entry (maps, nodes)
	switch target {
	case "velo", "bigcache", "freecache", "fastcache":
		perEntry = 16 + 64 + 64 + 64 // the capacity the child gives them, and an index
	case "ristretto":
		perEntry = 500 // also 10 counters per entry
	}
	return 2*uint64(n)*perEntry + 512<<20
}

func gib(b uint64) float64 { return float64(b) / (1 << 30) }

// memAvailable is MemAvailable from /proc/meminfo, or 0 if unknown.
func memAvailable() uint64 { return procField("/proc/meminfo", "MemAvailable:") }

// rss is this process's resident set (VmRSS), or 0 if unknown.
func rss() uint64 { return procField("/proc/self/status", "VmRSS:") }

// procField reads a "Name:   123 kB" line of a /proc file, in bytes.
func procField(path, name string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, name); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0
			}
			v, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				return 0
			}
			if len(f) > 1 && f[1] == "kB" {
				v <<= 10
			}
			return v
		}
	}
	return 0
}

// runGCChild measures spec ("target,entries,load") and prints the row as
// one JSON line on w.
func runGCChild(cfg config.Config, spec string, w io.Writer) error {
	f := strings.Split(spec, ",")
	if len(f) != 3 {
		return fmt.Errorf("%s=%q: want target,entries,load", gcChildEnv, spec)
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 1 {
		return fmt.Errorf("%s=%q: bad entry count", gcChildEnv, spec)
	}
	load, err := time.ParseDuration(f[2])
	if err != nil || load <= 0 {
		return fmt.Errorf("%s=%q: bad load duration", gcChildEnv, spec)
	}
	row, err := measureGC(cfg, gcParams{target: f[0], entries: n, load: load, allocOps: gcAllocOps}, report.ProgressWriter(cfg.Progress))
	if err != nil {
		return err
	}
	b, err := json.Marshal(row)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// gcParams is one measurement.
type gcParams struct {
	target   string
	entries  int
	load     time.Duration
	allocOps int
}

// gcConfig is the config a target is opened with for n entries: room for
// every entry (key, value and as much again), n keys, the current GOMAXPROCS.
func gcConfig(base config.Config, n int) config.Config {
	cfg := base
	cfg.Keys = n
	cfg.Entries = 0 // velo: no entry bound; otter and theine: 2n
	cfg.ValueMin, cfg.ValueSize = gcValueBytes, gcValueBytes
	capacity := int64(n) * (gcKeyBytes + gcValueBytes + 64)
	cfg.Capacity = (capacity + 1<<20 - 1) &^ (1<<20 - 1) // whole MiB
	cfg.Procs = []int{runtime.GOMAXPROCS(0)}
	if cfg.TTL <= 0 {
		cfg.TTL = time.Hour
	}
	return cfg
}

// restWait is how long the cache rests after the fill before its memory is
// read: two of velo's default sweep intervals and a half.
const restWait = 2500 * time.Millisecond

// measureGC runs the four steps of the file comment in this process.
func measureGC(base config.Config, p gcParams, progress io.Writer) (gcRow, error) {
	cfg := gcConfig(base, p.entries)
	n := p.entries
	row := gcRow{Target: p.target, Entries: n, GOMAXPROCS: runtime.GOMAXPROCS(0)}

	// Step 1 and 2: baseline, fill, heap.
	var ms runtime.MemStats
	collect()
	debug.FreeOSMemory()
	runtime.ReadMemStats(&ms)
	row.BaseHeapInuse, row.BaseHeapObjects, row.BaseRSS = ms.HeapInuse, ms.HeapObjects, rss()

	c, err := targets.Open(p.target, cfg.TargetConfig())
	if err != nil {
		return row, err
	}
	defer c.Close()
	start := time.Now()
	if err := gcFill(c, n, cfg.TTL); err != nil {
		return row, fmt.Errorf("filling %s: %w", p.target, err)
	}
	row.FillSeconds = time.Since(start).Seconds()
	fmt.Fprintf(progress, "loadgen: -gc %s %d: filled in %.1fs\n", p.target, n, row.FillSeconds)

	time.Sleep(restWait)
	collect()
	runtime.ReadMemStats(&ms)
	row.HeapInuse, row.HeapObjects = ms.HeapInuse, ms.HeapObjects
	debug.FreeOSMemory()
	row.RSS = rss()
	row.HeapOverhead = (float64(row.HeapInuse)-float64(row.BaseHeapInuse))/float64(n) - gcRawBytes
	row.RSSOverhead = (float64(row.RSS)-float64(row.BaseRSS))/float64(n) - gcRawBytes
	row.ObjectsPerEntry = (float64(row.HeapObjects) - float64(row.BaseHeapObjects)) / float64(n)
	row.GCForcedNs, row.GCMedianNs = timeForcedGC()
	prev := runtime.GOMAXPROCS(1)
	row.GCForced1PNs, row.GCMedian1PNs = timeForcedGC()
	runtime.GOMAXPROCS(prev)

	// Step 3: load with garbage.
	gcLoad(c, cfg, p, ms.HeapAlloc, &row)
	fmt.Fprintf(progress, "loadgen: -gc %s %d: %d GC cycles under load, Get p99.9 %d ns\n", p.target, n, row.GCCycles, row.GetP999ns)

	// Step 4: allocations.
	row.AllocsPerSet, row.AllocsPerGet = gcAllocs(c, n, p.allocOps, cfg.TTL, cfg.Seed)
	runtime.KeepAlive(c)
	return row, nil
}

// timeForcedGC times gcForcedRuns calls of runtime.GC (mark and sweep)
// and returns the times and their median.
func timeForcedGC() (ns []int64, median int64) {
	for range gcForcedRuns {
		t0 := time.Now()
		runtime.GC()
		ns = append(ns, int64(time.Since(t0)))
	}
	sorted := slices.Sorted(slices.Values(ns))
	return ns, sorted[len(sorted)/2]
}

// collect runs two collections: the second frees what finalizers of the
// first released, and the heap statistics then describe live memory.
func collect() {
	runtime.GC()
	runtime.GC()
}

// gcFill stores keys 0..n-1, each key string and value a new allocation.
func gcFill(c targets.Cache, n int, ttl time.Duration) error {
	var kb [gcKeyBytes]byte
	return targets.WriteAll(c, n, ttl, func(i int) (string, []byte) {
		workload.FormatKey(&kb, i)
		v := make([]byte, gcValueBytes)
		for j := 0; j < len(v); j += len(kb) {
			copy(v[j:], kb[:])
		}
		return string(kb[:]), v
	})
}

// loadGOGC is the GOGC at which about gcCycleBytes of new allocation on
// top of a live heap of live bytes starts a cycle (1..100).
func loadGOGC(live uint64) int {
	if live == 0 {
		return 100
	}
	return int(min(100, max(1, math.Ceil(100*gcCycleBytes/float64(live)))))
}

// gcLoad is step 3: the read/write mix on every P with garbage behind it.
func gcLoad(c targets.Cache, cfg config.Config, p gcParams, live uint64, row *gcRow) {
	row.GOGC = loadGOGC(live)
	prev := debug.SetGCPercent(row.GOGC)
	defer debug.SetGCPercent(prev)

	procs := runtime.GOMAXPROCS(0)
	mix := workload.MixTable(gcReadPercent, cfg.Seed)
	ws := make([]workload.Worker, procs)
	for i := range ws {
		ws[i] = workload.Worker{
			Rand:        rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1)),
			N:           p.entries,
			Buf:         make([]byte, 0, gcValueBytes),
			Value:       bytes.Repeat([]byte{'v'}, gcValueBytes),
			SampleEvery: gcSampleEvery,
			ReadHist:    workload.NewHist(),
			WriteHist:   workload.NewHist(),
			Slot:        i * 37 % len(mix),
		}
	}
	var stop atomic.Bool // stops the garbage
	var wg sync.WaitGroup
	var garbageBytes uint64
	wg.Go(func() { garbageBytes = makeGarbage(&stop, gcGarbageRate) })
	var phase atomic.Int32 // the workers measure from the start
	phase.Store(workload.PhaseMeasure)

	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := readGCCPU()
	start := time.Now()
	for i := range ws {
		w := &ws[i]
		wg.Go(func() { w.Run(&phase, c, nil, mix, cfg.TTL) })
	}
	time.Sleep(p.load)
	phase.Store(workload.PhaseStop)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	cpu1 := readGCCPU()
	runtime.ReadMemStats(&ms1)

	row.LoadSeconds = elapsed.Seconds()
	row.GarbageBytes = garbageBytes
	row.GCCycles = ms1.NumGC - ms0.NumGC
	if total := cpu1[1] - cpu0[1]; total > 0 {
		row.GCCPUFraction = (cpu1[0] - cpu0[0]) / total
	}
	row.GCPauseTotalNs = ms1.PauseTotalNs - ms0.PauseTotalNs
	for k := ms0.NumGC + 1; k <= ms1.NumGC && ms1.NumGC-k < uint32(len(ms1.PauseNs)); k++ {
		row.GCPauseMaxNs = max(row.GCPauseMaxNs, ms1.PauseNs[(k+uint32(len(ms1.PauseNs))-1)%uint32(len(ms1.PauseNs))])
	}
	get, set := workload.NewHist(), workload.NewHist()
	for _, w := range ws {
		row.Ops += w.Ops
		row.Reads += w.Reads
		row.ReadHits += w.Hits
		get.Merge(w.ReadHist)
		set.Merge(w.WriteHist)
	}
	row.GetSamples = get.TotalCount()
	row.GetP50ns, row.GetP99ns, row.GetP999ns = workload.Percentiles(get)
	_, row.SetP99ns, row.SetP999ns = workload.Percentiles(set)
}

// readGCCPU returns the GC's CPU seconds and all CPU seconds so far
// (runtime/metrics estimates, updated at each GC).
func readGCCPU() [2]float64 {
	s := []metrics.Sample{
		{Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/cpu/classes/total:cpu-seconds"},
	}
	metrics.Read(s)
	var out [2]float64
	for i := range s {
		if s[i].Value.Kind() == metrics.KindFloat64 {
			out[i] = s[i].Value.Float64()
		}
	}
	return out
}

// gcGarbage is a 4 KiB object made of pointers, so the GC scans it.
type gcGarbage struct{ p [512]*gcGarbage }

// makeGarbage allocates gcGarbage objects at rate bytes per second until
// stop, keeping the last gcGarbageRing of them live, as a service's
// request handling does. It returns the bytes allocated.
func makeGarbage(stop *atomic.Bool, rate float64) uint64 {
	ring := make([]*gcGarbage, gcGarbageRing)
	anchor := new(gcGarbage)
	start := time.Now()
	var made uint64
	i := 0
	for !stop.Load() {
		want := uint64(time.Since(start).Seconds() * rate)
		for made < want {
			g := new(gcGarbage)
			g.p[0], g.p[len(g.p)-1] = anchor, anchor
			ring[i] = g
			if i++; i == len(ring) {
				i = 0
			}
			made += uint64(unsafe.Sizeof(*g))
		}
		time.Sleep(time.Millisecond)
	}
	runtime.KeepAlive(ring)
	return made
}

// gcAllocs is step 4: heap allocations per Set (overwriting an existing
// key with a shared value) and per Get (a hit, into a buffer with room),
// over ops each. The keys are built before counting.
func gcAllocs(c targets.Cache, n, ops int, ttl time.Duration, seed uint64) (perSet, perGet float64) {
	rng := rand.New(rand.NewPCG(seed, 0xa11c))
	keys := make([]string, min(n, ops))
	var kb [gcKeyBytes]byte
	for i := range keys {
		workload.FormatKey(&kb, rng.IntN(n))
		keys[i] = string(kb[:])
	}
	val := bytes.Repeat([]byte{'s'}, gcValueBytes)
	buf := make([]byte, 0, gcValueBytes)
	wt, async := c.(targets.Waiter)

	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := range ops {
		_ = c.Write(keys[i%len(keys)], val, ttl)
	}
	if async {
		wt.Wait() // count what the applying goroutine allocates too
	}
	runtime.ReadMemStats(&m1)
	perSet = float64(m1.Mallocs-m0.Mallocs) / float64(ops)

	runtime.ReadMemStats(&m0)
	for i := range ops {
		_, _ = c.Read(buf[:0], keys[i%len(keys)])
	}
	runtime.ReadMemStats(&m1)
	perGet = float64(m1.Mallocs-m0.Mallocs) / float64(ops)
	return perSet, perGet
}

// perEntry formats bytes per entry, or "-" for a negative figure, which
// only measurement noise can produce.
func perEntry(b float64) string {
	if b < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", b)
}

// printGCTable writes the header lines and a markdown table, one row per
// (target, entries).
func printGCTable(w io.Writer, m report.Meta, load time.Duration, rows []gcRow) {
	fmt.Fprintf(w, "loadgen -gc: %d-byte keys, %d-byte values; after the fill, 2 GCs; forced GC = median of %d runtime.GC calls (at GOMAXPROCS, and at 1);\n",
		gcKeyBytes, gcValueBytes, gcForcedRuns)
	fmt.Fprintf(w, "load %v: %d%% reads / %d%% writes on uniform random keys, GOMAXPROCS goroutines, %d MB/s of 4 KiB pointerful garbage, GOGC set so ~%d MiB starts a cycle; every %dth op timed\n",
		load, gcReadPercent, 100-gcReadPercent, gcGarbageRate>>20, gcCycleBytes>>20, gcSampleEvery)
	fmt.Fprintf(w, "%s %s/%s, NumCPU %d, GOMAXPROCS %d, CPU %s, %s\n\n",
		m.GoVersion, m.GOOS, m.GOARCH, m.NumCPU, m.GOMAXPROCS, m.CPUModel, m.Date)

	// The columns that answer "what do these entries cost me"; every
	// other figure is in -json.
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	header := []string{"target", "entries", "RSS MiB", "B/entry", "heap objects", "forced GC ms",
		"GC CPU %", "Mops/s", "hit %", "Get p99.9 µs"}
	fmt.Fprintln(tw, "| "+strings.Join(header, "\t| ")+"\t|")
	fmt.Fprintln(tw, "|"+strings.Repeat(" ---\t|", len(header)))
	var notes []string
	missed := false
	for _, r := range rows {
		cells := []string{r.Target, strconv.Itoa(r.Entries)}
		switch {
		case r.Skipped != "":
			cells = append(cells, r.Skipped)
		case r.Error != "":
			cells = append(cells, "failed (see below)")
			notes = append(notes, fmt.Sprintf("%s at %d entries: %s", r.Target, r.Entries, r.Error))
		default:
			hit := 100 * float64(r.ReadHits) / float64(max(r.Reads, 1))
			missed = missed || hit < 99.95
			cells = append(cells,
				fmt.Sprintf("%.1f", float64(r.RSS)/(1<<20)),
				perEntry(r.RSSOverhead),
				strconv.FormatUint(r.HeapObjects, 10),
				fmt.Sprintf("%.2f", float64(r.GCMedianNs)/1e6),
				fmt.Sprintf("%.1f", 100*r.GCCPUFraction),
				fmt.Sprintf("%.2f", float64(r.Ops)/max(r.LoadSeconds, 1e-9)/1e6),
				fmt.Sprintf("%.1f", hit),
				fmt.Sprintf("%.1f", float64(r.GetP999ns)/1e3))
		}
		for len(cells) < len(header) {
			cells = append(cells, "")
		}
		fmt.Fprintln(tw, "| "+strings.Join(cells, "\t| ")+"\t|")
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRSS MiB: the process's resident memory after the fill (it sees memory mapped outside the Go heap, as fastcache's chunks);\n")
	fmt.Fprintf(w, "B/entry: what the cache added to it, per entry, beyond the %d raw key and value bytes (\"-\" where noise in RSS makes it negative); heap objects after the fill;\n", gcRawBytes)
	fmt.Fprintln(w, "forced GC: the median time of one runtime.GC; GC CPU % (of all Ps), Mops/s, read hit % and Get p99.9 under load. -json has every figure: heap bytes, GC at 1 P, cycles, allocations per op.")
	if missed {
		fmt.Fprintln(w, "hit % under 100: the cache evicted entries of the working set to stay within its bound (N x 144 bytes for the byte-bounded caches, 2N entries for otter)")
	}
	for _, s := range notes {
		fmt.Fprintln(w, "note: "+s)
	}
}
