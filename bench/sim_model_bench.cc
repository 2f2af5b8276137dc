// SPDX-License-Identifier: MIT
//
// How fast model mode simulates (xmaps/sim/model.h): simulated frames per second of wall
// time on one core (the simulation is single-threaded), the target being >= 5 M/s.
// One iteration is one run_model() of 1,000,000 frames on the stock "server-2s64c-numa"
// machine (2 packages, 2 NUMA nodes, 128 PUs), setup and drain included; items_per_second is
// simulated frames per wall second. Counters: the model's own (virtual) delivered_pps and
// drop share, and the wall time per run. Conditions: lossless input from a hardware NIC,
// 1024 uniform UDP flows of 64-byte frames, round-robin first program, flow accounting in a
// 65536-entry LRU, default costs; CPUs placed compact (ingress first, then the workers).
#include <chrono>
#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>

#include "xmaps/cpu.h"
#include "xmaps/sim/model.h"

namespace {

constexpr const char* kMachine = "server-2s64c-numa";

void run(benchmark::State& state, std::uint32_t ingress, std::uint32_t workers) {
  xmaps::sim::prepare_model_process(xmaps::sim::model_topology(kMachine));
  xmaps::sim::Scenario s;
  s.ingress_count = ingress;
  s.worker_count = workers;
  s.source_cpu = xmaps::sim::Scenario::kNoCpu;  // hardware NIC
  s.progress = false;
  xmaps::sim::ModelOptions o;
  o.machine = kMachine;
  o.frames = 1'000'000;
  std::uint64_t frames = 0;
  double virtual_pps = 0, drop_share = 0, wall = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const xmaps::sim::RunResult r = xmaps::sim::run_model(s, o);
    wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!r.conserved)
      state.SkipWithError(r.conservation.c_str());
    frames += r.generated;
    virtual_pps = r.delivered_pps();
    drop_share =
        r.generated ? static_cast<double>(r.drops.total()) / static_cast<double>(r.generated) : 0;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(frames));
  state.counters["model_delivered_pps"] = benchmark::Counter(virtual_pps);
  state.counters["model_drop_share"] = benchmark::Counter(drop_share);
  state.counters["wall_s_per_run"] =
      benchmark::Counter(wall / static_cast<double>(state.iterations()));
  state.SetLabel(std::string(kMachine) + ", " + std::to_string(ingress) + " ingress / " +
                 std::to_string(workers) + " workers, 1M frames");
}

void BM_ModelRun_2Ingress4Workers(benchmark::State& s) {
  run(s, 2, 4);
}
void BM_ModelRun_16Ingress48Workers(benchmark::State& s) {
  run(s, 16, 48);
}

}  // namespace

BENCHMARK(BM_ModelRun_2Ingress4Workers)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_ModelRun_16Ingress48Workers)->Unit(benchmark::kMillisecond)->MinTime(2.0);

BENCHMARK_MAIN();
