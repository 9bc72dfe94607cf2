// Package fill is -fill: how much memory a working set needs, per cache.
//
// For each value size distribution of -fill-values, loadgen builds K keys
// (16 bytes each, "%016d"); each key's value size comes from the
// distribution (uniform ones by a hash of the key) and never changes. The live
// set is the sum over the keys of velo's entry size (a 16-byte header, the
// key and the value, rounded up to 8), and every cache is bounded to
// MaxBytes = live set / -fill-util bytes. By default K is chosen so that
// the live set is about 48 MiB (MaxBytes 60 MiB at the default 0.8, above
// fastcache's 32 MiB minimum), times -fill-scale.
//
// For each overwrite share p of -fill-overwrite and each target, a fresh
// cache takes W = K/(1-p) Sets, all to the K keys: each key once in a
// random order, then W-K overwrites of keys drawn from a Zipf(s=1.01)
// over the K keys, scrambled by a random permutation so that the hot keys
// are spread over the key space. Every target gets the same sequence. Each
// Set's value is made in a request buffer from the key's next version:
// bytes of a fixed pattern, at an offset and of a size that depend on the
// key, with the first and last 8 replaced by a hash of the key and the
// version. After the writes every key is read back and compared with the
// last value written for it: equal is kept, absent is lost, and anything
// else is lost and also counted as wrong (which no cache should show).
//
// Memory: runtime/metrics' /memory/classes/heap/objects:bytes is sampled
// every fillSampleEvery from a goroutine while the cache is created and
// written; the report gives the peak minus the same metric read right
// before the cache was created, after two collections, with the keys and
// the value generator already built (so they are part of that baseline,
// and small: the values are made on the fly, not stored). GOGC is 100
// and no GOMEMLIMIT is set for the run. Fastcache's chunks are mmapped
// outside the Go heap: its peak adds the chunks it holds after the writes
// (Stats.BytesSize). Caches that keep the caller's value slice (otter,
// ristretto, theine) get a fresh copy of the value with each Set, as from
// a request being decoded; those copies are in their peak heap, and are
// subtracted from their allocations per Set.
//
// Allocations per Set are runtime.MemStats.Mallocs over the overwrite
// phase divided by its Sets. For velo, the report also gives Stats: Bytes
// (live entries) and HeldBytes over MaxBytes, Rejected, and the write
// amplification (SetBytes + MovedBytes) / SetBytes. For the other caches,
// "live" is the entry bytes of the kept keys by velo's formula, not their
// own accounting, and rejected is the number of errors their Set returned.
package fill

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/velocache/velo/cmd/loadgen/internal/config"
	"github.com/velocache/velo/cmd/loadgen/internal/report"
	"github.com/velocache/velo/cmd/loadgen/internal/targets"
	"github.com/velocache/velo/cmd/loadgen/internal/workload"
)

const (
	fillKeyBytes    = workload.KeyBytes // keys are "%016d" (workload.FormatKey)
	fillZipfS       = 1.01
	fillLiveTarget  = 48 << 20 // the default live set, times -fill-scale
	fillSampleEvery = 2 * time.Millisecond
	fillWaitEvery   = 1024 // Sets between two waits for an asynchronous cache
)

// fillMaxBytes is the bound of every cache: live / util, rounded down.
func fillMaxBytes(live int64, util float64) int64 {
	return int64(math.Floor(float64(live) / util))
}

// ---- The workload ----

// fillWorkload is one distribution's keys, built before any cache is
// created, and what makes their values. A value is a function of its key
// and version, made into a request buffer for each Set: the buffers and
// the keys are in the heap baseline, and the harness's memory stays small
// next to the cache's (a GC cycle starts when the heap has grown by as
// much as was live after the last, harness included).
type fillWorkload struct {
	dist  workload.ValueDist
	seed  uint64
	keys  string   // key i is keys[16i:16i+16] ("%016d")
	ver   []uint32 // versions written so far, per key
	order []int32  // the first phase's key order
	hot   []int32  // Zipf rank -> key
	// pattern is the bytes of every value before its stamps: key i's
	// value of n bytes is pattern[off:off+n] for an offset of the key's.
	pattern  []byte
	val, got []byte // the request buffer of each Set; the expected value when reading back

	live, maxBytes int64
	maxEntry       int64
}

// fillPatternOffsets is the number of different offsets of the values in
// pattern, 8 bytes apart.
const fillPatternOffsets = 512

func newFillWorkload(d workload.ValueDist, k int, util float64, seed uint64) *fillWorkload {
	rng := rand.New(rand.NewPCG(seed, 0xf111))
	wl := &fillWorkload{
		dist:    d,
		seed:    seed,
		ver:     make([]uint32, k),
		order:   make([]int32, k),
		hot:     make([]int32, k),
		pattern: make([]byte, fillPatternOffsets*8+d.Hi),
		val:     make([]byte, d.Hi),
		got:     make([]byte, d.Hi),
	}
	keys := make([]byte, k*fillKeyBytes)
	for i := range k {
		workload.FormatKey((*[fillKeyBytes]byte)(keys[i*fillKeyBytes:]), i)
		e := targets.EntryBytes(fillKeyBytes, wl.size(int32(i)))
		wl.live += e
		wl.maxEntry = max(wl.maxEntry, e)
		wl.order[i], wl.hot[i] = int32(i), int32(i)
	}
	wl.keys = string(keys)
	for i := range wl.pattern {
		wl.pattern[i] = byte(fillMix(uint64(i/8)+seed) >> (8 * (i % 8)))
	}
	rng.Shuffle(k, func(i, j int) { wl.order[i], wl.order[j] = wl.order[j], wl.order[i] })
	rng.Shuffle(k, func(i, j int) { wl.hot[i], wl.hot[j] = wl.hot[j], wl.hot[i] })
	wl.maxBytes = fillMaxBytes(wl.live, util)
	return wl
}

func (wl *fillWorkload) keyCount() int { return len(wl.ver) }

func (wl *fillWorkload) key(i int32) string {
	return wl.keys[int(i)*fillKeyBytes : int(i+1)*fillKeyBytes]
}

// size is the value size of key i: fixed, by parity (alt), or drawn
// uniformly by a hash of the key.
func (wl *fillWorkload) size(i int32) int {
	d := wl.dist
	switch {
	case d.Alt && i%2 == 0:
		return d.Lo
	case d.Alt:
		return d.Hi
	case d.Lo == d.Hi:
		return d.Lo
	}
	return d.Lo + int(fillMix(uint64(i)^wl.seed<<32)%uint64(d.Hi-d.Lo+1))
}

// value makes version ver of key i's value in dst's array: its bytes of
// pattern, the first and last (up to) 8 of them replaced by a hash of key
// and version.
func (wl *fillWorkload) value(dst []byte, i int32, ver uint32) []byte {
	off := int(fillMix(uint64(i)+wl.seed)%fillPatternOffsets) * 8
	v := append(dst[:0], wl.pattern[off:off+wl.size(i)]...)
	h := fillMix(uint64(i)<<32 | uint64(ver))
	for j := range min(len(v), 8) {
		v[j] = byte(h >> (8 * j))
		v[len(v)-1-j] = byte(h >> (56 - 8*j))
	}
	return v
}

// next is the key and value of key i's next Set. The value is in the
// request buffer, which the next call overwrites.
func (wl *fillWorkload) next(i int32) (string, []byte) {
	wl.ver[i]++
	return wl.key(i), wl.value(wl.val, i, wl.ver[i])
}

// latest is the last value written to key i, in a buffer of its own that
// the next call overwrites.
func (wl *fillWorkload) latest(i int32) []byte {
	return wl.value(wl.got, i, wl.ver[i])
}

// fillMix is splitmix64's finalizer.
func fillMix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// fillSets is W, the Sets of one cell: K/(1-p), rounded up.
func fillSets(k, overwrite int) int {
	return (k*100 + 99 - overwrite) / (100 - overwrite)
}

// ---- Measurement ----

// fillRow is one cell: one target after the writes of one distribution
// and overwrite share.
type fillRow struct {
	Values    string `json:"values"`
	Keys      int    `json:"keys"`
	Overwrite int    `json:"overwrite_percent"`
	Target    string `json:"target"`
	Error     string `json:"error,omitempty"` // the cache could not be created

	MaxBytes   int64  `json:"max_bytes"`
	BoundBytes int64  `json:"bound_bytes"` // the bound the cache really has
	Setup      string `json:"setup,omitempty"`

	Sets       int     `json:"sets"`
	Overwrites int     `json:"overwrites"` // Sets in the overwrite phase
	Seconds    float64 `json:"seconds"`    // both phases
	// Rejected is velo's Stats().Rejected, and for the others the errors
	// their Set returned; SetErrors is the errors for every target.
	Rejected  uint64 `json:"rejected"`
	SetErrors uint64 `json:"set_errors"`

	Kept         int     `json:"kept"`
	Wrong        int     `json:"wrong"` // present with another value than the last written; also lost
	KeptFraction float64 `json:"kept_fraction"`
	KeptBytes    int64   `json:"kept_bytes"` // targets.EntryBytes of the kept keys
	// LiveBytes is velo's Stats().Bytes, and KeptBytes for the others.
	LiveBytes int64   `json:"live_bytes"`
	LiveRatio float64 `json:"live_over_max_bytes"`
	HeldBytes int64   `json:"held_bytes,omitempty"` // velo's Stats().HeldBytes
	HeldRatio float64 `json:"held_over_max_bytes,omitempty"`

	BaseHeap  uint64  `json:"base_heap_bytes"`
	PeakHeap  uint64  `json:"peak_heap_bytes"`
	OffHeap   uint64  `json:"off_heap_bytes,omitempty"` // fastcache's mmapped chunks, added to the peak
	PeakBytes int64   `json:"peak_bytes"`               // PeakHeap - BaseHeap + OffHeap
	PeakRatio float64 `json:"peak_over_max_bytes"`

	AllocsPerInsert float64 `json:"allocs_per_insert"`        // first phase, the harness's copies excluded
	AllocsPerSet    float64 `json:"allocs_per_overwrite"`     // overwrite phase, the same
	HarnessCopies   bool    `json:"harness_copies,omitempty"` // each Set was handed a fresh copy

	SetBytes   int64   `json:"set_bytes,omitempty"` // velo's Stats
	MovedBytes int64   `json:"moved_bytes,omitempty"`
	WriteAmp   float64 `json:"write_amplification,omitempty"`
}

// fillDistInfo describes one distribution's workload in the report.
type fillDistInfo struct {
	Name      string `json:"name"`
	About     string `json:"about"`
	Keys      int    `json:"keys"`
	KeyBytes  int    `json:"key_bytes"`
	LiveBytes int64  `json:"live_bytes"`
	MaxBytes  int64  `json:"max_bytes"`
	MaxEntry  int64  `json:"max_entry_bytes"`
}

// fillReport is what -fill produces, and its -json file.
type fillReport struct {
	Meta          report.Meta       `json:"meta"`
	Config        map[string]string `json:"config"`
	Util          float64           `json:"util"`
	ZipfS         float64           `json:"zipf_s"`
	TTLSeconds    float64           `json:"ttl_seconds"`
	SampleEveryMs float64           `json:"heap_sample_every_ms"`
	Overwrites    []int             `json:"overwrite_percents"`
	Targets       []string          `json:"targets"`
	Dists         []fillDistInfo    `json:"distributions"`
	Rows          []fillRow         `json:"rows"`
}

// Run is -fill: every cell, then the table on w and the files.
func Run(cfg config.Config, w io.Writer) error {
	rep, err := measureFill(cfg, report.ProgressWriter(cfg.Progress))
	if err != nil {
		return err
	}
	printFillTable(w, rep)
	return runFillFiles(cfg, rep, os.Stderr)
}

// runFillFiles writes the plot (-fill-plot, or -plot) and the -json file
// that were asked for, saying so on log.
func runFillFiles(cfg config.Config, rep *fillReport, log io.Writer) error {
	if path := cmp.Or(cfg.Fill.Plot, cfg.PlotPath); path != "" {
		if err := writePlot(path, rep); err != nil {
			return err
		}
		fmt.Fprintf(log, "loadgen: wrote %s\n", path)
	}
	if cfg.JSONPath != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.JSONPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(log, "loadgen: wrote %s\n", cfg.JSONPath)
	}
	return nil
}

// measureFill measures every distribution, overwrite share and target,
// in that order, with GOGC at 100 and no memory limit.
func measureFill(cfg config.Config, progress io.Writer) (*fillReport, error) {
	f := cfg.Fill
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	rep := &fillReport{
		Meta: report.CollectMeta(), Config: cfg.Flags, Util: f.Util, ZipfS: fillZipfS, TTLSeconds: cfg.TTL.Seconds(),
		SampleEveryMs: float64(fillSampleEvery) / float64(time.Millisecond),
		Overwrites:    f.Overwrite, Targets: cfg.Targets,
	}
	for _, name := range f.Values {
		// The seeds depend on the distribution, not on its place in
		// -fill-values: a distribution measured alone gets the same keys.
		di := slices.IndexFunc(workload.ValueDists, func(d workload.ValueDist) bool { return d.Name == name })
		d := workload.ValueDists[di]
		k := f.Keys
		if k == 0 {
			k = d.DefaultKeys(fillLiveTarget * f.Scale)
		}
		wl := newFillWorkload(d, k, f.Util, cfg.Seed+uint64(di))
		rep.Dists = append(rep.Dists, fillDistInfo{Name: d.Name, About: d.About, Keys: k, KeyBytes: fillKeyBytes,
			LiveBytes: wl.live, MaxBytes: wl.maxBytes, MaxEntry: wl.maxEntry})
		fmt.Fprintf(progress, "loadgen: -fill %s: %d keys, live set %.1f MiB, MaxBytes %.1f MiB\n", name, k, mib(wl.live), mib(wl.maxBytes))
		for _, p := range f.Overwrite {
			for _, t := range cfg.Targets {
				ft := targets.FindByteTarget(t)
				if ft == nil {
					return nil, fmt.Errorf("-fill: target %q is not measured by -fill", t)
				}
				row := measureFillCell(wl, *ft, p, cfg.TTL, cfg.Seed^uint64(di)<<32^uint64(p))
				rep.Rows = append(rep.Rows, row)
				fmt.Fprintf(progress, "loadgen: -fill %s %d%% %-9s kept %.4f  peak/Max %.2f  %.1fs\n",
					name, p, t, row.KeptFraction, row.PeakRatio, row.Seconds)
			}
		}
	}
	return rep, nil
}

// measureFillCell writes wl into a fresh cache of target t with
// overwrite share p, and reads it back. seed draws the overwritten keys:
// the same seed gives every target the same writes.
func measureFillCell(wl *fillWorkload, t targets.ByteTarget, p int, ttl time.Duration, seed uint64) fillRow {
	k := wl.keyCount()
	sets := fillSets(k, p)
	row := fillRow{Values: wl.dist.Name, Keys: k, Overwrite: p, Target: t.Name, MaxBytes: wl.maxBytes,
		Sets: sets, Overwrites: sets - k, HarnessCopies: t.Keeps}
	clear(wl.ver)
	rng := rand.New(rand.NewPCG(seed, 0x21bf))
	zipf := rand.NewZipf(rng, fillZipfS, 1, uint64(k-1))

	collect()
	row.BaseHeap = heapObjectBytes()
	sampler := startHeapSampler(fillSampleEvery)
	c, bound, setup, err := t.Open(targets.ByteSizing{MaxBytes: wl.maxBytes, Keys: k, MaxEntry: wl.maxEntry,
		MeanEntry: float64(wl.live) / float64(k), TTL: ttl})
	if err != nil {
		sampler.stop()
		row.Error = err.Error()
		return row
	}
	defer c.Close()
	row.BoundBytes, row.Setup = bound, setup

	wt, async := c.(targets.Waiter)
	var errs uint64
	n := 0
	write := func(key int32) {
		kstr, v := wl.next(key)
		if t.Keeps {
			v = bytes.Clone(v)
		}
		if c.Write(kstr, v, ttl) != nil {
			errs++
		}
		if n++; async && n%fillWaitEvery == 0 {
			wt.Wait()
		}
	}
	var m0, m1, m2 runtime.MemStats
	start := time.Now()
	runtime.ReadMemStats(&m0)
	for _, key := range wl.order {
		write(key)
	}
	if async {
		wt.Wait()
	}
	runtime.ReadMemStats(&m1)
	for range sets - k {
		write(wl.hot[zipf.Uint64()])
	}
	if async {
		wt.Wait()
	}
	runtime.ReadMemStats(&m2)
	if s, ok := c.(targets.Settler); ok {
		s.Settle()
	}
	row.Seconds = time.Since(start).Seconds()
	row.PeakHeap = sampler.stop()

	copies := func(sets int) uint64 {
		if t.Keeps {
			return uint64(sets)
		}
		return 0
	}
	row.AllocsPerInsert = fillAllocs(m1.Mallocs-m0.Mallocs, copies(k), k)
	row.AllocsPerSet = fillAllocs(m2.Mallocs-m1.Mallocs, copies(sets-k), sets-k)
	row.OffHeap = targets.OffHeapBytes(c)
	row.PeakBytes = int64(row.PeakHeap) - int64(row.BaseHeap) + int64(row.OffHeap)
	row.PeakRatio = float64(row.PeakBytes) / float64(wl.maxBytes)

	row.SetErrors, row.Rejected = errs, errs
	fillVerify(c, wl, &row)
	row.LiveBytes = row.KeptBytes
	if s, ok := targets.VeloStats(c); ok {
		row.Rejected = s.Rejected
		row.LiveBytes, row.HeldBytes = s.Bytes, s.HeldBytes
		row.HeldRatio = float64(s.HeldBytes) / float64(wl.maxBytes)
		row.SetBytes, row.MovedBytes = s.SetBytes, s.MovedBytes
		if s.SetBytes > 0 {
			row.WriteAmp = float64(s.SetBytes+s.MovedBytes) / float64(s.SetBytes)
		}
	}
	row.LiveRatio = float64(row.LiveBytes) / float64(wl.maxBytes)
	return row
}

// fillAllocs is (mallocs - copies) / sets, 0 without sets.
func fillAllocs(mallocs, copies uint64, sets int) float64 {
	if sets == 0 {
		return 0
	}
	return (float64(mallocs) - float64(copies)) / float64(sets)
}

// fillVerify reads every key back and counts the kept ones (the last
// value written) and the wrong ones (another value).
func fillVerify(c targets.Cache, wl *fillWorkload, row *fillRow) {
	buf := make([]byte, 0, wl.maxEntry)
	for i := range int32(wl.keyCount()) {
		key := wl.key(i)
		v, ok := c.Read(buf[:0], key)
		switch {
		case !ok:
		case bytes.Equal(v, wl.latest(i)):
			row.Kept++
			row.KeptBytes += targets.EntryBytes(len(key), len(v))
		default:
			row.Wrong++
		}
	}
	row.KeptFraction = float64(row.Kept) / float64(wl.keyCount())
}

// ---- Heap sampling ----

const heapObjectsMetric = "/memory/classes/heap/objects:bytes"

// heapObjectBytes is the heap memory in objects, live or not yet swept.
func heapObjectBytes() uint64 {
	s := []metrics.Sample{{Name: heapObjectsMetric}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// heapSampler records the peak of heapObjectBytes from a goroutine.
type heapSampler struct {
	quit chan struct{}
	done chan uint64
}

func startHeapSampler(every time.Duration) *heapSampler {
	s := &heapSampler{quit: make(chan struct{}), done: make(chan uint64, 1)}
	go func() {
		sample := []metrics.Sample{{Name: heapObjectsMetric}}
		var peak uint64
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-s.quit:
				metrics.Read(sample)
				s.done <- max(peak, sample[0].Value.Uint64())
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop takes a last sample and returns the peak.
func (s *heapSampler) stop() uint64 {
	close(s.quit)
	return <-s.done
}

// ---- Output ----

// printFillTable writes the header, one row per (distribution, overwrite
// share, target) and the notes.
func printFillTable(w io.Writer, rep *fillReport) {
	m := rep.Meta
	fmt.Fprintf(w, "loadgen -fill: K keys of %d bytes; W = K/(1-p) Sets: each key once in random order, then W-K overwrites of keys drawn by a scrambled Zipf s=%g;\n",
		fillKeyBytes, rep.ZipfS)
	fmt.Fprintf(w, "every cache bounded to MaxBytes = live set / %g (live set: 16-byte header + key + value, rounded up to 8, over the K keys); GOGC=100, no GOMEMLIMIT; heap sampled every %gms\n",
		rep.Util, rep.SampleEveryMs)
	fmt.Fprintf(w, "%s %s/%s, NumCPU %d, GOMAXPROCS %d, CPU %s, %s\n",
		m.GoVersion, m.GOOS, m.GOARCH, m.NumCPU, m.GOMAXPROCS, m.CPUModel, m.Date)
	for _, d := range rep.Dists {
		fmt.Fprintf(w, "values %s (%s): K = %d, live set %.2f MiB, MaxBytes %.2f MiB, largest entry %d B\n",
			d.Name, d.About, d.Keys, mib(d.LiveBytes), mib(d.MaxBytes), d.MaxEntry)
		var setups []string
		for _, r := range rep.Rows {
			if r.Values == d.Name && r.Overwrite == rep.Overwrites[0] && r.Error == "" {
				setups = append(setups, r.Target+": "+r.Setup)
			}
		}
		if len(setups) > 0 {
			fmt.Fprintf(w, "  %s\n", strings.Join(setups, "; "))
		}
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	header := []string{"values", "keys", "overwrite %", "target", "Sets", "rejected", "kept", "wrong",
		"live/Max", "held/Max", "peak heap/Max", "allocs/Set", "write amp"}
	fmt.Fprintln(tw, "| "+strings.Join(header, "\t| ")+"\t|")
	fmt.Fprintln(tw, "|"+strings.Repeat(" ---\t|", len(header)))
	var notes []string
	for _, r := range rep.Rows {
		cells := []string{r.Values, strconv.Itoa(r.Keys), strconv.Itoa(r.Overwrite), r.Target}
		if r.Error != "" {
			cells = append(cells, "failed (see below)")
			notes = append(notes, fmt.Sprintf("%s at %s, %d%%: %s", r.Target, r.Values, r.Overwrite, r.Error))
		} else {
			dash := func(ok bool, s string) string {
				if !ok {
					return "-"
				}
				return s
			}
			isVelo := r.Target == "velo"
			cells = append(cells,
				strconv.Itoa(r.Sets),
				strconv.FormatUint(r.Rejected, 10),
				fmt.Sprintf("%.4f", r.KeptFraction),
				strconv.Itoa(r.Wrong),
				fmt.Sprintf("%.3f", r.LiveRatio),
				dash(isVelo, fmt.Sprintf("%.3f", r.HeldRatio)),
				fmt.Sprintf("%.2f", r.PeakRatio),
				dash(r.Overwrites > 0, fmt.Sprintf("%.3f", r.AllocsPerSet)),
				dash(isVelo, fmt.Sprintf("%.3f", r.WriteAmp)))
			if r.Wrong > 0 {
				notes = append(notes, fmt.Sprintf("WRONG VALUES: %s at %s, %d%%: %d keys read back with another value than the last written (%d Sets rejected)",
					r.Target, r.Values, r.Overwrite, r.Wrong, r.Rejected))
			}
		}
		for len(cells) < len(header) {
			cells = append(cells, "")
		}
		fmt.Fprintln(tw, "| "+strings.Join(cells, "\t| ")+"\t|")
		if off := float64(r.BoundBytes)/float64(r.MaxBytes) - 1; r.Error == "" && math.Abs(off) > 0.01 && r.Overwrite == rep.Overwrites[0] {
			notes = append(notes, fmt.Sprintf("%s at %s is bounded to %.1f MiB, %+.1f%% off MaxBytes", r.Target, r.Values, mib(r.BoundBytes), 100*off))
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "\nkept: share of the K keys read back with the last value written; wrong: read back with another value (counted as lost too)")
	fmt.Fprintln(w, "rejected: velo's Stats().Rejected; the others: errors their Set returned (freecache: entry above ~1/1024 of its size; "+
		"fastcache: entry of 64 KiB or more, SetBig not used; bigcache: entry above a shard; ristretto: Set dropped or refused)")
	fmt.Fprintln(w, "live/Max: velo's Stats().Bytes; the others: the kept keys' entry bytes by velo's formula (not their own accounting). held/Max: velo's Stats().HeldBytes")
	fmt.Fprintf(w, "peak heap/Max: peak of %s during creation and writes, minus its value before the cache was created (keys and value generator built); "+
		"fastcache: plus its chunks mmapped off the Go heap (Stats.BytesSize)\n", heapObjectsMetric)
	fmt.Fprintln(w, "allocs/Set: runtime.MemStats.Mallocs over the overwrite phase / its Sets; otter, ristretto and theine keep the caller's slice, "+
		"so each of their Sets gets a fresh copy of the value: in their peak heap, not in allocs/Set")
	fmt.Fprintln(w, "write amp: velo's (SetBytes + MovedBytes) / SetBytes")
	for _, s := range notes {
		fmt.Fprintln(w, "note: "+s)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// collect runs two collections: the second frees what finalizers of the
// first released, and the heap statistics then describe live memory.
func collect() {
	runtime.GC()
	runtime.GC()
}
