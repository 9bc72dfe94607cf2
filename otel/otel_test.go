package velootel_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/velocache/velo"
	velootel "github.com/velocache/velo/otel"
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

// newReader returns a ManualReader and a meter of a MeterProvider that it
// reads, shut down when the test ends.
func newReader(t *testing.T) (*sdkmetric.ManualReader, *sdkmetric.MeterProvider) {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return r, mp
}

// exercise runs a known sequence: 3 Sets (one overwrite), 1 hit, 1 miss,
// 1 Delete of a present key and 1 of an absent one, then a GetOrLoad
// whose load reports ErrNotFound with a TTL (a load, a load error and a
// miss) and one answered by that cached absence (a negative hit and a
// miss), leaving 2 entries: "a" and the absence.
func exercise(t *testing.T, c *velo.Cache) {
	t.Helper()
	for _, k := range []string{"a", "b", "a"} {
		if err := c.Set(k, []byte("value"), 0); err != nil {
			t.Fatal(err)
		}
	}
	c.Get("a")
	c.Get("missing")
	c.Delete("b")
	c.Delete("missing")
	notFound := func(context.Context) ([]byte, time.Duration, error) {
		return nil, time.Minute, velo.ErrNotFound
	}
	for range 2 {
		if _, err := c.GetOrLoad(context.Background(), "absent", notFound); err != velo.ErrNotFound {
			t.Fatalf("GetOrLoad = %v, want ErrNotFound", err)
		}
	}
}

// collect reads r once and returns the velo instruments it reported, by
// name.
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := make(map[string]metricdata.Metrics)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if !strings.HasPrefix(m.Name, "velo.") {
				continue
			}
			if _, dup := got[m.Name]; dup {
				t.Fatalf("%s reported twice", m.Name)
			}
			got[m.Name] = m
		}
	}
	return got
}

// points returns m's data points, failing unless m is an int64 sum with
// the given monotonicity and cumulative temporality.
func points(t *testing.T, m metricdata.Metrics, monotonic bool) []metricdata.DataPoint[int64] {
	t.Helper()
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s: data is %T, want metricdata.Sum[int64]", m.Name, m.Data)
	}
	if sum.IsMonotonic != monotonic {
		t.Errorf("%s: IsMonotonic = %v, want %v", m.Name, sum.IsMonotonic, monotonic)
	}
	if sum.Temporality != metricdata.CumulativeTemporality {
		t.Errorf("%s: Temporality = %v, want cumulative", m.Name, sum.Temporality)
	}
	return sum.DataPoints
}

// want describes one instrument Register creates and its value in s.
type want struct {
	name, unit string
	monotonic  bool
	value      int64
}

func wants(s velo.Stats) []want {
	return []want{
		{"velo.cache.hits", "{request}", true, int64(s.Hits)},
		{"velo.cache.misses", "{request}", true, int64(s.Misses)},
		{"velo.cache.sets", "{request}", true, int64(s.Sets)},
		{"velo.cache.deletes", "{request}", true, int64(s.Deletes)},
		{"velo.cache.evictions", "{entry}", true, int64(s.Evictions)},
		{"velo.cache.expirations", "{entry}", true, int64(s.Expirations)},
		{"velo.cache.rejected", "{entry}", true, int64(s.Rejected)},
		{"velo.cache.entries", "{entry}", false, int64(s.Entries)},
		{"velo.cache.bytes", "By", false, s.Bytes},
		{"velo.cache.held_bytes", "By", false, s.HeldBytes},
		{"velo.cache.set_bytes", "By", true, s.SetBytes},
		{"velo.cache.moved_bytes", "By", true, s.MovedBytes},
		{"velo.cache.loads", "{call}", true, int64(s.Loads)},
		{"velo.cache.load_errors", "{call}", true, int64(s.LoadErrors)},
		{"velo.cache.refreshes", "{call}", true, int64(s.Refreshes)},
		{"velo.cache.negative_hits", "{call}", true, int64(s.NegativeHits)},
		{"velo.cache.stale_served", "{call}", true, int64(s.StaleServed)},
		{"velo.cache.callback_panics", "{call}", true, int64(s.CallbackPanics)},
		{"velo.cache.forced_gcs", "{collection}", true, int64(s.ForcedGCs)},
	}
}

// check fails t unless got has every instrument Register creates, with
// its unit, kind and a description, and a data point with exactly attrs
// whose value is s's.
func check(t *testing.T, got map[string]metricdata.Metrics, s velo.Stats, attrs attribute.Set) {
	t.Helper()
	for _, w := range wants(s) {
		m, ok := got[w.name]
		if !ok {
			t.Errorf("%s not collected", w.name)
			continue
		}
		if m.Unit != w.unit {
			t.Errorf("%s: unit %q, want %q", w.name, m.Unit, w.unit)
		}
		if m.Description == "" {
			t.Errorf("%s: no description", w.name)
		}
		var found bool
		for _, dp := range points(t, m, w.monotonic) {
			if !dp.Attributes.Equals(&attrs) {
				continue
			}
			if found {
				t.Errorf("%s: two data points with attributes %v", w.name, attrs.ToSlice())
			}
			found = true
			if dp.Value != w.value {
				t.Errorf("%s%v = %d, want %d", w.name, attrs.ToSlice(), dp.Value, w.value)
			}
		}
		if !found {
			t.Errorf("%s: no data point with attributes %v", w.name, attrs.ToSlice())
		}
	}
}

func TestRegisterValues(t *testing.T) {
	c := newCache(t)
	exercise(t, c)

	// Pin the counts exercise produces, so that comparing with Stats below
	// compares with something. The byte figures depend on the engine's
	// layout, which is not this package's business: expect whatever Stats
	// says, as long as it is set.
	s := c.Stats()
	if s.Hits != 1 || s.Misses != 3 || s.Sets != 3 || s.Deletes != 1 || s.Entries != 2 ||
		s.Loads != 1 || s.LoadErrors != 1 || s.NegativeHits != 1 {
		t.Fatalf("Stats() = %+v after exercise", s)
	}
	if s.Bytes <= 0 || s.HeldBytes <= 0 || s.SetBytes <= 0 {
		t.Fatalf("Stats() = %+v with an entry stored", s)
	}

	r, mp := newReader(t)
	attrs := attribute.NewSet(attribute.String("cache", "test"))
	if _, err := velootel.Register(mp.Meter("test"), c, attrs.ToSlice()...); err != nil {
		t.Fatal(err)
	}
	got := collect(t, r)
	if n := len(got); n != 19 {
		t.Errorf("collected %d instruments, want 19", n)
	}
	for name, m := range got {
		if n := len(m.Data.(metricdata.Sum[int64]).DataPoints); n != 1 {
			t.Errorf("%s: %d data points, want 1", name, n)
		}
	}
	check(t, got, s, attrs)
}

// The callback reads Stats at collection time, so a later collection sees
// later operations.
func TestRegisterIsLive(t *testing.T) {
	c := newCache(t)
	r, mp := newReader(t)
	if _, err := velootel.Register(mp.Meter("test"), c); err != nil {
		t.Fatal(err)
	}
	check(t, collect(t, r), c.Stats(), *attribute.EmptySet())
	exercise(t, c)
	got := collect(t, r)
	check(t, got, c.Stats(), *attribute.EmptySet())
	if v := got["velo.cache.hits"].Data.(metricdata.Sum[int64]).DataPoints[0].Value; v != 1 {
		t.Fatalf("velo.cache.hits = %d after exercise, want 1", v)
	}
}

// Two caches registered on one meter with distinct attributes are
// reported as two data points of each instrument, one per cache.
func TestRegisterTwoCaches(t *testing.T) {
	a, b := twoCaches(t)
	attrsA := attribute.NewSet(attribute.String("cache", "a"))
	attrsB := attribute.NewSet(attribute.String("cache", "b"))
	got := collectBoth(t, a, b, attrsA, attrsB)
	wantPoints(t, got, 2)
	check(t, got, a.Stats(), attrsA)
	check(t, got, b.Stats(), attrsB)
}

// Two caches registered with the same attributes are reported as one data
// point per instrument: the SDK adds up the observations of one attribute
// set in a collection, so each is the two caches' sum.
func TestRegisterSameAttributesSums(t *testing.T) {
	a, b := twoCaches(t)
	attrs := attribute.NewSet(attribute.String("cache", "pool"))
	got := collectBoth(t, a, b, attrs, attrs)
	wantPoints(t, got, 1)
	sets := got["velo.cache.sets"].Data.(metricdata.Sum[int64]).DataPoints[0].Value
	entries := got["velo.cache.entries"].Data.(metricdata.Sum[int64]).DataPoints[0].Value
	sa, sb := a.Stats(), b.Stats()
	if sets != int64(sa.Sets+sb.Sets) || entries != int64(sa.Entries+sb.Entries) {
		t.Fatalf("sets = %d, entries = %d; want the sums %d and %d", sets, entries, sa.Sets+sb.Sets, sa.Entries+sb.Entries)
	}
}

// twoCaches returns two caches: a after exercise, b holding one key.
func twoCaches(t *testing.T) (a, b *velo.Cache) {
	a, b = newCache(t), newCache(t)
	exercise(t, a)
	if err := b.Set("k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if sa, sb := a.Stats(), b.Stats(); sa.Sets != 3 || sb.Sets != 1 {
		t.Fatalf("Sets = %d and %d, want 3 and 1", sa.Sets, sb.Sets)
	}
	return a, b
}

// collectBoth registers a with attrsA and b with attrsB on one meter and
// returns one collection.
func collectBoth(t *testing.T, a, b *velo.Cache, attrsA, attrsB attribute.Set) map[string]metricdata.Metrics {
	t.Helper()
	r, mp := newReader(t)
	meter := mp.Meter("test")
	if _, err := velootel.Register(meter, a, attrsA.ToSlice()...); err != nil {
		t.Fatal(err)
	}
	if _, err := velootel.Register(meter, b, attrsB.ToSlice()...); err != nil {
		t.Fatal(err)
	}
	got := collect(t, r)
	if n := len(got); n != 19 {
		t.Errorf("collected %d instruments, want 19: each is created once per meter", n)
	}
	return got
}

// wantPoints checks that every instrument collected has n data points.
func wantPoints(t *testing.T, got map[string]metricdata.Metrics, n int) {
	t.Helper()
	for name, m := range got {
		if k := len(m.Data.(metricdata.Sum[int64]).DataPoints); k != n {
			t.Errorf("%s: %d data points, want %d", name, k, n)
		}
	}
}

// After Unregister, a collection has no data points for the cache, while
// a cache still registered on the same meter goes on being reported; once
// both are unregistered, it has no velo instruments at all.
func TestUnregister(t *testing.T) {
	gone, kept := newCache(t), newCache(t)
	exercise(t, gone)
	r, mp := newReader(t)
	meter := mp.Meter("test")
	attrsGone := attribute.NewSet(attribute.String("cache", "gone"))
	attrsKept := attribute.NewSet(attribute.String("cache", "kept"))
	regGone, err := velootel.Register(meter, gone, attrsGone.ToSlice()...)
	if err != nil {
		t.Fatal(err)
	}
	regKept, err := velootel.Register(meter, kept, attrsKept.ToSlice()...)
	if err != nil {
		t.Fatal(err)
	}
	check(t, collect(t, r), gone.Stats(), attrsGone)

	if err := regGone.Unregister(); err != nil {
		t.Fatal(err)
	}
	exercise(t, gone)
	got := collect(t, r)
	if n := len(got); n != 19 {
		t.Errorf("collected %d instruments with one cache registered, want 19", n)
	}
	for name, m := range got {
		sum, ok := m.Data.(metricdata.Sum[int64])
		if !ok || len(sum.DataPoints) != 1 || !sum.DataPoints[0].Attributes.Equals(&attrsKept) {
			t.Errorf("%s: %+v after Unregister, want only the kept cache's point", name, m.Data)
		}
	}
	check(t, got, kept.Stats(), attrsKept)

	if err := regKept.Unregister(); err != nil {
		t.Fatal(err)
	}
	for name, m := range collect(t, r) {
		if sum, ok := m.Data.(metricdata.Sum[int64]); !ok || len(sum.DataPoints) != 0 {
			t.Errorf("%s: %+v after both Unregister calls", name, m.Data)
		}
	}
}
