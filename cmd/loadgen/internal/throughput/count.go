package throughput

// -count: each cell is measured -count times. Within a cell the targets
// are interleaved: every repetition runs each target once, in an order
// that rotates from one repetition to the next, so drift in the machine
// affects them alike. A cell of the report is the median of its runs,
// with the runs' minimum and maximum beside it, so that a noisy cell
// shows as noisy.

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/velocache/velo/cmd/loadgen/internal/config"
	"github.com/velocache/velo/cmd/loadgen/internal/targets"
	"github.com/velocache/velo/cmd/loadgen/internal/workload"
)

// noisyPct is the spread, (max-min)/median in percent, above which the
// table marks a cell with "!".
const noisyPct = 10

// medianSpread returns the median of xs (the mean of the two middle values
// when len(xs) is even), its minimum and maximum, and the spread
// (max-min)/median in percent (0 when the median is 0). It returns zeros for
// no values and does not modify xs.
func medianSpread(xs []float64) (median, lo, hi, spreadPct float64) {
	if len(xs) == 0 {
		return 0, 0, 0, 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	median = s[n/2]
	if n%2 == 0 {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	lo, hi = s[0], s[n-1]
	if median != 0 {
		spreadPct = 100 * (hi - lo) / median
	}
	return median, lo, hi, spreadPct
}

// medianInt is the median of xs, rounded to an integer.
func medianInt(xs []int64) int64 {
	f := make([]float64, len(xs))
	for i, x := range xs {
		f[i] = float64(x)
	}
	m, _, _, _ := medianSpread(f)
	return int64(m + 0.5)
}

// aggregateRuns folds the runs of one (mix, procs) cell, every target's
// runs among them, into one cell per target, in the order of targets:
// throughput and latency percentiles are the medians of the runs, ops,
// reads, hits, samples and seconds their sums.
func aggregateRuns(runs []cell, targets []string) []cell {
	var out []cell
	for _, t := range targets {
		var mine []cell
		for _, r := range runs {
			if r.Target == t {
				mine = append(mine, r)
			}
		}
		if len(mine) == 0 {
			continue
		}
		agg := cell{ReadPercent: mine[0].ReadPercent, Procs: mine[0].Procs, Target: t, Goroutines: mine[0].Goroutines, Count: len(mine)}
		var p50, p99, p999 []int64
		for _, r := range mine {
			agg.Ops += r.Ops
			agg.Seconds += r.Seconds
			agg.Reads += r.Reads
			agg.ReadHits += r.ReadHits
			agg.Samples += r.Samples
			agg.RunsMops = append(agg.RunsMops, r.MopsPerSec)
			p50, p99, p999 = append(p50, r.P50ns), append(p99, r.P99ns), append(p999, r.P999ns)
		}
		agg.MopsPerSec, agg.MopsMin, agg.MopsMax, agg.SpreadPct = medianSpread(agg.RunsMops)
		agg.P50ns, agg.P99ns, agg.P999ns = medianInt(p50), medianInt(p99), medianInt(p999)
		out = append(out, agg)
	}
	return out
}

// formatCell is a table cell: Mops/s and latencies, and with several runs
// the runs' range, marked "!" when the spread is above noisyPct.
func formatCell(c cell) string {
	lat := fmt.Sprintf("(%d/%d/%d)", c.P50ns, c.P99ns, c.P999ns)
	if c.Count <= 1 {
		return fmt.Sprintf("%.2f %s", c.MopsPerSec, lat)
	}
	mark := ""
	if c.SpreadPct > noisyPct {
		mark = "!"
	}
	return fmt.Sprintf("%.2f [%.2f-%.2f]%s %s", c.MopsPerSec, c.MopsMin, c.MopsMax, mark, lat)
}

// isPeer reports whether target is another cache than velo.
func isPeer(target string) bool { return !strings.HasPrefix(target, "velo") }

// bestPeer returns the peer with the highest throughput among cells, and
// whether there is one.
func bestPeer(cells []cell) (cell, bool) {
	var best cell
	found := false
	for _, c := range cells {
		if isPeer(c.Target) && (!found || c.MopsPerSec > best.MopsPerSec) {
			best, found = c, true
		}
	}
	return best, found
}

// printBestPeerRow writes the row "velo/best peer" of one mix: per procs,
// velo's median throughput over the best peer's, and that peer's name.
// When the targets include caches that keep every key (targets.Unbounded)
// and bounded ones too, a second row, "velo/best bounded", compares velo
// with the bounded peers alone.
func printBestPeerRow(w io.Writer, cfg config.Config, mix int, byKey map[string]cell) {
	if !slices.Contains(cfg.Targets, "velo") {
		return
	}
	printRatioRow(w, cfg, mix, byKey, "velo/best peer", cfg.Targets)
	bounded := slices.DeleteFunc(slices.Clone(cfg.Targets), targets.Unbounded)
	if len(bounded) < len(cfg.Targets) {
		printRatioRow(w, cfg, mix, byKey, "velo/best bounded", bounded)
	}
}

// printRatioRow writes one row of velo's median throughput over the best
// of the peers among names, per procs, if there is a peer among them.
func printRatioRow(w io.Writer, cfg config.Config, mix int, byKey map[string]cell, label string, names []string) {
	if !slices.ContainsFunc(names, isPeer) {
		return
	}
	fmt.Fprintf(w, "%d\t%s", mix, label)
	for _, p := range cfg.Procs {
		var cells []cell
		for _, t := range names {
			cells = append(cells, byKey[cellKey(mix, p, t)])
		}
		best, _ := bestPeer(cells)
		v := byKey[cellKey(mix, p, "velo")]
		fmt.Fprintf(w, "\t%.2fx %s", v.MopsPerSec/best.MopsPerSec, best.Target)
	}
	fmt.Fprintln(w, "\t")
}

// distLabel describes the key distribution for the report's header.
func distLabel(cfg config.Config) string {
	switch cfg.Dist {
	case "zipf":
		return fmt.Sprintf("zipf s=%g", cfg.ZipfS)
	case "scrambled-zipf":
		return fmt.Sprintf("scrambled zipf s=%g (YCSB)", cfg.ZipfS)
	}
	return cfg.Dist
}

// printRunSetup is the header line on the preset, the sizing and -count.
func printRunSetup(w io.Writer, cfg config.Config) {
	var parts []string
	if cfg.Preset != "" {
		parts = append(parts, "preset "+cfg.Preset)
	}
	if cfg.SizeByEntries() {
		parts = append(parts, fmt.Sprintf("every cache bounded to %d entries (velo: MaxEntries, and MaxBytes %d as the byte-bounded peers)",
			cfg.Entries, targets.PeerBytes(cfg.TargetConfig())))
	}
	parts = append(parts, fmt.Sprintf("stream of %d keys", cmp.Or(cfg.StreamLen, workload.DefaultStreamLen)))
	if cfg.Count > 1 {
		parts = append(parts, fmt.Sprintf("each cell run %d times, targets interleaved: median [min-max], ! = spread above %d%%", cfg.Count, noisyPct))
	}
	fmt.Fprintf(w, "%s\n", strings.Join(parts, "; "))
}
