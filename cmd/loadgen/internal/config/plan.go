package config

// Capacity planning flags: byte capacities for -trace, the target hit
// ratio, the planner's budget and request rate, and the synthetic log
// generator (-gen-log).

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// MaxTraceBytes is the largest byte capacity -capacities and -budget take.
const MaxTraceBytes = 1 << 40

// Plan is the part of the command line that capacity planning reads.
type Plan struct {
	// CapBytes holds -capacities when they are byte counts (each with a
	// unit suffix); nil when they are entry counts or not given.
	CapBytes []int64
	// TargetHit is -target-hit, a hit ratio in 0..1 (0: not given).
	TargetHit float64
	// Refine is -refine: bisection steps between the two capacities that
	// bracket -target-hit for velo.
	Refine int
	// Budget is -budget in bytes (0: not given): the budget the planner's
	// summary is for.
	Budget int64
	// Rate is -rate: the requests per second the service sees (0: not given).
	Rate float64

	budget, rate string // as given, until checkPlan parses them
}

// Gen is the part of the command line that -gen-log reads.
type Gen struct {
	Path     string
	Requests int
	Keys     int
	Rate     float64 // requests per second of the timestamps
}

// addPlanFlags adds the capacity planning and -gen-log flags.
func addPlanFlags(fs *flag.FlagSet, p *Plan, g *Gen) {
	fs.Float64Var(&p.TargetHit, "target-hit", 0, "with -trace: report the smallest capacity of the sweep at which each cache reaches this hit ratio (above 0 and below 1, e.g. 0.9: the first request for each key misses); "+
		"with byte capacities, also print the planner's summary at velo's smallest one")
	fs.IntVar(&p.Refine, "refine", 0, "with -target-hit: bisect this many times between the two capacities that bracket the target for velo, replaying velo at each midpoint")
	fs.StringVar(&p.budget, "budget", "", "with -trace: velo's memory budget for the planner's summary, with a unit (256MiB, 1.5GiB, 1000000B); "+
		"replayed with the byte capacities (alone when -capacities is not given)")
	fs.StringVar(&p.rate, "rate", "", "requests per second the service sees (2000000, 2M, 500k): the summary adds the origin requests/s left (rate x miss ratio) and the cores velo needs for the rate")
	fs.StringVar(&g.Path, "gen-log", "", "instead of measuring, write a synthetic application log in the plain format (key,size,timestamp; gzip for .gz, zstd for .zst) to this file: "+
		"-gen-requests requests over -gen-keys keys drawn from a Zipf(-zipf-s, any s > 0) over the keys, each key with a size drawn log-uniformly from -value-size, seeded by -seed")
	fs.IntVar(&g.Requests, "gen-requests", 1000000, "requests -gen-log writes")
	fs.IntVar(&g.Keys, "gen-keys", 100000, "distinct keys -gen-log draws from")
	fs.Float64Var(&g.Rate, "gen-rate", 1000, "requests per second of -gen-log's timestamps (Poisson arrivals from 2026-01-01 00:00 UTC)")
}

// byteUnits are the suffixes ParseBytes takes, longest first.
var byteUnits = []struct {
	suffix string
	mult   float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseBytes parses a size with a unit: B, KiB, MiB, GiB, TiB (powers of
// 1024) or KB, MB, GB, TB (powers of 1000), the number possibly fractional
// (1.5GiB). hasUnit is false, with no error, for a bare number, which is
// not a byte count here.
func ParseBytes(s string) (n int64, hasUnit bool, err error) {
	s = strings.TrimSpace(s)
	for _, u := range byteUnits {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || !(f >= 0) || math.IsInf(f, 0) {
			return 0, true, fmt.Errorf("%q is not a size", s)
		}
		b := math.Round(f * u.mult)
		if b > MaxTraceBytes {
			return 0, true, fmt.Errorf("%q is above %s", s, FormatBytes(MaxTraceBytes))
		}
		return int64(b), true, nil
	}
	return 0, false, nil
}

// FormatBytes writes a byte count the way ParseBytes reads it back
// exactly: in the largest binary unit that leaves at least 1 and needs at
// most two decimals (256MiB, 1.5GiB, 100KiB), else in bytes (1000000B).
func FormatBytes(b int64) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b < u.mult || (b*100)%u.mult != 0 {
			continue
		}
		s := strconv.FormatFloat(float64(b)/float64(u.mult), 'f', 2, 64)
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		return s + u.suffix
	}
	return strconv.FormatInt(b, 10) + "B"
}

// ParseCapacities parses -capacities: either every item a bare number (an
// entry count, 1..MaxTraceCapacity) or every item a size with a unit (a
// byte count, ParseBytes). Mixing the two is an error. Items must be
// distinct.
func ParseCapacities(s string) (entries []int, bytes []int64, err error) {
	items := strings.Split(s, ",")
	var withUnit int
	for _, it := range items {
		if _, has, _ := ParseBytes(it); has {
			withUnit++
		}
	}
	switch withUnit {
	case 0:
		entries, err = ParseInts("-capacities", s, 1, MaxTraceCapacity)
		return entries, nil, err
	case len(items):
	default:
		return nil, nil, errors.New("-capacities: give every capacity with a unit (bytes: 64MiB) or none (entries: 1000), not both")
	}
	for _, it := range items {
		b, _, err := ParseBytes(it)
		switch {
		case err != nil:
			return nil, nil, fmt.Errorf("-capacities: %v", err)
		case b < 4096:
			return nil, nil, fmt.Errorf("-capacities: %s is below velo's smallest budget, 4KiB", strings.TrimSpace(it))
		case slices.Contains(bytes, b):
			return nil, nil, fmt.Errorf("-capacities: %s given twice", strings.TrimSpace(it))
		}
		bytes = append(bytes, b)
	}
	return nil, bytes, nil
}

// ParseRate parses a rate: a number, optionally followed by k, M or G
// (thousands, millions, billions).
func ParseRate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		mult, s = 1e9, s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("-rate %q: want a positive number of requests per second (2000000, 2M, 500k)", s)
	}
	return f * mult, nil
}

// checkPlan validates the capacity planning flags. It runs after
// checkTrace, which has checked -capacities when -trace is given.
func (cfg *Config) checkPlan() error {
	p := &cfg.Plan
	trace := cfg.TracePath != ""
	switch {
	case p.TargetHit != 0 && !trace:
		return errors.New("-target-hit: needs -trace")
	case !(p.TargetHit >= 0 && p.TargetHit < 1):
		return fmt.Errorf("-target-hit %v: want a hit ratio above 0 and below 1 (0.9 for 90%%; the first request for each key misses, so no cache reaches 1)", p.TargetHit)
	case p.Refine < 0 || p.Refine > 20:
		return fmt.Errorf("-refine %d: want 0..20", p.Refine)
	case p.Refine > 0 && p.TargetHit == 0:
		return errors.New("-refine: needs -target-hit")
	case p.budget != "" && !trace:
		return errors.New("-budget: needs -trace")
	case p.rate != "" && !trace:
		return errors.New("-rate: needs -trace")
	}
	if s := strings.TrimSpace(cfg.Capacities); s != "" {
		var err error
		if _, p.CapBytes, err = ParseCapacities(s); err != nil {
			return err
		}
	}
	if p.budget != "" {
		b, has, err := ParseBytes(p.budget)
		switch {
		case err != nil:
			return fmt.Errorf("-budget: %v", err)
		case !has:
			return fmt.Errorf("-budget %q: give a unit (256MiB, 1GiB, 1000000B)", p.budget)
		case b < 4096:
			return fmt.Errorf("-budget %s: below velo's smallest budget, 4KiB", p.budget)
		case strings.TrimSpace(cfg.Capacities) != "" && p.CapBytes == nil:
			return errors.New("-budget is in bytes: give -capacities in bytes too (64MiB,256MiB), or leave it out")
		}
		p.Budget = b
		if !slices.Contains(p.CapBytes, b) {
			p.CapBytes = append(p.CapBytes, b)
			slices.Sort(p.CapBytes)
		}
	}
	if p.rate != "" {
		var err error
		if p.Rate, err = ParseRate(p.rate); err != nil {
			return err
		}
		if p.Budget == 0 && (p.TargetHit == 0 || p.CapBytes == nil) {
			return errors.New("-rate: needs -budget, or -target-hit with byte -capacities: it is for the planner's summary")
		}
	}
	if p.budget != "" || p.TargetHit != 0 || p.rate != "" {
		if !slices.Contains(cfg.Targets, "velo") {
			return errors.New("-budget, -target-hit and -rate plan velo's capacity: give -target with velo")
		}
		if err := checkReplayCapacity("-budget", nil, p.CapBytes); err != nil {
			return err
		}
	}
	return nil
}

// checkGen validates the -gen-log flags when -gen-log is given.
func (cfg *Config) checkGen() error {
	g := &cfg.Gen
	if g.Path == "" {
		return nil
	}
	switch {
	case cfg.TracePath != "" || cfg.GC || cfg.Fill.On || cfg.RedisCompare:
		return errors.New("-gen-log: cannot be combined with -trace, -gc, -fill or -redis-compare")
	case g.Requests < 1 || g.Requests > math.MaxInt32-1:
		return fmt.Errorf("-gen-requests %d: want 1..%d", g.Requests, math.MaxInt32-1)
	case g.Keys < 1 || g.Keys > 1<<26:
		return fmt.Errorf("-gen-keys %d: want 1..%d", g.Keys, 1<<26)
	case !(cfg.ZipfS > 0 && cfg.ZipfS < 100):
		return fmt.Errorf("-zipf-s %v: want a number above 0 for -gen-log", cfg.ZipfS)
	case !(g.Rate > 0 && !math.IsInf(g.Rate, 0)):
		return fmt.Errorf("-gen-rate %v: want a positive number", g.Rate)
	case cfg.ValueSize > math.MaxInt32:
		return fmt.Errorf("-value-size %d: too large", cfg.ValueSize)
	}
	return nil
}
