#!/bin/sh
# callgrind.sh: the work of one operation of a benchmark of bench_test.go,
# counted by callgrind (instructions, and misses of callgrind's simulated
# caches) rather than timed, so that it reads about the same on a busy
# machine as on an idle one. Compare two commits by running it at each.
#
#	docs/callgrind.sh [benchmark [ops [runs]]]    # default: 'Bounded/reads=0' 600000 3
#
# It counts the cache's own code, with the hashing and copying it calls,
# on every goroutine (drains, sweeps), over the benchmark's run (the fill
# of 10,923 keys included: under 2% of 600,000 operations), but not the Go
# runtime's scheduler and collector. It prints the median and the range
# of runs (one goroutine, GOMAXPROCS=1, no asynchronous preemption, whose
# signals upset callgrind, and no RDTSCP, which valgrind 3.19 does not
# know): they differ by a few percent, with the work that the expiry
# sweep's goroutine does during each. Needs valgrind (apt-get install -y
# valgrind); takes about a minute per run.
set -eu
bench=${1:-Bounded/reads=0}
ops=${2:-600000}
runs=${3:-3}
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go test -c -o "$dir/velo.test" .
i=0
while [ $i -lt "$runs" ]; do
	i=$((i + 1))
	GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off GOMAXPROCS=1 valgrind --tool=callgrind --cache-sim=yes \
		--callgrind-out-file="$dir/out.$i" \
		"$dir/velo.test" -test.run '^$' -test.bench "^Benchmark${bench%%/*}\$/^${bench#*/}\$" \
		-test.benchtime "${ops}x" -test.count 1 >"$dir/log.$i" 2>&1 || { cat "$dir/log.$i" >&2; exit 1; }
	# Exclusive counts per function (Ir Dr Dw I1mr D1mr D1mw ILmr DLmr
	# DLmw): the cache's packages, the hash, the copies, the loop.
	callgrind_annotate --auto=no --threshold=100 --show-percs=no "$dir/out.$i" | awk -v ops="$ops" '
		/velocache\/velo|maphash|aeshash|strhash|memhash|memmove|memclr|runBounded/ && $1 ~ /^[0-9,]+$/ {
			for (i = 1; i <= 9; i++) { v[i] = $i; gsub(",", "", v[i]); if (v[i] == ".") v[i] = 0 }
			ir += v[1]; d1 += v[5] + v[6]
		}
		END { printf "%.1f %.3f\n", ir / ops, d1 / ops }' >>"$dir/counts"
done
# The loop writes to a file, not a pipe, so that a failed run ends the
# script with its status rather than a subshell's.
sort -n "$dir/counts" | awk -v bench="$bench" -v ops="$ops" '
	{ ir[NR] = $1; d1[NR] = $2 }
	END {
		m = int((NR + 1) / 2)
		printf "%s: %.0f instructions [%.0f-%.0f], %.2f L1 data misses per operation (callgrind, %d runs of %d operations)\n",
			bench, ir[m], ir[1], ir[NR], d1[m], NR, ops
	}'
