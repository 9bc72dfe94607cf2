#!/usr/bin/env bash
# Probe for issue 14 at 16 cores: spinning before the shard lock, and more shards.
set -u
lg=./.dev/probe
o=${OUT:-/tmp/out}; mkdir -p "$o"
echo "== probe $(date -u +%T)"
$lg -preset otter -count 3 -duration 300ms -warmup 100ms -procs 4,8,16 -mix 75,50,25,0 \
  -target velo,velo-spin,velo-spin2k,velo-s64,velo-spin2k-s64,freecache,otter,fastcache \
  -json "$o/probe.json" > "$o/probe.txt" 2> "$o/probe.err"
echo "rc $? $(date -u +%T)"
$lg -preset otter -count 1 -duration 3s -procs 16 -mix 0 -target velo-spin2k \
  -cpuprofile "$o/spin2k-16p.prof" > /dev/null 2>&1
echo "rc $? $(date -u +%T)"
grep -E '^[0-9]+ +[a-z0-9-]+ +[0-9]' "$o/probe.txt"
