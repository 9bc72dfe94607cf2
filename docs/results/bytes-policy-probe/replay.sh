#!/bin/bash
# The six traces of docs/regenerate.sh hitbytes, velo alone, bounded by
# bytes at 1, 5, 10 and 25% of each trace's distinct keys (88 bytes an
# entry). Run from the repository root with a loadgen built from the tree
# to measure: LOADGEN=/tmp/loadgen docs/results/bytes-policy-probe/replay.sh OUT
lg=${LOADGEN:?set LOADGEN to a built cmd/loadgen}
: > "$1"
for n in lirs_multi2.trace lirs_multi3.trace lirs_2_pools.trace lirs_sprite.trace cache2k_web07.trace arc_P3.lis; do
  f=../shared/traces/$n.gz
  d=$("$lg" -trace "$f" -capacities 1000 -target velo | sed -n 's/.* \([0-9][0-9]*\) distinct keys.*/\1/p' | head -1)
  caps=""
  for p in 1 5 10 25; do caps="$caps,$((d * p / 100 * 88))B"; done
  echo "### $n" >> "$1"
  "$lg" -trace "$f" -capacities "${caps#,}" -value-size 64 -target velo 2>&1 | grep -E "^ +[0-9]+B|^ +[0-9.]+KiB|^ +[0-9.]+MiB" | head -4 >> "$1"
done
