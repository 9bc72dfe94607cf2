// Package config turns loadgen's command line into one Config: every flag
// is bound to a field of it, a -preset sets the defaults it names, and
// Parse rejects a bad value with a one-line error, so that no job fails on
// a flag midway through a run. Config knows each mode's default targets.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/velocache/velo"

	"github.com/velocache/velo/cmd/loadgen/internal/targets"
	"github.com/velocache/velo/cmd/loadgen/internal/tracefile"
	"github.com/velocache/velo/cmd/loadgen/internal/workload"
)

// MaxTraceCapacity is the largest capacity -capacities takes.
const MaxTraceCapacity = 1 << 30

// Config is the parsed and validated command line: every flag's value.
type Config struct {
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
	ExecTrace string
	// RedisCompare replaces the throughput table with the per-operation
	// latency of velo in process against Redis over loopback.
	RedisCompare bool
	RedisOps     int
	RedisAddr    string // -redis-addr: host:port of the Redis server
	// GC selects the memory/GC measurement (package gcbench) instead of the
	// throughput table; GCEntries lists the entry counts it loads.
	GC        bool
	GCEntries string
	GCLoad    time.Duration // the loaded phase of -gc; 0 = 10s
	// TracePath selects trace replay (package trace): hit ratio per capacity.
	TracePath   string
	TraceFormat string
	Capacities  string
	// Preset names the workload preset applied (preset.go); Count is how
	// many times each cell is measured (package throughput); StreamLen is
	// the key stream's length (0: workload.DefaultStreamLen); SizeBy is
	// "bytes" or "entries" (targets.PeerBytes).
	Preset    string
	Count     int
	StreamLen int
	SizeBy    string
	// Fill selects the working-set measurement (package fill).
	Fill Fill
	// Plan is the capacity planning part of -trace (plan.go); Gen is
	// -gen-log, the synthetic application log.
	Plan Plan
	Gen  Gen

	Flags map[string]string // every flag's value as given, for the JSON report

	given lists // the list flags as given, until Parse parses them
}

// lists holds the comma-separated flags until they are parsed.
type lists struct{ targets, mixes, procs, valueSize string }

// newFlagSet binds every flag to a field of cfg.
func newFlagSet(cfg *Config) *flag.FlagSet {
	l := &cfg.given
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.StringVar(&l.targets, "target", "velo,mutexmap", "caches to measure, comma-separated; all = every one but redis: "+strings.Join(targets.Names(), ", "))
	fs.StringVar(&l.mixes, "mix", "100,75,50,25,0", "read percentages to measure, comma-separated (0..100)")
	fs.StringVar(&l.procs, "procs", defaultProcs(), "GOMAXPROCS settings (= goroutines) to measure, comma-separated (also the rows of the planner's summary)")
	fs.StringVar(&cfg.Dist, "dist", "zipf", "key distribution: zipf, uniform or sequential (each goroutine walks the keys in order)")
	fs.Float64Var(&cfg.ZipfS, "zipf-s", 1.01, "Zipf exponent s (> 1; -gen-log takes any s > 0)")
	fs.IntVar(&cfg.Keys, "keys", 1<<16, "number of distinct keys")
	fs.StringVar(&l.valueSize, "value-size", "64", "value size in bytes, fixed (64) or a range (32-1024: each key gets a size drawn uniformly); "+
		"with byte -capacities, the object size of a trace that has none; with -gen-log, the range of the object sizes")
	fs.Int64Var(&cfg.Capacity, "capacity", 256<<20, "memory bound in bytes: velo's MaxBytes, and the byte bound of the peers that have one (under -size-by entries, every cache is sized by -entries instead)")
	fs.IntVar(&cfg.Entries, "entries", 0, "entry bound: velo's MaxEntries (0: none), otter's and theine's size (0: 2 x -keys)")
	fs.DurationVar(&cfg.TTL, "ttl", time.Hour, "TTL of every Set")
	fs.DurationVar(&cfg.Duration, "duration", time.Second, "measured time per cell and target")
	fs.DurationVar(&cfg.Warmup, "warmup", 200*time.Millisecond, "unmeasured run before each measurement")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the key stream and the op mix")
	fs.StringVar(&cfg.JSONPath, "json", "", "also write every cell and the machine metadata to this JSON file")
	fs.StringVar(&cfg.CSVPath, "csv", "", "also write every cell, with the metadata, to this CSV file (with -count: mops_per_sec and the latencies are the runs' medians, with their min and max; ops, seconds, reads and read_hits their sums)")
	fs.StringVar(&cfg.PlotPath, "plot", "", "also draw throughput against GOMAXPROCS (with -trace: hit ratio against capacity; with -gc: memory, GC work and Get latency against entries) to this .png or .svg file")
	fs.StringVar(&cfg.CPUProf, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.StringVar(&cfg.ExecTrace, "exectrace", "", "write a runtime execution trace of the whole run to this file, for go tool trace (where each goroutine ran, waited for a lock or for a processor)")
	fs.StringVar(&cfg.RedisAddr, "redis-addr", targets.DefaultRedisAddr, "Redis server for -target redis and -redis-compare")
	fs.BoolVar(&cfg.RedisCompare, "redis-compare", false, "instead of the throughput table, measure Get and Set one at a time, velo in process vs Redis at -redis-addr")
	fs.IntVar(&cfg.RedisOps, "redis-ops", 20000, "timed operations per row of -redis-compare")
	fs.BoolVar(&cfg.Progress, "progress", false, "write every progress line to stderr even when it is not a terminal (otherwise one every 10 s)")
	fs.BoolVar(&cfg.GC, "gc", false, "instead of the throughput table, measure memory and GC cost with many entries, each target in a fresh process")
	fs.StringVar(&cfg.GCEntries, "gc-entries", "1000000,10000000", "entry counts for -gc, comma-separated")
	fs.DurationVar(&cfg.GCLoad, "gc-load", 0, "how long -gc runs the 75/25 load with garbage behind it (0: 10s)")
	fs.StringVar(&cfg.TracePath, "trace", "", "instead of the throughput table, replay this access trace and print hit ratios per capacity")
	fs.StringVar(&cfg.TraceFormat, "format", "", "format of -trace: plain (an application log: a key per line, then optionally a size and a timestamp; inferred for .csv, .txt and .log), arc, lirs, cache2k, scarab, corda, cloudphysics, oracle")
	fs.StringVar(&cfg.Capacities, "capacities", "", "cache sizes for -trace, comma-separated: bare numbers are entry counts (1000,10000), "+
		"numbers with a unit are bytes (64MiB,256MiB,1GiB; units B, KiB, MiB, GiB, TiB, or KB, MB, GB, TB), and then each object weighs its size "+
		"(from the trace, else -value-size) plus key and velo's 16-byte header; all in one unit")
	addPresetFlags(fs, cfg)
	addPlanFlags(fs, &cfg.Plan, &cfg.Gen)
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

// PrintUsage writes -h's text to w.
func PrintUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: loadgen [flags]\n\nMeasures velo against a sync.RWMutex map under a concurrent Zipf workload;\n"+
		"with -trace, replays an access log for hit ratios per capacity (in entries, or in bytes for capacity planning);\n"+
		"with -gen-log, writes a synthetic access log. docs/capacity-planning.md has a walkthrough.\n\nFlags:")
	fs := newFlagSet(new(Config))
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// Parse parses and validates args. It returns flag.ErrHelp for -h and
// otherwise a one-line error for any bad flag.
func Parse(args []string) (Config, error) {
	var cfg Config
	fs := newFlagSet(&cfg)
	l := &cfg.given
	fs.SetOutput(io.Discard) // the caller reports errors in one line
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := applyPreset(fs, cfg.Preset); err != nil {
		return Config{}, err
	}
	var err error
	if cfg.Targets, err = parseTargets(l.targets); err != nil {
		return Config{}, err
	}
	if cfg.Mixes, err = ParseInts("-mix", l.mixes, 0, 100); err != nil {
		return Config{}, err
	}
	if cfg.Procs, err = ParseInts("-procs", l.procs, 1, maxProcs); err != nil {
		return Config{}, err
	}
	if cfg.ValueMin, cfg.ValueSize, err = parseRange("-value-size", l.valueSize); err != nil {
		return Config{}, err
	}
	if err := cfg.check(); err != nil {
		return Config{}, err
	}
	if err := cfg.checkModes(); err != nil {
		return Config{}, err
	}
	if err := cfg.checkOutputs(); err != nil {
		return Config{}, err
	}
	if cfg.TracePath != "" {
		if err := cfg.checkTrace(fs); err != nil {
			return Config{}, err
		}
	} else if cfg.Gen.Path == "" {
		if err := cfg.checkVelo(); err != nil {
			return Config{}, err
		}
	}
	if err := cfg.checkPlan(); err != nil {
		return Config{}, err
	}
	if err := cfg.checkGen(); err != nil {
		return Config{}, err
	}
	if err := cfg.checkFill(fs); err != nil {
		return Config{}, err
	}
	if cfg.GC && !flagGiven(fs, "target") {
		// -gc compares the caches that keep entries off the Go heap with
		// those that do not.
		cfg.Targets = []string{"velo", "bigcache", "freecache", "fastcache", "otter", "mutexmap"}
	}
	cfg.Flags = make(map[string]string)
	fs.VisitAll(func(f *flag.Flag) { cfg.Flags[f.Name] = f.Value.String() })
	return cfg, nil
}

// check validates the scalar flags.
func (cfg *Config) check() error {
	if err := cfg.checkPreset(); err != nil {
		return err
	}
	switch {
	case cfg.Dist != "zipf" && cfg.Dist != "uniform" && cfg.Dist != "sequential" && cfg.Dist != "scrambled-zipf":
		return fmt.Errorf("-dist %q: want zipf, scrambled-zipf, uniform or sequential", cfg.Dist)
	case cfg.Entries < 0:
		return fmt.Errorf("-entries %d: want 0 or more", cfg.Entries)
	case cfg.Dist == "zipf" && cfg.Gen.Path == "" && !(cfg.ZipfS > 1 && cfg.ZipfS < math.Inf(1)):
		return fmt.Errorf("-zipf-s %v: want a number above 1", cfg.ZipfS)
	case cfg.Keys < 1 || cfg.Keys > maxKeys:
		return fmt.Errorf("-keys %d: want 1..%d (the run holds every key in memory, about 40 bytes each)", cfg.Keys, maxKeys)
	case cfg.Capacity <= 0:
		return fmt.Errorf("-capacity %d: want a positive number of bytes", cfg.Capacity)
	case cfg.TTL <= 0:
		return fmt.Errorf("-ttl %v: want a positive duration", cfg.TTL)
	case cfg.Duration < time.Millisecond:
		// Workers look at the clock every few hundred operations: a
		// shorter cell may end before any operation is counted.
		return fmt.Errorf("-duration %v: want at least 1ms", cfg.Duration)
	case cfg.GCLoad < 0:
		return fmt.Errorf("-gc-load %v: want a positive duration", cfg.GCLoad)
	case cfg.RedisOps < 1:
		return fmt.Errorf("-redis-ops %d: want 1 or more", cfg.RedisOps)
	case cfg.Warmup < 0:
		return fmt.Errorf("-warmup %v: want 0 or a positive duration", cfg.Warmup)
	}
	return nil
}

// maxProcs bounds -procs: each setting runs that many goroutines and
// opens every target with that GOMAXPROCS, and thousands of either make a
// run that takes hours or exhausts the runtime's threads.
const maxProcs = 1024

// maxKeys bounds -keys: the run makes every key before it starts.
const maxKeys = 1 << 26

// checkModes refuses flags for two modes at once (the throughput table is
// the mode when none is given), and -csv with a mode that writes none:
// one of them would be dropped without a word.
func (cfg *Config) checkModes() error {
	var modes []string
	for _, m := range []struct {
		on   bool
		flag string
	}{
		{cfg.TracePath != "", "-trace"},
		{cfg.GC, "-gc"},
		{cfg.RedisCompare, "-redis-compare"},
		{cfg.Fill.On, "-fill"},
		{cfg.Gen.Path != "", "-gen-log"},
	} {
		if m.on {
			modes = append(modes, m.flag)
		}
	}
	switch {
	case len(modes) > 1:
		return fmt.Errorf("%s: cannot be combined; give one of them", strings.Join(modes, " and "))
	case len(modes) == 1 && cfg.CSVPath != "":
		return fmt.Errorf("-csv: only the throughput table is written as CSV, not %s (use -json)", modes[0])
	}
	return nil
}

// checkOutputs refuses output files the run could not write, before it
// runs rather than after: a -plot that is neither .png nor .svg, and a
// path whose directory does not exist.
func (cfg *Config) checkOutputs() error {
	if p := cfg.PlotPath; p != "" {
		if ext := strings.ToLower(filepath.Ext(p)); ext != ".png" && ext != ".svg" {
			return fmt.Errorf("-plot %s: want a .png or .svg file", p)
		}
	}
	for _, o := range []struct{ flag, path string }{{"-json", cfg.JSONPath}, {"-csv", cfg.CSVPath}, {"-plot", cfg.PlotPath}} {
		if o.path == "" {
			continue
		}
		if fi, err := os.Stat(filepath.Dir(o.path)); err != nil || !fi.IsDir() {
			return fmt.Errorf("%s %s: no directory %s to write it in", o.flag, o.path, filepath.Dir(o.path))
		}
	}
	return nil
}

// checkVelo opens velo as the largest -procs will, so that a -capacity
// velo refuses or a -value-size too large for its segments is a flag error
// rather than a failure midway through the run. (More procs mean more
// shards, so smaller segments.)
func (cfg *Config) checkVelo() error {
	if !slices.Contains(cfg.Targets, "velo") {
		return nil
	}
	prev := runtime.GOMAXPROCS(slices.Max(cfg.Procs))
	defer runtime.GOMAXPROCS(prev)
	maxBytes := targets.VeloBytes(cfg.TargetConfig())
	c, err := velo.New(velo.Options{MaxBytes: maxBytes, MaxEntries: cfg.Entries})
	if err != nil {
		return fmt.Errorf("velo with MaxBytes %d: %w", maxBytes, err)
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
			names := append([]string{"velo", "mutexmap"}, targets.Names()...)
			for _, name := range names {
				if name != "redis" && !slices.Contains(out, name) {
					out = append(out, name)
				}
			}
			continue
		}
		switch {
		case !targets.Known(t):
			return nil, fmt.Errorf("-target: unknown target %q (known: all, %s)", t, strings.Join(targets.Names(), ", "))
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
func (cfg *Config) checkTrace(fs *flag.FlagSet) error {
	if cfg.TraceFormat == "" {
		if _, err := tracefile.InferFormat(cfg.TracePath); err != nil {
			return err
		}
	} else if !slices.Contains(tracefile.Formats, cfg.TraceFormat) {
		return fmt.Errorf("-format %q: want one of %s", cfg.TraceFormat, strings.Join(tracefile.Formats, ", "))
	}
	if strings.TrimSpace(cfg.Capacities) != "" {
		entries, bytes, err := ParseCapacities(cfg.Capacities)
		if err != nil {
			return err
		}
		if err := checkReplayCapacity("-capacities", entries, bytes); err != nil {
			return err
		}
	}
	if !flagGiven(fs, "target") {
		cfg.Targets = []string{"velo", "otter", "theine", "ristretto"}
	}
	return nil
}

// checkReplayCapacity refuses capacities larger than velo replays: it
// replays each in one shard, which holds at most a few hundred of its
// largest segments (about 10 GiB, or 80 million entries). Larger ones
// would fail when the replay reaches them, after the smaller ones ran,
// and the peers, which allocate for their bound up front, would run the
// machine out of memory first.
func checkReplayCapacity(flag string, entries []int, bytes []int64) error {
	var o velo.Options
	var largest string
	switch {
	case len(entries) > 0:
		c := slices.Max(entries)
		o = targets.ReplayVeloOptions(c)
		largest = fmt.Sprintf("%d entries", c)
	case len(bytes) > 0:
		b := slices.Max(bytes)
		o = targets.ByteReplayVeloOptions(targets.ByteSizing{MaxBytes: b})
		largest = fmt.Sprintf("%d bytes", b)
	default:
		return nil
	}
	c, err := velo.New(o)
	if err != nil {
		return fmt.Errorf("%s: %s is more than a replay holds (velo replays each capacity in one shard): %w", flag, largest, err)
	}
	c.Close()
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

// ParseInts parses a comma-separated list of distinct integers in lo..hi.
func ParseInts(name, s string, lo, hi int) ([]int, error) {
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

// Fill is the part of the command line that -fill reads.
type Fill struct {
	On        bool
	Values    []string // value size distributions, in workload.ValueDists
	Overwrite []int    // overwrite shares in percent, 0..99
	Keys      int      // K for every distribution; 0: per distribution
	Util      float64  // live set / MaxBytes
	Scale     float64  // multiplies the default live set
	Plot      string

	values, overwrite string // as given, until checkFill parses them
}

// addFillFlags adds the -fill flags.
func addFillFlags(fs *flag.FlagSet, f *Fill) {
	names := make([]string, len(workload.ValueDists))
	for i, d := range workload.ValueDists {
		names[i] = d.Name + " (" + d.About + ")"
	}
	fs.BoolVar(&f.On, "fill", false, "instead of the throughput table, write a working set with overwrites into each cache, "+
		"sized by bytes, and report the keys it kept and the memory it took (default targets "+strings.Join(fillDefaultTargets, ",")+")")
	fs.StringVar(&f.values, "fill-values", "64,1k,mixed,alt,rand512k", "value size distributions for -fill, comma-separated: "+strings.Join(names, "; "))
	fs.StringVar(&f.overwrite, "fill-overwrite", "0,50,90", "overwrite shares for -fill in percent (0..99), comma-separated: K/(1-p) Sets in all")
	fs.IntVar(&f.Keys, "fill-keys", 0, "live keys K for -fill (0: per distribution, a live set of about 48 MiB x -fill-scale)")
	fs.Float64Var(&f.Util, "fill-util", 0.8, "live set / MaxBytes for -fill: every cache is bounded to live set / util bytes")
	fs.Float64Var(&f.Scale, "fill-scale", 1, "scale of -fill's default live set (48 MiB), and so of K and MaxBytes")
	fs.StringVar(&f.Plot, "fill-plot", "", "also draw -fill's kept fraction and peak heap/MaxBytes against the overwrite share to this .png or .svg file")
}

// fillDefaultTargets are the targets of -fill without -target.
var fillDefaultTargets = []string{"velo", "freecache", "fastcache", "bigcache", "otter"}

// checkFill validates the -fill flags when -fill is given, and picks its
// targets: the default ones without -target; with -target all, every one
// that -fill can bound by bytes.
func (cfg *Config) checkFill(fs *flag.FlagSet) error {
	f := &cfg.Fill
	if !f.On {
		return nil
	}
	switch {
	case cfg.GC || cfg.TracePath != "" || cfg.RedisCompare:
		return errors.New("-fill: cannot be combined with -gc, -trace or -redis-compare")
	case f.Keys < 0 || f.Keys > math.MaxInt32:
		return fmt.Errorf("-fill-keys %d: want 0..%d", f.Keys, math.MaxInt32)
	case !(f.Util > 0 && f.Util <= 1):
		return fmt.Errorf("-fill-util %v: want 0 < util <= 1", f.Util)
	case !(f.Scale > 0 && f.Scale <= 64):
		return fmt.Errorf("-fill-scale %v: want 0 < scale <= 64", f.Scale)
	}
	f.Values = nil
	for _, v := range strings.Split(f.values, ",") {
		v = strings.TrimSpace(v)
		switch {
		case workload.FindValueDist(v) == nil:
			return fmt.Errorf("-fill-values: unknown distribution %q (known: %s)", v, strings.Join(workload.ValueDistNames(), ", "))
		case slices.Contains(f.Values, v):
			return fmt.Errorf("-fill-values: %q given twice", v)
		}
		f.Values = append(f.Values, v)
	}
	var err error
	if f.Overwrite, err = ParseInts("-fill-overwrite", f.overwrite, 0, 99); err != nil {
		return err
	}
	if !flagGiven(fs, "target") {
		cfg.Targets = slices.Clone(fillDefaultTargets)
		return nil
	}
	all := slices.Contains(strings.Split(strings.ReplaceAll(fs.Lookup("target").Value.String(), " ", ""), ","), "all")
	var picked []string
	for _, t := range cfg.Targets {
		switch {
		case targets.FindByteTarget(t) != nil:
			picked = append(picked, t)
		case !all:
			return fmt.Errorf("-fill: target %q is not measured by -fill, which bounds by bytes: %s", t, strings.Join(targets.ByteTargetNames(), ", "))
		}
	}
	cfg.Targets = picked
	return nil
}

// TargetConfig is what a target of the run is sized from.
func (cfg *Config) TargetConfig() targets.Config {
	return targets.Config{
		Keys:          cfg.Keys,
		ValueSize:     cfg.ValueSize,
		Capacity:      cfg.Capacity,
		Entries:       cfg.Entries,
		SizeByEntries: cfg.SizeByEntries(),
		TTL:           cfg.TTL,
		Procs:         cfg.Procs,
		RedisAddr:     cfg.RedisAddr,
	}
}

// Workload is what the throughput workload is generated from.
func (cfg *Config) Workload() workload.Params {
	return workload.Params{
		Keys:      cfg.Keys,
		Dist:      cfg.Dist,
		ZipfS:     cfg.ZipfS,
		StreamLen: cfg.StreamLen,
		ValueMin:  cfg.ValueMin,
		ValueSize: cfg.ValueSize,
		Seed:      cfg.Seed,
	}
}
