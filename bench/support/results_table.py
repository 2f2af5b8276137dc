#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns hash_map_bench's JSON output into the Markdown tables of bench/RESULTS.md.

Usage: results_table.py RESULTS.json

Reads the median aggregates (--benchmark_repetitions=N with N > 1) and prints, per key type and
thread count, median ns per item (1e9 / items_per_second: for 2 threads the aggregate rate, so
wall time per item) for every peer x case x size, then the ratio peer / xmaps for the cases both
have (> 1: xmaps is faster), the runs whose repetitions varied by more than 10% (coefficient
of variation of real time), and errors (skipped benchmarks) with their message.
"""
import json
import re
import sys
from collections import defaultdict

PEERS = ["Xmaps", "Dpdk", "Absl", "Cuckoo", "Tbb", "Urcu", "Cds", "StdMutex"]
CASES = ["LookupHit", "LookupMiss", "LookupCopyHit", "LookupManyHit", "LookupBulkHit", "Update",
         "InsertErase"]
SIZES = [1024, 65536, 1048576]
SIZE_NAMES = {1024: "1K", 65536: "64K", 1048576: "1M"}
# Which xmaps case a peer's case is compared with.
XMAPS_PEER_OF = {"LookupHit": "LookupHit", "LookupMiss": "LookupMiss", "Update": "Update",
                 "InsertErase": "InsertErase", "LookupBulkHit": "LookupManyHit"}


def split_peer(name):
    for peer in PEERS:
        if name.startswith("BM_" + peer):
            return peer, name[len("BM_" + peer):]
    return None, None


def main(path):
    with open(path) as f:
        data = json.load(f)
    ns = {}        # (peer, case, key, size, threads) -> median ns/item
    cv = {}        # run name -> coefficient of variation of real time over the repetitions
    errors = {}
    for b in data["benchmarks"]:
        run = b.get("run_name", b["name"])
        peer, rest = split_peer(run)
        if peer is None:
            continue
        m = re.match(r"^([A-Za-z]+)<(\w+)>/(\d+)/real_time/threads:(\d+)$", rest)
        if not m:
            continue
        case, key, size, threads = m.group(1), m.group(2), int(m.group(3)), int(m.group(4))
        k = (peer, case, key, size, threads)
        if b.get("error_occurred"):
            errors[k] = b.get("error_message", "error")
            continue
        if b.get("aggregate_name") == "cv":
            cv[run] = b["real_time"]
        if b.get("aggregate_name") != "median":
            continue
        ns[k] = 1e9 / b["items_per_second"]

    ctx = data.get("context", {})
    print(f"<!-- from {path}: {ctx.get('date', '?')}, {ctx.get('num_cpus', '?')} CPUs, "
          f"library_build_type={ctx.get('library_build_type', '?')} -->\n")
    for key in ["u32", "key16"]:
        for threads in [1, 2]:
            print(f"#### Median ns per item, key {key}, {threads} thread{'s' if threads > 1 else ''}\n")
            print("| peer | case | " + " | ".join(SIZE_NAMES[s] for s in SIZES) + " |")
            print("|---|---|" + "---:|" * len(SIZES))
            for peer in PEERS:
                for case in CASES:
                    cells = []
                    for s in SIZES:
                        k = (peer, case, key, s, threads)
                        if k in ns:
                            cells.append(f"{ns[k]:.1f}")
                        elif k in errors:
                            cells.append("error")
                        else:
                            cells.append(None)
                    if all(c is None for c in cells):
                        continue
                    print(f"| {peer} | {case} | " + " | ".join(c or "–" for c in cells) + " |")
            print()
    for key in ["u32", "key16"]:
        for threads in [1, 2]:
            print(f"#### Ratio peer / xmaps (> 1: xmaps faster), key {key}, "
                  f"{threads} thread{'s' if threads > 1 else ''}\n")
            print("| peer | case (vs xmaps case) | " + " | ".join(SIZE_NAMES[s] for s in SIZES) + " |")
            print("|---|---|" + "---:|" * len(SIZES))
            for peer in PEERS[1:]:
                for case in CASES:
                    xcase = XMAPS_PEER_OF.get(case)
                    if xcase is None:
                        continue
                    cells = []
                    for s in SIZES:
                        p = ns.get((peer, case, key, s, threads))
                        x = ns.get(("Xmaps", xcase, key, s, threads))
                        cells.append(f"{p / x:.2f}" if p and x else None)
                    if all(c is None for c in cells):
                        continue
                    label = case if case == xcase else f"{case} (vs {xcase})"
                    print(f"| {peer} | {label} | " + " | ".join(c or "–" for c in cells) + " |")
            print()
    noisy = sorted(((v, n) for n, v in cv.items() if v > 0.10), reverse=True)
    print(f"#### Coefficient of variation > 10% over the repetitions ({len(noisy)} of {len(cv)})\n")
    for v, n in noisy:
        print(f"- {n}: {100 * v:.0f}%")
    print()
    if errors:
        print("#### Benchmarks that reported an error\n")
        for k, msg in sorted(errors.items()):
            print(f"- BM_{k[0]}{k[1]}<{k[2]}>/{k[3]}/threads:{k[4]}: {msg}")


if __name__ == "__main__":
    main(sys.argv[1])
