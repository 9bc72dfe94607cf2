#!/usr/bin/env bash
# Issue 14 at 16 cores: default shards vs the GOMAXPROCS-scaled shard floor (velo-floor),
# and an index slot taken exclusive by CAS (-excl). Probe build of 08e9267.
set -u
lg=./.dev/probe
o=${OUT:-/tmp/out}; mkdir -p "$o"
echo "== probe $(date -u +%T)"
$lg -preset otter -count 5 -duration 300ms -warmup 100ms -procs 4,8,16 \
  -target velo,velo-floor,velo-floor-excl,otter,freecache,fastcache \
  -json "$o/floor.json" > "$o/floor.txt" 2> "$o/floor.err"
echo "rc $? $(date -u +%T)"
grep -E '^[0-9]+ +[a-z0-9-]+ +[0-9]' "$o/floor.txt"
