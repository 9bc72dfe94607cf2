// Command loadgen measures velo for capacity planning: throughput and
// latency across core counts next to the design velo replaces (a map
// behind one sync.RWMutex, mutexmap.go), the peer caches (peers.go) and
// Redis (redis.go).
//
// The throughput workload follows the benchmarks of Caffeine and otter.
// Before anything is timed, loadgen builds the key strings ("user:%08d")
// and a stream of 1<<20 key indices drawn from a Zipf, uniform or
// sequential distribution. A cell is one read/write mix at one GOMAXPROCS
// setting. For each cell and each target, loadgen fills a fresh cache with
// every key, then runs GOMAXPROCS goroutines: each starts at its own offset
// of the shared stream and steps through it, and for each key does a read
// or a write as the mix says. The goroutines run for a warmup, then for the
// measured duration; throughput is the ops they counted over the measured
// wall time. Every 64th op is timed with time.Now into an HDR histogram
// (p50/p99/p99.9); each sample includes the cost of reading the clock,
// which the header reports. Within a cell the targets run one after
// another, in an order that rotates from cell to cell, so drift in the
// machine affects them alike.
//
// Other modes replace the table:
//
//	-redis-compare  Get and Set one at a time, velo in process vs Redis (redislatency.go)
//	-gc             memory and GC cost with millions of entries, a process per target (gc.go)
//	-trace FILE     replay an access trace and print hit ratios per capacity (trace.go)
//	-fill           keys kept and memory taken by a working set with overwrites, per cache (fill.go)
//
// Usage:
//
//	go run ./cmd/loadgen                                  # velo vs mutexmap, every mix, 1..NumCPU procs
//	go run ./cmd/loadgen -target all -procs 1,2 -plot out.svg
//	go run ./cmd/loadgen -mix 75 -value-size 32-1024 -json out.json
//	go run ./cmd/loadgen -gc -gc-entries 1000000
//
// loadgen is its own module, so that the peers, the Redis client, the
// histograms and the plotting never become requirements of velo.
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/velocache/velo"
)

const (
	streamLen   = 1 << 20 // key indices in the pre-generated stream (a power of two)
	sampleEvery = 64      // one op in this many is timed
	batchOps    = 256     // ops between two looks at the phase flag
)

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		printUsage(os.Stderr)
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v (see -h)\n", err)
		os.Exit(2)
	}
	if err := mainRun(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(1)
	}
}

func mainRun(cfg config) error {
	if cfg.CPUProf != "" {
		f, err := os.Create(cfg.CPUProf)
		if err != nil {
			return fmt.Errorf("cannot create %s: %w", cfg.CPUProf, err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.GC {
		return runGC(cfg, os.Stdout)
	}
	if cfg.TracePath != "" {
		return runTrace(cfg, os.Stdout)
	}
	if cfg.Fill.On {
		return runFill(cfg, os.Stdout)
	}
	if cfg.RedisCompare {
		r, err := redisLatency(context.Background(), cfg.RedisAddr, cfg.Keys, cfg.ValueSize, cfg.RedisOps)
		if err != nil {
			return err
		}
		formatLatency(os.Stdout, r)
		if cfg.JSONPath != "" {
			b, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				return err
			}
			return os.WriteFile(cfg.JSONPath, append(b, '\n'), 0o644)
		}
		return nil
	}
	rep, err := run(cfg, progressWriter(cfg))
	if err != nil {
		return err
	}
	printReport(os.Stdout, cfg, rep)
	return writeFiles(cfg, rep, os.Stderr)
}

// ---- Flags ----

// config is the parsed and validated command line.
type config struct {
	Progress  bool // -progress: every progress line, even when stderr is not a terminal
	Targets   []string
	Mixes     []int // read percentages, one table row each
	Procs     []int // GOMAXPROCS settings, one table column each
	Dist      string
	ZipfS     float64
	Keys      int
	ValueMin  int // values are ValueMin..ValueSize bytes (equal: fixed)
	ValueSize int
	Capacity  int64
	Entries   int // velo's MaxEntries and the entry bound of otter and theine; 0 = 2 x Keys for those, none for velo
	TTL       time.Duration
	Duration  time.Duration
	Warmup    time.Duration
	Seed      uint64
	JSONPath  string
	CSVPath   string
	PlotPath  string
	CPUProf   string
	// RedisCompare replaces the throughput table with the per-operation
	// latency of velo in process against Redis over loopback.
	RedisCompare bool
	RedisOps     int
	RedisAddr    string // -redis-addr: host:port of the Redis server
	// GC selects the memory/GC measurement (gc.go) instead of the
	// throughput table; GCEntries lists the entry counts it loads.
	GC        bool
	GCEntries string
	GCLoad    time.Duration // the loaded phase of -gc; 0 = 10s
	// TracePath selects trace replay (trace.go): hit ratio per capacity.
	TracePath   string
	TraceFormat string
	Capacities  string
	// Preset names the workload preset applied (preset.go); Count is how
	// many times each cell is measured (count.go); StreamLen is the key
	// stream's length (0: streamLen); SizeBy is "bytes" or "entries"
	// (peerBytes in preset.go).
	Preset    string
	Count     int
	StreamLen int
	SizeBy    string
	// Fill selects the working-set measurement (fill.go).
	Fill fillConfig

	flags map[string]string // every flag's value as given, for the JSON report
}

// lists holds the comma-separated flags until they are parsed.
type lists struct{ targets, mixes, procs, valueSize string }

func newFlagSet(cfg *config, l *lists) *flag.FlagSet {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.StringVar(&l.targets, "target", "velo,mutexmap", "caches to measure, comma-separated; all = every one but redis: "+strings.Join(targetNames(), ", "))
	fs.StringVar(&l.mixes, "mix", "100,75,50,25,0", "read percentages to measure, comma-separated (0..100)")
	fs.StringVar(&l.procs, "procs", defaultProcs(), "GOMAXPROCS settings (= goroutines) to measure, comma-separated")
	fs.StringVar(&cfg.Dist, "dist", "zipf", "key distribution: zipf, uniform or sequential (each goroutine walks the keys in order)")
	fs.Float64Var(&cfg.ZipfS, "zipf-s", 1.01, "Zipf exponent s (> 1)")
	fs.IntVar(&cfg.Keys, "keys", 1<<16, "number of distinct keys")
	fs.StringVar(&l.valueSize, "value-size", "64", "value size in bytes, fixed (64) or a range (32-1024: each key gets a size drawn uniformly)")
	fs.Int64Var(&cfg.Capacity, "capacity", 256<<20, "memory bound in bytes: velo's MaxBytes, and the byte bound of the peers that have one")
	fs.IntVar(&cfg.Entries, "entries", 0, "entry bound: velo's MaxEntries (0: none), otter's and theine's size (0: 2 x -keys)")
	fs.DurationVar(&cfg.TTL, "ttl", time.Hour, "TTL of every Set")
	fs.DurationVar(&cfg.Duration, "duration", time.Second, "measured time per cell and target")
	fs.DurationVar(&cfg.Warmup, "warmup", 200*time.Millisecond, "unmeasured run before each measurement")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the key stream and the op mix")
	fs.StringVar(&cfg.JSONPath, "json", "", "also write every cell and the machine metadata to this JSON file")
	fs.StringVar(&cfg.CSVPath, "csv", "", "also write every cell, with the metadata, to this CSV file")
	fs.StringVar(&cfg.PlotPath, "plot", "", "also draw throughput against GOMAXPROCS (with -trace: hit ratio against capacity; with -gc: memory, GC work and Get latency against entries) to this .png or .svg file")
	fs.StringVar(&cfg.CPUProf, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.StringVar(&cfg.RedisAddr, "redis-addr", defaultRedisAddr, "Redis server for -target redis and -redis-compare")
	fs.BoolVar(&cfg.RedisCompare, "redis-compare", false, "instead of the throughput table, measure Get and Set one at a time, velo in process vs Redis at -redis-addr")
	fs.IntVar(&cfg.RedisOps, "redis-ops", 20000, "timed operations per row of -redis-compare")
	fs.BoolVar(&cfg.Progress, "progress", false, "write every progress line to stderr even when it is not a terminal (otherwise one every 10 s)")
	fs.BoolVar(&cfg.GC, "gc", false, "instead of the throughput table, measure memory and GC cost with many entries, each target in a fresh process")
	fs.StringVar(&cfg.GCEntries, "gc-entries", "1000000,10000000", "entry counts for -gc, comma-separated")
	fs.DurationVar(&cfg.GCLoad, "gc-load", 0, "how long -gc runs the 75/25 load with garbage behind it (0: 10s)")
	fs.StringVar(&cfg.TracePath, "trace", "", "instead of the throughput table, replay this access trace and print hit ratios per capacity")
	fs.StringVar(&cfg.TraceFormat, "format", "", "format of -trace: plain (an application log: a key per line, then optionally a size and a timestamp; inferred for .csv, .txt and .log), arc, lirs, cache2k, scarab, corda, cloudphysics, oracle")
	fs.StringVar(&cfg.Capacities, "capacities", "", "cache sizes for -trace, in entries, comma-separated")
	addPresetFlags(fs, cfg)
	addFillFlags(fs, &cfg.Fill)
	return fs
}

// defaultProcs is "1,2,...,NumCPU".
func defaultProcs() string {
	ps := make([]string, runtime.NumCPU())
	for i := range ps {
		ps[i] = strconv.Itoa(i + 1)
	}
	return strings.Join(ps, ",")
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: loadgen [flags]\n\nMeasures velo against a sync.RWMutex map under a concurrent Zipf workload.\n\nFlags:")
	fs := newFlagSet(new(config), new(lists))
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// parseFlags parses and validates args. It returns flag.ErrHelp for -h and
// otherwise a one-line error for any bad flag.
func parseFlags(args []string) (config, error) {
	var cfg config
	var l lists
	fs := newFlagSet(&cfg, &l)
	fs.SetOutput(io.Discard) // the caller reports errors in one line
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := applyPreset(fs, cfg.Preset); err != nil {
		return config{}, err
	}
	var err error
	if cfg.Targets, err = parseTargets(l.targets); err != nil {
		return config{}, err
	}
	if cfg.Mixes, err = parseInts("-mix", l.mixes, 0, 100); err != nil {
		return config{}, err
	}
	if cfg.Procs, err = parseInts("-procs", l.procs, 1, 1<<16); err != nil {
		return config{}, err
	}
	if cfg.ValueMin, cfg.ValueSize, err = parseRange("-value-size", l.valueSize); err != nil {
		return config{}, err
	}
	if err := cfg.check(); err != nil {
		return config{}, err
	}
	if cfg.TracePath != "" {
		if err := cfg.checkTrace(fs); err != nil {
			return config{}, err
		}
	} else if err := cfg.checkVelo(); err != nil {
		return config{}, err
	}
	if err := cfg.checkFill(fs); err != nil {
		return config{}, err
	}
	if cfg.GC && !flagGiven(fs, "target") {
		// -gc compares the caches that keep entries off the Go heap with
		// those that do not.
		cfg.Targets = []string{"velo", "bigcache", "freecache", "fastcache", "otter", "mutexmap"}
	}
	cfg.flags = make(map[string]string)
	fs.VisitAll(func(f *flag.Flag) { cfg.flags[f.Name] = f.Value.String() })
	return cfg, nil
}

// check validates the scalar flags.
func (cfg *config) check() error {
	if err := cfg.checkPreset(); err != nil {
		return err
	}
	switch {
	case cfg.Dist != "zipf" && cfg.Dist != "uniform" && cfg.Dist != "sequential" && cfg.Dist != "scrambled-zipf":
		return fmt.Errorf("-dist %q: want zipf, scrambled-zipf, uniform or sequential", cfg.Dist)
	case cfg.Entries < 0:
		return fmt.Errorf("-entries %d: want 0 or more", cfg.Entries)
	case cfg.Dist == "zipf" && !(cfg.ZipfS > 1 && cfg.ZipfS < math.Inf(1)):
		return fmt.Errorf("-zipf-s %v: want a number above 1", cfg.ZipfS)
	case cfg.Keys < 1 || cfg.Keys > math.MaxInt32:
		return fmt.Errorf("-keys %d: want 1..%d", cfg.Keys, math.MaxInt32)
	case cfg.Capacity <= 0:
		return fmt.Errorf("-capacity %d: want a positive number of bytes", cfg.Capacity)
	case cfg.TTL <= 0:
		return fmt.Errorf("-ttl %v: want a positive duration", cfg.TTL)
	case cfg.Duration <= 0:
		return fmt.Errorf("-duration %v: want a positive duration", cfg.Duration)
	case cfg.GCLoad < 0:
		return fmt.Errorf("-gc-load %v: want a positive duration", cfg.GCLoad)
	case cfg.RedisOps < 1:
		return fmt.Errorf("-redis-ops %d: want 1 or more", cfg.RedisOps)
	case cfg.Warmup < 0:
		return fmt.Errorf("-warmup %v: want 0 or a positive duration", cfg.Warmup)
	}
	return nil
}

// checkVelo opens velo as the largest -procs will, so that a -capacity
// velo refuses or a -value-size too large for its segments is a flag error
// rather than a failure midway through the run. (More procs mean more
// shards, so smaller segments.)
func (cfg *config) checkVelo() error {
	if !slices.Contains(cfg.Targets, "velo") {
		return nil
	}
	prev := runtime.GOMAXPROCS(slices.Max(cfg.Procs))
	defer runtime.GOMAXPROCS(prev)
	c, err := velo.New(velo.Options{MaxBytes: cfg.Capacity, MaxEntries: cfg.Entries})
	if err != nil {
		return fmt.Errorf("-capacity %d: %w", cfg.Capacity, err)
	}
	defer c.Close()
	longest := len(fmt.Sprintf("user:%08d", cfg.Keys-1))
	if need := 16 + longest + cfg.ValueSize; need > c.MaxEntryBytes() {
		return fmt.Errorf("-value-size %d: velo's largest entry at -capacity %d is %d bytes, %d with header and key",
			cfg.ValueSize, cfg.Capacity, c.MaxEntryBytes(), need)
	}
	return nil
}

// parseTargets parses -target. "all" stands for every in-process target
// (everything but redis, which needs a server).
func parseTargets(s string) ([]string, error) {
	var out []string
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		if t == "all" {
			// velo and the baseline first, then the peers in -h order.
			names := append([]string{"velo", "mutexmap"}, targetNames()...)
			for _, name := range names {
				if name != "redis" && !slices.Contains(out, name) {
					out = append(out, name)
				}
			}
			continue
		}
		switch {
		case findTarget(t) == nil:
			return nil, fmt.Errorf("-target: unknown target %q (known: all, %s)", t, strings.Join(targetNames(), ", "))
		case slices.Contains(out, t):
			return nil, fmt.Errorf("-target: %q given twice", t)
		}
		out = append(out, t)
	}
	return out, nil
}

// checkTrace validates the -trace mode's flags, so that a bad one is a
// usage error, and picks its default targets: the caches with an entry
// bound to compare velo's policy with.
func (cfg *config) checkTrace(fs *flag.FlagSet) error {
	if cfg.TraceFormat == "" {
		if _, err := inferTraceFormat(cfg.TracePath); err != nil {
			return err
		}
	} else if !slices.Contains(traceFormats, cfg.TraceFormat) {
		return fmt.Errorf("-format %q: want one of %s", cfg.TraceFormat, strings.Join(traceFormats, ", "))
	}
	if strings.TrimSpace(cfg.Capacities) != "" {
		if _, err := parseInts("-capacities", cfg.Capacities, 1, traceMaxCapacity); err != nil {
			return err
		}
	}
	if !flagGiven(fs, "target") {
		cfg.Targets = []string{"velo", "otter", "theine", "ristretto"}
	}
	return nil
}

// flagGiven reports whether the command line set the named flag.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// parseRange parses "n" or "lo-hi" (sizes in bytes, 0 <= lo <= hi).
func parseRange(name, s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(strings.TrimSpace(s), "-")
	if lo, err = strconv.Atoi(strings.TrimSpace(a)); err != nil || lo < 0 {
		return 0, 0, fmt.Errorf("%s %q: want a size in bytes or a range lo-hi", name, s)
	}
	hi = lo
	if isRange {
		if hi, err = strconv.Atoi(strings.TrimSpace(b)); err != nil || hi < lo {
			return 0, 0, fmt.Errorf("%s %q: want a range lo-hi with lo <= hi", name, s)
		}
	}
	return lo, hi, nil
}

// parseInts parses a comma-separated list of distinct integers in lo..hi.
func parseInts(name, s string, lo, hi int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		switch {
		case err != nil:
			return nil, fmt.Errorf("%s: %q is not an integer", name, strings.TrimSpace(f))
		case n < lo || n > hi:
			return nil, fmt.Errorf("%s: %d is outside %d..%d", name, n, lo, hi)
		case slices.Contains(out, n):
			return nil, fmt.Errorf("%s: %d given twice", name, n)
		}
		out = append(out, n)
	}
	return out, nil
}

// ---- Workload ----

// workload is everything generated before timing starts.
type workload struct {
	keys   []string
	stream []int32 // indices into keys, -stream (a power of two) of them
	// values holds valueCount values; key i is always written with
	// values[i%valueCount], so a key's size does not change between writes.
	values [][]byte
}

const valueCount = 1024

func (wl *workload) value(key int32) []byte { return wl.values[key%valueCount] }

func newWorkload(cfg config) *workload {
	keys := make([]string, cfg.Keys)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%08d", i)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))
	var next func(i int) int32
	switch cfg.Dist {
	case "zipf":
		z := rand.NewZipf(rng, cfg.ZipfS, 1, uint64(cfg.Keys-1))
		next = func(int) int32 { return int32(z.Uint64()) }
	case "scrambled-zipf":
		z := newScrambledZipf(cfg.ZipfS, uint64(cfg.Keys))
		next = func(int) int32 { return int32(z.next(rng)) }
	case "uniform":
		next = func(int) int32 { return int32(rng.IntN(cfg.Keys)) }
	default: // sequential
		next = func(i int) int32 { return int32(i % cfg.Keys) }
	}
	stream := make([]int32, cmp.Or(cfg.StreamLen, streamLen))
	for i := range stream {
		stream[i] = next(i)
	}
	values := make([][]byte, valueCount)
	for i := range values {
		v := make([]byte, cfg.ValueMin+rng.IntN(cfg.ValueSize-cfg.ValueMin+1))
		for j := range v {
			v[j] = byte('a' + (i+j)%26)
		}
		values[i] = v
	}
	return &workload{keys: keys, stream: stream, values: values}
}

// mixTable spreads readPercent reads over 100 op slots in a shuffled
// order, so that writes do not come in one burst per hundred ops.
func mixTable(readPercent int, seed uint64) *[100]bool {
	var t [100]bool
	for i := range readPercent {
		t[i] = true
	}
	rng := rand.New(rand.NewPCG(seed, uint64(readPercent)))
	rng.Shuffle(len(t), func(i, j int) { t[i], t[j] = t[j], t[i] })
	return &t
}

// fill stores every key.
//
// A target whose writes are applied asynchronously (ristretto) drops writes
// when its buffer is full, so the fill waits for it every 1024 writes and
// at the end: the measurement starts from a full cache for every target.
func fill(c cache, wl *workload, ttl time.Duration) error {
	return writeAll(c, len(wl.keys), ttl, func(i int) (string, []byte) {
		return wl.keys[i], wl.value(int32(i))
	})
}

// writeAll writes the n entries that entry makes, waiting for a target
// with asynchronous writes every 1024 writes and at the end, so that none
// is dropped.
func writeAll(c cache, n int, ttl time.Duration, entry func(i int) (string, []byte)) error {
	w, async := c.(waiter)
	for i := range n {
		k, v := entry(i)
		if err := c.write(k, v, ttl); err != nil {
			return err
		}
		if async && i%1024 == 1023 {
			w.wait()
		}
	}
	if async {
		w.wait()
	}
	return nil
}

// ---- Measurement ----

// Phases of a run, set by the driver and polled by the workers.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// worker is one goroutine's state: where it starts, and what it counted
// while measuring.
type worker struct {
	pos, slot int    // start offsets in the stream and the mix table
	buf       []byte // read buffer, cap >= value size
	// hist records the latencies of timed ops in ns. An HDR histogram
	// records in constant time and memory, without allocating, so timing
	// does not disturb the measurement.
	hist  *hdrhistogram.Histogram
	ops   uint64
	reads uint64
	hits  uint64
}

// loop runs ops until phase is phaseStop, counting and sampling only while
// it is phaseMeasure. Counts live in local variables until the end.
func (w *worker) loop(phase *atomic.Int32, c cache, wl *workload, mix *[100]bool, ttl time.Duration) {
	keys, stream, buf := wl.keys, wl.stream, w.buf
	mask := len(stream) - 1 // a power of two
	hist := w.hist
	pos, slot := w.pos, w.slot
	var ops, reads, hits uint64
	var base [3]uint64 // ops, reads, hits when measuring began
	measuring := false
	for {
		switch phase.Load() {
		case phaseStop:
			if measuring {
				w.ops, w.reads, w.hits = ops-base[0], reads-base[1], hits-base[2]
			}
			return
		case phaseMeasure:
			if !measuring {
				measuring, base = true, [3]uint64{ops, reads, hits}
			}
		}
		for range batchOps {
			ki := stream[pos&mask]
			key := keys[ki]
			pos++
			isRead := mix[slot]
			if slot++; slot == len(mix) {
				slot = 0
			}
			timed := measuring && ops%sampleEvery == 0
			var t0 time.Time
			if timed {
				t0 = time.Now()
			}
			if isRead {
				reads++
				if _, ok := c.read(buf[:0], key); ok {
					hits++
				}
			} else {
				_ = c.write(key, wl.value(ki), ttl)
			}
			if timed {
				_ = hist.RecordValue(min(int64(time.Since(t0)), maxLatencyNs))
			}
			ops++
		}
	}
}

// maxLatencyNs is the largest latency the histograms hold; longer ones
// are recorded as this.
const maxLatencyNs = int64(10 * time.Second)

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, maxLatencyNs, 3) // 3 significant digits
}

// cell is one measurement: one target at one mix and one GOMAXPROCS.
type cell struct {
	ReadPercent int     `json:"read_percent"`
	Procs       int     `json:"procs"`
	Target      string  `json:"target"`
	Goroutines  int     `json:"goroutines"`
	Ops         uint64  `json:"ops"`
	Seconds     float64 `json:"seconds"`
	MopsPerSec  float64 `json:"mops_per_sec"`
	Reads       uint64  `json:"reads"`
	ReadHits    uint64  `json:"read_hits"`
	Samples     int64   `json:"latency_samples"`
	P50ns       int64   `json:"p50_ns"`
	P99ns       int64   `json:"p99_ns"`
	P999ns      int64   `json:"p999_ns"`
	// Over -count runs (count.go): MopsPerSec and the percentiles are the
	// runs' medians, the counts their sums.
	Count     int       `json:"count,omitempty"`
	MopsMin   float64   `json:"mops_min,omitempty"`
	MopsMax   float64   `json:"mops_max,omitempty"`
	SpreadPct float64   `json:"spread_pct,omitempty"` // (max-min)/median
	RunsMops  []float64 `json:"runs_mops_per_sec,omitempty"`
	Run       int       `json:"run,omitempty"` // in report.Runs: the repetition, from 1
}

// runner measures cells, reusing histograms between them.
type runner struct {
	cfg    config
	wl     *workload
	hists  []*hdrhistogram.Histogram // per goroutine
	merged *hdrhistogram.Histogram
}

// runCell measures target at one mix and GOMAXPROCS setting, on a fresh,
// filled cache.
func (r *runner) runCell(target string, readPercent, procs int) (cell, error) {
	prev := runtime.GOMAXPROCS(procs)
	defer runtime.GOMAXPROCS(prev)

	c, err := openTarget(target, r.cfg)
	if err != nil {
		return cell{}, err
	}
	defer c.close()
	if err := fill(c, r.wl, r.cfg.TTL); err != nil {
		return cell{}, fmt.Errorf("filling %s: %w", target, err)
	}
	runtime.GC() // start each measurement from the same heap

	ws := r.workers(procs)
	elapsed := r.drive(c, ws, mixTable(readPercent, r.cfg.Seed))

	out := cell{ReadPercent: readPercent, Procs: procs, Target: target, Goroutines: len(ws), Seconds: elapsed.Seconds()}
	if r.merged == nil {
		r.merged = newHist()
	}
	r.merged.Reset()
	for _, w := range ws {
		out.Ops += w.ops
		out.Reads += w.reads
		out.ReadHits += w.hits
		r.merged.Merge(w.hist)
	}
	out.MopsPerSec = float64(out.Ops) / elapsed.Seconds() / 1e6
	out.Samples = r.merged.TotalCount()
	out.P50ns, out.P99ns, out.P999ns = percentiles(r.merged)
	return out, nil
}

// workers sets up n workers, spread evenly over the stream.
func (r *runner) workers(n int) []worker {
	for len(r.hists) < n {
		r.hists = append(r.hists, newHist())
	}
	ws := make([]worker, n)
	for i := range ws {
		r.hists[i].Reset()
		ws[i] = worker{
			pos:  i * (len(r.wl.stream) / n),
			slot: i * 37 % 100,
			buf:  make([]byte, 0, r.cfg.ValueSize),
			hist: r.hists[i],
		}
	}
	return ws
}

// drive runs the workers through warmup and measurement and returns the
// measured wall time.
func (r *runner) drive(c cache, ws []worker, mix *[100]bool) time.Duration {
	var phase atomic.Int32
	var wg sync.WaitGroup
	for i := range ws {
		w := &ws[i]
		wg.Go(func() { w.loop(&phase, c, r.wl, mix, r.cfg.TTL) })
	}
	time.Sleep(r.cfg.Warmup)
	phase.Store(phaseMeasure)
	start := time.Now()
	time.Sleep(r.cfg.Duration)
	elapsed := time.Since(start)
	phase.Store(phaseStop)
	wg.Wait()
	return elapsed
}

// percentiles returns h's p50, p99 and p99.9 (zeros when it is empty).
func percentiles(h *hdrhistogram.Histogram) (p50, p99, p999 int64) {
	if h.TotalCount() == 0 {
		return 0, 0, 0
	}
	return h.ValueAtQuantile(50), h.ValueAtQuantile(99), h.ValueAtQuantile(99.9)
}

// ---- Running everything ----

// report is what a run produces, and the JSON file's content.
type report struct {
	Meta   meta              `json:"meta"`
	Config map[string]string `json:"config"`
	Cells  []cell            `json:"cells"`
	// Runs holds every run in the order measured when -count > 1.
	Runs []cell `json:"runs,omitempty"`
}

type meta struct {
	GoVersion   string `json:"go_version"`
	GOOS        string `json:"goos"`
	GOARCH      string `json:"goarch"`
	NumCPU      int    `json:"num_cpu"`
	GOMAXPROCS  int    `json:"gomaxprocs"` // at start
	CPUModel    string `json:"cpu_model"`
	Date        string `json:"date"`
	ClockReadNs int64  `json:"clock_read_ns"` // included in every latency sample
}

// run generates the workload and measures every cell, targets interleaved
// within each cell. Progress lines go to progress.
func run(cfg config, progress io.Writer) (*report, error) {
	rep := &report{Meta: collectMeta(), Config: cfg.flags}
	fmt.Fprintf(progress, "loadgen: generating %d keys and a %s stream of %d\n", cfg.Keys, cfg.Dist, cmp.Or(cfg.StreamLen, streamLen))
	r := &runner{cfg: cfg, wl: newWorkload(cfg)}
	count := max(cfg.Count, 1)
	total := len(cfg.Mixes) * len(cfg.Procs) * len(cfg.Targets) * count
	done := 0
	for _, mix := range cfg.Mixes {
		for _, procs := range cfg.Procs {
			var runs []cell
			for i := range count {
				for _, target := range rotate(cfg.Targets, done/len(cfg.Targets)) {
					c, err := r.runCell(target, mix, procs)
					if err != nil {
						return nil, err
					}
					c.Run = i + 1
					runs = append(runs, c)
					done++
					fmt.Fprintf(progress, "loadgen: [%d/%d] read %3d%%  procs %d  %-8s %7.2f Mops/s\n",
						done, total, mix, procs, target, c.MopsPerSec)
				}
			}
			if count == 1 {
				for i := range runs {
					runs[i].Run = 0
				}
				rep.Cells = append(rep.Cells, runs...)
				continue
			}
			rep.Cells = append(rep.Cells, aggregateRuns(runs, cfg.Targets)...)
			rep.Runs = append(rep.Runs, runs...)
		}
	}
	return rep, nil
}

// rotate returns s rotated left by k, so that no target always runs first.
func rotate(s []string, k int) []string {
	k %= len(s)
	return append(slices.Clone(s[k:]), s[:k]...)
}

// progressEvery is how often, at most, progress lines reach a stderr that
// is not a terminal (a CI log, a pipe), unless -progress asks for all.
const progressEvery = 10 * time.Second

// progressWriter is where progress lines go: stderr, every line when it
// is a terminal or -progress is set, else a line every progressEvery, so
// that a long run in CI shows it is alive without flooding the log.
func progressWriter(cfg config) io.Writer {
	if fi, err := os.Stderr.Stat(); cfg.Progress || err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return os.Stderr
	}
	return &throttled{w: os.Stderr, every: progressEvery}
}

// throttled writes through to w at most one Write per every; the others
// are dropped. Progress lines are one Write each.
type throttled struct {
	w     io.Writer
	every time.Duration
	mu    sync.Mutex
	last  time.Time
}

func (t *throttled) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := time.Now(); t.last.IsZero() || now.Sub(t.last) >= t.every {
		t.last = now
		return t.w.Write(p)
	}
	return len(p), nil
}

func collectMeta() meta {
	return meta{
		GoVersion:   runtime.Version(),
		GOOS:        runtime.GOOS,
		GOARCH:      runtime.GOARCH,
		NumCPU:      runtime.NumCPU(),
		GOMAXPROCS:  runtime.GOMAXPROCS(0),
		CPUModel:    cpuModel(),
		Date:        time.Now().UTC().Format(time.RFC3339),
		ClockReadNs: clockReadNs(),
	}
}

// cpuModel returns the first "model name" in /proc/cpuinfo, or "unknown".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown"
}

// clockReadNs is the median time a timed op spends reading the clock: what
// each latency sample carries beyond the op itself.
func clockReadNs() int64 {
	d := make([]time.Duration, 10001)
	for i := range d {
		t0 := time.Now()
		d[i] = time.Since(t0)
	}
	slices.Sort(d)
	return int64(d[len(d)/2])
}

// ---- Output ----

// printReport writes the metadata and one row per (mix, target), one
// column per procs, plus a velo/mutexmap ratio row per mix.
func printReport(w io.Writer, cfg config, rep *report) {
	m := rep.Meta
	fmt.Fprintf(w, "loadgen: %s over %d keys, %d-byte values, ttl %v; %v warmup + %v measured per cell; every %dth op timed\n",
		distLabel(cfg), cfg.Keys, cfg.ValueSize, cfg.TTL, cfg.Warmup, cfg.Duration, sampleEvery)
	printRunSetup(w, cfg)
	fmt.Fprintf(w, "%s %s/%s, NumCPU %d, CPU %s, %s; clock read %d ns (included in latencies)\n\n",
		m.GoVersion, m.GOOS, m.GOARCH, m.NumCPU, m.CPUModel, m.Date, m.ClockReadNs)

	byKey := make(map[string]cell, len(rep.Cells))
	for _, c := range rep.Cells {
		byKey[cellKey(c.ReadPercent, c.Procs, c.Target)] = c
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "read%\ttarget")
	for _, p := range cfg.Procs {
		fmt.Fprintf(tw, "\tprocs=%d", p)
	}
	fmt.Fprintln(tw, "\t")
	hasVelo := slices.Contains(cfg.Targets, "velo")
	for _, mix := range cfg.Mixes {
		for _, t := range cfg.Targets {
			fmt.Fprintf(tw, "%d\t%s", mix, t)
			for _, p := range cfg.Procs {
				c := byKey[cellKey(mix, p, t)]
				fmt.Fprintf(tw, "\t%s", formatCell(c))
			}
			fmt.Fprintln(tw, "\t")
		}
		// One ratio row per other target: velo's throughput over its.
		for _, t := range cfg.Targets {
			if !hasVelo || t == "velo" {
				continue
			}
			fmt.Fprintf(tw, "%d\tvelo/%s", mix, t)
			for _, p := range cfg.Procs {
				v, o := byKey[cellKey(mix, p, "velo")], byKey[cellKey(mix, p, t)]
				fmt.Fprintf(tw, "\t%.2fx", v.MopsPerSec/o.MopsPerSec)
			}
			fmt.Fprintln(tw, "\t")
		}
		printBestPeerRow(tw, cfg, mix, byKey)
	}
	tw.Flush()
	fmt.Fprintln(w, "\ncells: Mops/s (p50/p99/p99.9 latency in ns); procs = GOMAXPROCS = goroutines")
	printMissWarnings(w, rep.Cells)
	printNoiseWarning(w, cfg, rep.Cells)
}

// printNoiseWarning says how many cells varied by more than noisyPct
// between their runs, or, with one run a cell, that nothing shows it.
func printNoiseWarning(w io.Writer, cfg config, cells []cell) {
	if cfg.Count <= 1 {
		fmt.Fprintln(w, "note: one run per cell, so a noisy cell does not show; -count 5 runs each cell five times, targets interleaved, and marks the noisy ones")
		return
	}
	noisy := 0
	for _, c := range cells {
		if c.SpreadPct > noisyPct {
			noisy++
		}
	}
	if noisy > 0 {
		fmt.Fprintf(w, "warning: %d of %d cells (marked !) varied by more than %d%% between their %d runs: compare their medians with care, or measure on a quieter machine\n",
			noisy, len(cells), noisyPct, cfg.Count)
	}
}

func cellKey(mix, procs int, target string) string {
	return fmt.Sprintf("%d/%d/%s", mix, procs, target)
}

// printMissWarnings flags cells whose reads missed: the capacity was too
// small for the keys, and misses make reads cheaper than hits.
func printMissWarnings(w io.Writer, cells []cell) {
	for _, c := range cells {
		if c.Reads > 0 && c.ReadHits < c.Reads {
			fmt.Fprintf(w, "warning: %s at read %d%% procs %d: %.2f%% of reads missed (is -capacity too small for -keys?)\n",
				c.Target, c.ReadPercent, c.Procs, 100*float64(c.Reads-c.ReadHits)/float64(c.Reads))
		}
	}
}

func writeJSON(path string, rep *report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
