package veloprom_test

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/velocache/velo"
	veloprom "github.com/velocache/velo/prometheus"
)

// Register the collector on a registry; serve that registry with
// promhttp.HandlerFor(reg, promhttp.HandlerOpts{}) on /metrics.
func ExampleNewCollector() {
	c, err := velo.New(velo.Options{})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(veloprom.NewCollector(c, "", prometheus.Labels{"cache": "sessions"}))

	_ = c.Set("k", []byte("v"), 0)
	_, _ = c.Get("k")
	_, _ = c.Get("nope")

	// What a scrape of /metrics would include.
	err = testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP velo_hits_total Cache lookups that found their key.
# TYPE velo_hits_total counter
velo_hits_total{cache="sessions"} 1
# HELP velo_misses_total Cache lookups that did not find their key.
# TYPE velo_misses_total counter
velo_misses_total{cache="sessions"} 1
`), "velo_hits_total", "velo_misses_total")
	fmt.Println("matches:", err == nil)
	// Output:
	// matches: true
}
