#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns queue_bench's JSON output into the Markdown tables of bench/RESULTS.md ("queue_bench").

Usage: queue_results_table.py RESULTS.json

Reads the median aggregates (--benchmark_repetitions=N, N > 1; a run without repetitions is read
as is) and prints, per case, ns per operation (1e9 / items_per_second; PushPop: per push+pop
pair, bulk cases: per value) and million items per second for every peer x threads, then the
queue/stack issue's targets against the measured figures, and the runs whose repetitions varied
by more than 10% (coefficient of variation of real time).
"""
import argparse
import re

import gbench_json

NAME = re.compile(r"^BM_(\w+)/(\w+)(?:/(\d+))?/real_time/threads:(\d+)$")
MPMC_QUEUES = ["boost_queue", "moodycamel", "tbb_bounded", "xenium_vyukov", "ck_ring", "rte_ring"]
ORDER = ["kernel_queue", "kernel_stack", "xmaps_queue", "xmaps_stack", "boost_queue", "boost_stack",
         "boost_spsc", "moodycamel", "tbb_bounded", "xenium_vyukov", "ck_ring", "rte_ring",
         "rte_stack"]
CASES = [("PushPop", "per push+pop pair"), ("PushPopBulk", "per value, push_bulk(n) + pop_bulk(n)"),
         ("OneProducerOneConsumer", "per value handed over, 1 producer + 1 consumer"),
         ("OneProducerOneConsumerBulk32", "per value, 32 per bulk call, 1 producer + 1 consumer"),
         ("OverwritePush", "per push(BPF_EXIST) into a full ring")]


def key_of(run):
    m = NAME.match(run)
    if not m:
        return None
    case, peer, arg, threads = m.groups()
    return (case, peer, int(arg) if arg else 0, int(threads))


def load(path):
    return gbench_json.load(path, key_of)


def ns(b):
    return 1e9 / b["items_per_second"]


def main(path):
    data, rows, cv, errors = load(path)
    ctx = data.get("context", {})
    print(f"<!-- from {path}: {ctx.get('date', '?')}, {ctx.get('num_cpus', '?')} CPUs -->\n")
    for case, what in CASES:
        keys = sorted({(k[2], k[3]) for k in rows if k[0] == case})
        if not keys:
            continue
        print(f"### {case}: median ns {what} (M items/s)\n")
        cols = [f"n={a} " if a else "" for a, _ in keys]
        print("| peer | " + " | ".join(f"{c}threads {t}" for c, (_, t) in zip(cols, keys)) + " |")
        print("|---|" + "---:|" * len(keys))
        for peer in ORDER:
            cells = []
            for a, t in keys:
                k = (case, peer, a, t)
                if k in errors:
                    cells.append("error")
                elif k in rows:
                    b = rows[k]
                    cells.append(f"{ns(b):.2f} ({b['items_per_second'] / 1e6:.1f})")
                else:
                    cells.append("–")
            if any(c != "–" for c in cells):
                print(f"| {peer} | " + " | ".join(cells) + " |")
        print()

    def get(case, peer, arg=0, threads=1):
        b = rows.get((case, peer, arg, threads))
        return ns(b) if b else None

    print("### The issue's targets\n")
    print("| target | measured | met? |\n|---|---|---|")
    xq, kq = get("PushPop", "xmaps_queue"), get("PushPop", "kernel_queue")
    best = min(((get("PushPop", p), p) for p in MPMC_QUEUES if get("PushPop", p)), default=None)
    if xq and kq:
        print(f"| push+pop pair >= 3x faster than the kernel | xmaps {xq:.2f} ns, kernel {kq:.1f} ns: "
              f"{kq / xq:.1f}x | {'yes' if kq / xq >= 3 else 'no'} |")
    if xq and best:
        print(f"| pair at least as fast as the best MPMC peer | xmaps {xq:.2f} ns, {best[1]} {best[0]:.2f} ns "
              f"| {'yes' if xq <= best[0] else 'no'} |")
    x11 = rows.get(("OneProducerOneConsumer", "xmaps_queue", 0, 2))
    b11 = max(((rows[k]["items_per_second"], k[1]) for k in rows
               if k[0] == "OneProducerOneConsumer" and k[1] in MPMC_QUEUES), default=None)
    if x11 and b11:
        print(f"| 1P1C throughput >= the best MPMC peer | xmaps {x11['items_per_second'] / 1e6:.1f} M/s, "
              f"{b11[1]} {b11[0] / 1e6:.1f} M/s | {'yes' if x11['items_per_second'] >= b11[0] else 'no'} |")
    for n in (8, 32):
        xb, rb = get("PushPopBulk", "xmaps_queue", n), get("PushPopBulk", "rte_ring", n)
        if xb and rb:
            print(f"| bulk {n} within 1.2x of rte_ring bulk (one thread) | xmaps {xb:.2f} ns/value, rte_ring "
                  f"{rb:.2f}: {xb / rb:.2f}x | {'yes' if xb / rb <= 1.2 else 'no'} |")
    xb, rb = get("OneProducerOneConsumerBulk32", "xmaps_queue", 32, 2), \
        get("OneProducerOneConsumerBulk32", "rte_ring", 32, 2)
    if xb and rb:
        print(f"| bulk 32 within 1.2x of rte_ring bulk (1P1C) | xmaps {xb:.2f} ns/value, rte_ring {rb:.2f}: "
              f"{xb / rb:.2f}x | {'yes' if xb / rb <= 1.2 else 'no'} |")
    xo, ko = get("OverwritePush", "xmaps_queue"), get("OverwritePush", "kernel_queue")
    if xo and xq:
        print(f"| overwrite push no slower than a plain push | overwrite {xo:.2f} ns; a plain push is about "
              f"half a pair, {xq / 2:.2f} ns (kernel overwrite {ko:.1f} ns) | "
              f"{'yes' if xo <= xq / 2 else 'no'} |")
    print()
    noisy = sorted(((v, n) for n, v in cv.items() if v > 0.10), reverse=True)
    if cv:
        print(f"Coefficient of variation > 10% in {len(noisy)} of {len(cv)} runs" +
              (": " + "; ".join(f"{n} {100 * v:.0f}%" for v, n in noisy[:8]) if noisy else "") + ".\n")
    if errors:
        print("Errors: " + "; ".join(f"{k}: {m}" for k, m in sorted(errors.items())) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    main(parser.parse_args().results)
