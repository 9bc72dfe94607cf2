package veloprom_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/velocache/velo"
	veloprom "github.com/velocache/velo/prometheus"
)

// newCache returns a small cache for one test, closed when it ends.
func newCache(t *testing.T) *velo.Cache {
	t.Helper()
	c, err := velo.New(velo.Options{MaxBytes: 64 << 10, Shards: 1, SegmentBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// exercise runs a known sequence: 3 Sets (one overwrite), 2 hits, 1 miss,
// 1 Delete of a present key and 1 of an absent one, leaving 1 entry.
func exercise(t *testing.T, c *velo.Cache) {
	t.Helper()
	for _, k := range []string{"a", "b", "a"} {
		if err := c.Set(k, []byte("value"), 0); err != nil {
			t.Fatal(err)
		}
	}
	c.Get("a")
	c.Get("b")
	c.Get("missing")
	c.Delete("b")
	c.Delete("missing")
}

func TestCollectorValues(t *testing.T) {
	c := newCache(t)
	exercise(t, c)

	// The byte figures depend on the engine's layout, which is not this
	// package's business: expect whatever Stats says, as long as it is set.
	s := c.Stats()
	if s.Bytes <= 0 || s.HeldBytes <= 0 || s.SetBytes <= 0 {
		t.Fatalf("Stats() = %+v with an entry stored", s)
	}
	want := fmt.Sprintf(`
# HELP velo_callback_panics_total OnRemove calls that panicked (recovered).
# TYPE velo_callback_panics_total counter
velo_callback_panics_total{cache="test"} 0
# HELP velo_bytes Bytes of the entries stored now: key, value and a 16-byte header each, padded to 8.
# TYPE velo_bytes gauge
velo_bytes{cache="test"} %d
# HELP velo_held_bytes Bytes of the segments that hold the entries, at most MaxBytes.
# TYPE velo_held_bytes gauge
velo_held_bytes{cache="test"} %d
# HELP velo_set_bytes_total Bytes of entries stored by Set, GetOrLoad and LoadFrom.
# TYPE velo_set_bytes_total counter
velo_set_bytes_total{cache="test"} %d
# HELP velo_moved_bytes_total Bytes of entries copied again to keep them while their segments were reclaimed.
# TYPE velo_moved_bytes_total counter
velo_moved_bytes_total{cache="test"} %d
# HELP velo_deletes_total Delete calls that removed a present key.
# TYPE velo_deletes_total counter
velo_deletes_total{cache="test"} 1
# HELP velo_entries Entries stored now, including expired ones not yet swept.
# TYPE velo_entries gauge
velo_entries{cache="test"} 1
# HELP velo_evictions_total Entries evicted to stay within the memory or entry budget.
# TYPE velo_evictions_total counter
velo_evictions_total{cache="test"} 0
# HELP velo_expirations_total Expired entries removed.
# TYPE velo_expirations_total counter
velo_expirations_total{cache="test"} 0
# HELP velo_hits_total Cache lookups that found their key.
# TYPE velo_hits_total counter
velo_hits_total{cache="test"} 2
# HELP velo_load_errors_total Load functions that returned an error or panicked.
# TYPE velo_load_errors_total counter
velo_load_errors_total{cache="test"} 0
# HELP velo_loads_total Load functions GetOrLoad ran, refreshes included.
# TYPE velo_loads_total counter
velo_loads_total{cache="test"} 0
# HELP velo_misses_total Cache lookups that did not find their key.
# TYPE velo_misses_total counter
velo_misses_total{cache="test"} 1
# HELP velo_negative_hits_total GetOrLoad calls answered with ErrNotFound by a cached absence, without a load.
# TYPE velo_negative_hits_total counter
velo_negative_hits_total{cache="test"} 0
# HELP velo_stale_served_total GetOrLoad calls that served a value past its expiry because its reload failed (StaleIfError).
# TYPE velo_stale_served_total counter
velo_stale_served_total{cache="test"} 0
# HELP velo_refreshes_total Background refreshes started (RefreshAhead).
# TYPE velo_refreshes_total counter
velo_refreshes_total{cache="test"} 0
# HELP velo_rejected_total Writes refused because the entry is too large (ErrTooLarge).
# TYPE velo_rejected_total counter
velo_rejected_total{cache="test"} 0
# HELP velo_sets_total Values stored: by Set, GetOrLoad (loads and refreshes) and LoadFrom.
# TYPE velo_sets_total counter
velo_sets_total{cache="test"} 3
# HELP velo_forced_gcs_total Garbage collections the cache ran itself to recycle its segments.
# TYPE velo_forced_gcs_total counter
velo_forced_gcs_total{cache="test"} 0
`, s.Bytes, s.HeldBytes, s.SetBytes, s.MovedBytes)
	col := veloprom.NewCollector(c, "", prometheus.Labels{"cache": "test"})
	if err := testutil.CollectAndCompare(col, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(col); n != 19 {
		t.Fatalf("collected %d metrics, want 19", n)
	}
}

// The collector reads Stats at scrape time, so a later scrape sees later
// operations.
func TestCollectorIsLive(t *testing.T) {
	c := newCache(t)
	col := veloprom.NewCollector(c, "", nil)
	check := func(hits int) {
		t.Helper()
		want := fmt.Sprintf(`
# HELP velo_hits_total Cache lookups that found their key.
# TYPE velo_hits_total counter
velo_hits_total %d
`, hits)
		if err := testutil.CollectAndCompare(col, strings.NewReader(want), "velo_hits_total"); err != nil {
			t.Fatal(err)
		}
	}
	check(0)
	exercise(t, c)
	check(2)
}

func TestCollectorNamespace(t *testing.T) {
	c := newCache(t)
	col := veloprom.NewCollector(c, "myapp", nil)
	const want = `
# HELP myapp_sets_total Values stored: by Set, GetOrLoad (loads and refreshes) and LoadFrom.
# TYPE myapp_sets_total counter
myapp_sets_total 0
`
	if err := testutil.CollectAndCompare(col, strings.NewReader(want), "myapp_sets_total"); err != nil {
		t.Fatal(err)
	}
}

func TestCollectorLint(t *testing.T) {
	c := newCache(t)
	exercise(t, c)
	problems, err := testutil.CollectAndLint(veloprom.NewCollector(c, "", nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// Two caches can share a registry when their constant labels differ; the
// registry checks the Descs, so this also exercises Describe.
func TestCollectorTwoCachesOneRegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(veloprom.NewCollector(newCache(t), "", prometheus.Labels{"cache": "a"}))
	reg.MustRegister(veloprom.NewCollector(newCache(t), "", prometheus.Labels{"cache": "b"}))
	if err := reg.Register(veloprom.NewCollector(newCache(t), "", prometheus.Labels{"cache": "a"})); err == nil {
		t.Fatal("registering a duplicate collector succeeded")
	}
	n, err := testutil.GatherAndCount(reg)
	if err != nil {
		t.Fatal(err)
	}
	if n != 38 {
		t.Fatalf("gathered %d metrics, want 38", n)
	}
}
