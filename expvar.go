package velo

import "expvar"

// expvarStats is the JSON shape of ExpvarVar: every Stats field plus the
// hit ratio, in snake_case so the keys read the same as the Prometheus
// metric names in the veloprom package.
type expvarStats struct {
	Hits        uint64  `json:"hits"`
	Misses      uint64  `json:"misses"`
	Sets        uint64  `json:"sets"`
	Deletes     uint64  `json:"deletes"`
	Evictions   uint64  `json:"evictions"`
	Expirations uint64  `json:"expirations"`
	Entries     int     `json:"entries"`
	Bytes       int64   `json:"bytes"`
	HeldBytes   int64   `json:"held_bytes"`
	SetBytes    int64   `json:"set_bytes"`
	MovedBytes  int64   `json:"moved_bytes"`
	Loads       uint64  `json:"loads"`
	LoadErrors  uint64  `json:"load_errors"`
	Refreshes   uint64  `json:"refreshes"`
	NegHits     uint64  `json:"negative_hits"`
	StaleServed uint64  `json:"stale_served"`
	Rejected    uint64  `json:"rejected"`
	Panics      uint64  `json:"callback_panics"`
	ForcedGCs   uint64  `json:"forced_gcs"`
	HitRatio    float64 `json:"hit_ratio"`
}

// ExpvarVar returns an expvar.Var that reports the cache's Stats as a JSON
// object with the keys hits, misses, sets, deletes, evictions, expirations,
// entries, bytes, held_bytes, set_bytes, moved_bytes, loads, load_errors,
// refreshes, negative_hits, stale_served, rejected, callback_panics,
// forced_gcs and hit_ratio. Each call to its String method reads c.Stats() afresh, so
// the Var can be published once and scraped forever.
//
// The library never publishes it itself, because expvar.Publish panics on
// a duplicate name and only the caller knows what names are free. Publish
// it once per cache, typically at start-up:
//
//	expvar.Publish("velo", c.ExpvarVar())
//
// It then appears under "velo" at /debug/vars. Like Stats, each read locks
// every shard briefly; it is meant for monitoring, not the request path.
func (c *Cache) ExpvarVar() expvar.Var {
	return expvar.Func(func() any {
		s := c.Stats()
		return expvarStats{
			Hits:        s.Hits,
			Misses:      s.Misses,
			Sets:        s.Sets,
			Deletes:     s.Deletes,
			Evictions:   s.Evictions,
			Expirations: s.Expirations,
			Entries:     s.Entries,
			Bytes:       s.Bytes,
			HeldBytes:   s.HeldBytes,
			SetBytes:    s.SetBytes,
			MovedBytes:  s.MovedBytes,
			Loads:       s.Loads,
			LoadErrors:  s.LoadErrors,
			Refreshes:   s.Refreshes,
			NegHits:     s.NegativeHits,
			StaleServed: s.StaleServed,
			Rejected:    s.Rejected,
			Panics:      s.CallbackPanics,
			ForcedGCs:   s.ForcedGCs,
			HitRatio:    s.HitRatio(),
		}
	})
}
