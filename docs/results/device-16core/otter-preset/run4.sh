#!/usr/bin/env bash
# Issue 14: combining Sets on a taken shard lock (velo) vs the plain lock
# (velo-lock) vs combining with the waiter trying the lock every round
# (velo-comb1); probeA: the shard layout of 4f08fdf, probeB: segMeta on one
# line each and the Set counters on mu's line. Earlier versions of the
# probe build than run5's (see benchmarks.md).
set -u
o=${OUT:-/tmp/out}; mkdir -p "$o"
nproc; date -u +%T
for b in probeA probeB; do
  echo "== $b $(date -u +%T)"
  t=velo,velo-lock,velo-comb1,otter,freecache,fastcache
  [ $b = probeB ] && t=velo,velo-lock,freecache
  ./.dev/$b -preset otter -count 5 -duration 300ms -warmup 100ms -procs 2,8,16 -mix 75,25,0 \
    -target $t -json "$o/$b.json" > "$o/$b.txt" 2> "$o/$b.err"
  echo "rc $? $(date -u +%T)"
  grep -E '^[0-9]+ +velo' "$o/$b.txt"
done
rm -rf .dev/probeA .dev/probeB
