#!/usr/bin/env bash
# Issue 14: with combining, shard counts at 8 and 16 cores (default: 32 at 8, 64 at 16).
set -u
o=${OUT:-/tmp/out}; mkdir -p "$o"
nproc; date -u +%T
./.dev/probeG -preset otter -count 5 -duration 300ms -warmup 100ms -procs 8,16 -mix 25,0 \
  -target velo-s16,velo-s32,velo-s64,velo-s128,freecache -json "$o/run7.json" > "$o/run7.txt" 2> "$o/run7.err"
echo "rc $? $(date -u +%T)"
grep -E '^[0-9]+ +(velo|free)' "$o/run7.txt"
rm -f .dev/probeG
