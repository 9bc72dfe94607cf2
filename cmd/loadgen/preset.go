package main

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
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
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

// addPresetFlags adds the flags of this file and of count.go.
func addPresetFlags(fs *flag.FlagSet, cfg *config) {
	names := make([]string, len(presets))
	for i, p := range presets {
		names[i] = p.name + " (" + p.about + ")"
	}
	fs.StringVar(&cfg.Preset, "preset", "", "set the other flags' defaults as a published benchmark does: "+strings.Join(names, "; "))
	fs.IntVar(&cfg.Count, "count", 1, "measure each cell this many times, the targets interleaved, and report the median and the min-max")
	fs.IntVar(&cfg.StreamLen, "stream", streamLen, "length of the pre-generated key stream (a power of two)")
	fs.StringVar(&cfg.SizeBy, "size-by", "bytes", "bytes: the peers with a byte bound get -capacity; "+
		"entries: every cache is bounded to -entries entries: ristretto by MaxCost -entries at cost 1, "+
		"freecache, fastcache and bigcache by -entries x (24 + longest key + -value-size) bytes rounded up to a MiB "+
		"(velo: MaxEntries -entries, MaxBytes -capacity)")
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

// checkPreset validates the flags of this file and count.go.
func (cfg *config) checkPreset() error {
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

// sizeByEntries reports whether every cache is bounded by -entries.
func (cfg *config) sizeByEntries() bool { return cfg.SizeBy == "entries" && cfg.Entries > 0 }

// peerEntryHeader is the per-entry overhead assumed when a byte-bounded
// peer is sized by entries: freecache's 24-byte entry header, the largest
// of the three (bigcache's is 18 bytes plus a 4-byte length, fastcache's 4).
const peerEntryHeader = 24

// peerBytes is the byte bound of freecache, fastcache and bigcache:
// -capacity, or under -size-by entries room for -entries entries of the
// longest key and -value-size, rounded up to a whole MiB (bigcache's unit).
// Fastcache still takes its 32 MiB minimum, freecache its 512 KiB.
func peerBytes(cfg config) int64 {
	if !cfg.sizeByEntries() {
		return cfg.Capacity
	}
	longest := len(fmt.Sprintf("user:%08d", max(cfg.Keys-1, 0)))
	b := int64(cfg.Entries) * int64(peerEntryHeader+longest+cfg.ValueSize)
	const mib = 1 << 20
	return (b + mib - 1) / mib * mib
}

// ---- YCSB's scrambled Zipfian ----

// ycsbItems and ycsbZetan are YCSB's ScrambledZipfianGenerator constants:
// ranks are drawn over 10^10 items, and zeta(10^10, 0.99) is precomputed.
const (
	ycsbItems = 10_000_000_000
	ycsbZetan = 26.46902820178302
)

// scrambledZipf draws as YCSB's ScrambledZipfianGenerator (and go-ycsb's
// NewScrambledZipfian, which otter's and Caffeine's benchmarks use): a
// Zipf(theta) rank over 10^10 items by Gray et al.'s method ("Quickly
// generating billion-record synthetic databases", SIGMOD 1994), hashed
// with 64-bit FNV onto n keys, which scatters the popular keys over the
// key space. Folding 10^10 ranks onto n keys makes it less skewed than a
// Zipf(theta) over n keys.
type scrambledZipf struct {
	n                        uint64
	theta, alpha, zetan, eta float64
}

func newScrambledZipf(theta float64, n uint64) *scrambledZipf {
	zetan := ycsbZetan
	if theta != 0.99 {
		zetan = zeta(ycsbItems, theta)
	}
	zeta2 := 1 + math.Pow(0.5, theta)
	return &scrambledZipf{
		n:     n,
		theta: theta,
		alpha: 1 / (1 - theta),
		zetan: zetan,
		eta:   (1 - math.Pow(2.0/ycsbItems, 1-theta)) / (1 - zeta2/zetan),
	}
}

// rank draws a Zipf rank in 0..10^10-1.
func (z *scrambledZipf) rank(rng *rand.Rand) uint64 {
	u := rng.Float64()
	uz := u * z.zetan
	switch {
	case uz < 1:
		return 0
	case uz < 1+math.Pow(0.5, z.theta):
		return 1
	}
	return uint64(ycsbItems * math.Pow(z.eta*u-z.eta+1, z.alpha))
}

func (z *scrambledZipf) next(rng *rand.Rand) uint64 { return fnv64(z.rank(rng)) % z.n }

// fnv64 is YCSB's fnvhash64: FNV-1a over the 8 bytes of v, low byte
// first, then the absolute value as a signed number.
func fnv64(v uint64) uint64 {
	h := uint64(0xCBF29CE484222325)
	for range 8 {
		h ^= v & 0xff
		h *= 1099511628211
		v >>= 8
	}
	if int64(h) < 0 {
		h = -h
	}
	return h
}

// zeta is sum_{i=1..n} i^-theta, the first 1000 terms summed and the rest
// by Euler-Maclaurin (error far below what a stream of keys can show).
func zeta(n uint64, theta float64) float64 {
	const m = 1000
	if n <= m {
		s := 0.0
		for i := uint64(1); i <= n; i++ {
			s += math.Pow(float64(i), -theta)
		}
		return s
	}
	s := 0.0
	for i := 1; i < m; i++ {
		s += math.Pow(float64(i), -theta)
	}
	N, M := float64(n), float64(m)
	s += (math.Pow(N, 1-theta) - math.Pow(M, 1-theta)) / (1 - theta)
	s += (math.Pow(N, -theta) + math.Pow(M, -theta)) / 2
	s += theta / 12 * (math.Pow(M, -theta-1) - math.Pow(N, -theta-1))
	return s
}
