package config

// Presets: a named workload that sets the flags a published benchmark
// uses, so that loadgen's table can be read next to that benchmark's.
// A preset only changes the defaults: a flag given on the command line
// wins over it.
//
// -preset otter follows otter's throughput benchmark
// (maypok86/otter, benchmarks/throughput, itself Caffeine's GetPutBenchmark):
// every cache bounded to 2^15 entries, pre-filled, goroutines walking a
// shared stream of 2^15 keys drawn from YCSB's scrambled Zipfian (s=0.99)
// over keys 0..2^15/3, each from its own offset, at the read mixes
// 100/75/50/25/0. It differs from otter's benchmark in what loadgen does
// for every target alike: values are 64 bytes (otter's are ~40-byte
// strings), keys are "user:%08d", every Set carries -ttl (otter's
// benchmark sets no expiry), each goroutine interleaves reads and writes
// as the mix says (otter's makes whole goroutines readers or writers, which
// at 1 or 2 goroutines gives other mixes than the ones named), and a cell
// runs for -duration instead of b.N ops.

import (
	"flag"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/velocache/velo/cmd/loadgen/internal/workload"
)

// otterEntries is the bound of every cache under -preset otter: otter's
// dataLength, 2 << 14.
const otterEntries = 1 << 15

type preset struct {
	name  string
	about string
	flags [][2]string // flag name and value, applied in order
}

var presets = []preset{{
	name: "otter",
	about: "otter's throughput benchmark: 2^15 entries for every cache (-size-by entries), " +
		"scrambled Zipf s=0.99 over 2^15/3+1 keys, a 2^15-key stream, 64-byte values, reads 100/75/50/25/0%, " +
		"procs 1..NumCPU in powers of two, targets velo,otter,theine,ristretto",
	flags: [][2]string{
		{"entries", strconv.Itoa(otterEntries)},
		{"size-by", "entries"},
		{"keys", strconv.Itoa(otterEntries/3 + 1)}, // go-ycsb's NewScrambledZipfian(0, dataLength/3): both ends included
		{"dist", "scrambled-zipf"},
		{"zipf-s", "0.99"},
		{"stream", strconv.Itoa(otterEntries)},
		{"value-size", "64"},
		{"mix", "100,75,50,25,0"},
		{"procs", powersOfTwo(runtime.NumCPU())},
		{"target", "velo,otter,theine,ristretto"},
	},
}}

// addPresetFlags adds -preset, -count, -stream and -size-by.
func addPresetFlags(fs *flag.FlagSet, cfg *Config) {
	names := make([]string, len(presets))
	for i, p := range presets {
		names[i] = p.name + " (" + p.about + ")"
	}
	fs.StringVar(&cfg.Preset, "preset", "", "set the other flags' defaults as a published benchmark does: "+strings.Join(names, "; "))
	fs.IntVar(&cfg.Count, "count", 1, "measure each cell this many times, the targets interleaved, and report the median and the min-max (with -trace, each throughput row of the planner's summary)")
	fs.IntVar(&cfg.StreamLen, "stream", workload.DefaultStreamLen, "length of the pre-generated key stream (a power of two)")
	fs.StringVar(&cfg.SizeBy, "size-by", "bytes", "bytes: the peers with a byte bound get -capacity; "+
		"entries: every cache is bounded to -entries entries: ristretto by MaxCost -entries at cost 1, "+
		"freecache, fastcache and bigcache by -entries x (24 + longest key + -value-size) bytes rounded up to a MiB "+
		"(velo: MaxEntries -entries, and MaxBytes that same byte bound)")
}

// powersOfTwo is "1,2,4,...", up to n.
func powersOfTwo(n int) string {
	var ps []string
	for p := 1; p <= max(n, 1); p *= 2 {
		ps = append(ps, strconv.Itoa(p))
	}
	return strings.Join(ps, ",")
}

// applyPreset sets the named preset's flags that the command line did not
// set.
func applyPreset(fs *flag.FlagSet, name string) error {
	if name == "" {
		return nil
	}
	i := slices.IndexFunc(presets, func(p preset) bool { return p.name == name })
	if i < 0 {
		return fmt.Errorf("-preset %q: want one of %s", name, strings.Join(presetNames(), ", "))
	}
	for _, f := range presets[i].flags {
		if flagGiven(fs, f[0]) {
			continue
		}
		if err := fs.Set(f[0], f[1]); err != nil {
			return fmt.Errorf("-preset %s: -%s %s: %w", name, f[0], f[1], err)
		}
	}
	return nil
}

func presetNames() []string {
	names := make([]string, len(presets))
	for i, p := range presets {
		names[i] = p.name
	}
	return names
}

// checkPreset validates -count, -stream, -size-by and a scrambled Zipf's -zipf-s.
func (cfg *Config) checkPreset() error {
	switch {
	case cfg.Count < 1:
		return fmt.Errorf("-count %d: want 1 or more", cfg.Count)
	case cfg.StreamLen < 1 || cfg.StreamLen > 1<<30 || cfg.StreamLen&(cfg.StreamLen-1) != 0:
		return fmt.Errorf("-stream %d: want a power of two up to 2^30", cfg.StreamLen)
	case cfg.SizeBy != "bytes" && cfg.SizeBy != "entries":
		return fmt.Errorf("-size-by %q: want bytes or entries", cfg.SizeBy)
	case cfg.SizeBy == "entries" && cfg.Entries < 1:
		return fmt.Errorf("-size-by entries: needs -entries")
	case cfg.Dist == "scrambled-zipf" && !(cfg.ZipfS > 0 && cfg.ZipfS < 1):
		return fmt.Errorf("-zipf-s %v: -dist scrambled-zipf wants 0 < s < 1", cfg.ZipfS)
	}
	return nil
}

// SizeByEntries reports whether every cache is bounded by -entries.
func (cfg *Config) SizeByEntries() bool { return cfg.SizeBy == "entries" && cfg.Entries > 0 }
