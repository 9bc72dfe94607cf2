#!/usr/bin/env bash
# Issue 14: the waiter's schedule chosen from runs 8 and 9. velo: spinWait
# (spin, then 64 yields, then Lock) where GOMAXPROCS <= NumCPU, shortWait
# otherwise; velo-mid: spin ~31,000 looks then Lock; velo-lock: plain lock.
# The oversub bench: modes 0 velo, 2 spinWait forced, 1 lock, 5 mid, 7 shortWait.
set -u
o=${OUT:-/tmp/out}; mkdir -p "$o"
nproc; date -u +%T
{ echo "## taskset -c 0,1, -cpu 2 (GOMAXPROCS = NumCPU = 2)"
  taskset -c 0,1 ./.dev/engine.test -test.run '^$' -test.bench ZZOversub -test.cpu 2 -test.benchtime 2000000x
  echo "## taskset -c 0,1, -cpu 8 (GOMAXPROCS 8 > NumCPU 2)"
  taskset -c 0,1 ./.dev/engine.test -test.run '^$' -test.bench ZZOversub -test.cpu 8 -test.benchtime 2000000x
  echo "## 16 CPUs, -cpu 16, goroutines 16 and 64"
  ./.dev/engine.test -test.run '^$' -test.bench 'ZZOversub/mode=[0157]/' -test.cpu 16 -test.benchtime 2000000x -oversubgs 16,64
} > "$o/run10-oversub.txt" 2>&1
echo "oversub rc $? $(date -u +%T)"; grep -E "ns/op|##" "$o/run10-oversub.txt"
./.dev/probeJ -preset otter -count 5 -duration 300ms -warmup 100ms -procs 4,8,16 \
  -target velo,velo-mid,velo-lock,otter,freecache,fastcache -json "$o/run10.json" > "$o/run10.txt" 2> "$o/run10.err"
echo "rc $? $(date -u +%T)"
grep -E '^[0-9]+ +velo/' "$o/run10.txt"
rm -f .dev/probeJ .dev/engine.test
