package veloprom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/velocache/velo"
)

// DefaultNamespace prefixes the metric names when NewCollector is given an
// empty namespace.
const DefaultNamespace = "velo"

// collector turns one c.Stats() call per scrape into constant metrics.
// Reading Stats at scrape time, rather than mirroring every Get into
// Prometheus counters, keeps the cache's hot path free of extra atomics.
type collector struct {
	cache *velo.Cache

	hits, misses, sets, deletes, evictions, expirations *prometheus.Desc
	entries, bytes, heldBytes, setBytes, movedBytes     *prometheus.Desc
	loads, loadErrors, refreshes, negativeHits          *prometheus.Desc
	staleServed                                         *prometheus.Desc
	rejected, callbackPanics, forcedGCs                 *prometheus.Desc
}

// NewCollector returns a prometheus.Collector for c's Stats. Register it
// once per cache, for example with prometheus.MustRegister; to export
// several caches from one registry, give each distinct constLabels (such
// as {"cache": "sessions"}) or a distinct namespace.
//
// With namespace "" (meaning DefaultNamespace, "velo") it exposes:
//
//	velo_hits_total         counter  Get, AppendValue, View and GetOrLoad calls that found their key
//	velo_misses_total       counter  ... that did not
//	velo_sets_total         counter  values stored: by Set, GetOrLoad (loads, refreshes) and LoadFrom
//	velo_deletes_total      counter  Delete calls that removed a present key
//	velo_evictions_total    counter  entries evicted to stay within the budget
//	velo_expirations_total  counter  expired entries removed
//	velo_entries            gauge    entries stored now
//	velo_bytes              gauge    bytes of the entries stored now
//	velo_held_bytes         gauge    bytes of the segments holding them (at most MaxBytes)
//	velo_set_bytes_total    counter  bytes of the entries those stored
//	velo_moved_bytes_total  counter  bytes of entries copied again by compaction and reinsertion
//	velo_loads_total        counter  load functions GetOrLoad ran
//	velo_load_errors_total  counter  ... that failed or panicked
//	velo_refreshes_total    counter  background refreshes started
//	velo_negative_hits_total  counter  GetOrLoad calls answered by a cached absence
//	velo_stale_served_total   counter  GetOrLoad calls that served a value past its expiry (StaleIfError)
//	velo_rejected_total     counter  writes refused as too large
//	velo_callback_panics_total  counter  OnRemove calls that panicked
//	velo_forced_gcs_total   counter  garbage collections the cache ran to recycle its segments
//
// Each scrape calls c.Stats() exactly once, so the values in one scrape
// are a single snapshot. The hit ratio is not exported; compute it in
// PromQL from the hits and misses rates.
func NewCollector(c *velo.Cache, namespace string, constLabels prometheus.Labels) prometheus.Collector {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, nil, constLabels)
	}
	return &collector{
		cache:          c,
		hits:           desc("hits_total", "Cache lookups that found their key."),
		misses:         desc("misses_total", "Cache lookups that did not find their key."),
		sets:           desc("sets_total", "Values stored: by Set, GetOrLoad (loads and refreshes) and LoadFrom."),
		deletes:        desc("deletes_total", "Delete calls that removed a present key."),
		evictions:      desc("evictions_total", "Entries evicted to stay within the memory or entry budget."),
		expirations:    desc("expirations_total", "Expired entries removed."),
		entries:        desc("entries", "Entries stored now, including expired ones not yet swept."),
		bytes:          desc("bytes", "Bytes of the entries stored now: key, value and a 16-byte header each, padded to 8."),
		heldBytes:      desc("held_bytes", "Bytes of the segments that hold the entries, at most MaxBytes."),
		setBytes:       desc("set_bytes_total", "Bytes of entries stored by Set, GetOrLoad and LoadFrom."),
		movedBytes:     desc("moved_bytes_total", "Bytes of entries copied again to keep them while their segments were reclaimed."),
		loads:          desc("loads_total", "Load functions GetOrLoad ran, refreshes included."),
		loadErrors:     desc("load_errors_total", "Load functions that returned an error or panicked."),
		refreshes:      desc("refreshes_total", "Background refreshes started (RefreshAhead)."),
		negativeHits:   desc("negative_hits_total", "GetOrLoad calls answered with ErrNotFound by a cached absence, without a load."),
		staleServed:    desc("stale_served_total", "GetOrLoad calls that served a value past its expiry because its reload failed (StaleIfError)."),
		rejected:       desc("rejected_total", "Writes refused because the entry is too large (ErrTooLarge)."),
		callbackPanics: desc("callback_panics_total", "OnRemove calls that panicked (recovered)."),
		forcedGCs:      desc("forced_gcs_total", "Garbage collections the cache ran itself to recycle its segments."),
	}
}

// Describe implements prometheus.Collector.
func (k *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		k.hits, k.misses, k.sets, k.deletes, k.evictions, k.expirations, k.entries, k.bytes,
		k.heldBytes, k.setBytes, k.movedBytes,
		k.loads, k.loadErrors, k.refreshes, k.negativeHits, k.staleServed, k.rejected, k.callbackPanics, k.forcedGCs,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (k *collector) Collect(ch chan<- prometheus.Metric) {
	s := k.cache.Stats()
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(k.hits, s.Hits)
	counter(k.misses, s.Misses)
	counter(k.sets, s.Sets)
	counter(k.deletes, s.Deletes)
	counter(k.evictions, s.Evictions)
	counter(k.expirations, s.Expirations)
	counter(k.loads, s.Loads)
	counter(k.loadErrors, s.LoadErrors)
	counter(k.refreshes, s.Refreshes)
	counter(k.negativeHits, s.NegativeHits)
	counter(k.staleServed, s.StaleServed)
	counter(k.rejected, s.Rejected)
	counter(k.callbackPanics, s.CallbackPanics)
	counter(k.forcedGCs, s.ForcedGCs)
	ch <- prometheus.MustNewConstMetric(k.entries, prometheus.GaugeValue, float64(s.Entries))
	ch <- prometheus.MustNewConstMetric(k.bytes, prometheus.GaugeValue, float64(s.Bytes))
	ch <- prometheus.MustNewConstMetric(k.heldBytes, prometheus.GaugeValue, float64(s.HeldBytes))
	ch <- prometheus.MustNewConstMetric(k.setBytes, prometheus.CounterValue, float64(s.SetBytes))
	ch <- prometheus.MustNewConstMetric(k.movedBytes, prometheus.CounterValue, float64(s.MovedBytes))
}
