#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns lru_bench's JSON output into the Markdown tables of bench/RESULTS.md ("LRU maps").

Usage: lru_results_table.py RESULTS.json

Reads the median aggregates (--benchmark_repetitions=N with N > 1; a run without repetitions is
read as is) and prints, per case, median ns per operation (1e9 / items_per_second: with 2
threads the aggregate rate, i.e. wall time per operation) for every peer x threads x size, with
the hit ratio for ZipfMixed and evictions per update for EvictingUpdate where the peer counts
them; then the issue's EvictingUpdate targets, xmaps against the kernel peer of the same run, the runs whose
repetitions varied by more than 10% (coefficient of variation of real time), and errors.
"""
import argparse
import re

import gbench_json

PEERS = ["kernel_lru_common", "kernel_lru_nocommon", "xmaps_lru_common", "xmaps_lru_nocommon",
         "mutex_lru_alloc", "mutex_lru_reuse", "tbb_lru_cache"]
# The kernel peer measured in the same run for each xmaps flavour.
MEASURED_KERNEL = {"xmaps_lru_common": "kernel_lru_common",
                   "xmaps_lru_nocommon": "kernel_lru_nocommon"}
CASES = ["EvictingUpdate", "LookupHit", "ZipfMixed"]
SIZES = ["1K", "64K", "1M"]
# The figures for this machine class, ns per evicting update (another machine of the
# class; printed for context only, the targets are checked against the kernel measured here).
KERNEL = {
    "xmaps_lru_common": {"1K": (143, 212), "64K": (352, 416), "1M": (593, 628)},
    "xmaps_lru_nocommon": {"1K": (120, 201), "64K": (195, 224), "1M": (518, 559)},
}
NAME = re.compile(r"^BM_(\w+)/(\w+)/(\w+)/(\w+)/real_time/threads:(\d+)$")


def key_of(run):
    m = NAME.match(run)
    if not m:
        return None
    case, peer, _key, size, threads = m.groups()
    return (case, peer, size, int(threads))


def load(path):
    return gbench_json.load(path, key_of)


def ns(b):
    return 1e9 / b["items_per_second"]


def main(path):
    data, rows, cv, errors = load(path)
    ctx = data.get("context", {})
    print(f"<!-- from {path}: {ctx.get('date', '?')}, {ctx.get('num_cpus', '?')} CPUs, "
          f"library_build_type={ctx.get('library_build_type', '?')} -->\n")
    for case in CASES:
        extra = {"EvictingUpdate": " (evictions per update)", "ZipfMixed": " (hit ratio)"}
        print(f"#### {case}: median ns per operation{extra.get(case, '')}\n")
        print("| peer | threads | " + " | ".join(SIZES) + " |")
        print("|---|---:|" + "---:|" * len(SIZES))
        for peer in PEERS:
            for threads in [1, 2]:
                cells = []
                for size in SIZES:
                    k = (case, peer, size, threads)
                    if k in errors:
                        cells.append("error")
                        continue
                    b = rows.get(k)
                    if b is None:
                        cells.append("–")
                        continue
                    text = f"{ns(b):.1f}"
                    if case == "ZipfMixed" and "hit_ratio" in b:
                        text += f" ({b['hit_ratio']:.3f})"
                    if case == "EvictingUpdate" and "evictions_per_update" in b:
                        text += f" ({b['evictions_per_update']:.3f})"
                    cells.append(text)
                if all(c == "–" for c in cells):
                    continue
                print(f"| {peer} | {threads} | " + " | ".join(cells) + " |")
        print()

    print("#### EvictingUpdate against the issue's targets\n")
    print("Kernel = the kernel_lru_* peer of this run (the running kernel's LRU_HASH, updated from "
          "a BPF program over the same keys). Speed-up = kernel ns / xmaps ns, 1 thread. The "
          "issue's figures (another machine of the class) are shown for context.\n")
    print("| xmaps | size | kernel ns here (issue's) | xmaps 1 thread | speed-up (>= 3x?) "
          "| xmaps 2 threads | 2 threads faster? | mutex A / B, 2 threads "
          "| xmaps faster by (>= 5x?) |")
    print("|---|---|---|---:|---|---:|---|---|---|")
    for peer, sizes in KERNEL.items():
        for size in SIZES:
            lo, hi = sizes[size]
            one = rows.get(("EvictingUpdate", peer, size, 1))
            two = rows.get(("EvictingUpdate", peer, size, 2))
            kern = rows.get(("EvictingUpdate", MEASURED_KERNEL[peer], size, 1))
            if one is None or two is None:
                continue
            x1, x2 = ns(one), ns(two)
            if kern is not None:
                k1 = ns(kern)
                speed = k1 / x1
                ktext = f"{k1:.0f} ({lo}–{hi})"
                stext = f"{speed:.1f}x ({'yes' if speed >= 3 else 'no'})"
            else:
                ktext = f"not measured ({lo}–{hi})"
                stext = f"{lo / x1:.1f}x–{hi / x1:.1f}x against the issue's figures"
            mutex = [rows.get(("EvictingUpdate", m, size, 2))
                     for m in ("mutex_lru_alloc", "mutex_lru_reuse")]
            if all(mutex):
                ma, mb = ns(mutex[0]), ns(mutex[1])
                ra, rb = ma / x2, mb / x2
                mtext = f"{ma:.0f} / {mb:.0f}"
                rtext = f"{ra:.1f}x / {rb:.1f}x ({'yes' if min(ra, rb) >= 5 else 'no'})"
            else:
                mtext, rtext = "–", "–"
            print(f"| {peer} | {size} | {ktext} | {x1:.1f} | {stext} "
                  f"| {x2:.1f} | {'yes' if x2 < x1 else 'no'} | {mtext} | {rtext} |")
    print()

    noisy = sorted(((v, n) for n, v in cv.items() if v > 0.10), reverse=True)
    if cv:
        print(f"#### Coefficient of variation > 10% over the repetitions "
              f"({len(noisy)} of {len(cv)})\n")
        for v, n in noisy:
            print(f"- {n}: {100 * v:.0f}%")
        print()
    if errors:
        print("#### Benchmarks that reported an error\n")
        for k, msg in sorted(errors.items()):
            print(f"- BM_{k[0]}/{k[1]}/u32/{k[2]}/threads:{k[3]}: {msg}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    main(parser.parse_args().results)
