// Package velootel exports a velo cache's statistics as OpenTelemetry
// metrics.
//
// It lives in its own module, github.com/velocache/velo/otel, so that the
// velo library itself does not depend on OpenTelemetry; only programs that
// import this package pull it in.
//
//	reg, err := velootel.Register(meter, c, attribute.String("cache", "sessions"))
//
// [Register] creates these asynchronous instruments on the meter:
//
//	velo.cache.hits             counter        {request}  Get, AppendValue, View and GetOrLoad calls that found their key
//	velo.cache.misses           counter        {request}  ... that did not
//	velo.cache.sets             counter        {request}  values stored: by Set, GetOrLoad (loads, refreshes) and LoadFrom
//	velo.cache.deletes          counter        {request}  Delete calls that removed a present key
//	velo.cache.evictions        counter        {entry}    entries evicted to stay within the budget
//	velo.cache.expirations      counter        {entry}    expired entries removed
//	velo.cache.rejected         counter        {entry}    writes refused as too large
//	velo.cache.entries          updowncounter  {entry}    entries stored now, cached absences included
//	velo.cache.bytes            updowncounter  By         bytes of the entries stored now
//	velo.cache.held_bytes       updowncounter  By         bytes of the segments holding them (at most MaxBytes)
//	velo.cache.set_bytes        counter        By         bytes of the entries those stored
//	velo.cache.moved_bytes      counter        By         bytes of entries copied again by compaction and reinsertion
//	velo.cache.loads            counter        {call}     load functions GetOrLoad ran
//	velo.cache.load_errors      counter        {call}     ... that failed or panicked
//	velo.cache.refreshes        counter        {call}     background refreshes started
//	velo.cache.negative_hits    counter        {call}     GetOrLoad calls answered by a cached absence
//	velo.cache.stale_served     counter        {call}     GetOrLoad calls that served a value past its expiry (StaleIfError)
//	velo.cache.callback_panics  counter        {call}     OnRemove calls that panicked
//	velo.cache.forced_gcs       counter        {collection}  garbage collections the cache ran to recycle its segments
//
// The counters are [metric.Int64ObservableCounter] instruments (monotonic
// sums) and the current values [metric.Int64ObservableUpDownCounter]
// instruments (non-monotonic sums), so the current values can be added up
// across caches. The hit ratio is not exported; compute it in the backend from
// the hits and misses rates.
//
// For Prometheus, see github.com/velocache/velo/prometheus; for a
// standard-library alternative, [velo.Cache.ExpvarVar].
package velootel

import (
	"context"
	"math"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/velocache/velo"
)

// instrument describes one instrument and where its value comes from in a
// [velo.Stats]: a monotonic counter, or else an up-down counter.
type instrument struct {
	name, unit, desc string
	monotonic        bool
	value            func(*velo.Stats) int64
}

// instruments lists what [Register] creates, in the order of the package
// documentation. The descriptions follow the doc comments of the
// [velo.Stats] fields.
var instruments = []instrument{
	{"velo.cache.hits", "{request}", "Get, AppendValue, View and GetOrLoad calls that found their key.", true, func(s *velo.Stats) int64 { return sat(s.Hits) }},
	{"velo.cache.misses", "{request}", "Get, AppendValue, View and GetOrLoad calls that did not find their key.", true, func(s *velo.Stats) int64 { return sat(s.Misses) }},
	{"velo.cache.sets", "{request}", "Values stored: by Set, GetOrLoad (loads and refreshes) and LoadFrom.", true, func(s *velo.Stats) int64 { return sat(s.Sets) }},
	{"velo.cache.deletes", "{request}", "Delete calls that removed a present key.", true, func(s *velo.Stats) int64 { return sat(s.Deletes) }},
	{"velo.cache.evictions", "{entry}", "Entries removed to stay within the budget.", true, func(s *velo.Stats) int64 { return sat(s.Evictions) }},
	{"velo.cache.expirations", "{entry}", "Expired entries removed.", true, func(s *velo.Stats) int64 { return sat(s.Expirations) }},
	{"velo.cache.rejected", "{entry}", "Sets and GetOrLoad stores refused with ErrTooLarge.", true, func(s *velo.Stats) int64 { return sat(s.Rejected) }},
	{"velo.cache.entries", "{entry}", "Entries stored now (as Len).", false, func(s *velo.Stats) int64 { return int64(s.Entries) }},
	{"velo.cache.bytes", "By", "Bytes of the entries stored now: key, value and a 16-byte header each, rounded up to 8.", false, func(s *velo.Stats) int64 { return s.Bytes }},
	{"velo.cache.held_bytes", "By", "Memory of the segments that hold the entries, at most Options.MaxBytes.", false, func(s *velo.Stats) int64 { return s.HeldBytes }},
	{"velo.cache.set_bytes", "By", "Bytes of entries stored by Set, GetOrLoad and LoadFrom.", true, func(s *velo.Stats) int64 { return s.SetBytes }},
	{"velo.cache.moved_bytes", "By", "Bytes of entries the cache copied again to keep them while it reclaimed their segments.", true, func(s *velo.Stats) int64 { return s.MovedBytes }},
	{"velo.cache.loads", "{call}", "Load functions GetOrLoad ran, refreshes included.", true, func(s *velo.Stats) int64 { return sat(s.Loads) }},
	{"velo.cache.load_errors", "{call}", "Load functions GetOrLoad ran that returned an error or panicked.", true, func(s *velo.Stats) int64 { return sat(s.LoadErrors) }},
	{"velo.cache.refreshes", "{call}", "Background refreshes started (RefreshAhead).", true, func(s *velo.Stats) int64 { return sat(s.Refreshes) }},
	{"velo.cache.negative_hits", "{call}", "GetOrLoad calls answered with ErrNotFound by a cached absence, without a load; their lookups count among the misses too.", true, func(s *velo.Stats) int64 { return sat(s.NegativeHits) }},
	{"velo.cache.stale_served", "{call}", "GetOrLoad calls that returned a value past its expiry, with a *StaleError, because reloading it failed.", true, func(s *velo.Stats) int64 { return sat(s.StaleServed) }},
	{"velo.cache.callback_panics", "{call}", "Calls of Options.OnRemove that panicked.", true, func(s *velo.Stats) int64 { return sat(s.CallbackPanics) }},
	{"velo.cache.forced_gcs", "{collection}", "Garbage collections the cache ran itself to recycle its segments.", true, func(s *velo.Stats) int64 { return sat(s.ForcedGCs) }},
}

// sat converts a counter to the int64 that OpenTelemetry observes,
// saturating at the largest int64.
func sat(v uint64) int64 {
	return int64(min(v, math.MaxInt64))
}

// Register creates the instruments listed in the package documentation on
// meter and registers one callback that reports c's Stats to all of them.
// Each collection calls c.Stats() exactly once, so the values in one
// collection are a single snapshot.
//
// attrs are added to every observation; to report several caches through
// one meter, give each distinct attributes, such as
// attribute.String("cache", "sessions"). Caches registered with the same
// attributes are reported as one: the SDK adds up the observations of
// one attribute set in a collection, so each instrument reports their
// sum, which suits caches that share one job (a cache per shard of a
// service, say), and hides one cache's figures behind another's
// otherwise. Call Unregister on the returned
// [metric.Registration] to stop reporting c, for example before closing it.
func Register(meter metric.Meter, c *velo.Cache, attrs ...attribute.KeyValue) (metric.Registration, error) {
	insts := make([]metric.Int64Observable, len(instruments))
	obs := make([]metric.Observable, len(instruments))
	for i, in := range instruments {
		var (
			inst metric.Int64Observable
			err  error
		)
		unit, desc := metric.WithUnit(in.unit), metric.WithDescription(in.desc)
		if in.monotonic {
			inst, err = meter.Int64ObservableCounter(in.name, unit, desc)
		} else {
			inst, err = meter.Int64ObservableUpDownCounter(in.name, unit, desc)
		}
		if err != nil {
			return nil, err
		}
		insts[i], obs[i] = inst, inst
	}
	set := metric.WithAttributeSet(attribute.NewSet(attrs...))
	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := c.Stats()
		for i, in := range instruments {
			o.ObserveInt64(insts[i], in.value(&s), set)
		}
		return nil
	}, obs...)
}
