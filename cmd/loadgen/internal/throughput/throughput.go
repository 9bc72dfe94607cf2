// Package throughput is loadgen's default job: the throughput and latency
// table. A cell is one read/write mix at one GOMAXPROCS setting; for each
// cell and target it fills a fresh cache with every key of the workload,
// then runs GOMAXPROCS workers (package workload) through a warmup and the
// measured duration, and reports the ops per second over the measured wall
// time and the latency percentiles of every 64th op. Within a cell the
// targets run one after another, in an order that rotates from cell to
// cell, so drift in the machine affects them alike. It prints the table
// and writes the -json, -csv and -plot files.
package throughput

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/velocache/velo/cmd/loadgen/internal/config"
	"github.com/velocache/velo/cmd/loadgen/internal/report"
	"github.com/velocache/velo/cmd/loadgen/internal/targets"
	"github.com/velocache/velo/cmd/loadgen/internal/workload"
)

// sampleEvery is how often an op is timed: one in sampleEvery.
const sampleEvery = 64

// fill stores every key.
//
// A target whose writes are applied asynchronously (ristretto) drops writes
// when its buffer is full, so the fill waits for it every 1024 writes and
// at the end: the measurement starts from a full cache for every target.
func fill(c targets.Cache, wl *workload.Workload, ttl time.Duration) error {
	return targets.WriteAll(c, len(wl.Keys), ttl, func(i int) (string, []byte) {
		return wl.Keys[i], wl.Value(int32(i))
	})
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
	cfg    config.Config
	wl     *workload.Workload
	hists  []*hdrhistogram.Histogram // per goroutine
	merged *hdrhistogram.Histogram
}

// runCell measures target at one mix and GOMAXPROCS setting, on a fresh,
// filled cache.
func (r *runner) runCell(target string, readPercent, procs int) (cell, error) {
	prev := runtime.GOMAXPROCS(procs)
	defer runtime.GOMAXPROCS(prev)

	c, err := targets.Open(target, r.cfg.TargetConfig())
	if err != nil {
		return cell{}, err
	}
	defer c.Close()
	if err := fill(c, r.wl, r.cfg.TTL); err != nil {
		return cell{}, fmt.Errorf("filling %s: %w", target, err)
	}
	runtime.GC() // start each measurement from the same heap

	ws := r.workers(procs)
	elapsed := r.drive(c, ws, workload.MixTable(readPercent, r.cfg.Seed))

	out := cell{ReadPercent: readPercent, Procs: procs, Target: target, Goroutines: len(ws), Seconds: elapsed.Seconds()}
	if r.merged == nil {
		r.merged = workload.NewHist()
	}
	r.merged.Reset()
	for _, w := range ws {
		out.Ops += w.Ops
		out.Reads += w.Reads
		out.ReadHits += w.Hits
		r.merged.Merge(w.ReadHist)
	}
	out.MopsPerSec = float64(out.Ops) / elapsed.Seconds() / 1e6
	out.Samples = r.merged.TotalCount()
	out.P50ns, out.P99ns, out.P999ns = workload.Percentiles(r.merged)
	return out, nil
}

// workers sets up n workers, spread evenly over the stream.
func (r *runner) workers(n int) []workload.Worker {
	for len(r.hists) < n {
		r.hists = append(r.hists, workload.NewHist())
	}
	ws := make([]workload.Worker, n)
	for i := range ws {
		r.hists[i].Reset()
		ws[i] = workload.Worker{
			Pos:         i * (len(r.wl.Stream) / n),
			Slot:        i * 37 % 100,
			Buf:         make([]byte, 0, r.cfg.ValueSize),
			SampleEvery: sampleEvery,
			ReadHist:    r.hists[i], // reads and writes in one histogram
			WriteHist:   r.hists[i],
		}
	}
	return ws
}

// drive runs the workers through warmup and measurement and returns the
// measured wall time.
func (r *runner) drive(c targets.Cache, ws []workload.Worker, mix *[100]bool) time.Duration {
	var phase atomic.Int32
	var wg sync.WaitGroup
	for i := range ws {
		w := &ws[i]
		wg.Go(func() { w.Run(&phase, c, r.wl, mix, r.cfg.TTL) })
	}
	time.Sleep(r.cfg.Warmup)
	phase.Store(workload.PhaseMeasure)
	start := time.Now()
	time.Sleep(r.cfg.Duration)
	elapsed := time.Since(start)
	phase.Store(workload.PhaseStop)
	wg.Wait()
	return elapsed
}

// runReport is what a run produces, and the JSON file's content.
type runReport struct {
	Meta   report.Meta       `json:"meta"`
	Config map[string]string `json:"config"`
	Cells  []cell            `json:"cells"`
	// Runs holds every run in the order measured when -count > 1.
	Runs []cell `json:"runs,omitempty"`
	// HandoffAfterNs is Meta.HandoffNs measured again after the cells:
	// on a VM it can change during a run.
	HandoffAfterNs int64 `json:"handoff_after_ns"`
}

// measure generates the workload and measures every cell, targets interleaved
// within each cell. Progress lines go to progress.
func measure(cfg config.Config, progress io.Writer) (*runReport, error) {
	rep := &runReport{Meta: report.CollectMeta(), Config: cfg.Flags}
	fmt.Fprintf(progress, "loadgen: generating %d keys and a %s stream of %d\n", cfg.Keys, cfg.Dist, cmp.Or(cfg.StreamLen, workload.DefaultStreamLen))
	r := &runner{cfg: cfg, wl: workload.New(cfg.Workload())}
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
	rep.HandoffAfterNs = report.Handoff().Nanoseconds()
	return rep, nil
}

// rotate returns s rotated left by k, so that no target always runs first.
func rotate(s []string, k int) []string {
	k %= len(s)
	return append(slices.Clone(s[k:]), s[:k]...)
}

// printTable writes the metadata and one row per (mix, target), one
// column per procs, plus a velo/mutexmap ratio row per mix.
func printTable(w io.Writer, cfg config.Config, rep *runReport) {
	m := rep.Meta
	fmt.Fprintf(w, "loadgen: %s over %d keys, %d-byte values, ttl %v; %v warmup + %v measured per cell; every %dth op timed\n",
		distLabel(cfg), cfg.Keys, cfg.ValueSize, cfg.TTL, cfg.Warmup, cfg.Duration, sampleEvery)
	printRunSetup(w, cfg)
	fmt.Fprintf(w, "%s %s/%s, NumCPU %d, CPU %s, %s; clock read %d ns (included in latencies)\n",
		m.GoVersion, m.GOOS, m.GOARCH, m.NumCPU, m.CPUModel, m.Date, m.ClockReadNs)
	if m.HandoffNs > 0 || rep.HandoffAfterNs > 0 {
		fmt.Fprintf(w, "core-to-core handoff %d ns before the cells, %d ns after (a value passed between two goroutines; writes on several cores wait for it)\n",
			m.HandoffNs, rep.HandoffAfterNs)
	}
	fmt.Fprintln(w)

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
func printNoiseWarning(w io.Writer, cfg config.Config, cells []cell) {
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
			fmt.Fprintf(w, "warning: %s at read %d%% procs %d: %.2f%% of reads missed (is the cache's bound, -capacity or -entries, too small for -keys?)\n",
				c.Target, c.ReadPercent, c.Procs, 100*float64(c.Reads-c.ReadHits)/float64(c.Reads))
		}
	}
}

// Run is the throughput table: it measures every cell, prints the table
// to w, and writes the -json, -csv and -plot files, saying so on stderr.
func Run(cfg config.Config, w io.Writer) error {
	rep, err := measure(cfg, report.ProgressWriter(cfg.Progress))
	if err != nil {
		return err
	}
	printTable(w, cfg, rep)
	return writeFiles(cfg, rep, os.Stderr)
}
