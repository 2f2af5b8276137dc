// SPDX-License-Identifier: MIT
//
// Model mode (xmaps/sim/model.h): conservation and determinism of the discrete-event
// simulation, and the qualitative results the issue asks of it with no tuning: RSS imbalance
// loads one ingress CPU, the CPUMAP hash redirect spreads the work over every worker,
// cross-NUMA redirect costs more than same-node, ring-full drops appear when the workers are
// slower than the ingress and a larger qsize only delays them, the LRU evicts when there are
// more flows than entries. Runs are small (tens of thousands of frames) so the binary stays
// fast under Debug, ASan and TSan.
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "xmaps/cpu.h"
#include "xmaps/sim/cost_model.h"
#include "xmaps/sim/model.h"
#include "xmaps/sim/scenario.h"
#include "xmaps/topology.h"

namespace {

using xmaps::sim::ModelOptions;
using xmaps::sim::RunResult;
using xmaps::sim::Scenario;
using xmaps::topology::DistanceClass;
using xmaps::topology::Topology;

constexpr const char* kMachine = "server-2s64c-numa";  // 2 packages, 2 NUMA nodes, 128 PUs

// The process models machines of up to 128 CPUs (the largest used here): possible_cpus() is
// fixed before any map exists (gtest_main runs the tests after static initialization).
const bool kPrepared = [] {
  xmaps::set_possible_cpus(128);
  return true;
}();

ModelOptions options(std::uint64_t frames) {
  ModelOptions o;
  o.machine = kMachine;
  o.frames = frames;
  return o;
}

Scenario base() {
  Scenario s;
  s.ingress_cpus = {0, 1};
  s.worker_cpus = {2, 3, 4, 5};
  s.source_cpu = Scenario::kNoCpu;  // a hardware NIC
  s.progress = false;
  return s;
}

double share(const RunResult& r, std::size_t worker) {
  std::uint64_t total = 0;
  for (const auto& w : r.workers)
    total += w.stats.enqueued;
  return total == 0
             ? 0.0
             : static_cast<double>(r.workers[worker].stats.enqueued) / static_cast<double>(total);
}

void expect_conserved(const RunResult& r) {
  EXPECT_TRUE(r.conserved) << r.conservation;
  EXPECT_EQ(r.in_flight, 0U);
  EXPECT_EQ(r.pool_in_use, 0U);
  EXPECT_EQ(r.generated, r.delivered + r.drops.total());
  for (const auto& c : r.cpus) {
    EXPECT_GE(c.busy, 0.0) << "CPU " << c.cpu;
    EXPECT_LE(c.busy, 1.0 + 1e-9) << "CPU " << c.cpu << " (" << c.threads << ")";
  }
}

TEST(ModelMode, MachinesAndPossibleCpus) {
  ASSERT_TRUE(kPrepared);
  const Topology t = xmaps::sim::model_topology(kMachine);
  EXPECT_EQ(t.cpus().size(), 128U);
  EXPECT_NO_THROW(xmaps::sim::prepare_model_process(t));  // fixed at 128 already: enough
  const Topology small = xmaps::sim::model_topology("synthetic:pack:1 core:4 pu:1");
  EXPECT_EQ(small.cpus().size(), 4U);
  EXPECT_NO_THROW(xmaps::sim::prepare_model_process(small));
  EXPECT_THROW(xmaps::sim::prepare_model_process(xmaps::sim::model_topology("epyc-8numa")),
               std::logic_error);  // 256 CPUs: more than fixed
  EXPECT_THROW((void)xmaps::sim::model_topology("no-such-machine"), std::invalid_argument);
  EXPECT_EQ(xmaps::possible_cpus(), 128);
}

TEST(ModelMode, RejectsCpusTheMachineLacks) {
  Scenario s = base();
  ModelOptions o = options(1000);
  o.machine = "synthetic:pack:1 core:4 pu:1";
  s.worker_cpus = {2, 3, 7};  // 7 < possible_cpus(), but not on this machine
  EXPECT_THROW((void)xmaps::sim::run_model(s, o), std::invalid_argument);
  s.worker_cpus = {2, 3};
  const RunResult r = xmaps::sim::run_model(s, o);
  expect_conserved(r);
}

TEST(ModelMode, ConservesEveryFrameAndIsDeterministic) {
  Scenario s = base();
  s.interval_ms = 10;
  const RunResult a = xmaps::sim::run_model(s, options(30000));
  expect_conserved(a);
  EXPECT_EQ(a.generated, 30000U);
  EXPECT_GT(a.delivered, 0U);
  EXPECT_GT(a.wall_seconds, 0.0);
  EXPECT_GT(a.delivered_pps(), 0.0);
  EXPECT_EQ(a.latency.count(), a.delivered);
  ASSERT_EQ(a.ingress.size(), 2U);
  ASSERT_EQ(a.workers.size(), 4U);
  ASSERT_FALSE(a.intervals.empty());
  std::uint64_t iv_generated = 0, iv_delivered = 0, iv_dropped = 0;
  for (const auto& iv : a.intervals) {
    iv_generated += iv.generated;
    iv_delivered += iv.delivered;
    iv_dropped += iv.dropped;
    EXPECT_EQ(iv.cpu_busy.size(), a.cpus.size());
  }
  EXPECT_EQ(iv_generated, a.generated);
  EXPECT_EQ(iv_delivered, a.delivered);
  EXPECT_EQ(iv_dropped, a.drops.total());
  EXPECT_TRUE(a.have_flow_stats);
  EXPECT_EQ(a.flow_lookups, a.delivered);

  const RunResult b = xmaps::sim::run_model(s, options(30000));
  EXPECT_EQ(b.generated, a.generated);
  EXPECT_EQ(b.delivered, a.delivered);
  EXPECT_EQ(b.drops.items(), a.drops.items());
  EXPECT_EQ(b.wall_seconds, a.wall_seconds);
  EXPECT_EQ(b.latency.percentile(50), a.latency.percentile(50));
  EXPECT_EQ(b.latency.percentile(99), a.latency.percentile(99));
  EXPECT_EQ(b.latency.max(), a.latency.max());
  EXPECT_EQ(b.flow_hits, a.flow_hits);
  ASSERT_EQ(b.intervals.size(), a.intervals.size());
  for (std::size_t i = 0; i < a.intervals.size(); ++i) {
    EXPECT_EQ(b.intervals[i].delivered, a.intervals[i].delivered) << i;
    EXPECT_EQ(b.intervals[i].cpu_busy, a.intervals[i].cpu_busy) << i;
  }
  for (std::size_t i = 0; i < a.workers.size(); ++i) {
    EXPECT_EQ(b.workers[i].stats.enqueued, a.workers[i].stats.enqueued);
    EXPECT_EQ(b.workers[i].busy, a.workers[i].busy);
  }
}

TEST(ModelMode, ASourceOnACpuSharesItsClockWithTheIngress) {
  Scenario s = base();
  s.source_cpu = 0;  // the first ingress CPU
  const RunResult r = xmaps::sim::run_model(s, options(20000));
  expect_conserved(r);
  ASSERT_FALSE(r.cpus.empty());
  EXPECT_EQ(r.cpus.front().cpu, 0);
  EXPECT_EQ(r.cpus.front().threads, "source+ingress");
  EXPECT_GT(r.cpus.front().busy, r.ingress.front().busy);  // the source's time is there too
}

TEST(ModelMode, PacedInputIsOpenLoopAndDropsAtTheNic) {
  Scenario s = base();
  s.rate_pps = 2e6;
  const RunResult r = xmaps::sim::run_model(s, options(20000));
  expect_conserved(r);
  EXPECT_NEAR(r.offered_pps(), 2e6, 2e6 * 0.05);
  EXPECT_EQ(r.drops.rx_ring_full, 0U);  // far below what 2 ingress CPUs take
  // Far above what one ingress CPU can take, with small rings: the NIC drops.
  s.ingress_cpus = {0};
  s.rss.queues = 1;
  s.rx_ring = 64;
  s.rate_pps = 400e6;
  s.burst = 64;
  const RunResult f = xmaps::sim::run_model(s, options(20000));
  expect_conserved(f);
  EXPECT_GT(f.drops.rx_ring_full, 0U);
}

// One destination ip:port from one source, UDP hashed on the IP 2-tuple (the NIC default):
// every frame lands on one RX queue, so one ingress CPU does all the work.
Scenario rss_imbalance() {
  Scenario s = base();
  s.traffic.mix = xmaps::sim::FlowMix::single_destination;
  s.traffic.flows = 1;
  s.rss.queues = 4;
  s.ingress_cpus = {0, 1, 2, 3};
  s.worker_cpus = {4, 5, 6, 7};
  return s;
}

TEST(ModelMode, RssImbalanceLoadsOneIngressCpu) {
  const RunResult r = xmaps::sim::run_model(rss_imbalance(), options(20000));
  expect_conserved(r);
  std::size_t loaded = 0;
  for (std::size_t i = 0; i < r.ingress.size(); ++i) {
    if (r.ingress[i].frames != 0)
      ++loaded;
  }
  EXPECT_EQ(loaded, 1U);
  const auto busiest =
      std::max_element(r.ingress.begin(), r.ingress.end(),
                       [](const auto& a, const auto& b) { return a.busy < b.busy; });
  EXPECT_EQ(busiest->frames, r.generated);
  for (const auto& in : r.ingress) {
    if (&in != &*busiest) {
      EXPECT_EQ(in.busy, 0.0) << "ingress CPU " << in.cpu;
    }
  }
  EXPECT_GT(busiest->busy, 0.5);  // it is the bottleneck
}

void expect_even_shares(const RunResult& r) {
  const double even = 1.0 / static_cast<double>(r.workers.size());
  for (std::size_t i = 0; i < r.workers.size(); ++i) {
    EXPECT_GT(share(r, i), 0.5 * even) << "worker CPU " << r.workers[i].cpu;
    EXPECT_LT(share(r, i), 1.5 * even) << "worker CPU " << r.workers[i].cpu;
    EXPECT_GT(r.workers[i].busy, 0.0) << "worker CPU " << r.workers[i].cpu;
  }
}

TEST(ModelMode, CpumapRedirectSpreadsTheLoadedCpusWorkOverEveryWorker) {
  // The imbalanced scenario: the round-robin redirect spreads its one flow over the workers.
  const RunResult r = xmaps::sim::run_model(rss_imbalance(), options(20000));
  expect_conserved(r);
  expect_even_shares(r);
  // The hash redirect spreads many flows arriving on one RX CPU (one flow would stay on one
  // worker: the hash is per 5-tuple).
  Scenario s = base();
  s.rss.queues = 1;
  s.ingress_cpus = {0};
  s.first_program = "hash";
  const RunResult h = xmaps::sim::run_model(s, options(20000));
  expect_conserved(h);
  expect_even_shares(h);
}

// Two workers for ingress CPU 0, picked by their distance from it.
std::vector<int> workers_at(const Topology& t, DistanceClass d) {
  std::vector<int> out;
  for (const auto& c : t.cpus()) {
    if (t.distance_class(0, c.os_index) == d && out.size() < 2)
      out.push_back(c.os_index);
  }
  return out;
}

TEST(ModelMode, CrossNumaRedirectCostsMoreThanSameNode) {
  const Topology t = xmaps::sim::model_topology(kMachine);
  Scenario s = base();
  s.ingress_cpus = {0};
  s.rss.queues = 1;
  s.worker_cpus = workers_at(t, DistanceClass::same_l3);
  ASSERT_EQ(s.worker_cpus.size(), 2U);
  const RunResult near = xmaps::sim::run_model(s, options(30000));
  s.worker_cpus = workers_at(t, DistanceClass::cross_package);
  ASSERT_EQ(s.worker_cpus.size(), 2U);
  const RunResult far = xmaps::sim::run_model(s, options(30000));
  expect_conserved(near);
  expect_conserved(far);
  EXPECT_LT(far.delivered_pps(), near.delivered_pps());
  auto busy_per_frame = [](const RunResult& r) {
    double ns = 0;
    std::uint64_t frames = 0;
    for (const auto& w : r.workers) {
      ns += w.cpu_seconds * 1e9;
      frames += w.delivered;
    }
    return ns / static_cast<double>(frames);
  };
  EXPECT_GT(busy_per_frame(far), busy_per_frame(near));
}

// CPU 0 ingress (one RX queue, no second program) to two workers at distance `d` from it.
Scenario one_ingress_two_workers(DistanceClass d) {
  Scenario s = base();
  s.ingress_cpus = {0};
  s.rss.queues = 1;
  s.lru_entries = 0;
  s.worker_cpus = workers_at(xmaps::sim::model_topology(kMachine), d);
  return s;
}

// The way back: a source on a CPU pays CostModel::return_ns for each frame a worker far away
// recycled last, and nothing for frames its own CPU dropped.
TEST(ModelMode, TheSourcePaysTheReturnOfFramesFarWorkersRecycled) {
  Scenario s = one_ingress_two_workers(DistanceClass::cross_package);
  ASSERT_EQ(s.worker_cpus.size(), 2U);
  s.source_cpu = 0;
  ModelOptions cheap = options(30000);
  cheap.costs.return_ns[DistanceClass::cross_package] = 0;
  ModelOptions dear = options(30000);
  dear.costs.return_ns[DistanceClass::cross_package] = 500;
  const RunResult a = xmaps::sim::run_model(s, cheap);
  const RunResult b = xmaps::sim::run_model(s, dear);
  expect_conserved(a);
  expect_conserved(b);
  // The source's CPU (also the ingress) is the bottleneck: 500 ns more per returning frame
  // (every frame but the pool's first use) slows the input.
  EXPECT_LT(b.offered_pps(), a.offered_pps() * 0.5);

  // Frames the first program drops come back from the source's own CPU: no return cost.
  s.first_program = "drop";
  const RunResult c = xmaps::sim::run_model(s, cheap);
  const RunResult d = xmaps::sim::run_model(s, dear);
  expect_conserved(c);
  expect_conserved(d);
  EXPECT_DOUBLE_EQ(c.offered_pps(), d.offered_pps());
}

// Pushing into the ring of a worker that waits on it costs the ingress CostModel::idle_push_ns
// per bulk; a worker with a backlog costs it nothing.
TEST(ModelMode, TheIngressPaysForPushingIntoAnIdleWorkersRing) {
  const Scenario s = one_ingress_two_workers(DistanceClass::same_l3);
  ASSERT_EQ(s.worker_cpus.size(), 2U);
  auto ingress_ns_per_frame = [](const RunResult& r) {
    return r.ingress[0].cpu_seconds * 1e9 / static_cast<double>(r.ingress[0].frames);
  };
  ModelOptions cheap = options(30000);
  // Workers that take 1 ns a frame: they wait for every bulk. Each bulk of 8 then costs the
  // ingress 400 ns more, 50 ns a frame (a partial bulk at a batch's end costs as much, so at
  // least that).
  cheap.costs.worker_dequeue_ns_per_frame = 0;
  cheap.costs.sink_ns_per_frame = 1;
  cheap.costs.transfer_ns[DistanceClass::same_l3] = 0;
  cheap.costs.idle_push_ns[DistanceClass::same_l3] = 0;
  ModelOptions dear = cheap;
  dear.costs.idle_push_ns[DistanceClass::same_l3] = 400;
  const RunResult a = xmaps::sim::run_model(s, cheap);
  const RunResult b = xmaps::sim::run_model(s, dear);
  expect_conserved(a);
  expect_conserved(b);
  EXPECT_GE(ingress_ns_per_frame(b) - ingress_ns_per_frame(a), 50 * 0.95);
  EXPECT_LT(b.offered_pps(), a.offered_pps());

  // Workers far slower than the ingress (5 us a frame): their rings stay backed up, and after
  // the first bulks the pushes find them busy.
  cheap.costs.sink_ns_per_frame = 5000;
  dear.costs.sink_ns_per_frame = 5000;
  const RunResult c = xmaps::sim::run_model(s, cheap);
  const RunResult d = xmaps::sim::run_model(s, dear);
  expect_conserved(c);
  expect_conserved(d);
  EXPECT_LT(ingress_ns_per_frame(d) - ingress_ns_per_frame(c), 1.0);
}

// Index of the first interval with drops, and the drop fraction over the last `tail` full
// intervals of traffic (the last one that has any is partial, and the drain comes after).
std::pair<std::size_t, double> drops_over_time(const RunResult& r, std::size_t tail) {
  std::size_t first = r.intervals.size();
  std::size_t last = 0;  // one past the last full interval with traffic
  for (std::size_t i = 0; i < r.intervals.size(); ++i) {
    if (r.intervals[i].dropped != 0 && first == r.intervals.size())
      first = i;
    if (r.intervals[i].generated != 0)
      last = i;
  }
  std::uint64_t gen = 0, drop = 0;
  for (std::size_t i = last - std::min(tail, last); i < last; ++i) {
    gen += r.intervals[i].generated;
    drop += r.intervals[i].dropped;
  }
  return {first, gen == 0 ? 0.0 : static_cast<double>(drop) / static_cast<double>(gen)};
}

TEST(ModelMode, RingFullDropsWhenWorkersAreSlowerAndALargerQsizeOnlyDelaysThem) {
  // A slow second program (5 us per frame, through the cost model), so that the effect shows
  // in 10 ms intervals with a few thousand frames.
  ModelOptions o = options(5000);
  o.costs.flow_hit_ns = 5000;
  o.costs.flow_insert_ns = 5000;
  // Lossless input, 2 ingress CPUs, 1 worker: the worker is the bottleneck, the ingress CPUs
  // overrun its ring.
  Scenario s = base();
  s.worker_cpus = {2};
  const RunResult lossless = xmaps::sim::run_model(s, o);
  expect_conserved(lossless);
  EXPECT_GT(lossless.drops.cpumap_enqueue, 0U);
  EXPECT_GT(lossless.workers[0].busy, 0.9);
  const double capacity = lossless.delivered_pps();
  ASSERT_GT(capacity, 0.0);

  // Paced at 1.5x the worker's capacity for 80 ms: the excess fills the ring, then a third
  // of the frames are dropped.
  s.rate_pps = 1.5 * capacity;
  s.pool_frames = 16384;
  s.interval_ms = 10;
  o.frames = static_cast<std::uint64_t>(s.rate_pps * 80e-3);
  s.qsize = 256;
  const RunResult small = xmaps::sim::run_model(s, o);
  s.qsize = 4096;
  const RunResult large = xmaps::sim::run_model(s, o);
  expect_conserved(small);
  expect_conserved(large);
  ASSERT_GE(small.intervals.size(), 8U);
  ASSERT_GE(large.intervals.size(), 8U);
  const auto [small_first, small_fraction] = drops_over_time(small, 2);
  const auto [large_first, large_fraction] = drops_over_time(large, 2);
  EXPECT_LT(small_first, large_first);
  EXPECT_LT(large_first, large.intervals.size());  // it does drop, later
  EXPECT_NEAR(small_fraction, 1.0 / 3.0, 0.05);
  EXPECT_NEAR(large_fraction, small_fraction, 0.05);
  EXPECT_GT(large.drops.cpumap_enqueue, 0U);
  EXPECT_LT(large.drops.cpumap_enqueue, small.drops.cpumap_enqueue);  // the ring held more
  EXPECT_GT(large.workers[0].occupancy_max, small.workers[0].occupancy_max);
}

TEST(ModelMode, LruEvictsWhenThereAreMoreFlowsThanEntries) {
  Scenario s = base();
  s.lru_entries = 1024;
  s.traffic.flows = 256;
  const RunResult fits = xmaps::sim::run_model(s, options(20000));
  expect_conserved(fits);
  EXPECT_EQ(fits.flow_evictions, 0U);
  EXPECT_EQ(fits.flow_inserts, 256U);
  s.traffic.flows = 8192;
  const RunResult evicts = xmaps::sim::run_model(s, options(20000));
  expect_conserved(evicts);
  EXPECT_GT(evicts.flow_evictions, 0U);
  EXPECT_LT(evicts.flow_hit_ratio(), fits.flow_hit_ratio());
  // Evictions cost the workers time: fewer frames per busy second.
  auto per_frame = [](const RunResult& r) {
    double ns = 0;
    for (const auto& w : r.workers)
      ns += w.cpu_seconds * 1e9;
    return ns / static_cast<double>(r.delivered);
  };
  EXPECT_GT(per_frame(evicts), per_frame(fits));
}

}  // namespace
