package trace

// The planner's summary: for one budget in bytes (-budget, or the
// smallest one that reaches -target-hit for velo), velo's hit ratio on the
// trace, the bytes per entry it used, its throughput per core replaying
// the trace's keys and sizes at full speed, and, for a request rate
// (-rate), the requests left for the origin and the cores velo needs.

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/velocache/velo"

	"github.com/velocache/velo/cmd/loadgen/internal/config"
	"github.com/velocache/velo/cmd/loadgen/internal/targets"
	"github.com/velocache/velo/cmd/loadgen/internal/workload"
)

// planSummary is the planner's summary, and its part of the -json file.
type planSummary struct {
	Trace    string  `json:"trace"`
	Budget   int64   `json:"budget_bytes"`
	Chosen   string  `json:"chosen_by"` // -budget or -target-hit
	HitRatio float64 `json:"hit_ratio_pct"`
	// velo's Stats at the end of the replay at Budget.
	Entries       int     `json:"entries"`
	Bytes         int64   `json:"bytes"`
	HeldBytes     int64   `json:"held_bytes"`
	BytesPerEntry float64 `json:"bytes_per_entry"`      // Bytes / Entries
	HeldPerEntry  float64 `json:"held_bytes_per_entry"` // HeldBytes / Entries
	MeanObject    float64 `json:"mean_object_bytes"`    // over the accesses
	// Throughput per GOMAXPROCS, read-through at full speed.
	Duration   float64     `json:"seconds_per_procs"`
	Count      int         `json:"count"` // runs per GOMAXPROCS setting (-count); the rows are their medians
	Throughput []planProcs `json:"throughput"`
	// PerCore is the requests/s per core at the largest GOMAXPROCS
	// measured, which Cores is computed from.
	PerCore      float64 `json:"per_core_requests_per_sec"`
	PerCoreProcs int     `json:"per_core_procs"`
	Rate         float64 `json:"rate,omitempty"`
	OriginRate   float64 `json:"origin_requests_per_sec,omitempty"`
	Cores        int     `json:"cores,omitempty"`
}

// planProcs is velo's throughput at one GOMAXPROCS setting: with -count
// N, the median of N runs, and the runs' spread, (max-min)/median.
type planProcs struct {
	Procs       int       `json:"procs"`
	RequestsSec float64   `json:"requests_per_sec"`
	PerCore     float64   `json:"per_core"`
	HitRatio    float64   `json:"hit_ratio_pct"`
	Runs        []float64 `json:"runs_requests_per_sec,omitempty"`
	SpreadPct   float64   `json:"spread_pct,omitempty"`
}

// noisySpreadPct is the spread of a row's runs above which the summary
// says the machine is noisy.
const noisySpreadPct = 10

// medianOf is the median of runs (by requests/s) with the runs' spread.
func medianOf(runs []planProcs) planProcs {
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b planProcs) int { return cmp.Compare(a.RequestsSec, b.RequestsSec) })
	m := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		// An even count's median is the mean of the two middle runs, as
		// the throughput table's is (the upper one alone is its faster
		// run, when there are two).
		lo := sorted[len(sorted)/2-1]
		m.RequestsSec = (lo.RequestsSec + m.RequestsSec) / 2
		m.PerCore = (lo.PerCore + m.PerCore) / 2
		m.HitRatio = (lo.HitRatio + m.HitRatio) / 2
	}
	if len(runs) > 1 {
		for _, r := range runs {
			m.Runs = append(m.Runs, r.RequestsSec)
		}
		if m.RequestsSec > 0 {
			m.SpreadPct = 100 * (sorted[len(sorted)-1].RequestsSec - sorted[0].RequestsSec) / m.RequestsSec
		}
	}
	return m
}

// planBudget is the budget of the planner's summary: -budget, or the
// smallest capacity at which velo reached -target-hit; ok is false when
// there is none.
func planBudget(p config.Plan, rep *traceReport) (int, bool) {
	if p.Budget > 0 {
		return int(p.Budget), true
	}
	if p.TargetHit > 0 {
		return refinedBudget(rep)
	}
	return 0, false
}

// veloResultAt is velo's replay at capacity, in the sweep or the
// bisection.
func veloResultAt(rep *traceReport, capacity int) (traceResult, bool) {
	for _, rs := range [][]traceResult{rep.Results, rep.Refined} {
		for _, r := range rs {
			if r.Cache == "velo" && r.Capacity == capacity && r.Velo != nil {
				return r, true
			}
		}
	}
	return traceResult{}, false
}

// planArithmetic is what a request rate means at a hit ratio (in %) and a
// throughput per core: the requests per second that miss and go to the
// origin, and the cores velo's lookups and fills take at that rate, whole.
func planArithmetic(rate, hitPct, perCore float64) (origin float64, cores int) {
	origin = rate * (1 - hitPct/100)
	if perCore > 0 {
		cores = int(math.Ceil(rate / perCore))
	}
	return origin, cores
}

// measurePlan measures the throughput part of the summary and does its
// arithmetic. at is velo's replay at the budget.
func measurePlan(cfg config.Config, at traceResult, rt *refTrace, keys []string, bt *byteTrace, progress io.Writer) (*planSummary, error) {
	p := &planSummary{
		Trace:    filepath.Base(cfg.TracePath),
		Budget:   int64(at.Capacity),
		Chosen:   "-budget",
		HitRatio: at.HitRatio,
		Rate:     cfg.Plan.Rate,
		Duration: cfg.Duration.Seconds(),
	}
	if cfg.Plan.Budget == 0 {
		p.Chosen = "-target-hit"
	}
	p.Entries, p.Bytes, p.HeldBytes = at.Velo.Entries, at.Velo.Bytes, at.Velo.HeldBytes
	if p.Entries > 0 {
		p.BytesPerEntry = float64(p.Bytes) / float64(p.Entries)
		p.HeldPerEntry = float64(p.HeldBytes) / float64(p.Entries)
	}
	var sum float64
	for _, s := range bt.sizes {
		sum += float64(s)
	}
	p.MeanObject = sum / float64(len(bt.sizes))

	// Each key is written with the size of its last access.
	values := make([][]byte, rt.distinct())
	for i, id := range rt.ids {
		values[id] = bt.value[:bt.sizes[i]]
	}
	wl := workload.FromTrace(keys, rt.ids, values)
	opts := targets.ByteReplayVeloOptions(targets.ByteSizing{MaxBytes: p.Budget, MaxEntry: bt.sizing.MaxEntry})
	opts.Shards, opts.ExpiryInterval = 0, 0 // velo's defaults, as a service would run it
	p.Count = max(cfg.Count, 1)
	for _, procs := range cfg.Procs {
		var runs []planProcs
		for range p.Count {
			pp, err := planThroughput(cfg, opts, wl, rt.ids, procs, len(bt.value))
			if err != nil {
				return nil, err
			}
			runs = append(runs, pp)
		}
		pp := medianOf(runs)
		p.Throughput = append(p.Throughput, pp)
		fmt.Fprintf(progress, "loadgen: plan: procs %d  %.0f requests/s  (%.0f per core)\n", procs, pp.RequestsSec, pp.PerCore)
		if procs >= p.PerCoreProcs {
			p.PerCore, p.PerCoreProcs = pp.PerCore, procs
		}
	}
	if p.Rate > 0 {
		p.OriginRate, p.Cores = planArithmetic(p.Rate, p.HitRatio, p.PerCore)
	}
	return p, nil
}

// planThroughput replays the trace through a fresh velo at procs
// GOMAXPROCS: first once through, on one goroutine, so that the cache is
// as full as the trace makes it; then procs workers, each from its own
// offset of the trace, read through at full speed for -warmup, then for
// -duration, counted.
func planThroughput(cfg config.Config, opts velo.Options, wl *workload.Workload, ids []int32, procs, maxValue int) (planProcs, error) {
	prev := runtime.GOMAXPROCS(procs)
	defer runtime.GOMAXPROCS(prev)
	c, err := velo.New(opts)
	if err != nil {
		return planProcs{}, err
	}
	cache := targets.VeloCache(c)
	defer cache.Close()
	// The fill: once through the trace, on this goroutine.
	buf := make([]byte, 0, maxValue)
	for _, id := range ids {
		if _, ok := cache.Read(buf[:0], wl.Keys[id]); !ok {
			_ = cache.Write(wl.Keys[id], wl.Value(id), cfg.TTL)
		}
	}
	runtime.GC()

	hist := workload.NewHist()
	ws := make([]workload.Worker, procs)
	for i := range ws {
		ws[i] = workload.Worker{
			Pos:         i * (len(wl.Stream) / procs),
			Buf:         make([]byte, 0, maxValue),
			SampleEvery: 1 << 62, // not timed
			ReadHist:    hist,
			WriteHist:   hist,
			ReadThrough: true,
		}
	}
	var phase atomic.Int32
	mix := workload.MixTable(100, cfg.Seed)
	var wg sync.WaitGroup
	for i := range ws {
		w := &ws[i]
		wg.Go(func() { w.Run(&phase, cache, wl, mix, cfg.TTL) })
	}
	time.Sleep(cfg.Warmup)
	phase.Store(workload.PhaseMeasure)
	start := time.Now()
	time.Sleep(cfg.Duration)
	elapsed := time.Since(start)
	phase.Store(workload.PhaseStop)
	wg.Wait()
	var reads, hits uint64
	for _, w := range ws {
		reads, hits = reads+w.Reads, hits+w.Hits
	}
	out := planProcs{Procs: procs, RequestsSec: float64(reads) / elapsed.Seconds()}
	out.PerCore = out.RequestsSec / float64(procs)
	if reads > 0 {
		out.HitRatio = 100 * float64(hits) / float64(reads)
	}
	return out, nil
}

// printPlan writes the planner's summary.
func printPlan(w io.Writer, p *planSummary) {
	fmt.Fprintf(w, "\nplanner's summary: velo with MaxBytes %s (%s)\n", config.FormatBytes(p.Budget), p.Chosen)
	fmt.Fprintf(w, "  hit ratio        %.2f%% (replay, one shard)\n", p.HitRatio)
	fmt.Fprintf(w, "  entries held     %d; bytes per entry %.0f live (Stats.Bytes/Len), %.0f held (HeldBytes/Len); mean object per request %.0f bytes\n",
		p.Entries, p.BytesPerEntry, p.HeldPerEntry, p.MeanObject)
	runs := fmt.Sprintf("%.3gs per row", p.Duration)
	if p.Count > 1 {
		runs = fmt.Sprintf("median of %d runs of %.3gs per row", p.Count, p.Duration)
	}
	fmt.Fprintf(w, "  throughput       read-through on the trace's keys and sizes, default shards, %s:\n", runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "  \tprocs\trequests/s\tper core\thit %\t")
	if p.Count > 1 {
		fmt.Fprint(tw, "spread\t")
	}
	fmt.Fprintln(tw)
	for _, t := range p.Throughput {
		fmt.Fprintf(tw, "  \t%d\t%s\t%s\t%.2f\t", t.Procs, si(t.RequestsSec), si(t.PerCore), t.HitRatio)
		if p.Count > 1 {
			fmt.Fprintf(tw, "%.0f%%\t", t.SpreadPct)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintln(w, "  (hit % of these runs: the workers go round the trace from staggered offsets, so it differs from the replay's)")
	if slices.ContainsFunc(p.Throughput, func(t planProcs) bool { return t.SpreadPct > noisySpreadPct }) {
		fmt.Fprintf(w, "  (the runs of a row differ by more than %d%%: the machine is noisy; raise -count or -duration)\n", noisySpreadPct)
	}
	if p.Rate > 0 {
		fmt.Fprintf(w, "  at %s requests/s:\n", si(p.Rate))
		fmt.Fprintf(w, "    origin         %s requests/s (rate x %.2f%% misses)\n", si(p.OriginRate), 100-p.HitRatio)
		fmt.Fprintf(w, "    cores for velo %d (rate / %s per core, measured at %d procs; the service's own work is not included)\n",
			p.Cores, si(p.PerCore), p.PerCoreProcs)
	}
}

// si writes a rate with a k or M suffix and three significant digits.
func si(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.3gM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.3gk", x/1e3)
	}
	return fmt.Sprintf("%.3g", x)
}
