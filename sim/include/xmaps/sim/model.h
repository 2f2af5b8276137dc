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
//
// How the run maps onto the live pipeline's knobs and results:
//   - The run ends after ModelOptions::frames generated frames and the drain (duration_s is
//     not used: there is no wall clock); wall_seconds is the virtual time from the first frame
//     to the end of the drain, and every pps is per virtual second.
//   - source_cpu as live mode resolves it (kAutoCpu: a CPU with no other role, else the first
//     ingress CPU): the source's cost (CostModel::source_ns_*) is charged to that CPU, which it
//     shares with any other role there. kNoCpu: a hardware NIC that costs no CPU time.
//   - busy (ingress, worker, CPU loads, the intervals' cpu_busy) is simulated busy time /
//     virtual time: time spent in steps, not idle polling (an idle simulated CPU sleeps until
//     work arrives). Every simulated CPU counts as pinned; worker sleeps are 0.
//   - Everything else (drops by reason and place, per-queue figures, sampled ring occupancy,
//     latency in virtual ns, intervals every interval_ms of virtual time, LRU statistics,
//     conservation and its cross-checks) means what it means in live mode.
//   - Deterministic: the same scenario, seed, machine and costs give the same result.
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

// Sets possible_cpus() to the machine's CPU count (its highest OS CPU index + 1;
// xmaps::set_possible_cpus). Must run before any map is created in this process. If the
// count is already fixed (detected at first use, or set before) at least that high, it is
// accepted as it is: per-CPU structures then have room for every modelled CPU, so one process
// can model several machines after preparing for the largest. Throws std::logic_error if it
// is fixed lower. run_model() calls it too.
void prepare_model_process(const xmaps::topology::Topology& machine);

// The scenario as run_model runs it on `machine`: model_cpus ignored, CPU lists and placement
// resolved against the modelled machine's CPUs (xmaps::sim::resolve(scenario, machine)), every
// CPU checked to exist there. Throws std::invalid_argument naming the knob and the CPU.
[[nodiscard]] Scenario resolve_model(const Scenario& scenario,
                                     const xmaps::topology::Topology& machine);

// Runs the scenario on the modelled machine. CPU lists and placement refer to its CPUs.
// Throws std::invalid_argument as run_pipeline does for a scenario it cannot run there.
[[nodiscard]] RunResult run_model(const Scenario& scenario, const ModelOptions& options);

}  // namespace xmaps::sim
