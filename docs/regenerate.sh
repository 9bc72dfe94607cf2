#!/usr/bin/env bash
# Regenerates the measurements that docs/benchmarks.md, docs/memory.md,
# docs/hit-ratio.md and docs/capacity-planning.md cite, each into the file
# the doc names. The prose and the tables in the docs are written from
# these files by hand.
#
#   docs/regenerate.sh              every step this machine can run (about
#                                   80 minutes on the 2-core VM)
#   docs/regenerate.sh gc fill      only the named steps
#
# Steps (times on the project's 2-core VM):
#   peers     benchmarks.md "Throughput against the peers"      ~3 min
#   threeruns benchmarks.md "Reading it" (three 3 s runs)        ~6 min
#   view      benchmarks.md "Reading it" (velo-view, three runs) ~6 min
#   profile   benchmarks.md "Reading it" (profile of 75/25 at 2 P) ~15 s
#   otter     benchmarks.md "In otter's method"                  ~9 min
#   single    benchmarks.md "One goroutine" (BenchmarkSingle)     ~3 min
#   scaling   benchmarks.md "Why writes do not scale here"       ~7 min
#   callgrind benchmarks.md "Counting work" (needs valgrind)      ~2 min
#   redis     benchmarks.md "velo in process against Redis"      ~1 min
#             (needs redis-server on PATH; skipped without it)
#   bench     benchmarks.md "velo against the blog's RWMutex map" ~5 min
#   fill      memory.md "A working set with overwrites"          ~10 min
#   gc        memory.md "Results"                                 ~11 min
#   hitratio  hit-ratio.md, every table and plot                 ~10-19 min
#             (needs the traces in ../shared/traces; skipped without them)
#   hitbytes  hit-ratio.md "Bounded by bytes alone", six traces   ~4 min
#             (needs the traces in ../shared/traces; skipped without them)
#   capacity  capacity-planning.md, both walkthroughs              ~5 min
#             (the CloudPhysics one needs ../shared/traces)
#   16core    benchmarks.md "On 16 cores" (every target, then otter16),
#             memory.md "50 million entries" (the 16-core table); only on
#             a machine with 16 or more CPUs and 16 GiB free, ~5 min there
#             + otter16 + ~3 min for -gc
#   otter16   benchmarks.md "On 16 cores", otter's method: GOMAXPROCS 4, 8
#             and 16, then 1 and 2 pinned to two CPUs (taskset), which
#             gives the one- and two-core targets and the write scaling on
#             real hardware; only with 16 or more CPUs, ~7 min there
#
# LOADGEN=path uses a loadgen built beforehand instead of building one
# (for a machine without Go or the module cache: CGO_ENABLED=0 go build
# -o .dev/loadgen ./cmd/loadgen, and carry .dev there).
#
# Not regenerated here (their files name the commit or build they ran):
# the quiet -gc run of memory.md (results/gc-session4.*, commit 8436022),
# the segment-cap comparison (results/gc-segcap.txt and
# results/device-16core/gc-segcap.txt, one build per cap constant), and the
# A/B files that docs/design.md cites (results/hardening-ab.txt,
# index-density.txt, index-migration-ab.txt, setchurn*.txt, drain.txt,
# header12.txt), which compare two commits.
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/results
mkdir -p "$out"
tmp=$(mktemp -d)
cleanup() {
  if [ -n "${redis_port:-}" ]; then redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# One binary for every step, so that all runs measure the same build.
if [ -n "${LOADGEN:-}" ]; then
  lg=$(realpath "$LOADGEN")
else
  go build -o "$tmp/loadgen" ./cmd/loadgen
  lg="$tmp/loadgen"
fi

step_peers() {
  echo "== peers: loadgen, every in-process target, GOMAXPROCS 1 and 2" >&2
  "$lg" -target all -procs 1,2 \
    -json docs/loadgen-all.json -csv docs/loadgen-all.csv -plot docs/loadgen-all.svg > "$out/loadgen-all.txt"
}

step_threeruns() {
  echo "== threeruns: velo, otter and the mutex map, 3 s per cell, three runs" >&2
  mkdir -p "$out/loadgen-3runs-final"
  for i in 1 2 3; do
    "$lg" -target velo,otter,mutexmap -procs 1,2 -duration 3s -warmup 500ms \
      -json "$out/loadgen-3runs-final/run$i.json" > "$out/loadgen-3runs-final/run$i.txt"
  done
}

step_view() {
  echo "== view: velo, velo-view and otter, 3 s per cell, three runs" >&2
  mkdir -p "$out/loadgen-view-3runs"
  for i in 1 2 3; do
    "$lg" -target velo,velo-view,otter -procs 1,2 -duration 3s -warmup 500ms \
      -json "$out/loadgen-view-3runs/vvo-$i.json" > "$out/loadgen-view-3runs/vvo-$i.txt"
  done
}

step_profile() {
  echo "== profile: velo at 75% reads, GOMAXPROCS 2" >&2
  "$lg" -target velo -mix 75 -procs 2 -duration 4s -cpuprofile "$tmp/m75.prof" > "$tmp/m75.txt"
  {
    echo "# $(date -u +%F), $(nproc) CPUs, commit $(git rev-parse --short HEAD)."
    echo "# loadgen -target velo -mix 75 -procs 2 -duration 4s -cpuprofile m75.prof; go tool pprof -top -nodecount 30"
    go tool pprof -top -nodecount 30 "$lg" "$tmp/m75.prof"
  } > "$out/profile-velo-75-2p.txt"
}

step_otter() {
  echo "== otter: -preset otter, every target, five runs per cell" >&2
  mkdir -p "$out/otter-preset"
  "$lg" -preset otter -count 5 -duration 500ms -target all \
    -json "$out/otter-preset/2core-count5.json" > "$out/otter-preset/2core-count5.txt"
}

step_single() {
  echo "== single: BenchmarkSingle, six runs at GOMAXPROCS 1 and 2" >&2
  go test -run '^$' -bench Single -count 6 -cpu 1,2 ./cmd/loadgen/internal/targets > "$out/single.txt"
}

step_scaling() {
  echo "== scaling: the machine's stores and first touches, a model of four Set designs, velo and the peers' parallel Sets, shared and disjoint shards" >&2
  mkdir -p "$out/write-scaling"
  {
    go test -run '^$' -bench 'Stores|FirstTouch' -cpu 2 -count 3 ./cmd/loadgen/internal/machine
    go test -run '^$' -bench FirstTouch -benchtime 1x -count 5 ./cmd/loadgen/internal/machine
  } > "$out/write-scaling/machine.txt"
  # SetDesigns in rounds, each between two runs of the shared stores,
  # which say the machine's state (about 8 ns per store: cheap; 24: expensive).
  go test -c -o "$out/write-scaling/machine.test" ./cmd/loadgen/internal/machine
  for r in $(seq 24); do
    echo "# round $r $(date -u +%FT%TZ)"
    "$out/write-scaling/machine.test" -test.run '^$' -test.bench 'Stores/shared' -test.cpu 2 | grep ns/op
    "$out/write-scaling/machine.test" -test.run '^$' -test.bench SetDesigns -test.cpu 2 -test.benchtime 3000000x | grep ns/op
    "$out/write-scaling/machine.test" -test.run '^$' -test.bench 'Stores/shared' -test.cpu 2 | grep ns/op
  done > "$out/write-scaling/set-designs.txt"
  rm "$out/write-scaling/machine.test"
  go test -run '^$' -bench SetParallel -cpu 1,2 -count 3 ./cmd/loadgen/internal/targets > "$out/write-scaling/parallel-set.txt"
  go test -run '^$' -bench SetShards -cpu 2 -count 3 ./engine > "$out/write-scaling/set-shards.txt"
}

step_callgrind() {
  if ! command -v valgrind >/dev/null; then
    echo "== callgrind: skipped, valgrind is not on PATH (apt-get install -y valgrind)" >&2
    return
  fi
  echo "== callgrind: docs/callgrind.sh on BenchmarkBounded, writes and reads" >&2
  for b in 'Bounded/reads=0' 'Bounded/reads=100'; do docs/callgrind.sh "$b"; done > "$out/callgrind.txt"
}

step_redis() {
  if ! command -v redis-server >/dev/null; then
    echo "redis-server not installed (apt-get install -y redis-server): skipping the Redis comparisons" >&2
    return 0
  fi
  redis_port=6399
  redis-server --port $redis_port --bind 127.0.0.1 --save '' --appendonly no --daemonize yes >/dev/null
  sleep 0.5
  echo "== redis: one op at a time (1 key, then 65,536), then throughput" >&2
  "$lg" -redis-compare -redis-addr 127.0.0.1:$redis_port -redis-ops 50000 -keys 1 \
    -json docs/redis-compare-1key.json > "$out/redis-compare-1key.txt"
  "$lg" -redis-compare -redis-addr 127.0.0.1:$redis_port -redis-ops 50000 \
    -json docs/redis-compare.json > "$out/redis-compare.txt"
  "$lg" -target velo,mutexmap,redis -redis-addr 127.0.0.1:$redis_port -procs 1,2 -mix 100,75,0 \
    > "$out/loadgen-redis.txt"
  redis-cli -p $redis_port shutdown nosave >/dev/null 2>&1 || true
  redis_port=
}

step_bench() {
  echo "== bench: bench_test.go, velo against the RWMutex map" >&2
  go test -run '^$' -bench '^Benchmark(Get|Set|ZipfRead|ZipfMix75|ZipfWrite|AppendValue)$' \
    -benchmem -cpu 1,2 -count 6 . > "$out/bench.txt"
  echo "   summarize $out/bench.txt with golang.org/x/perf/cmd/benchstat" >&2
}

step_fill() {
  echo "== fill: a working set with overwrites, five value distributions" >&2
  "$lg" -fill -fill-overwrite 0,50,90,99 \
    -json "$out/fill.json" -fill-plot docs/memory-fill.svg > "$out/fill.txt"
}

step_gc() {
  echo "== gc: memory and GC cost at 1M and 10M entries" >&2
  "$lg" -gc -json "$out/gc.json" -plot docs/memory-gc.svg > "$out/gc.txt"
}

step_hitratio() {
  if ! ls ../shared/traces/*.gz >/dev/null 2>&1; then
    echo "no traces in ../shared/traces: skipping the hit-ratio replays" >&2
    return 0
  fi
  echo "== hitratio: 21 traces, velo, otter, theine, ristretto and the reference policies" >&2
  mkdir -p "$out/hit-ratio" docs/hit-ratio "$tmp/hr"
  for f in ../shared/traces/*.gz; do
    n=$(basename "$f" .gz)
    "$lg" -trace "$f" -target velo,otter,theine,ristretto -json "$tmp/hr/$n.json" \
      -plot "docs/hit-ratio/$n.svg" > "$out/hit-ratio/$n.txt"
  done
  echo "   the tables of docs/hit-ratio.md:" >&2
  python3 docs/hit-ratio-tables.py "$tmp/hr"
}

step_hitbytes() {
  if ! ls ../shared/traces/*.gz >/dev/null 2>&1; then
    echo "no traces in ../shared/traces: skipping the byte-bounded replays" >&2
    return 0
  fi
  echo "== hitbytes: six traces bounded by bytes (1, 5, 10, 25% of the distinct keys at 88 bytes each) and by entries" >&2
  local f n d caps p
  : > "$out/hit-ratio-bytes.txt"
  for n in lirs_multi2.trace lirs_multi3.trace lirs_2_pools.trace lirs_sprite.trace cache2k_web07.trace arc_P3.lis; do
    f=../shared/traces/$n.gz
    # The trace's distinct keys, from the header line of a short replay.
    d=$("$lg" -trace "$f" -capacities 1000 -target velo | sed -n 's/.* \([0-9][0-9]*\) distinct keys.*/\1/p' | head -1)
    caps="" ents=""
    for p in 1 5 10 25; do
      caps="$caps,$((d * p / 100 * 88))B"
      ents="$ents,$((d * p / 100))"
    done
    {
      echo "### $n, bounded by bytes (an entry: key + 64-byte value + 16-byte header, about 88 bytes)"
      "$lg" -trace "$f" -capacities "${caps#,}" -value-size 64 -target velo,otter,theine
      echo "### $n, bounded by entries (velo: MaxEntries)"
      "$lg" -trace "$f" -capacities "${ents#,}" -target velo,otter,theine
    } >> "$out/hit-ratio-bytes.txt"
  done
}

step_capacity() {
  echo "== capacity: a synthetic application log, then the CloudPhysics trace with sizes" >&2
  d=docs/capacity
  mkdir -p "$d"
  "$lg" -gen-log "$tmp/app.csv.gz" -gen-requests 4000000 -gen-keys 200000 -zipf-s 0.9 -value-size 100-20000 \
    > "$d/synthetic-gen.txt"
  "$lg" -trace "$tmp/app.csv.gz" -capacities 128MiB,256MiB,512MiB,1GiB -target-hit 0.9 -refine 4 -rate 2M -count 3 \
    -plot "$d/synthetic.svg" -json "$d/synthetic.json" > "$d/synthetic.txt"
  f=../shared/traces/libcachesim_cloudPhysicsIO.oracleGeneral.bin.gz
  if [ ! -f "$f" ]; then
    echo "no $f: skipping the CloudPhysics walkthrough" >&2
    return 0
  fi
  "$lg" -trace "$f" -capacities 128MiB,256MiB,512MiB,1GiB,2GiB -target all -target-hit 0.5 -refine 4 -rate 50k -count 3 \
    -plot "$d/cloudphysics.svg" -json "$d/cloudphysics.json" > "$d/cloudphysics.txt"
}

# sixteen_cpus says whether this machine has the 16 CPUs that step $1
# needs, and why it is skipped if not.
sixteen_cpus() {
  if [ "$(nproc)" -lt 16 ]; then
    echo "$(nproc) CPUs: skipping $1 (it needs 16)" >&2
    return 1
  fi
}

step_16core() {
  sixteen_cpus 16core || return 0
  echo "== 16core: every in-process target, GOMAXPROCS 1 to 16; -gc up to 50M entries" >&2
  d="$out/device-16core"
  mkdir -p "$d"
  { lscpu; free -g; uname -a; go version; } > "$d/machine.txt"
  "$lg" -target all -procs 1,2,4,8,16 -duration 1s \
    -json "$d/loadgen-16.json" -csv "$d/loadgen-16.csv" -plot docs/loadgen-16core.svg > "$d/loadgen-16.txt"
  python3 docs/loadgen-ratios.py "$d/loadgen-16.json" otter mutexmap freecache fastcache
  step_otter16
  "$lg" -gc -target velo,freecache,fastcache,bigcache -gc-entries 1000000,10000000,50000000 -gc-load 3s \
    -json "$d/gc-16core.json" > "$d/gc-16core.txt"
}

step_otter16() {
  sixteen_cpus otter16 || return 0
  echo "== otter16: otter's method at GOMAXPROCS 4, 8, 16, then 1 and 2 on two CPUs" >&2
  d="$out/device-16core/otter-preset"
  mkdir -p "$d"
  { lscpu; free -g; uname -a; } > "$d/otter16-machine.txt" # machine.txt is runs 1 to 10's
  local bounded=velo,otter,theine,ristretto,fastcache,freecache,bigcache
  "$lg" -preset otter -count 5 -duration 300ms -warmup 100ms -procs 4,8,16 \
    -target "$bounded" -json "$d/procs4-8-16.json" > "$d/procs4-8-16.txt"
  python3 docs/loadgen-ratios.py --best "$d/procs4-8-16.json" || true # the tables only; the files are written
  # Two CPUs of the machine, so that GOMAXPROCS 1 and 2 have a CPU each
  # and nothing else of the machine's to spread onto (NumCPU is 2 there).
  taskset -c 0,1 "$lg" -preset otter -count 5 -duration 300ms -warmup 100ms -procs 1,2 \
    -target "$bounded" -json "$d/pinned-procs1-2.json" > "$d/pinned-procs1-2.txt"
  python3 docs/loadgen-ratios.py --best "$d/pinned-procs1-2.json" || true
}

# Every step but otter16, which 16core runs.
default_steps=(peers threeruns view profile otter single scaling callgrind redis bench fill gc hitratio hitbytes capacity 16core)
all_steps=("${default_steps[@]}" otter16)
steps=("$@")
if [ ${#steps[@]} -eq 0 ]; then steps=("${default_steps[@]}"); fi
for s in "${steps[@]}"; do
  case " ${all_steps[*]} " in
    *" $s "*) "step_$s" ;;
    *) echo "unknown step $s (steps: ${all_steps[*]})" >&2; exit 2 ;;
  esac
done
echo "wrote docs/results/ and the plots in docs/" >&2
