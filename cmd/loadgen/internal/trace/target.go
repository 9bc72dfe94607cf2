package trace

// -target-hit and -refine: the smallest capacity of the sweep at which
// each cache reaches the target hit ratio, and a bisection for velo
// between the two capacities of the sweep that bracket it.

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
)

// reach is one cache's answer to -target-hit: the smallest capacity of
// the sweep at which its hit ratio reaches the target, or none
// (Capacity 0), with its best hit ratio and where.
type reach struct {
	Cache    string  `json:"cache"`
	Capacity int     `json:"capacity,omitempty"` // 0: no capacity of the sweep reaches the target
	HitRatio float64 `json:"hit_ratio_pct"`      // at Capacity, or the best of the sweep
	Best     int     `json:"best_capacity,omitempty"`
}

// reached answers -target-hit for every cache of rep.
func reached(rep *traceReport) []reach {
	target := 100 * rep.TargetHit
	var out []reach
	for _, name := range rep.Caches {
		r := reach{Cache: name, HitRatio: -1}
		for _, res := range rep.Results {
			if res.Cache != name {
				continue
			}
			if res.HitRatio >= target && (r.Capacity == 0 || res.Capacity < r.Capacity) {
				r.Capacity, r.HitRatio = res.Capacity, res.HitRatio
			}
			if r.Capacity == 0 && res.HitRatio > r.HitRatio {
				r.Best, r.HitRatio = res.Capacity, res.HitRatio
			}
		}
		if r.Capacity != 0 {
			r.Best = 0
		}
		out = append(out, r)
	}
	return out
}

// bracket returns velo's smallest capacity of the sweep that reaches the
// target and the largest one below it, which does not; ok is false when no
// capacity reaches it or the smallest one of the sweep already does.
func bracket(rep *traceReport) (lo, hi int, ok bool) {
	i := slices.IndexFunc(rep.Reached, func(r reach) bool { return r.Cache == "velo" })
	if i < 0 || rep.Reached[i].Capacity == 0 {
		return 0, 0, false
	}
	hi = rep.Reached[i].Capacity
	for _, c := range rep.Capacities {
		if c < hi && c > lo {
			lo = c
		}
	}
	return lo, hi, lo > 0
}

// refine bisects steps times between the capacities that bracket the
// target for velo, replaying velo at each midpoint with replay, and
// returns the replays in the order run. Hit ratio grows with capacity
// (nearly: velo's policy is not a stack algorithm), so each midpoint that
// reaches the target becomes the upper end. Byte capacities are bisected
// to whole KiB.
func refine(rep *traceReport, steps int, replay func(capacity int) (traceResult, error)) ([]traceResult, error) {
	lo, hi, ok := bracket(rep)
	if !ok || steps == 0 {
		return nil, nil
	}
	unit := 1
	if rep.CapacityUnit == "bytes" {
		unit = 1 << 10
	}
	var out []traceResult
	for range steps {
		mid := (lo + hi) / 2 / unit * unit
		if mid <= lo || mid >= hi {
			break
		}
		r, err := replay(mid)
		if err != nil {
			return nil, fmt.Errorf("velo at capacity %s: %w", rep.capLabel(mid), err)
		}
		out = append(out, r)
		if r.HitRatio >= 100*rep.TargetHit {
			hi = mid
		} else {
			lo = mid
		}
	}
	return out, nil
}

// refinedBudget is the smallest capacity at which velo reached the target,
// the bisection included; ok is false if it never did.
func refinedBudget(rep *traceReport) (int, bool) {
	best := 0
	for _, r := range rep.Reached {
		if r.Cache == "velo" {
			best = r.Capacity
		}
	}
	for _, r := range rep.Refined {
		if r.HitRatio >= 100*rep.TargetHit && (best == 0 || r.Capacity < best) {
			best = r.Capacity
		}
	}
	return best, best > 0
}

// printReached writes the -target-hit answers and the bisection.
func printReached(w io.Writer, rep *traceReport) {
	if rep.TargetHit == 0 {
		return
	}
	fmt.Fprintf(w, "\nsmallest capacity of the sweep reaching a %.4g%% hit ratio (no cache passes %.2f%%: each key's first access misses):\n",
		100*rep.TargetHit, 100*(1-float64(rep.DistinctKeys)/float64(max(rep.Accesses, 1))))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, r := range rep.Reached {
		if r.Capacity == 0 {
			best := "no replay"
			if r.Best > 0 {
				best = fmt.Sprintf("best %.2f%% at %s", r.HitRatio, rep.capLabel(r.Best))
			}
			fmt.Fprintf(tw, "%s\tnone\t(%s)\t\n", r.Cache, best)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t(%.2f%%)\t\n", r.Cache, rep.capLabel(r.Capacity), r.HitRatio)
	}
	tw.Flush()
	if len(rep.Refined) > 0 {
		fmt.Fprint(w, "velo, bisecting:")
		for _, r := range rep.Refined {
			fmt.Fprintf(w, " %s %.2f%%;", rep.capLabel(r.Capacity), r.HitRatio)
		}
		b, _ := refinedBudget(rep)
		fmt.Fprintf(w, " smallest reaching the target: %s\n", rep.capLabel(b))
	}
}
