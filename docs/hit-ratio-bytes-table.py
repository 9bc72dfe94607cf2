#!/usr/bin/env python3
"""Prints hit-ratio.md's "Bounded by bytes alone" table and its means
from docs/results/hit-ratio-bytes.txt (docs/regenerate.sh hitbytes).

usage: python3 docs/hit-ratio-bytes-table.py docs/results/hit-ratio-bytes.txt
"""
import re
import sys

SHARES = ["1%", "5%", "10%", "25%"]


def parse(path):
    """Returns {trace: {"bytes": [rows], "entries": [rows]}}, each row the
    capacity and the hit ratios of the first table under its heading."""
    out, trace, kind, cols = {}, None, None, None
    for line in open(path):
        m = re.match(r"### (\S+), bounded by (bytes|entries)", line)
        if m:
            trace, kind, cols = m.group(1).removesuffix(".trace"), m.group(2), None
            out.setdefault(trace, {})[kind] = []
            continue
        fields = line.split()
        if not fields or trace is None:
            continue
        if fields[0] == "capacity":
            cols = fields[1:] if "optimal" in fields else None
            continue
        if cols and len(fields) == len(cols) + 1:
            out[trace][kind].append((fields[0], dict(zip(cols, map(float, fields[1:])))))
        elif cols:
            cols = None  # the table ended
    return out


def main():
    data = parse(sys.argv[1])
    print("| trace | share of keys | bytes | entries | velo, bytes | otter, bytes | theine, bytes | LRU | velo, MaxEntries | otter, entries |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    sums = {k: 0.0 for k in ("vb", "ob", "tb", "lru", "ve", "oe")}
    n = 0
    for trace, d in data.items():
        for share, (cap, b), (ents, e) in zip(SHARES, d["bytes"], d["entries"]):
            row = (b["velo"], b["otter"], b["theine"], b["lru"], e["velo"], e["otter"])
            print(f"| {trace} | {share} | {cap} | {ents} | " + " | ".join(f"{x:.2f}" for x in row) + " |")
            for k, x in zip(sums, row):
                sums[k] += x
            n += 1
    m = {k: v / n for k, v in sums.items()}
    print()
    print(f"Means over the {n} points: velo bounded by bytes {m['vb']:.2f}, otter {m['ob']:.2f}, "
          f"theine {m['tb']:.2f}, LRU {m['lru']:.2f}; velo bounded by MaxEntries {m['ve']:.2f}, "
          f"otter by entries {m['oe']:.2f}.")


if __name__ == "__main__":
    main()
