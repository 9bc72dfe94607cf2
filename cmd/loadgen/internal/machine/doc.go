// Package machine holds benchmarks of the host itself, not of any cache:
// what a first touch of fresh memory costs, how stores to memory scale
// across cores, and how far the memory traffic of a cache's Set could
// scale under several designs. They explain figures of the cache
// benchmarks that depend on the machine (docs/benchmarks.md); run them
// beside those figures, on the same machine:
//
//	go test -run '^$' -bench . -cpu 2 -count 3 ./cmd/loadgen/internal/machine
package machine
