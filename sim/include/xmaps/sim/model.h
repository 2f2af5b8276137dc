// SPDX-License-Identifier: MIT
//
// Model mode: a Scenario run on a modelled machine (any hwloc topology: a stock one, an XML
// export, a synthetic description) in virtual time. A discrete-event simulation drives the
// real structures single-threaded: the real generator and RSS, the real first and second
// programs, a real xmaps::CpuMap in manual mode (rings, bulk queues and ring-full drops as in
// live mode, no worker threads: the simulation runs each entry's worker step when its CPU is
// free), the real FlowAccounting LRU (so contents, hit ratios and evictions are real). What is
// modelled is time: each step costs what the CostModel (xmaps/sim/cost_model.h) says, on the
// simulated CPU that does it; a CPU does one thing at a time.
//
//   xmaps::sim::ModelOptions opt;
//   opt.machine = "server-2s64c-numa";     // topology/machines/<name>.xml, a path, or
//                                          // "synthetic:<hwloc synthetic description>"
//   opt.costs = xmaps::sim::load_cost_model("calib.json");
//   xmaps::sim::RunResult r = xmaps::sim::run_model(scenario, opt);
//
// The result has the live pipeline's shape (xmaps/sim/pipeline.h), so the summary, JSON, CSV
// and plots are the same; wall_seconds is virtual time, and busy fractions are simulated.
// possible_cpus() must be the modelled machine's CPU count: call prepare_model_process()
// first in the process (before any map exists).
#pragma once

#include <cstdint>
#include <string>

#include "xmaps/sim/cost_model.h"
#include "xmaps/sim/pipeline.h"
#include "xmaps/sim/scenario.h"
#include "xmaps/topology.h"

namespace xmaps::sim {

struct ModelOptions {
  std::string machine = "this";  // "this", a stock name, an XML path, or "synthetic:..."
  CostModel costs = default_cost_model();
  // Frames to simulate; 0: the scenario's packets, else 1,000,000.
  std::uint64_t frames = 0;
  // Offered load when the scenario has no rate: 0 = lossless input (the NIC keeps every RX ring
  // supplied, as live mode's source waits for room), else this many pps from the NIC.
  double nic_rate_pps = 0;
};

// The modelled machine (throws std::invalid_argument for an unknown name or a bad file).
[[nodiscard]] xmaps::topology::Topology model_topology(const std::string& machine);

// Sets possible_cpus() to the machine's CPU count (xmaps::set_possible_cpus). Must run before
// any map is created in this process; throws std::logic_error otherwise.
void prepare_model_process(const xmaps::topology::Topology& machine);

// Runs the scenario on the modelled machine. CPU lists and placement refer to its CPUs.
// Throws std::invalid_argument as run_pipeline does for a scenario it cannot run there.
[[nodiscard]] RunResult run_model(const Scenario& scenario, const ModelOptions& options);

}  // namespace xmaps::sim
