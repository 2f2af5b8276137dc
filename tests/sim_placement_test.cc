// SPDX-License-Identifier: MIT
//
// The simulator's own CPU placement: xmaps::sim::resolve(scenario, machine) against the stock
// server-2s64c-numa (2 packages of 32 cores, SMT2, a NUMA node per package; OS CPU c and
// c + 64 are SMT siblings, CPUs 0-31 and 64-95 are package 0 / node 0). Each policy is held to
// what xmaps/sim/scenario.h promises:
//   compact   ingress CPUs first in logical order, workers on the next ones
//   numa      workers on the NUMA node of the first ingress CPU, off the ingress CPUs' cores,
//             one per core before any second PU
//   skip-smt  one PU per core for ingress and workers alike
//   spread    round-robin over the packages
// and requests the machine cannot meet are errors that name the knob.
#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "xmaps/cpu.h"
#include "xmaps/sim/model.h"
#include "xmaps/sim/pipeline.h"
#include "xmaps/sim/scenario.h"
#include "xmaps/topology.h"

namespace {

using xmaps::sim::Placement;
using xmaps::sim::Scenario;
using xmaps::topology::Topology;

// resolve() checks CPU ids against possible_cpus(): the machine's 128, fixed before any map
// exists (gtest_main runs the tests after static initialization).
const bool kPrepared = [] {
  xmaps::set_possible_cpus(128);
  return true;
}();

const Topology& machine() {
  static const Topology t = xmaps::sim::model_topology("server-2s64c-numa");
  return t;
}

Scenario placed(Placement p, std::uint32_t ingress, std::uint32_t workers) {
  Scenario s;
  s.placement = p;
  s.ingress_count = ingress;
  s.worker_count = workers;
  return s;
}

Scenario resolved(const Scenario& s) {
  return xmaps::sim::resolve(s, machine());
}

int core_of(int cpu) {
  return machine().cpu(cpu).core;
}

// Expects resolve() to throw std::invalid_argument mentioning every needle.
void expect_invalid(const Scenario& s, const std::vector<std::string>& needles) {
  try {
    (void)resolved(s);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    for (const std::string& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "message: " << e.what() << "\nexpected to contain: " << n;
  }
}

TEST(SimPlacement, TheMachineIsTheOneTheseTestsDescribe) {
  ASSERT_TRUE(kPrepared);
  ASSERT_EQ(xmaps::possible_cpus(), 128);
  const Topology& t = machine();
  ASSERT_EQ(t.cpus().size(), 128U);
  ASSERT_EQ(t.packages(), 2);
  ASSERT_EQ(t.numa_nodes(), 2);
  ASSERT_EQ(t.cores(), 64);
  EXPECT_EQ(t.smt_siblings(5), (std::vector<int>{5, 69}));
  EXPECT_EQ(t.cpu(31).numa, 0);
  EXPECT_EQ(t.cpu(95).numa, 0);
  EXPECT_EQ(t.cpu(32).numa, 1);
  EXPECT_EQ(t.cpu(96).package, 1);
}

TEST(SimPlacement, CompactTakesLogicalOrderIngressFirst) {
  // Logical order is core by core, both PUs of a core together: 0, 64, 1, 65, ...
  const Scenario r = resolved(placed(Placement::compact, 4, 8));
  EXPECT_EQ(r.ingress_cpus, (std::vector<int>{0, 64, 1, 65}));
  EXPECT_EQ(r.worker_cpus, (std::vector<int>{2, 66, 3, 67, 4, 68, 5, 69}));
  EXPECT_EQ(r.source_cpu, 6) << "auto: the first CPU with no other role";
  EXPECT_EQ(r.rss.queues, 4U) << "auto: one RX queue per ingress CPU";

  // Both counts auto: a quarter of the CPUs for ingress, every other one a worker, and the
  // source on the first ingress CPU, since no CPU is free.
  const Scenario a = resolved(placed(Placement::compact, 0, 0));
  ASSERT_EQ(a.ingress_cpus.size(), 32U);
  ASSERT_EQ(a.worker_cpus.size(), 96U);
  for (std::size_t i = 0; i < a.ingress_cpus.size(); ++i)
    EXPECT_EQ(a.ingress_cpus[i], machine().cpus()[i].os_index) << i;
  for (std::size_t i = 0; i < a.worker_cpus.size(); ++i)
    EXPECT_EQ(a.worker_cpus[i], machine().cpus()[32 + i].os_index) << i;
  EXPECT_EQ(a.source_cpu, a.ingress_cpus.front());
}

TEST(SimPlacement, NumaKeepsWorkersOnTheFirstIngressCpusNodeOffItsCores) {
  // Ingress on package 1 (CPU 40, node 1): 40 workers do not fit on node 1's other 31 cores,
  // so 31 take one core each and the 9 more are second PUs of those cores.
  Scenario s = placed(Placement::numa, 0, 40);
  s.ingress_cpus = {40};
  Scenario r = resolved(s);
  EXPECT_EQ(r.ingress_cpus, std::vector<int>{40});
  ASSERT_EQ(r.worker_cpus.size(), 40U);
  std::set<int> cores;
  for (std::size_t i = 0; i < r.worker_cpus.size(); ++i) {
    const int w = r.worker_cpus[i];
    EXPECT_EQ(machine().cpu(w).numa, machine().cpu(40).numa) << "worker " << w;
    EXPECT_NE(core_of(w), core_of(40)) << "worker " << w << " on the ingress CPU's core";
    if (i < 31)
      EXPECT_TRUE(cores.insert(core_of(w)).second) << "worker " << w << ": a second PU early";
    else
      EXPECT_EQ(cores.count(core_of(w)), 1U) << "worker " << w << ": a sibling of an earlier one";
  }
  EXPECT_EQ(std::vector<int>(r.worker_cpus.begin(), r.worker_cpus.begin() + 3),
            (std::vector<int>{32, 33, 34}));
  EXPECT_EQ(r.worker_cpus.back(), 105) << "second PUs in logical order, 104 (CPU 40's) skipped";

  // Ingress placed compact ({0, 64}: one core, node 0), workers auto: every PU of node 0 off
  // that core, first PUs first.
  r = resolved(placed(Placement::numa, 2, 0));
  EXPECT_EQ(r.ingress_cpus, (std::vector<int>{0, 64}));
  ASSERT_EQ(r.worker_cpus.size(), 62U);
  EXPECT_EQ(r.worker_cpus.front(), 1);
  EXPECT_EQ(r.worker_cpus[30], 31);
  EXPECT_EQ(r.worker_cpus[31], 65);
  for (int w : r.worker_cpus) {
    EXPECT_EQ(machine().cpu(w).numa, 0) << "worker " << w;
    EXPECT_NE(core_of(w), 0) << "worker " << w;
  }

  // More workers than the node has off the ingress core: they share it, still on the node.
  s.worker_count = 63;
  r = resolved(s);
  ASSERT_EQ(r.worker_cpus.size(), 63U);
  for (int w : r.worker_cpus)
    EXPECT_EQ(machine().cpu(w).numa, 1) << "worker " << w;
  // More than the node has at all: an error, not workers on the other node.
  s.worker_count = 65;
  expect_invalid(s, {"worker-count 65 (placement numa)", "NUMA node of CPU 40", "only 64"});
}

TEST(SimPlacement, SkipSmtPutsEveryChosenCpuOnItsOwnCore) {
  const Scenario r = resolved(placed(Placement::skip_smt, 4, 8));
  EXPECT_EQ(r.ingress_cpus, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(r.worker_cpus, (std::vector<int>{4, 5, 6, 7, 8, 9, 10, 11}));
  std::set<int> cores;
  for (int c : r.ingress_cpus)
    EXPECT_TRUE(cores.insert(core_of(c)).second) << "ingress CPU " << c;
  for (int w : r.worker_cpus)
    EXPECT_TRUE(cores.insert(core_of(w)).second) << "worker " << w << " shares a core";

  // Workers auto: one on each of the 60 cores the ingress CPUs leave.
  const Scenario a = resolved(placed(Placement::skip_smt, 4, 0));
  ASSERT_EQ(a.worker_cpus.size(), 60U);
  cores.clear();
  for (int c : a.ingress_cpus)
    cores.insert(core_of(c));
  for (int w : a.worker_cpus)
    EXPECT_TRUE(cores.insert(core_of(w)).second) << "worker " << w << " shares a core";
  EXPECT_EQ(cores.size(), 64U);

  // 61 workers: more than the free cores, so they share the ingress CPUs, still one per core.
  const Scenario shared = resolved(placed(Placement::skip_smt, 4, 61));
  ASSERT_EQ(shared.worker_cpus.size(), 61U);
  cores.clear();
  for (int w : shared.worker_cpus)
    EXPECT_TRUE(cores.insert(core_of(w)).second) << "worker " << w << " shares a core";
  // More than the machine's cores, for either role: errors naming the knob.
  expect_invalid(placed(Placement::skip_smt, 4, 65),
                 {"worker-count 65 (placement skip-smt)", "one per core", "64 distinct cores"});
  expect_invalid(placed(Placement::skip_smt, 65, 1), {"ingress-count 65", "one per core"});
}

TEST(SimPlacement, SpreadAlternatesThePackages) {
  const Scenario r = resolved(placed(Placement::spread, 2, 8));
  EXPECT_EQ(r.ingress_cpus, (std::vector<int>{0, 32}));
  EXPECT_EQ(r.worker_cpus, (std::vector<int>{64, 96, 1, 33, 65, 97, 2, 34}));
  for (std::size_t i = 0; i < r.ingress_cpus.size(); ++i)
    EXPECT_EQ(machine().cpu(r.ingress_cpus[i]).package, static_cast<int>(i % 2));
  for (std::size_t i = 0; i < r.worker_cpus.size(); ++i) {
    const int w = r.worker_cpus[i];
    EXPECT_EQ(machine().cpu(w).package, static_cast<int>(i % 2)) << "worker " << w;
    EXPECT_EQ(std::count(r.ingress_cpus.begin(), r.ingress_cpus.end(), w), 0) << w;
  }
}

TEST(SimPlacement, ExplicitListsAreTakenAsGivenAndImpossibleOnesRejected) {
  Scenario s = placed(Placement::numa, 0, 0);
  s.ingress_cpus = {100, 5};
  s.worker_cpus = {127, 6, 64};
  const Scenario r = resolved(s);
  EXPECT_EQ(r.ingress_cpus, (std::vector<int>{100, 5}));
  EXPECT_EQ(r.worker_cpus, (std::vector<int>{127, 6, 64}));
  EXPECT_EQ(r.source_cpu, 0) << "the first CPU with no other role";

  s.worker_cpus = {999};
  expect_invalid(s, {"worker-cpus: CPU 999 does not exist: CPUs are 0..127"});
  s.worker_cpus = {6, 6};
  expect_invalid(s, {"worker-cpus: CPU 6 is listed twice"});
  expect_invalid(placed(Placement::compact, 1, 129),
                 {"ingress-count / worker-count must be at most the 128 possible CPUs"});
}

}  // namespace
