// Package trace is -trace: the hit ratio of each cache on a recorded
// access trace, at capacities counted in entries or in bytes, next to
// three reference policies computed offline (policy.go): LRU, a textbook
// CLOCK and Belady's optimal. docs/hit-ratio.md has the method and the
// results for entries, docs/capacity-planning.md the use of bytes.
//
// Every access is a read-through: read the key; on a miss, write it (TTL
// one hour, which no replay outlasts). With capacities in entries the value
// is 8 bytes and every entry weighs one, so a cache of capacity c holds at
// most c keys; the caches are opened with [targets.OpenForReplay]. With
// capacities in bytes (bytes.go) the value has the object's size (from the
// trace, else -value-size) and a cache of capacity c is bounded to c bytes
// as its user would bound it; the caches are opened with
// [targets.OpenForByteReplay], and each entry weighs velo's entry size
// ([targets.EntryBytes]: key, value and 16-byte header) in the reference
// policies.
//
// On top of the sweep, -target-hit picks the smallest capacity that reaches
// a hit ratio, -refine bisects towards it for velo (target.go), and a
// budget in bytes gets the planner's summary: hit ratio, velo's bytes per
// entry, its throughput per core on the trace's keys, and the cores and
// origin load for a request rate (plan.go).
package trace

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/velocache/velo/cmd/loadgen/internal/config"
	"github.com/velocache/velo/cmd/loadgen/internal/report"
	"github.com/velocache/velo/cmd/loadgen/internal/targets"
	"github.com/velocache/velo/cmd/loadgen/internal/tracefile"
)

// traceReadmeCapacities are the capacities that the traces README lists
// with published hit ratios, by file name without ".gz". Other traces get
// 1%, 5%, 10% and 25% of their distinct keys, as the README suggests.
var traceReadmeCapacities = map[string][]int{
	"arc_OLTP.lis":      {250, 1000, 2000},
	"arc_P3.lis":        {25000, 100000, 200000},
	"lirs_gli.trace":    {250, 1000, 2000},
	"lirs_loop.trace":   {250, 500, 750},
	"scarab-recs.trace": {1000, 10000, 100000},
}

var traceDefaultPercents = []int{1, 5, 10, 25}

// traceRefPolicies are the reference columns after the targets (policy.go).
var traceRefPolicies = []string{"lru", "clock", "optimal"}

// replayTrace replays the accesses ids (key numbers into keys) through c,
// read-through, and returns the number of hits.
func replayTrace(c targets.Cache, ids []int32, keys []string) (int, error) {
	w, async := c.(targets.Waiter)
	buf := make([]byte, 0, 64)
	hits := 0
	for _, id := range ids {
		k := keys[id]
		if _, ok := c.Read(buf[:0], k); ok {
			hits++
			continue
		}
		if err := c.Write(k, targets.ReplayValue, targets.ReplayTTL); err != nil {
			return 0, fmt.Errorf("write %q: %w", k, err)
		}
		if async {
			w.Wait()
		}
	}
	return hits, nil
}

// traceResult is one cache at one capacity.
type traceResult struct {
	Capacity int     `json:"capacity"`
	Cache    string  `json:"cache"`
	Hits     int     `json:"hits"`
	Accesses int     `json:"accesses"`
	HitRatio float64 `json:"hit_ratio_pct"`
	Seconds  float64 `json:"seconds"`
	Note     string  `json:"note,omitempty"`
	// Byte replays: writes the cache refused (a miss each), and for velo
	// its Stats at the end.
	Refused int        `json:"refused,omitempty"`
	Velo    *veloAtEnd `json:"velo,omitempty"`
}

type traceSkipped struct {
	Target string `json:"target"`
	Reason string `json:"reason"`
}

// traceReport is what -trace prints, and the -json file's content.
type traceReport struct {
	Meta           report.Meta       `json:"meta"`
	Config         map[string]string `json:"config"`
	Trace          string            `json:"trace"`
	Format         string            `json:"format"`
	Accesses       int               `json:"accesses"`
	DistinctKeys   int               `json:"distinct_keys"`
	ObjectBytes    uint64            `json:"object_bytes,omitempty"` // sum of sizes over accesses (oracle)
	LoadSeconds    float64           `json:"load_seconds"`
	Capacities     []int             `json:"capacities"`
	CapacitySource string            `json:"capacity_source"`
	// CapacityUnit is "entries" or "bytes"; in bytes, SizeSource says
	// where the object sizes came from.
	CapacityUnit string `json:"capacity_unit"`
	SizeSource   string `json:"size_source,omitempty"`
	// TargetHit (a ratio in 0..1), Reached, Refined and Plan: see target.go and plan.go.
	TargetHit float64        `json:"target_hit,omitempty"`
	Reached   []reach        `json:"reached,omitempty"`
	Refined   []traceResult  `json:"refined,omitempty"`
	Plan      *planSummary   `json:"plan,omitempty"`
	Setups    []targetSetup  `json:"setups,omitempty"`
	Caches    []string       `json:"caches"` // the columns: targets replayed, then lru, clock and optimal
	Skipped   []traceSkipped `json:"skipped,omitempty"`
	Results   []traceResult  `json:"results"`
}

// Run replays cfg.TracePath at each capacity through each target of
// cfg.Targets that has a bound in the capacities' unit, computes the
// reference policies, answers -target-hit, prints the table (and the
// planner's summary, if any) to w and writes cfg.PlotPath (the hit-ratio
// curves) and cfg.JSONPath if set.
func Run(cfg config.Config, w io.Writer) error {
	rep, err := measure(cfg, report.ProgressWriter(cfg.Progress))
	if err != nil {
		return err
	}
	printTraceReport(w, rep)
	if cfg.PlotPath != "" {
		if err := writePlot(cfg.PlotPath, rep); err != nil {
			return err
		}
	}
	if cfg.JSONPath != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(cfg.JSONPath, append(b, '\n'), 0o644)
	}
	return nil
}

// measure does the work of Run, writing progress lines to progress.
func measure(cfg config.Config, progress io.Writer) (*traceReport, error) {
	format := cfg.TraceFormat
	if format == "" {
		var err error
		if format, err = tracefile.InferFormat(cfg.TracePath); err != nil {
			return nil, err
		}
	} else if !slices.Contains(tracefile.Formats, format) {
		return nil, fmt.Errorf("-format %q: want one of %s", format, strings.Join(tracefile.Formats, ", "))
	}
	start := time.Now()
	td, err := tracefile.Load(cfg.TracePath, format)
	if err != nil {
		return nil, err
	}
	if len(td.Keys) == 0 {
		return nil, fmt.Errorf("%s: no accesses", cfg.TracePath)
	}
	rt, err := newRefTrace(td.Keys)
	if err != nil {
		return nil, err
	}
	td.Keys = nil // rt.ids and rt.keys hold the trace now
	// Keys are the key numbers in decimal, except in a byte replay of the
	// plain format, where the log's own key strings weigh what they weigh.
	byteMode := cfg.Plan.CapBytes != nil
	keys := make([]string, rt.distinct())
	for i, k := range rt.keys {
		if byteMode && td.Names != nil {
			keys[i] = td.Names[k]
		} else {
			keys[i] = strconv.FormatUint(k, 10)
		}
	}
	td.Names = nil
	rep := &traceReport{
		Meta:         report.CollectMeta(),
		Config:       cfg.Flags,
		Trace:        filepath.Base(cfg.TracePath),
		Format:       format,
		Accesses:     len(rt.ids),
		DistinctKeys: rt.distinct(),
		LoadSeconds:  time.Since(start).Seconds(),
	}
	for _, s := range td.Sizes {
		rep.ObjectBytes += uint64(s)
	}
	fmt.Fprintf(progress, "loadgen: %s: %d accesses, %d distinct keys, read in %.1fs\n",
		rep.Trace, rep.Accesses, rep.DistinctKeys, rep.LoadSeconds)

	rep.TargetHit = cfg.Plan.TargetHit
	if byteMode {
		return rep, measureBytes(cfg, rep, rt, keys, td.Sizes, progress)
	}
	rep.CapacityUnit = "entries"
	if rep.Capacities, rep.CapacitySource, err = traceCapacities(cfg.Capacities, cfg.TracePath, rt.distinct()); err != nil {
		return nil, err
	}
	var run []string
	for _, t := range cfg.Targets {
		ok, reason := targets.Replays(t)
		if ok {
			run = append(run, t)
			continue
		}
		if reason == "" {
			reason = "no entry-count bound"
		}
		rep.Skipped = append(rep.Skipped, traceSkipped{Target: t, Reason: reason})
	}
	rep.Caches = append(slices.Clone(run), traceRefPolicies...)

	total := len(rep.Capacities) * len(rep.Caches)
	for _, capacity := range rep.Capacities {
		for _, name := range rep.Caches {
			r, err := traceCell(name, capacity, rt, keys)
			if err != nil {
				return nil, fmt.Errorf("%s at capacity %d: %w", name, capacity, err)
			}
			rep.Results = append(rep.Results, r)
			fmt.Fprintf(progress, "loadgen: [%d/%d] capacity %d  %-9s %6.2f%%  (%.1fs)\n",
				len(rep.Results), total, capacity, name, r.HitRatio, r.Seconds)
		}
	}
	if rep.TargetHit > 0 {
		rep.Reached = reached(rep)
		steps, err := refine(rep, cfg.Plan.Refine, func(capacity int) (traceResult, error) {
			return traceCell("velo", capacity, rt, keys)
		})
		if err != nil {
			return nil, err
		}
		rep.Refined = steps
	}
	return rep, nil
}

// traceCell replays one cache (a target, lru or optimal) at one capacity.
func traceCell(name string, capacity int, rt *refTrace, keys []string) (traceResult, error) {
	r := traceResult{Capacity: capacity, Cache: name, Accesses: len(rt.ids)}
	start := time.Now()
	switch name {
	case "lru":
		r.Hits = rt.lru(capacity)
	case "clock":
		r.Hits = rt.clock(capacity)
	case "optimal":
		r.Hits = rt.optimal(capacity)
	default:
		c, err := targets.OpenForReplay(name, capacity)
		if err != nil {
			return r, err
		}
		r.Hits, err = replayTrace(c, rt.ids, keys)
		c.Close()
		if err != nil {
			return r, err
		}
		if lost := targets.ByteEvictions(c); lost > 0 {
			r.Note = fmt.Sprintf("the byte budget evicted %d entries besides MaxEntries", lost)
		}
	}
	r.Seconds = time.Since(start).Seconds()
	r.HitRatio = 100 * float64(r.Hits) / float64(r.Accesses)
	return r, nil
}

// traceCapacities parses -capacities, or picks the capacities for the
// trace at path: those the traces README gives for it, else percentages of
// its distinct keys. It also says where they came from.
func traceCapacities(flag, path string, distinct int) ([]int, string, error) {
	if strings.TrimSpace(flag) != "" {
		cs, err := config.ParseInts("-capacities", flag, 1, config.MaxTraceCapacity)
		return cs, "-capacities", err
	}
	if cs, ok := traceReadmeCapacities[strings.TrimSuffix(filepath.Base(path), ".gz")]; ok {
		return slices.Clone(cs), "the traces README", nil
	}
	var cs []int
	for _, p := range traceDefaultPercents {
		if c := max(1, distinct*p/100); !slices.Contains(cs, c) {
			cs = append(cs, c)
		}
	}
	return cs, "1%, 5%, 10% and 25% of the distinct keys", nil
}

// printTraceReport writes the hit ratio table (rows: capacities, columns:
// caches) and, per replayed target, the gap to optimal.
func printTraceReport(w io.Writer, rep *traceReport) {
	m := rep.Meta
	fmt.Fprintf(w, "loadgen: trace %s (%s format): %d accesses, %d distinct keys", rep.Trace, rep.Format, rep.Accesses, rep.DistinctKeys)
	switch {
	case rep.CapacityUnit == "bytes":
		fmt.Fprintf(w, "\nread-through replay, capacities in bytes (%s); an entry weighs key + object size (%s) + 16-byte header; velo with one shard\n",
			rep.CapacitySource, rep.SizeSource)
	default:
		if rep.ObjectBytes > 0 {
			fmt.Fprintf(w, ", %d bytes of objects (sizes ignored: every entry weighs 1)", rep.ObjectBytes)
		}
		fmt.Fprintf(w, "\nread-through replay, capacities in entries (%s); velo with one shard\n", rep.CapacitySource)
	}
	fmt.Fprintf(w, "%s %s/%s, NumCPU %d, CPU %s, %s\n\n", m.GoVersion, m.GOOS, m.GOARCH, m.NumCPU, m.CPUModel, m.Date)

	ratio := make(map[string]traceResult, len(rep.Results))
	for _, r := range rep.Results {
		ratio[fmt.Sprintf("%d/%s", r.Capacity, r.Cache)] = r
	}
	get := func(c int, name string) traceResult { return ratio[fmt.Sprintf("%d/%s", c, name)] }

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "capacity\t")
	for _, name := range rep.Caches {
		fmt.Fprintf(tw, "%s\t", name)
	}
	fmt.Fprintln(tw)
	for _, c := range rep.Capacities {
		fmt.Fprintf(tw, "%s\t", rep.capLabel(c))
		for _, name := range rep.Caches {
			fmt.Fprintf(tw, "%.2f\t", get(c, name).HitRatio)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintln(w, "\ncells: hit ratio in %")

	targets := rep.Caches[:len(rep.Caches)-len(traceRefPolicies)]
	if len(targets) > 0 {
		fmt.Fprintln(w, "\ngap to optimal, in points of hit ratio (optimal - cache):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "capacity\t")
		for _, name := range targets {
			fmt.Fprintf(tw, "%s\t", name)
		}
		fmt.Fprintln(tw)
		for _, c := range rep.Capacities {
			fmt.Fprintf(tw, "%s\t", rep.capLabel(c))
			opt := get(c, "optimal").HitRatio
			for _, name := range targets {
				fmt.Fprintf(tw, "%.2f\t", opt-get(c, name).HitRatio)
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
	for _, r := range rep.Results {
		if r.Note != "" {
			fmt.Fprintf(w, "note: %s at capacity %s: %s\n", r.Cache, rep.capLabel(r.Capacity), r.Note)
		}
	}
	for _, s := range rep.Setups {
		fmt.Fprintf(w, "setup %s: %s\n", s.Target, s.Setup)
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "skipped %s: %s\n", s.Target, s.Reason)
	}
	printReached(w, rep)
	switch {
	case rep.Plan != nil:
		printPlan(w, rep.Plan)
	case rep.CapacityUnit == "bytes" && rep.TargetHit > 0:
		fmt.Fprintln(w, "no planner's summary: velo reaches the target at no capacity of the sweep; add larger capacities, or give -budget")
	}
}

// capLabel writes capacity c in the report's unit: an entry count, or
// bytes as 256MiB.
func (rep *traceReport) capLabel(c int) string {
	if rep.CapacityUnit == "bytes" {
		return config.FormatBytes(int64(c))
	}
	return strconv.Itoa(c)
}
