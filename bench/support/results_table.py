#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns hash_map_bench's JSON output into the Markdown tables of bench/RESULTS.md.

Usage: results_table.py RESULTS.json [--other OTHER.json [--other-without-xmaps]]

Reads the median aggregates (--benchmark_repetitions=N with N > 1) and prints, per key type and
thread count, median ns per item (1e9 / items_per_second: for 2 threads the aggregate rate, so
wall time per item) for every peer x case x size, then the ratio peer / xmaps for the cases both
have (> 1: xmaps is faster), the runs whose repetitions varied by more than 10% (coefficient
of variation of real time), and errors (skipped benchmarks) with their message. With --other
(another run), each cell also shows that run's value in parentheses; --other-without-xmaps
leaves xmaps' cells and the ratios out of that (for another run built from other xmaps code).
"""
import argparse
import json
import re
from collections import defaultdict

PEERS = ["Xmaps", "Kernel", "Dpdk", "Absl", "Cuckoo", "Tbb", "Urcu", "Cds", "StdMutex"]
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


def load(path):
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
    return data, ns, cv, errors


def main(path, other_path=None, other_without_xmaps=False):
    data, ns, cv, errors = load(path)
    other = load(other_path)[1] if other_path else {}
    if other_without_xmaps:
        other = {k: v for k, v in other.items() if k[0] != "Xmaps"}

    def cell(value, other_value, fmt):
        text = format(value, fmt)
        return f"{text} ({format(other_value, fmt)})" if other_value else text

    ctx = data.get("context", {})
    print(f"<!-- from {path}: {ctx.get('date', '?')}, {ctx.get('num_cpus', '?')} CPUs, "
          f"library_build_type={ctx.get('library_build_type', '?')}"
          + (f"; in parentheses: {other_path}" if other_path else "") + " -->\n")
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
                            cells.append(cell(ns[k], other.get(k), ".1f"))
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
                        po = other.get((peer, case, key, s, threads))
                        xo = other.get(("Xmaps", xcase, key, s, threads))
                        cells.append(cell(p / x, po / xo if po and xo else None, ".2f")
                                     if p and x else None)
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--other")
    parser.add_argument("--other-without-xmaps", action="store_true")
    args = parser.parse_args()
    main(args.results, args.other, args.other_without_xmaps)
