// Package redislatency measures what one Get and one Set cost on velo in
// process and on a Redis server over loopback, one operation at a time
// from one goroutine (-redis-compare), and prints the comparison.
package redislatency

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/velocache/velo"
	"github.com/velocache/velo/cmd/loadgen/internal/config"
	"github.com/velocache/velo/cmd/loadgen/internal/report"
	"github.com/velocache/velo/cmd/loadgen/internal/targets"
)

// latencySeries is the latency of one operation on one target, measured
// one call at a time from one goroutine.
type latencySeries struct {
	Target   string  `json:"target"` // "velo" or "redis"
	Op       string  `json:"op"`     // "get" or "set"
	Ops      int     `json:"ops"`
	Hits     int     `json:"hits,omitempty"` // gets that found their key
	MedianNs int64   `json:"median_ns"`
	P99Ns    int64   `json:"p99_ns"`
	MeanNs   float64 `json:"mean_ns"`
}

// latencyReport is the result of measure, and the -json file of
// -redis-compare.
type latencyReport struct {
	Addr      string `json:"redis_addr"`
	Keys      int    `json:"keys"`
	ValueSize int    `json:"value_size"`
	Ops       int    `json:"ops_per_series"`
	// ClockNs is the median cost of one time.Now pair, included in every
	// sample.
	ClockNs int64 `json:"clock_ns"`
	// Series: velo get, redis get, velo set, redis set.
	Series []latencySeries `json:"series"`
	// GetRatio and SetRatio are Redis's median over velo's, per op; 0 if
	// velo's median was 0.
	GetRatio float64 `json:"get_ratio"`
	SetRatio float64 `json:"set_ratio"`
}

// series returns the series of target and op, or nil.
func (r *latencyReport) series(target, op string) *latencySeries {
	i := slices.IndexFunc(r.Series, func(s latencySeries) bool { return s.Target == target && s.Op == op })
	if i < 0 {
		return nil
	}
	return &r.Series[i]
}

// measure measures what one Get and one Set cost on velo in process
// and on the Redis at addr over loopback, one operation at a time from one
// goroutine: what a request handler pays per lookup, as opposed to the
// throughput the concurrent cells measure.
//
// Both stores are first filled with every key ("user:%08d", 0..keys-1),
// values of valueSize bytes, then warmed up; then n Gets and n Sets each
// run on keys drawn uniformly from 0..keys-1 (the same sequence for both
// targets), each timed with time.Now. velo is velo.New with default
// options, read with AppendValue into a reused buffer; Redis is reached
// through go-redis with a pool of one connection. The keys are left in
// the Redis (DB 0); nothing is flushed.
func measure(ctx context.Context, addr string, keys int, valueSize int, n int) (latencyReport, error) {
	if keys <= 0 || valueSize < 0 || n <= 0 {
		return latencyReport{}, fmt.Errorf("redis latency: need keys > 0, value size >= 0 and ops > 0 (got %d, %d, %d)", keys, valueSize, n)
	}
	rep := latencyReport{Addr: addr, Keys: keys, ValueSize: valueSize, Ops: n, ClockNs: clockCost()}

	keyStrs := make([]string, keys)
	for i := range keyStrs {
		keyStrs[i] = fmt.Sprintf("user:%08d", i)
	}
	value := make([]byte, valueSize)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	seq := make([]int32, n)
	for i := range seq {
		seq[i] = int32(rng.IntN(keys))
	}
	warm := min(n, 1000)
	samples := make([]int64, n)

	// velo.
	vc, err := velo.New(velo.Options{})
	if err != nil {
		return latencyReport{}, err
	}
	defer vc.Close()
	buf := make([]byte, 0, valueSize)
	vget := func(k string) (bool, error) {
		var ok bool
		buf, ok = vc.AppendValue(buf[:0], k)
		return ok, nil
	}
	vset := func(k string) error { return vc.Set(k, value, 0) }
	for _, k := range keyStrs {
		if err := vset(k); err != nil {
			return latencyReport{}, fmt.Errorf("velo: %w", err)
		}
	}
	s, err := timeGets(ctx, "velo", vget, keyStrs, seq, warm, samples)
	if err != nil {
		return latencyReport{}, err
	}
	rep.Series = append(rep.Series, s)
	vsetSeries, err := timeSets(ctx, "velo", vset, keyStrs, seq, warm, samples)
	if err != nil {
		return latencyReport{}, err
	}

	// Redis.
	client := targets.NewRedisClient(addr, 1)
	defer client.Close()
	if err := targets.PingRedis(ctx, client, addr); err != nil {
		return latencyReport{}, err
	}
	rget := func(k string) (bool, error) {
		b, err := client.Get(ctx, k).Bytes()
		if err == redis.Nil {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		buf = append(buf[:0], b...)
		return true, nil
	}
	rset := func(k string) error { return client.Set(ctx, k, value, 0).Err() }
	if err := fillRedis(ctx, client, keyStrs, value); err != nil {
		return latencyReport{}, fmt.Errorf("redis at %s: filling: %w", addr, err)
	}
	s, err = timeGets(ctx, "redis", rget, keyStrs, seq, warm, samples)
	if err != nil {
		return latencyReport{}, fmt.Errorf("redis at %s: %w", addr, err)
	}
	rep.Series = append(rep.Series, s, vsetSeries)
	s, err = timeSets(ctx, "redis", rset, keyStrs, seq, warm, samples)
	if err != nil {
		return latencyReport{}, fmt.Errorf("redis at %s: %w", addr, err)
	}
	rep.Series = append(rep.Series, s)

	ratio := func(op string) float64 {
		v, r := rep.series("velo", op), rep.series("redis", op)
		if v.MedianNs <= 0 {
			return 0
		}
		return float64(r.MedianNs) / float64(v.MedianNs)
	}
	rep.GetRatio, rep.SetRatio = ratio("get"), ratio("set")
	return rep, nil
}

// fillRedis stores value under every key, pipelined in batches.
func fillRedis(ctx context.Context, client *redis.Client, keys []string, value []byte) error {
	const batch = 1000
	for len(keys) > 0 {
		chunk := keys[:min(batch, len(keys))]
		keys = keys[len(chunk):]
		_, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range chunk {
				p.Set(ctx, k, value, 0)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// timeGets runs warm untimed gets, then one timed get per entry of seq,
// recording into samples (len(seq)).
func timeGets(ctx context.Context, target string, get func(string) (bool, error), keys []string, seq []int32, warm int, samples []int64) (latencySeries, error) {
	for i := range warm {
		if _, err := get(keys[seq[i]]); err != nil {
			return latencySeries{}, fmt.Errorf("get: %w", err)
		}
	}
	hits := 0
	for i, ki := range seq {
		if i%4096 == 0 && ctx.Err() != nil {
			return latencySeries{}, ctx.Err()
		}
		k := keys[ki]
		t0 := time.Now()
		ok, err := get(k)
		samples[i] = int64(time.Since(t0))
		if err != nil {
			return latencySeries{}, fmt.Errorf("get: %w", err)
		}
		if ok {
			hits++
		}
	}
	s := summarize(target, "get", samples)
	s.Hits = hits
	return s, nil
}

// timeSets is timeGets for sets.
func timeSets(ctx context.Context, target string, set func(string) error, keys []string, seq []int32, warm int, samples []int64) (latencySeries, error) {
	for i := range warm {
		if err := set(keys[seq[i]]); err != nil {
			return latencySeries{}, fmt.Errorf("set: %w", err)
		}
	}
	for i, ki := range seq {
		if i%4096 == 0 && ctx.Err() != nil {
			return latencySeries{}, ctx.Err()
		}
		k := keys[ki]
		t0 := time.Now()
		err := set(k)
		samples[i] = int64(time.Since(t0))
		if err != nil {
			return latencySeries{}, fmt.Errorf("set: %w", err)
		}
	}
	return summarize(target, "set", samples), nil
}

// summarize sorts samples in place and returns their median, p99 (nearest
// rank) and mean.
func summarize(target, op string, samples []int64) latencySeries {
	slices.Sort(samples)
	var sum float64
	for _, v := range samples {
		sum += float64(v)
	}
	rank := func(p float64) int64 {
		i := int(p*float64(len(samples))+0.999999999) - 1
		return samples[min(max(i, 0), len(samples)-1)]
	}
	return latencySeries{
		Target: target, Op: op, Ops: len(samples),
		MedianNs: rank(0.50), P99Ns: rank(0.99), MeanNs: sum / float64(len(samples)),
	}
}

// clockCost is the median time of one time.Now/time.Since pair.
func clockCost() int64 {
	s := make([]int64, 1001)
	for i := range s {
		t0 := time.Now()
		s[i] = int64(time.Since(t0))
	}
	slices.Sort(s)
	return s[len(s)/2]
}

// formatLatency writes r as a markdown table.
func formatLatency(w io.Writer, r latencyReport) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("Per-operation latency, one goroutine, one op at a time: velo in process vs Redis at %s over loopback (go-redis, 1 connection).\n", r.Addr)
	p("%d ops per row on %d keys, %d-byte values; each sample includes a time.Now pair (~%d ns).\n\n", r.Ops, r.Keys, r.ValueSize, r.ClockNs)
	p("| op  | target |    median |       p99 |      mean |   hits | median vs velo |\n")
	p("|-----|--------|----------:|----------:|----------:|-------:|---------------:|\n")
	for _, s := range r.Series {
		hits, vs := "", ""
		if s.Op == "get" {
			hits = fmt.Sprintf("%.1f%%", 100*float64(s.Hits)/float64(max(s.Ops, 1)))
		}
		if s.Target == "redis" {
			ratio := r.GetRatio
			if s.Op == "set" {
				ratio = r.SetRatio
			}
			vs = "n/a"
			if ratio > 0 {
				vs = fmt.Sprintf("%.0f×", ratio)
				if ratio < 10 {
					vs = fmt.Sprintf("%.1f×", ratio)
				}
			}
		}
		p("| %-3s | %-6s | %9s | %9s | %9s | %6s | %14s |\n", s.Op, s.Target,
			fmtNs(float64(s.MedianNs)), fmtNs(float64(s.P99Ns)), fmtNs(s.MeanNs), hits, vs)
	}
}

// fmtNs prints a duration in ns with a unit that keeps it short.
func fmtNs(ns float64) string {
	switch {
	case ns < 1e3:
		return fmt.Sprintf("%.0f ns", ns)
	case ns < 1e6:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	default:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	}
}

// Run is -redis-compare: it measures against cfg.RedisAddr, prints the
// table to w and writes cfg.JSONPath if set.
func Run(cfg config.Config, w io.Writer) error {
	r, err := measure(context.Background(), cfg.RedisAddr, cfg.Keys, cfg.ValueSize, cfg.RedisOps)
	if err != nil {
		return err
	}
	formatLatency(w, r)
	if cfg.JSONPath != "" {
		return report.WriteJSON(cfg.JSONPath, r)
	}
	return nil
}
