package main

// Trace replay (-trace): the hit ratio of each cache on a recorded access
// trace, at capacities counted in entries, next to three reference policies
// computed offline (policy.go): LRU, a textbook CLOCK and Belady's
// optimal. docs/hit-ratio.md has the method and the results.
//
// Every access is a read-through: read the key; on a miss, write it (an
// 8-byte value, TTL one hour, which no replay outlasts). Every entry weighs
// one, so a cache of capacity c holds at most c keys. The caches are opened
// here, not by their loadgen targets, because the targets are sized for the
// throughput workload and some apply writes asynchronously:
//
//   - velo: MaxEntries c, one shard. MaxEntries is enforced per shard
//     (MaxEntries/Shards each), so with the default sharding a skewed trace
//     would be evicted early in its busy shards; one shard makes the bound
//     exact. MaxBytes is large enough that the byte budget never evicts (see
//     openTraceVelo), and the expiry sweep is pushed out of the replay.
//   - otter: MaximumSize c, and an executor that runs maintenance on the
//     writing goroutine, so that the bound holds after every write (otter's
//     default runs it on a new goroutine, letting the cache overshoot).
//   - theine: capacity c, cost 1 per entry, and Wait after every write: its
//     policy applies writes on a background goroutine.
//   - ristretto: MaxCost c with cost 1 per entry (IgnoreInternalCost),
//     NumCounters 10c, BufferItems 64, and Wait after every write, since its
//     writes are applied asynchronously and may otherwise be dropped.
//
// This is how the otter and theine authors' simulator (maypok86/otter
// benchmarks/simulator) sets the three peers up, so their published hit
// ratios can be compared.

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

	"github.com/dgraph-io/ristretto/v2"
	"github.com/maypok86/otter/v2"
	"github.com/velocache/velo"
)

const (
	traceTTL = time.Hour
	// traceBytesPerEntry is velo's byte budget per entry of capacity in a
	// replay. An entry of a replay (a decimal key, the 8-byte value and a
	// 16-byte header) takes at most 48 bytes, so the live entries fill at
	// most 38% of the budget, and the byte budget never evicts: velo
	// compacts segments until the live entries fill 84% of it.
	traceBytesPerEntry = 128
	// traceMinBytes is the smallest budget of a replay, for tiny
	// capacities.
	traceMinBytes = 64 << 10
	// traceExpiryInterval keeps velo's expiry sweep from running during a
	// replay. Nothing expires within one, and the sweep also compacts
	// sparse segments at wall-clock moments, which would make the result
	// vary from run to run.
	traceExpiryInterval = 24 * time.Hour
)

// traceValue is the value every miss writes.
var traceValue = []byte("8 bytes.")

// traceOpeners open an empty cache of capacity entries for a replay. A
// target without one is skipped, for the reason in traceSkipReasons.
var traceOpeners = map[string]func(capacity int) (cache, error){
	"velo":      openTraceVelo,
	"otter":     openTraceOtter,
	"theine":    openTraceTheine,
	"ristretto": openTraceRistretto,
}

var traceSkipReasons = map[string]string{
	"mutexmap":  "no size bound: it never evicts",
	"gocache":   "no size bound: it never evicts",
	"redis":     "a server; its eviction is set by its own maxmemory, not here",
	"bigcache":  "bounded by bytes only (whole MiB), so it has no entry capacity",
	"freecache": "bounded by bytes only (512 KiB at least), so it has no entry capacity",
	"fastcache": "bounded by bytes only (32 MiB at least), so it has no entry capacity",
}

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

// traceVelo is velo in a replay. It counts the entries that left other
// than through MaxEntries: the byte budget should never evict here, and the
// report says so if it did.
type traceVelo struct {
	veloCache
	capacity int
	prevLen  int
	lost     int
}

// openTraceVelo opens velo with MaxEntries capacity in one shard (the
// bound is exact with any number of shards; one keeps a replay's policy
// decisions the same on every machine), and a byte budget of
// traceBytesPerEntry per entry, with velo's default segments, so that only
// MaxEntries evicts; traceVelo.lost tells if anything else did.
func openTraceVelo(capacity int) (cache, error) {
	c, err := velo.New(velo.Options{
		MaxEntries:     capacity,
		MaxBytes:       traceBudget(capacity),
		Shards:         1,
		ExpiryInterval: traceExpiryInterval,
	})
	if err != nil {
		return nil, err
	}
	return &traceVelo{veloCache: veloCache{c}, capacity: capacity}, nil
}

// traceBudget is velo's MaxBytes in a replay of capacity entries.
func traceBudget(capacity int) int64 {
	return max(int64(capacity)*traceBytesPerEntry, traceMinBytes)
}

// write is only called after a miss, so the key is new: the cache should
// then hold one entry more, or stay full.
func (v *traceVelo) write(key string, value []byte, ttl time.Duration) error {
	if err := v.veloCache.write(key, value, ttl); err != nil {
		return err
	}
	n := v.c.Len()
	if want := min(v.prevLen+1, v.capacity); n < want {
		v.lost += want - n
	}
	v.prevLen = n
	return nil
}

func openTraceOtter(capacity int) (cache, error) {
	c, err := otter.New(&otter.Options[string, []byte]{
		MaximumSize:      capacity,
		InitialCapacity:  capacity,
		ExpiryCalculator: otter.ExpiryWriting[string, []byte](traceTTL),
		Executor:         func(fn func()) { fn() },
	})
	if err != nil {
		return nil, err
	}
	return &otterPeer{c: c, ttl: traceTTL}, nil
}

// traceTheine is the theine target's adapter, waiting for the policy after
// each write.
type traceTheine struct{ theinePeer }

func (t traceTheine) wait() { t.c.Wait() }

func openTraceTheine(capacity int) (cache, error) {
	p, err := openTheine(config{Entries: capacity})
	if err != nil {
		return nil, err
	}
	return traceTheine{p.(theinePeer)}, nil
}

// traceRistretto is ristretto with a cost of 1 per entry.
type traceRistretto struct {
	c *ristretto.Cache[string, []byte]
}

func openTraceRistretto(capacity int) (cache, error) {
	c, err := ristretto.NewCache(&ristretto.Config[string, []byte]{
		NumCounters:        10 * int64(capacity),
		MaxCost:            int64(capacity),
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, err
	}
	return traceRistretto{c}, nil
}

func (r traceRistretto) read(_ []byte, key string) ([]byte, bool) { return r.c.Get(key) }

func (r traceRistretto) write(key string, value []byte, ttl time.Duration) error {
	r.c.SetWithTTL(key, value, 1, ttl) // a rejected Set is a policy decision: later reads miss
	return nil
}

func (r traceRistretto) wait()  { r.c.Wait() }
func (r traceRistretto) close() { r.c.Close() }

// replayTrace replays the accesses ids (key numbers into keys) through c,
// read-through, and returns the number of hits.
func replayTrace(c cache, ids []int32, keys []string) (int, error) {
	w, async := c.(waiter)
	buf := make([]byte, 0, 64)
	hits := 0
	for _, id := range ids {
		k := keys[id]
		if _, ok := c.read(buf[:0], k); ok {
			hits++
			continue
		}
		if err := c.write(k, traceValue, traceTTL); err != nil {
			return 0, fmt.Errorf("write %q: %w", k, err)
		}
		if async {
			w.wait()
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
}

type traceSkipped struct {
	Target string `json:"target"`
	Reason string `json:"reason"`
}

// traceReport is what -trace prints, and the -json file's content.
type traceReport struct {
	Meta           meta              `json:"meta"`
	Config         map[string]string `json:"config"`
	Trace          string            `json:"trace"`
	Format         string            `json:"format"`
	Accesses       int               `json:"accesses"`
	DistinctKeys   int               `json:"distinct_keys"`
	ObjectBytes    uint64            `json:"object_bytes,omitempty"` // sum of sizes over accesses (oracle)
	LoadSeconds    float64           `json:"load_seconds"`
	Capacities     []int             `json:"capacities"`
	CapacitySource string            `json:"capacity_source"`
	Caches         []string          `json:"caches"` // the columns: targets replayed, then lru, clock and optimal
	Skipped        []traceSkipped    `json:"skipped,omitempty"`
	Results        []traceResult     `json:"results"`
}

// runTrace replays cfg.TracePath at each capacity through each target of
// cfg.Targets that has an entry bound, computes the reference policies, prints the
// table to w and writes cfg.PlotPath (the hit-ratio curves) and cfg.JSONPath
// if set.
func runTrace(cfg config, w io.Writer) error {
	rep, err := traceRun(cfg, progressWriter(cfg))
	if err != nil {
		return err
	}
	printTraceReport(w, rep)
	if cfg.PlotPath != "" {
		if err := writeTracePlot(cfg.PlotPath, rep); err != nil {
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

// traceRun does the work of runTrace, writing progress lines to progress.
func traceRun(cfg config, progress io.Writer) (*traceReport, error) {
	format := cfg.TraceFormat
	if format == "" {
		var err error
		if format, err = inferTraceFormat(cfg.TracePath); err != nil {
			return nil, err
		}
	} else if !slices.Contains(traceFormats, format) {
		return nil, fmt.Errorf("-format %q: want one of %s", format, strings.Join(traceFormats, ", "))
	}
	start := time.Now()
	td, err := loadTrace(cfg.TracePath, format)
	if err != nil {
		return nil, err
	}
	if len(td.keys) == 0 {
		return nil, fmt.Errorf("%s: no accesses", cfg.TracePath)
	}
	rt, err := newRefTrace(td.keys)
	if err != nil {
		return nil, err
	}
	td.keys = nil // rt.ids and rt.keys hold the trace now
	keys := make([]string, rt.distinct())
	for i, k := range rt.keys {
		keys[i] = strconv.FormatUint(k, 10)
	}
	rep := &traceReport{
		Meta:         collectMeta(),
		Config:       cfg.flags,
		Trace:        filepath.Base(cfg.TracePath),
		Format:       format,
		Accesses:     len(rt.ids),
		DistinctKeys: rt.distinct(),
		LoadSeconds:  time.Since(start).Seconds(),
	}
	for _, s := range td.sizes {
		rep.ObjectBytes += uint64(s)
	}
	fmt.Fprintf(progress, "loadgen: %s: %d accesses, %d distinct keys, read in %.1fs\n",
		rep.Trace, rep.Accesses, rep.DistinctKeys, rep.LoadSeconds)

	if rep.Capacities, rep.CapacitySource, err = traceCapacities(cfg.Capacities, cfg.TracePath, rt.distinct()); err != nil {
		return nil, err
	}
	var run []string
	for _, t := range cfg.Targets {
		if traceOpeners[t] != nil {
			run = append(run, t)
			continue
		}
		reason := traceSkipReasons[t]
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
		c, err := traceOpeners[name](capacity)
		if err != nil {
			return r, err
		}
		r.Hits, err = replayTrace(c, rt.ids, keys)
		c.close()
		if err != nil {
			return r, err
		}
		if v, ok := c.(*traceVelo); ok && v.lost > 0 {
			r.Note = fmt.Sprintf("the byte budget evicted %d entries besides MaxEntries", v.lost)
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
		cs, err := parseInts("-capacities", flag, 1, traceMaxCapacity)
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

// traceMaxCapacity bounds -capacities: far above any trace's key count.
const traceMaxCapacity = 1 << 30

// printTraceReport writes the hit ratio table (rows: capacities, columns:
// caches) and, per replayed target, the gap to optimal.
func printTraceReport(w io.Writer, rep *traceReport) {
	m := rep.Meta
	fmt.Fprintf(w, "loadgen: trace %s (%s format): %d accesses, %d distinct keys", rep.Trace, rep.Format, rep.Accesses, rep.DistinctKeys)
	if rep.ObjectBytes > 0 {
		fmt.Fprintf(w, ", %d bytes of objects (sizes ignored: every entry weighs 1)", rep.ObjectBytes)
	}
	fmt.Fprintf(w, "\nread-through replay, capacities in entries (%s); velo with one shard\n", rep.CapacitySource)
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
		fmt.Fprintf(tw, "%d\t", c)
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
			fmt.Fprintf(tw, "%d\t", c)
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
			fmt.Fprintf(w, "note: %s at capacity %d: %s\n", r.Cache, r.Capacity, r.Note)
		}
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "skipped %s: %s\n", s.Target, s.Reason)
	}
}
