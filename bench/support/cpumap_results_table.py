#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Prints bench/RESULTS.md's cpumap_bench tables from a Google Benchmark JSON file.

Usage: python3 bench/support/cpumap_results_table.py cpumap_bench.json
"""
import re
import sys

from gbench_json import load

NAME = re.compile(r"BM_(Kernel)?Redirect/(\w+)/(\w+)/qsize:(\d+)(?:/bulk:(\d+))?/real_time")


def key_of(run):
    m = NAME.match(run)
    if not m:
        return None
    kernel, ingress, remote, qsize, bulk = m.groups()
    return ("kernel" if kernel else "xmaps", ingress, remote, int(qsize), int(bulk or 8))


def main(path):
    data, rows, cv, errors = load(path, key_of)
    print(f"<!-- from {path}: {data['context']['date']}, {data['context']['num_cpus']} CPUs -->")
    print()
    print("| peer | ingress | remote | qsize | bulk | ingress ns/frame | delivered Mpps | enqueue drops |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for k in sorted(rows, key=lambda k: (k[0] != "kernel", k[1], k[2], k[3], k[4])):
        b = rows[k]
        print(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {k[4]} | {b['ingress_ns']:.1f} | "
              f"{b['delivered_Mpps']:.2f} | {b['enqueue_drop_pct']:.1f}% |")
    for k, msg in sorted(errors.items()):
        print(f"\nerror in {k}: {msg}")
    noisy = sorted(((v, r) for r, v in cv.items() if v > 0.10), reverse=True)
    if noisy:
        print()
        print(f"Coefficient of variation of real time > 10% in {len(noisy)} of {len(cv)} runs: " +
              "; ".join(f"{r} {v * 100:.0f}%" for v, r in noisy[:8]) + ".")


if __name__ == "__main__":
    main(sys.argv[1])
