package velootel_test

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/velocache/velo"
	velootel "github.com/velocache/velo/otel"
)

// Register the cache on a meter of the program's MeterProvider; its
// readers and exporters (OTLP, Prometheus, ...) then collect the cache's
// instruments with everything else. Here a ManualReader stands in for
// them.
func ExampleRegister() {
	c, err := velo.New(velo.Options{})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	reg, err := velootel.Register(mp.Meter("example"), c, attribute.String("cache", "sessions"))
	if err != nil {
		panic(err)
	}
	defer reg.Unregister()

	_ = c.Set("k", []byte("v"), 0)
	_, _ = c.Get("k")
	_, _ = c.Get("nope")

	// What an export would include.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch m.Name {
		case "velo.cache.hits", "velo.cache.misses", "velo.cache.entries":
			dp := m.Data.(metricdata.Sum[int64]).DataPoints[0]
			cache, _ := dp.Attributes.Value("cache")
			fmt.Printf("%s{cache=%s} %d %s\n", m.Name, cache.AsString(), dp.Value, m.Unit)
		}
	}
	// Output:
	// velo.cache.hits{cache=sessions} 1 {request}
	// velo.cache.misses{cache=sessions} 1 {request}
	// velo.cache.entries{cache=sessions} 1 {entry}
}
