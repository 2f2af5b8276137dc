// SPDX-License-Identifier: MIT
//
// Sweeps of model mode (xmaps/sim/model.h): the cartesian product of RX queue counts, worker
// counts, ingress counts, placement policies, traffic mixes and CPUMAP qsizes over a base
// scenario, each point one run_model() on one modelled machine with one cost model.
//
//   xmaps::sim::SweepSpec spec;
//   spec.machine = "server-2s64c-numa";
//   spec.queues = {1, 2, 4};
//   spec.workers = {1, 2, 4, 8};
//   std::vector<xmaps::sim::SweepPoint> pts = spec.points();
//   for (std::size_t i : xmaps::sim::shard_points(pts.size(), {.index = k, .count = n}))
//     xmaps::sim::write_point_outputs(dir, pts[i], spec.run_point(i));
//
// Point order (fixed, so an index names the same point in every process): the lists nest as
//   mix, placement, qsize, ingress, queues, workers
// with workers varying fastest, then queues, ... (mix slowest); point i of a spec is always
// the same configuration, which is what lets a batch scheduler hand out indices.
//
// Points are independent: any subset may run in any process, in any order (each process
// calls prepare_model_process() for the machine once, before its first point).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "xmaps/sim/cost_model.h"
#include "xmaps/sim/pipeline.h"
#include "xmaps/sim/scenario.h"

namespace xmaps::sim {

struct SweepPoint {
  std::size_t index = 0;
  std::uint32_t queues = 0;   // RX queues (Scenario::rss.queues)
  std::uint32_t workers = 0;  // worker CPUs (Scenario::worker_count)
  std::uint32_t ingress = 0;  // ingress CPUs (Scenario::ingress_count)
  Placement placement = Placement::compact;
  std::string mix;  // a traffic mix name ("uniform", "single-dst", ...)
  std::uint32_t qsize = 0;
  Scenario scenario;  // the base scenario with the point's values set

  // "queues=2 workers=4 ingress=1 placement=numa mix=uniform qsize=2048".
  [[nodiscard]] std::string label() const;
};

struct SweepSpec {
  std::vector<std::uint32_t> queues{2};
  std::vector<std::uint32_t> workers{1};
  std::vector<std::uint32_t> ingress{1};
  std::vector<Placement> placements{Placement::compact};
  std::vector<std::string> mixes{"uniform"};
  std::vector<std::uint32_t> qsizes{2048};
  Scenario base;                 // everything else (its CPU lists must be empty)
  std::string machine = "this";  // as ModelOptions::machine
  CostModel costs = default_cost_model();
  std::uint64_t frames = 0;  // as ModelOptions::frames
  double nic_rate_pps = 0;   // as ModelOptions::nic_rate_pps

  // Throws std::invalid_argument for an empty list, a count of 0, an unknown mix, a base
  // scenario with explicit CPU lists, or a point validate() rejects.
  void check() const;
  // Every point, in the order above (check()s first).
  [[nodiscard]] std::vector<SweepPoint> points() const;
  [[nodiscard]] std::size_t size() const;
  // Runs point i (< size()) with run_model(); throws std::out_of_range for a bad index and
  // what run_model throws (std::invalid_argument: the point does not fit the machine).
  [[nodiscard]] RunResult run_point(std::size_t i) const;
};

// Shard `index` of `count` (0 <= index < count): points i with i % count == index.
struct Shard {
  std::size_t index = 0;
  std::size_t count = 1;
};
// "K/N" -> {K, N}; throws std::invalid_argument unless 0 <= K < N.
[[nodiscard]] Shard parse_shard(const std::string& text);
[[nodiscard]] std::vector<std::size_t> shard_points(std::size_t points, Shard shard);

// One CSV row per point: the configuration and the key metrics.
//   point,queues,workers,ingress,placement,mix,qsize,frames,offered_mpps,delivered_mpps,
//   drop_fraction,max_cpu_busy,p99_latency_us,conserved
[[nodiscard]] std::string sweep_csv_header();
[[nodiscard]] std::string sweep_csv_row(const SweepPoint& p, const RunResult& r);

// Writes DIR/point-NNNN.json (the run as report.h's to_json, with a "sweep_point" object
// added) and DIR/point-NNNN.csv (the header and the point's row); creates DIR if needed.
// Returns the JSON path. Throws std::runtime_error naming a file it cannot write.
std::string write_point_outputs(const std::string& dir, const SweepPoint& p, const RunResult& r);

}  // namespace xmaps::sim
