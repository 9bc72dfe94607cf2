#!/usr/bin/env bash
# Issue 14: combining (velo) against the plain shard lock (velo-lock, the
# same build with the probe switch), with otter's method, at 2 to 16 cores.
set -u
o=${OUT:-/tmp/out}; mkdir -p "$o"
nproc; date -u +%T
./.dev/probeC -preset otter -count 5 -duration 300ms -warmup 100ms -procs 2,4,8,16 \
  -target velo,velo-lock,otter,freecache,fastcache -json "$o/run5.json" > "$o/run5.txt" 2> "$o/run5.err"
echo "rc $? $(date -u +%T)"
grep -E '^[0-9]+ +velo/' "$o/run5.txt"
rm -f .dev/probeC
