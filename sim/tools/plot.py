#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Charts of an xmaps-sim run: throughput over time, per-CPU load, latency CDF.

    xmaps-sim --json run.json --csv run.csv
    sim/tools/plot.py run.json -o run.png             # one PNG, three panels
    sim/tools/plot.py run.json -o run.png --separate  # run-throughput.png, run-cpu.png,
                                                              # run-latency.png
    sim/tools/plot.py run.csv -o run.png              # from the CSV: no latency CDF

Needs python3-matplotlib (Debian package). The JSON is what `xmaps-sim --json` writes
(xmaps/sim/report.h): "intervals" (per-interval offered/delivered pps, drops, latency p50/p99,
per-CPU busy), "cpus" (CPU, threads, busy over the run), "latency_ns"."cdf" ([ns, fraction]).
"""
import argparse
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def load(path):
    """Returns (series, cpus, cdf, title) from a JSON or CSV file."""
    if path.endswith(".csv"):
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        busy_cols = [c for c in (rows[0].keys() if rows else []) if c.startswith("busy_")]
        series = [{
            "t": float(r["t_s"]),
            "offered_pps": float(r["offered_pps"]),
            "delivered_pps": float(r["delivered_pps"]),
            "dropped": int(r["dropped"]),
            "seconds": float(r["seconds"]),
            "latency_p50_ns": int(r["latency_p50_ns"]),
            "latency_p99_ns": int(r["latency_p99_ns"]),
            "cpu_busy": [float(r[c]) for c in busy_cols],
        } for r in rows]
        cpus = [{"cpu": c[len("busy_"):], "threads": "", "busy": None} for c in busy_cols]
        return series, cpus, None, os.path.basename(path)
    with open(path) as f:
        j = json.load(f)
    title = "%s, %s" % (j.get("source", ""), j.get("machine", ""))
    return j["intervals"], j["cpus"], j["latency_ns"].get("cdf"), title


def cpu_label(c):
    cpu = c["cpu"]
    if cpu in (-1, "source"):
        return "source (unpinned)"
    name = "CPU %s" % str(cpu).replace("cpu", "")
    return "%s (%s)" % (name, c["threads"]) if c.get("threads") else name


def plot_throughput(ax, series):
    t = [s["t"] for s in series]
    ax.plot(t, [s["offered_pps"] / 1e6 for s in series], label="offered", marker=".")
    ax.plot(t, [s["delivered_pps"] / 1e6 for s in series], label="delivered", marker=".")
    drops = [s["dropped"] / s["seconds"] / 1e6 if s["seconds"] > 0 else 0 for s in series]
    ax.plot(t, drops, label="dropped", linestyle="--")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("Mpps")
    ax.set_title("throughput per interval")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()


def plot_cpus(ax, series, cpus):
    labels = [cpu_label(c) for c in cpus]
    if cpus and all(c.get("busy") is not None for c in cpus):
        ax.barh(labels, [100 * c["busy"] for c in cpus], color="tab:green")
        ax.set_xlabel("busy: thread CPU time / wall time (%)")
        ax.set_title("per-CPU load over the run")
        ax.set_xlim(0, max(100, max(100 * c["busy"] for c in cpus) * 1.05))
        ax.invert_yaxis()
    else:
        t = [s["t"] for s in series]
        for i, label in enumerate(labels):
            ax.plot(t, [100 * s["cpu_busy"][i] for s in series], label=label)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("busy (%)")
        ax.set_title("per-CPU load per interval")
        ax.legend()
    ax.grid(alpha=0.3)


def plot_latency(ax, cdf, series):
    if cdf:
        xs = [p[0] / 1e3 for p in cdf]
        ys = [p[1] for p in cdf]
        ax.step(xs, ys, where="post")
        ax.set_xscale("log")
        ax.set_xlabel("latency, generation -> sink (us, log)")
        ax.set_ylabel("fraction of frames <= x")
        ax.set_title("latency CDF")
        for q in (0.5, 0.99, 0.999):
            ax.axhline(q, color="grey", linewidth=0.5, linestyle=":")
    else:
        t = [s["t"] for s in series]
        ax.plot(t, [s["latency_p50_ns"] / 1e3 for s in series], label="p50")
        ax.plot(t, [s["latency_p99_ns"] / 1e3 for s in series], label="p99")
        ax.set_yscale("log")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("latency (us, log)")
        ax.set_title("latency per interval")
        ax.legend()
    ax.grid(alpha=0.3, which="both")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", help="xmaps-sim --json or --csv output")
    ap.add_argument("-o", "--out", default="xmaps-sim.png", help="PNG to write")
    ap.add_argument("--separate", action="store_true", help="one PNG per chart")
    args = ap.parse_args()
    try:
        series, cpus, cdf, title = load(args.input)
    except (OSError, ValueError, KeyError) as e:
        sys.exit("plot.py: %s: cannot read the results: %s" % (args.input, e))
    if not series:
        sys.exit("plot.py: %s: no intervals to plot (run longer than one --interval)" % args.input)

    charts = [("throughput", lambda ax: plot_throughput(ax, series)),
              ("cpu", lambda ax: plot_cpus(ax, series, cpus)),
              ("latency", lambda ax: plot_latency(ax, cdf, series))]
    if args.separate:
        stem, ext = os.path.splitext(args.out)
        for name, draw in charts:
            fig, ax = plt.subplots(figsize=(7, 4))
            draw(ax)
            fig.tight_layout()
            fig.savefig("%s-%s%s" % (stem, name, ext or ".png"), dpi=110)
            plt.close(fig)
        return
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.6))
    for ax, (_, draw) in zip(axes, charts):
        draw(ax)
    fig.suptitle("xmaps-sim: " + title, fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)


if __name__ == "__main__":
    main()
