# SPDX-License-Identifier: MIT
"""Reading Google Benchmark JSON output, for the *_results_table.py scripts."""
import json


def load(path, key_of):
    """Returns (data, rows, cv, errors) for the file at `path`.

    key_of(run_name) gives a benchmark's key, or None to skip it. rows[key] is the median
    aggregate (--benchmark_repetitions=N, N > 1), or the single run when the file has no
    aggregates; cv[run_name] the coefficient of variation of real time; errors[key] the error
    message of a run that reported one.
    """
    with open(path) as f:
        data = json.load(f)
    rows, cv, errors = {}, {}, {}
    has_aggregates = any(b.get("run_type") == "aggregate" for b in data["benchmarks"])
    for b in data["benchmarks"]:
        run = b.get("run_name", b["name"])
        k = key_of(run)
        if k is None:
            continue
        if b.get("error_occurred"):
            errors[k] = b.get("error_message", "error")
            continue
        agg = b.get("aggregate_name")
        if agg == "cv":
            cv[run] = b["real_time"]
        if (has_aggregates and agg == "median") or (not has_aggregates and agg is None):
            rows[k] = b
    return data, rows, cv, errors
