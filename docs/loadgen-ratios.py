#!/usr/bin/env python3
"""Prints, from a loadgen -json file, a Markdown table of velo's throughput
and its ratio to each other target, per read mix (rows) and GOMAXPROCS
(columns). Used for docs/benchmarks.md:

    python3 docs/loadgen-ratios.py docs/results/device-16core/loadgen-16.json [target ...]

With no targets it compares velo with every other target in the file.
Options, before the file:

    --velo NAME   the target to compare (default velo), e.g. a probe build's
    --best        one row per mix: the target's median and its ratio to the
                  best of the other targets named (or of every target not
                  named velo*) in that cell"""
import json
import sys


def main():
    args = sys.argv[1:]
    velo, best = "velo", False
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--velo":
            velo = args.pop(0)
        elif opt == "--best":
            best = True
        else:
            sys.exit(f"unknown option {opt}")
    d = json.load(open(args[0]))
    cells = {(c["read_percent"], c["procs"], c["target"]): c["mops_per_sec"] for c in d["cells"]}
    mixes = sorted({m for m, _, _ in cells}, reverse=True)
    procs = sorted({p for _, p, _ in cells})
    others = args[1:] or sorted({t for _, _, t in cells if not t.startswith("velo")})
    if best:
        print("| read % | " + " | ".join(f"{p} P" for p in procs) + " |")
        print("|---:|" + "---|" * len(procs))
        for m in mixes:
            row = []
            for p in procs:
                v = cells[(m, p, velo)]
                b, t = max((cells[(m, p, t)], t) for t in others if (m, p, t) in cells)
                row.append(f"{v:.1f}: {v / b:.2f}x {t}")
            print(f"| {m} | " + " | ".join(row) + " |")
        return
    print("| read % | | " + " | ".join(f"{p} P" for p in procs) + " |")
    print("|---:|---|" + "---:|" * len(procs))
    for m in mixes:
        row = [f"{cells[(m, p, velo)]:.1f}" for p in procs]
        print(f"| {m} | {velo} Mops/s | " + " | ".join(row) + " |")
        for t in others:
            row = [f"{cells[(m, p, velo)] / cells[(m, p, t)]:.2f}x" for p in procs]
            print(f"| | {velo}/{t} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
