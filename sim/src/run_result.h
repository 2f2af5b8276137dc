// SPDX-License-Identifier: MIT
//
// What live mode (pipeline.cc) and model mode (model.cc) both do to finish a RunResult
// (internal to sim/): the flow accounting figures, and the conservation check that ends
// every run (every generated frame is delivered, dropped for a counted reason, or (never,
// after the drain) still in flight, every frame is back in the pool, and independent
// counters along the path agree).
#pragma once

#include <cstdint>

#include "xmaps/sim/pipeline.h"
#include "xmaps/sim/programs.h"

namespace xmaps::sim::detail {

// res.have_flow_stats and the flow_* figures from the second program's totals.
void fill_flow_stats(RunResult& res, const FlowAccounting& acct);

// Counters from both ends of each hop, which must agree.
struct CrossChecks {
  std::uint64_t rx_received = 0;     // frames the RX rings took
  std::uint64_t ingress_took = 0;    // frames the ingress CPUs polled from them
  std::uint64_t redirected = 0;      // frames the first programs redirected
  std::uint64_t cpumap_saw = 0;      // enqueued + enqueue drops, over every entry
  std::uint64_t workers_passed = 0;  // XDP_PASS from the second programs
  std::uint64_t sink_took = 0;       // frames the sink counted delivered
};

// From res.generated, delivered, drops, pool_frames and pool_in_use and the cross-checks:
// sets res.in_flight, res.conserved and res.conservation (the equation with its numbers,
// and what is wrong if anything).
void check_conservation(RunResult& res, const CrossChecks& c);

}  // namespace xmaps::sim::detail
