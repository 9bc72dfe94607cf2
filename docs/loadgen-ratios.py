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
                  named velo*) in that cell
    --paired      one row per cell: the ratio of the target's runs to the
                  one other target named, run by run (the runs of a cell
                  were made in turn, so each pair saw the machine in about
                  the same state): their median and range, and how many
                  of the runs the target won. For A/B probes in one
                  binary on a noisy machine.
    --across      several files, each a run of the same cells: per cell,
                  the target's ratio to the best of the others named (as
                  --best) in each file, then the median of those ratios,
                  their range, and in how many files the ratio reached
                  1.2x. Each ratio is taken within one run, so runs made
                  in different states of a noisy machine are comparable:

    python3 docs/loadgen-ratios.py --across run1.json run2.json -- otter fastcache"""
import json
import statistics
import sys


def by_cell(d, field="mops_per_sec"):
    """field of each cell of a loadgen -json file, by (read %, procs, target)."""
    return {(c["read_percent"], c["procs"], c["target"]): c[field] for c in d["cells"]}


def paired(d, velo, other):
    runs = by_cell(d, "runs_mops_per_sec")
    print(f"| read % | GOMAXPROCS | {velo}/{other}, median of runs [range] | runs won |")
    print("|---:|---:|---|---|")
    for m, p, t in sorted(runs, key=lambda k: (k[1], -k[0])):
        if t != velo or (m, p, other) not in runs:
            continue
        r = [a / b for a, b in zip(runs[(m, p, velo)], runs[(m, p, other)])]
        print(f"| {m} | {p} | {statistics.median(r):.3f}x [{min(r):.2f}-{max(r):.2f}] | {sum(x > 1 for x in r)}/{len(r)} |")


def best_ratio(cells, velo, others, m, p):
    """velo's ratio to the best of others in cell (m, p), and that target."""
    b, t = max((cells[(m, p, t)], t) for t in others if (m, p, t) in cells)
    return cells[(m, p, velo)] / b, t


def across(files, velo, named):
    runs = [by_cell(json.load(open(f))) for f in files]
    mixes = sorted({m for m, _, _ in runs[0]}, reverse=True)
    procs = sorted({p for _, p, _ in runs[0]})
    print(f"{len(files)} runs; per cell: the median of the runs' ratios of {velo} to the best other target [range], runs at 1.2x or more")
    print()
    print("| read % | " + " | ".join(f"{p} P" for p in procs) + " |")
    print("|---:|" + "---|" * len(procs))
    for m in mixes:
        row = []
        for p in procs:
            r = []
            for cells in runs:
                others = named or sorted({t for _, _, t in cells if not t.startswith("velo")})
                r.append(best_ratio(cells, velo, others, m, p)[0])
            row.append(f"{statistics.median(r):.2f}x [{min(r):.2f}-{max(r):.2f}], {sum(x >= 1.2 for x in r)} of {len(r)}")
        print(f"| {m} | " + " | ".join(row) + " |")


def main():
    args = sys.argv[1:]
    velo, best, pair, spread = "velo", False, False, False
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--velo":
            velo = args.pop(0)
        elif opt == "--best":
            best = True
        elif opt == "--paired":
            pair = True
        elif opt == "--across":
            spread = True
        else:
            sys.exit(f"unknown option {opt}")
    if spread:
        files, named = args, []
        if "--" in args:
            i = args.index("--")
            files, named = args[:i], args[i + 1:]
        across(files, velo, named)
        return
    d = json.load(open(args[0]))
    if pair:
        if len(args) != 2:
            sys.exit("--paired needs one other target")
        paired(d, velo, args[1])
        return
    cells = by_cell(d)
    mixes = sorted({m for m, _, _ in cells}, reverse=True)
    procs = sorted({p for _, p, _ in cells})
    others = args[1:] or sorted({t for _, _, t in cells if not t.startswith("velo")})
    if best:
        print("| read % | " + " | ".join(f"{p} P" for p in procs) + " |")
        print("|---:|" + "---|" * len(procs))
        for m in mixes:
            row = []
            for p in procs:
                r, t = best_ratio(cells, velo, others, m, p)
                row.append(f"{cells[(m, p, velo)]:.1f}: {r:.2f}x {t}")
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
