// SPDX-License-Identifier: MIT
//
// The scenario's traffic source, as live mode (pipeline.cc) and model mode (model.cc) both
// build it (internal to sim/): a pcap replay when the scenario names a capture, else the
// traffic generator, and the line that describes it in the results.
#pragma once

#include <memory>
#include <string>

#include "xmaps/sim/generator.h"
#include "xmaps/sim/pcap_io.h"
#include "xmaps/sim/scenario.h"

namespace xmaps::sim::detail {

struct ScenarioSource {
  std::unique_ptr<FrameSource> source;
  PcapReplay* replay = nullptr;  // source, when it replays a capture (for its counters)
  std::string description;       // RunResult::source
};

// Throws std::invalid_argument ("pcap-in: ...") when the capture cannot be read.
[[nodiscard]] ScenarioSource make_frame_source(const Scenario& s);

}  // namespace xmaps::sim::detail
