// SPDX-License-Identifier: MIT
//
// Results of a run (xmaps/sim/pipeline.h) for people and for tools:
//   format_summary   the aligned table xmaps-sim prints at the end
//   to_json          every metric, the scenario echoed (its knobs), the seed, the latency CDF
//                    and the per-interval series (what sim/tools/plot.py reads)
//   to_csv           the per-interval series: offered / delivered pps, drops, latency p50 /
//                    p99 / max, per-CPU busy fraction
//   format_progress  one progress line (xmaps-sim writes it to stderr on a terminal)
#pragma once

#include <string>

#include "xmaps/sim/pipeline.h"

namespace xmaps::sim {

[[nodiscard]] std::string format_summary(const RunResult& r);
[[nodiscard]] std::string to_json(const RunResult& r, int indent = 2);
[[nodiscard]] std::string to_csv(const RunResult& r);
[[nodiscard]] std::string format_progress(const Progress& p);

// Writes `text` to `path`; throws std::runtime_error naming the file if it cannot.
void write_file(const std::string& path, const std::string& text);

}  // namespace xmaps::sim
