// SPDX-License-Identifier: MIT
//
// End-to-end pipeline throughput on this machine (xmaps/sim/pipeline.h): generator -> RSS ->
// RX rings -> ingress CPUs (first program) -> CPUMAP -> workers (flow accounting) -> sink,
// with the real threads of xmaps-sim. One iteration is one run of a fixed packet count from
// thread start to the end of the drain; items_per_second is delivered frames per second of
// wall time. Counters: offered_pps, delivered_pps, drop_share (of offered), p99_us.
// Conditions in the label: first program, ingress/worker CPUs, queues; input lossless (no
// --rate), 64-byte UDP frames, 1024 uniform flows, LRU 65536.
#include <string>

#include <benchmark/benchmark.h>

#include "xmaps/sim/pipeline.h"

namespace {

void run(benchmark::State& state, const char* first, std::vector<int> ingress,
         std::vector<int> workers, std::uint32_t lru) {
  xmaps::sim::Scenario s;
  s.packets = 2'000'000;
  s.duration_s = 30;
  s.first_program = first;
  s.ingress_cpus = ingress;
  s.worker_cpus = workers;
  s.lru_entries = lru;
  s.interval_ms = 1000;
  std::uint64_t delivered = 0, generated = 0, dropped = 0;
  double wall = 0, p99 = 0;
  for (auto _ : state) {
    const xmaps::sim::RunResult r = xmaps::sim::run_pipeline(s);
    if (!r.conserved)
      state.SkipWithError(r.conservation.c_str());
    state.SetIterationTime(r.wall_seconds);
    delivered += r.delivered;
    generated += r.generated;
    dropped += r.drops.total();
    wall += r.wall_seconds;
    p99 = static_cast<double>(r.latency.percentile(99)) / 1e3;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(delivered));
  state.counters["offered_pps"] = benchmark::Counter(static_cast<double>(generated) / wall);
  state.counters["delivered_pps"] = benchmark::Counter(static_cast<double>(delivered) / wall);
  state.counters["drop_share"] = benchmark::Counter(
      generated ? static_cast<double>(dropped) / static_cast<double>(generated) : 0);
  state.counters["p99_us"] = benchmark::Counter(p99);
  std::string label(first);
  label.append(", ingress");
  for (int c : ingress)
    label.append(" ").append(std::to_string(c));
  label.append(", workers");
  for (int c : workers)
    label.append(" ").append(std::to_string(c));
  label += lru ? ", flow accounting" : ", no second program";
  state.SetLabel(label);
}

// The default scenario's placement on a 2-core machine: ingress CPU 0, worker CPU 1.
void BM_Pipeline_RoundRobin_1to1(benchmark::State& s) {
  run(s, "round-robin", {0}, {1}, 65536);
}
void BM_Pipeline_RoundRobin_1to1_NoSecondProgram(benchmark::State& s) {
  run(s, "round-robin", {0}, {1}, 0);
}
void BM_Pipeline_Hash_1to2(benchmark::State& s) {
  run(s, "hash", {0}, {0, 1}, 65536);
}
void BM_Pipeline_Drop_1(benchmark::State& s) {
  run(s, "drop", {0}, {1}, 65536);  // the source and the first program alone
}

BENCHMARK(BM_Pipeline_RoundRobin_1to1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);
BENCHMARK(BM_Pipeline_RoundRobin_1to1_NoSecondProgram)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);
BENCHMARK(BM_Pipeline_Hash_1to2)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_Pipeline_Drop_1)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
