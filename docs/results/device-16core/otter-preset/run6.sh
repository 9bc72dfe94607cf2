#!/usr/bin/env bash
# Issue 14: combining with Sets of one key in a batch stored once (velo),
# combining without that (velo-nocoal), the plain lock (velo-lock).
set -u
o=${OUT:-/tmp/out}; mkdir -p "$o"
nproc; date -u +%T
./.dev/probeE -preset otter -count 5 -duration 300ms -warmup 100ms -procs 4,8,16 -mix 50,25,0 \
  -target velo,velo-nocoal,velo-lock,otter,freecache,fastcache -json "$o/run6.json" > "$o/run6.txt" 2> "$o/run6.err"
echo "rc $? $(date -u +%T)"
grep -E '^[0-9]+ +velo' "$o/run6.txt"
rm -f .dev/probeE
