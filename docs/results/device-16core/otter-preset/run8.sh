#!/usr/bin/env bash
# Issue 14: the waiter's schedule at 4 to 16 cores: velo (HEAD, parks after
# ~7,000 looks), velo-long (runs 4-7's long spin), velo-lock (plain lock).
set -u
o=${OUT:-/tmp/out}; mkdir -p "$o"
nproc; date -u +%T
./.dev/probeH -preset otter -count 5 -duration 300ms -warmup 100ms -procs 4,8,16 \
  -target velo,velo-long,velo-lock,otter,freecache,fastcache -json "$o/run8.json" > "$o/run8.txt" 2> "$o/run8.err"
echo "rc $? $(date -u +%T)"
grep -E '^[0-9]+ +velo/' "$o/run8.txt"
rm -f .dev/probeH
