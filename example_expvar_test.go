package velo_test

import (
	"encoding/json"
	"expvar"
	"fmt"

	"github.com/velocache/velo"
)

// Publish the cache's counters so they are served, with the rest of
// expvar, at /debug/vars by any server on http.DefaultServeMux. Publish
// once per name: expvar.Publish panics on a duplicate.
func ExampleCache_ExpvarVar() {
	c, err := velo.New(velo.Options{})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	expvar.Publish("velo", c.ExpvarVar())

	_ = c.Set("k", []byte("v"), 0)
	_, _ = c.Get("k")
	_, _ = c.Get("nope")

	// What /debug/vars shows under "velo", read afresh on every request.
	var stats struct {
		Hits     uint64  `json:"hits"`
		Misses   uint64  `json:"misses"`
		HitRatio float64 `json:"hit_ratio"`
	}
	_ = json.Unmarshal([]byte(expvar.Get("velo").String()), &stats)
	fmt.Printf("hits=%d misses=%d hit_ratio=%.2f\n", stats.Hits, stats.Misses, stats.HitRatio)
	// Output:
	// hits=1 misses=1 hit_ratio=0.50
}
