#!/usr/bin/env bash
# 16-core sweep for issue 14: otter's preset at GOMAXPROCS 4,8,16 (all bounded peers),
# a CPU profile of velo's write-heavy cells at 16, then GOMAXPROCS 1,2 for the scaling ratio.
set -u
lg=./.dev/loadgen
o=${OUT:-/tmp/out}; mkdir -p "$o"
{ date -u; nproc; lscpu | sed -n '1,20p'; free -g; uname -a; git log -1 --format=%h 2>/dev/null; } > "$o/machine.txt" 2>&1
echo "== preset 4,8,16 $(date -u +%T)"
$lg -preset otter -count 5 -duration 300ms -warmup 100ms -procs 4,8,16 \
  -target velo,otter,theine,ristretto,fastcache,freecache,bigcache \
  -json "$o/preset-4-8-16.json" > "$o/preset-4-8-16.txt" 2> "$o/preset-4-8-16.err"
echo "rc $? $(date -u +%T)"
tail -5 "$o/preset-4-8-16.err"
echo "== profile velo 16 procs, mixes 25,0 $(date -u +%T)"
$lg -preset otter -count 1 -duration 3s -procs 16 -mix 25,0 -target velo \
  -cpuprofile "$o/velo-16p-writes.prof" > "$o/velo-16p-writes.txt" 2>&1
echo "rc $? $(date -u +%T)"
echo "== preset 1,2 $(date -u +%T)"
$lg -preset otter -count 5 -duration 300ms -warmup 100ms -procs 1,2 \
  -target velo,otter,fastcache,freecache \
  -json "$o/preset-1-2.json" > "$o/preset-1-2.txt" 2> "$o/preset-1-2.err"
echo "rc $? $(date -u +%T)"
cat "$o/preset-4-8-16.txt" | grep -E 'best peer|velo/freecache'
cat "$o/preset-1-2.txt" | grep -E 'best peer|^0 +velo '
