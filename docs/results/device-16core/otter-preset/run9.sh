#!/usr/bin/env bash
# Issue 14: the waiter's schedule at 4 to 16 cores: velo (HEAD: parks after
# ~7,000 looks), velo-long (runs 4-7), velo-adapt (per-shard spin rounds,
# doubled when a wait succeeds late, halved when it runs out), velo-lock.
set -u
o=${OUT:-/tmp/out}; mkdir -p "$o"
nproc; date -u +%T
./.dev/engine.test -test.run '^$' -test.bench ZZOversub -test.cpu 16 -test.count 2 -test.benchtime 2000000x > "$o/run9-oversub.txt" 2>&1
echo "oversub rc $? $(date -u +%T)"; grep ns/op "$o/run9-oversub.txt"
./.dev/probeI -preset otter -count 5 -duration 300ms -warmup 100ms -procs 4,8,16 \
  -target velo,velo-long,velo-adapt,velo-lock,otter,freecache,fastcache -json "$o/run9.json" > "$o/run9.txt" 2> "$o/run9.err"
echo "rc $? $(date -u +%T)"
grep -E '^[0-9]+ +velo/' "$o/run9.txt"
rm -f .dev/probeI .dev/engine.test
