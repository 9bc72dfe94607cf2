#!/usr/bin/env bash
# Regenerates the measurements behind docs/benchmarks.md into docs/results/:
# the loadgen table against every peer (with its JSON, CSV and plot), the
# Redis comparisons (a private redis-server on a spare loopback port, when
# one is installed), and the go test benchmarks. About 9 minutes on 2 cores.
# The prose in benchmarks.md is written from these files by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/results
mkdir -p "$out"

echo "== loadgen, every in-process target, GOMAXPROCS 1 and 2" >&2
go run ./cmd/loadgen -target all -procs 1,2 \
  -json docs/loadgen-all.json -csv docs/loadgen-all.csv -plot docs/loadgen-all.svg > "$out/loadgen-all.txt"

if command -v redis-server >/dev/null; then
  port=6399
  redis-server --port $port --bind 127.0.0.1 --save '' --appendonly no --daemonize yes >/dev/null
  trap 'redis-cli -p '$port' shutdown nosave >/dev/null 2>&1 || true' EXIT
  sleep 0.5
  echo "== Redis comparisons" >&2
  go run ./cmd/loadgen -redis-compare -redis-addr 127.0.0.1:$port -redis-ops 50000 -keys 1 \
    -json docs/redis-compare-1key.json > "$out/redis-compare-1key.txt"
  go run ./cmd/loadgen -redis-compare -redis-addr 127.0.0.1:$port -redis-ops 50000 \
    -json docs/redis-compare.json > "$out/redis-compare.txt"
  go run ./cmd/loadgen -target velo,mutexmap,redis -redis-addr 127.0.0.1:$port -procs 1,2 -mix 100,75,0 \
    > "$out/loadgen-redis.txt"
else
  echo "redis-server not installed (apt-get install -y redis-server): skipping the Redis comparisons" >&2
fi

echo "== go test benchmarks" >&2
# bench_test.go's benchmarks (velo against the RWMutex map); the feature
# benchmarks (GetOrLoad, Typed, Snapshot) are quoted in README.md.
go test -run '^$' -bench '^Benchmark(Get|Set|ZipfRead|ZipfMix75|ZipfWrite|AppendValue)$' -benchmem -cpu 1,2 -count 6 . > "$out/bench.txt"
echo "wrote $out/ (summarize bench.txt with golang.org/x/perf/cmd/benchstat)" >&2
