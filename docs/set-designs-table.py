#!/usr/bin/env python3
"""set-designs-table.py: the table of docs/benchmarks.md's "Why writes do
not scale here" from the rounds of BenchmarkSetDesigns that
`docs/regenerate.sh scaling` writes, grouped by the machine's state in
each round (the shared stores' ns/op from two goroutines before and after
the round: both under 15, cheap; both over 18, expensive; else left out).

    python3 docs/set-designs-table.py docs/results/write-scaling/set-designs.txt

For each design and state: the median [min-max] ns per Set from one and
two goroutines; the cost sharing adds to each core's Set (twice the
two-goroutine median, less the one-goroutine median); and the two-core
over one-core ratio of a Set that does VELO_NS of private work and pays
that cost on two: 2 * VELO_NS / (VELO_NS + cost).
"""
import re
import statistics
import sys

VELO_NS = 80  # velo's Set on one core in the preset's pure-write cell
DESIGNS = ["shard-log", "core-heads", "core-logs", "index-only", "private"]

samples = {}  # (state, design, goroutines) -> [ns]
rounds = {"cheap": 0, "expensive": 0, "mixed": 0}
for path in sys.argv[1:]:
    for text in open(path).read().split("# round ")[1:]:
        lines = text.splitlines()
        stores = [float(l.split()[-2]) for l in lines if "Stores/shared" in l and "goroutines=2" in l]
        state = "cheap" if max(stores) < 15 else "expensive" if min(stores) > 18 else "mixed"
        rounds[state] += 1
        if state == "mixed":
            continue
        for l in lines:
            m = re.match(r"BenchmarkSetDesigns/(\S+)/goroutines=(\d)-\d+\s+\d+\s+([\d.]+) ns/op", l)
            if m:
                samples.setdefault((state, m[1], int(m[2])), []).append(float(m[3]))

print("rounds: %d cheap, %d expensive, %d left out (the state changed)" % (rounds["cheap"], rounds["expensive"], rounds["mixed"]))
for state in ["expensive", "cheap"]:
    if not any(k[0] == state for k in samples):
        continue
    print()
    print("%s state, %d rounds:" % (state, rounds[state]))
    print()
    print("| design | 1 goroutine | 2 goroutines | sharing's cost per Set | velo at that cost |")
    print("|---|---|---|---|---|")
    for d in DESIGNS:
        one, two = samples[(state, d, 1)], samples[(state, d, 2)]
        t1, t2 = statistics.median(one), statistics.median(two)
        cost = 2 * t2 - t1
        print("| %s | %.1f [%.1f-%.1f] | %.1f [%.1f-%.1f] | %+.0f | %.2fx |" % (
            d, t1, min(one), max(one), t2, min(two), max(two), cost, 2 * VELO_NS / (VELO_NS + cost)))
