package trace

// Byte capacities: -capacities 64MiB,256MiB,1GiB. Each access carries an
// object size (the trace's, else -value-size); a miss writes a value of
// that size, and every cache is bounded by bytes as its user would bound
// it (targets.OpenForByteReplay). The reference policies weigh each entry
// by velo's entry size, key + value + 16-byte header rounded up to 8
// (targets.EntryBytes), so that "LRU at 256 MiB" holds what velo's
// MaxBytes 256 MiB would if velo filled it completely.

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/velocache/velo/cmd/loadgen/internal/config"
	"github.com/velocache/velo/cmd/loadgen/internal/targets"
)

// veloAtEnd is velo's Stats at the end of a byte replay.
type veloAtEnd struct {
	Entries   int    `json:"entries"`
	Bytes     int64  `json:"bytes"`      // the live entries' bytes
	HeldBytes int64  `json:"held_bytes"` // the segments held
	Evictions uint64 `json:"evictions"`
	Rejected  uint64 `json:"rejected"`
}

type targetSetup struct {
	Target string `json:"target"`
	Setup  string `json:"setup"`
}

// byteTrace is what a byte replay needs besides the refTrace.
type byteTrace struct {
	sizes   []uint32 // per access: the object's size
	weights []uint32 // per access: the entry's size, EntryBytes(key, size)
	value   []byte   // a value as large as the largest object; a write takes value[:size]
	sizing  targets.ByteSizing
}

// objectSizes returns the size of each access's object: the trace's when
// it has them, else -value-size (fixed, or per key uniformly in the
// range, seeded by -seed), and says which.
func objectSizes(cfg config.Config, rt *refTrace, traceSizes []uint32) ([]uint32, string) {
	if traceSizes != nil {
		return traceSizes, "from the trace"
	}
	sizes := make([]uint32, len(rt.ids))
	if cfg.ValueMin == cfg.ValueSize {
		for i := range sizes {
			sizes[i] = uint32(cfg.ValueSize)
		}
		return sizes, fmt.Sprintf("-value-size %d", cfg.ValueSize)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5ee5))
	perKey := make([]uint32, rt.distinct())
	for k := range perKey {
		perKey[k] = uint32(cfg.ValueMin + rng.IntN(cfg.ValueSize-cfg.ValueMin+1))
	}
	for i, id := range rt.ids {
		sizes[i] = perKey[id]
	}
	return sizes, fmt.Sprintf("-value-size %d-%d, uniform per key", cfg.ValueMin, cfg.ValueSize)
}

func newByteTrace(rt *refTrace, keys []string, sizes []uint32) *byteTrace {
	bt := &byteTrace{sizes: sizes, weights: make([]uint32, len(sizes))}
	var maxSize uint32
	var maxEntry, sum int64
	for i, id := range rt.ids {
		e := targets.EntryBytes(len(keys[id]), int(sizes[i]))
		bt.weights[i] = uint32(min(e, 1<<32-1))
		maxSize = max(maxSize, sizes[i])
		maxEntry = max(maxEntry, e)
		sum += e
	}
	bt.value = make([]byte, maxSize)
	for i := range bt.value {
		bt.value[i] = byte('a' + i%26)
	}
	bt.sizing = targets.ByteSizing{
		Keys:      rt.distinct(),
		MaxEntry:  maxEntry,
		MeanEntry: float64(sum) / float64(max(len(sizes), 1)),
	}
	return bt
}

// measureBytes is measure for capacities in bytes: it fills rep with
// the sweep, the -target-hit selection, the bisection and the planner's
// summary.
func measureBytes(cfg config.Config, rep *traceReport, rt *refTrace, keys []string, traceSizes []uint32, progress io.Writer) error {
	sizes, src := objectSizes(cfg, rt, traceSizes)
	bt := newByteTrace(rt, keys, sizes)
	rep.CapacityUnit, rep.SizeSource = "bytes", src
	rep.CapacitySource = "-capacities"
	if cfg.Capacities == "" {
		rep.CapacitySource = "-budget"
	}
	rep.Capacities = nil
	for _, c := range cfg.Plan.CapBytes {
		rep.Capacities = append(rep.Capacities, int(c))
	}
	var run []string
	for _, t := range cfg.Targets {
		if ok, reason := targets.ByteReplays(t); !ok {
			rep.Skipped = append(rep.Skipped, traceSkipped{Target: t, Reason: reason})
			continue
		}
		run = append(run, t)
	}
	rep.Caches = append(slices.Clone(run), traceRefPolicies...)
	total := len(rep.Capacities) * len(rep.Caches)
	for _, capacity := range rep.Capacities {
		for _, name := range rep.Caches {
			r, setup, err := byteCell(name, capacity, rt, keys, bt)
			if err != nil {
				return fmt.Errorf("%s at capacity %s: %w", name, rep.capLabel(capacity), err)
			}
			if setup != "" && !slices.ContainsFunc(rep.Setups, func(s targetSetup) bool { return s.Target == name }) {
				if strings.ContainsAny(setup, "0123456789") { // sized for this capacity
					setup += " (at " + rep.capLabel(capacity) + ")"
				}
				rep.Setups = append(rep.Setups, targetSetup{name, setup})
			}
			rep.Results = append(rep.Results, r)
			fmt.Fprintf(progress, "loadgen: [%d/%d] capacity %s  %-9s %6.2f%%  (%.1fs)\n",
				len(rep.Results), total, rep.capLabel(capacity), name, r.HitRatio, r.Seconds)
		}
	}
	if rep.TargetHit > 0 {
		rep.Reached = reached(rep)
		steps, err := refine(rep, cfg.Plan.Refine, func(capacity int) (traceResult, error) {
			r, _, err := byteCell("velo", capacity, rt, keys, bt)
			fmt.Fprintf(progress, "loadgen: bisect capacity %s  velo %6.2f%%\n", rep.capLabel(capacity), r.HitRatio)
			return r, err
		})
		if err != nil {
			return err
		}
		rep.Refined = steps
	}
	budget, ok := planBudget(cfg.Plan, rep)
	if !ok {
		return nil
	}
	at, ok := veloResultAt(rep, budget)
	if !ok {
		return fmt.Errorf("the planner's summary is velo's, at %s: give -target with velo", rep.capLabel(budget))
	}
	p, err := measurePlan(cfg, at, rt, keys, bt, progress)
	if err != nil {
		return err
	}
	rep.Plan = p
	return nil
}

// byteCell replays one cache (a target, lru, clock or optimal) at a
// capacity in bytes, and says how a target was set up.
func byteCell(name string, capacity int, rt *refTrace, keys []string, bt *byteTrace) (traceResult, string, error) {
	r := traceResult{Capacity: capacity, Cache: name, Accesses: len(rt.ids)}
	start := time.Now()
	var setup string
	switch name {
	case "lru":
		r.Hits = rt.lruBytes(bt.weights, int64(capacity))
	case "clock":
		r.Hits = rt.clockBytes(bt.weights, int64(capacity))
	case "optimal":
		r.Hits = rt.optimalBytes(bt.weights, int64(capacity))
	default:
		s := bt.sizing
		s.MaxBytes = int64(capacity)
		c, bound, how, err := targets.OpenForByteReplay(name, s)
		if err != nil {
			return r, "", err
		}
		setup = how
		if bound != s.MaxBytes {
			r.Note = fmt.Sprintf("its bound is %s; ", config.FormatBytes(bound))
		}
		r.Hits, r.Refused = replaySized(c, rt.ids, keys, bt.sizes, bt.value)
		if st, ok := targets.VeloStats(c); ok {
			r.Velo = &veloAtEnd{Entries: st.Entries, Bytes: st.Bytes, HeldBytes: st.HeldBytes, Evictions: st.Evictions, Rejected: st.Rejected}
		}
		c.Close()
		if r.Refused > 0 {
			r.Note += fmt.Sprintf("refused %d writes (too large for it, or dropped)", r.Refused)
		}
		r.Note = strings.TrimSuffix(r.Note, "; ")
	}
	r.Seconds = time.Since(start).Seconds()
	r.HitRatio = 100 * float64(r.Hits) / float64(r.Accesses)
	return r, setup, nil
}

// replaySized replays the accesses ids through c, read-through, each miss
// writing a value of the access's size, and returns the hits and the
// writes c refused.
func replaySized(c targets.Cache, ids []int32, keys []string, sizes []uint32, value []byte) (hits, refused int) {
	w, async := c.(targets.Waiter)
	buf := make([]byte, 0, 64)
	for i, id := range ids {
		k := keys[id]
		v, ok := c.Read(buf[:0], k)
		if cap(v) > cap(buf) {
			buf = v[:0] // velo and the copying caches grow it to the largest value
		}
		if ok {
			hits++
			continue
		}
		if err := c.Write(k, value[:sizes[i]], targets.ReplayTTL); err != nil {
			refused++
		}
		if async {
			w.Wait()
		}
	}
	return hits, refused
}
