#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Charts of an xmaps-sim sweep (model mode, docs/model.md).

    xmaps-sim sweep --machine server-2s64c-numa --workers 1,2,4,8,16 \\
        --placement compact,numa,spread --out-dir sweep/
    sim/tools/plot_sweep.py scaling sweep/ -o scaling.png [--mix uniform --queues 16 ...]
    sim/tools/plot_sweep.py heatmap sweep/point-0004.json -o heat.png

scaling: delivered Mpps against worker CPUs, one line per placement policy (and per value of
any other swept dimension that is not fixed with a filter), each with its ideal: the line's
smallest-worker point scaled linearly (dashed). Reads every point-*.csv in the directories
given (or CSV files: xmaps-sim sweep's per-point rows, sim/sweep.h's sweep_csv_header()).

heatmap: the per-CPU load of one point, from its JSON: the whole machine as a grid of CPUs
coloured by busy fraction over the run (CPUs without a thread are 0), and the loaded CPUs
over the run's intervals.

Needs python3-matplotlib (Debian package).
"""
import argparse
import csv
import glob
import json
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

DIMENSIONS = ("queues", "ingress", "mix", "qsize")


def read_rows(paths):
    rows = []
    for p in paths:
        files = sorted(glob.glob(os.path.join(p, "point-*.csv"))) if os.path.isdir(p) else [p]
        for name in files:
            with open(name, newline="") as f:
                rows.extend(csv.DictReader(f))
    if not rows:
        sys.exit("plot_sweep.py: no sweep rows in %s" % ", ".join(paths))
    seen = {}
    for r in rows:  # one row per point (a merged CSV and the point files may overlap)
        seen[int(r["point"])] = r
    return [seen[k] for k in sorted(seen)]


def scaling(args):
    rows = read_rows(args.inputs)
    for d in DIMENSIONS:
        want = getattr(args, d)
        if want is not None:
            rows = [r for r in rows if r[d] == want]
    if not rows:
        sys.exit("plot_sweep.py: no point matches the filters")
    varying = [d for d in DIMENSIONS if len({r[d] for r in rows}) > 1]
    lines = {}
    for r in rows:
        key = (r["placement"],) + tuple(r[d] for d in varying)
        lines.setdefault(key, []).append((int(r["workers"]), float(r["delivered_mpps"])))
    fig, ax = plt.subplots(figsize=(8, 5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    top_x = 1
    for i, (key, pts) in enumerate(sorted(lines.items())):
        pts.sort()
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        top_x = max(top_x, xs[-1])
        label = key[0] + "".join(" %s=%s" % (d, v) for d, v in zip(varying, key[1:]))
        color = colors[i % len(colors)]
        ax.plot(xs, ys, "o-", color=color, label=label)
        x0, y0 = xs[0], ys[0]
        ax.plot(xs, [y0 * x / x0 for x in xs], "--", color=color, linewidth=0.9, alpha=0.7,
                label="ideal (%s, linear from %d CPU%s)" % (key[0], x0, "" if x0 == 1 else "s"))
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted({p[0] for pts in lines.values() for p in pts}))
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("worker CPUs")
    ax.set_ylabel("delivered Mpps (modelled)")
    fixed = ["%s=%s" % (d, rows[0][d]) for d in DIMENSIONS if d not in varying]
    ax.set_title(args.title or ("model mode scaling: " + ", ".join(fixed)))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print("wrote %s" % args.output)


def machine_cpus(j):
    m = re.search(r"(\d+) PUs", j.get("machine", ""))
    top = max([c["cpu"] for c in j["cpus"] if isinstance(c["cpu"], int)] + [0]) + 1
    return max(int(m.group(1)) if m else 0, top)


def heatmap(args):
    with open(args.input) as f:
        j = json.load(f)
    n = machine_cpus(j)
    width = args.columns
    rows = (n + width - 1) // width
    grid = [[0.0] * width for _ in range(rows)]
    roles = {}
    for c in j["cpus"]:
        if isinstance(c["cpu"], int) and c["cpu"] >= 0:
            grid[c["cpu"] // width][c["cpu"] % width] = c["busy"]
            roles[c["cpu"]] = c.get("threads", "")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [1, 1.3]})
    im = a1.imshow(grid, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for cpu, role in roles.items():
        a1.text(cpu % width, cpu // width, role[:1].upper() if role else "",
                ha="center", va="center", color="white", fontsize=7)
    a1.set_xticks(range(width))
    a1.set_yticks(range(rows))
    a1.set_yticklabels(["%d" % (r * width) for r in range(rows)])
    a1.set_xlabel("CPU (row start + column)")
    a1.set_title("busy over the run, every CPU (I ingress, W worker, S source)", fontsize=9)
    fig.colorbar(im, ax=a1, fraction=0.046)

    loaded = [c for c in j["cpus"] if isinstance(c["cpu"], int) and c["cpu"] >= 0]
    index = {id(c): i for i, c in enumerate(j["cpus"])}
    series = j["intervals"]
    if series and loaded:
        mat = [[iv["cpu_busy"][index[id(c)]] if index[id(c)] < len(iv["cpu_busy"]) else 0
                for iv in series] for c in loaded]
        t_end = series[-1].get("t", series[-1].get("t_s", 0))
        im2 = a2.imshow(mat, cmap="viridis", vmin=0, vmax=1, aspect="auto",
                        extent=[0, t_end * 1e3, len(loaded) - 0.5, -0.5])
        a2.set_yticks(range(len(loaded)))
        a2.set_yticklabels(["CPU %d %s" % (c["cpu"], c.get("threads", "")) for c in loaded],
                           fontsize=7)
        a2.set_xlabel("virtual time (ms)")
        a2.set_title("loaded CPUs over the run", fontsize=9)
        fig.colorbar(im2, ax=a2, fraction=0.046)
    else:
        a2.set_axis_off()
    point = j.get("sweep_point")
    label = (" ".join("%s=%s" % (k, v) for k, v in point.items() if k != "index")
             if point else os.path.basename(args.input))
    fig.suptitle(args.title or ("per-CPU load: " + label), fontsize=10)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print("wrote %s" % args.output)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("scaling", help="delivered Mpps vs worker CPUs, per placement")
    s.add_argument("inputs", nargs="+", help="sweep --out-dir directories or CSV files")
    s.add_argument("-o", "--output", default="scaling.png")
    s.add_argument("--title")
    for d in DIMENSIONS:
        s.add_argument("--" + d, help="only points with this %s" % d)
    h = sub.add_parser("heatmap", help="per-CPU load of one point (its JSON)")
    h.add_argument("input", help="a point-NNNN.json")
    h.add_argument("-o", "--output", default="heatmap.png")
    h.add_argument("--columns", type=int, default=16, help="CPUs per grid row")
    h.add_argument("--title")
    args = ap.parse_args()
    if args.command == "scaling":
        scaling(args)
    else:
        heatmap(args)


if __name__ == "__main__":
    main()
