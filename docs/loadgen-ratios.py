#!/usr/bin/env python3
"""Prints, from a loadgen -json file, a Markdown table of velo's throughput
and its ratio to each other target, per read mix (rows) and GOMAXPROCS
(columns). Used for docs/benchmarks.md:

    python3 docs/loadgen-ratios.py docs/results/device-16core/loadgen-16.json [target ...]

With no targets it compares velo with every other target in the file."""
import json
import sys


def main():
    d = json.load(open(sys.argv[1]))
    cells = {(c["read_percent"], c["procs"], c["target"]): c["mops_per_sec"] for c in d["cells"]}
    mixes = sorted({m for m, _, _ in cells}, reverse=True)
    procs = sorted({p for _, p, _ in cells})
    others = sys.argv[2:] or sorted({t for _, _, t in cells} - {"velo"})
    print("| read % | | " + " | ".join(f"{p} P" for p in procs) + " |")
    print("|---:|---|" + "---:|" * len(procs))
    for m in mixes:
        row = [f"{cells[(m, p, 'velo')]:.1f}" for p in procs]
        print(f"| {m} | velo Mops/s | " + " | ".join(row) + " |")
        for t in others:
            row = [f"{cells[(m, p, 'velo')] / cells[(m, p, t)]:.2f}x" for p in procs]
            print(f"| | velo/{t} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
