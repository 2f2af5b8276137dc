// SPDX-License-Identifier: MIT
// pick_cpus(): CPU sets by policy on every stock topology (counts, uniqueness, same-NUMA and
// other-NUMA correctness, SMT skipping, package spread, exclusion) and the errors for requests
// that cannot be met. OS numbering on the stock servers is Linux's: CPU c and c + cores are SMT
// siblings (see topology/machines/generate.sh).
#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "xmaps/topology.h"
#include "xmaps/topology/cpu_policy.h"

namespace {

using xmaps::topology::Cpu;
using xmaps::topology::CpuPolicy;
using xmaps::topology::pick_cpus;
using xmaps::topology::Topology;
using Smt = CpuPolicy::Smt;

constexpr int kAll = CpuPolicy::kAll;

std::vector<int> all_os(const Topology& t) {
  std::vector<int> os;
  for (const Cpu& cpu : t.cpus()) {
    os.push_back(cpu.os_index);
  }
  return os;
}

std::vector<int> range(int first, int last) {  // [first, last]
  std::vector<int> v;
  for (int i = first; i <= last; ++i) {
    v.push_back(i);
  }
  return v;
}

void expect_unique_and_known(const Topology& t, const std::vector<int>& picked) {
  EXPECT_EQ(std::set<int>(picked.begin(), picked.end()).size(), picked.size()) << "duplicates";
  for (const int cpu : picked) {
    EXPECT_TRUE(t.has_cpu(cpu)) << cpu;
  }
}

// The message of the std::invalid_argument that pick_cpus throws, or "" (and a failure).
std::string rejection(const Topology& t, const CpuPolicy& policy) {
  try {
    const std::vector<int> picked = pick_cpus(t, policy);
    ADD_FAILURE() << "no exception for " << to_string(policy) << "; got " << picked.size();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

class PolicyOnStock : public testing::TestWithParam<const char*> {
 protected:
  const Topology t_ = Topology::stock(GetParam());
};

TEST_P(PolicyOnStock, CompactIsLogicalOrder) {
  const std::vector<int> all = all_os(t_);
  EXPECT_EQ(pick_cpus(t_, CpuPolicy::compact(kAll)), all);
  for (const std::size_t n : {std::size_t{1}, all.size() / 2, all.size()}) {
    EXPECT_EQ(pick_cpus(t_, CpuPolicy::compact(static_cast<int>(n))),
              std::vector<int>(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n)));
  }
  const std::string why = rejection(t_, CpuPolicy::compact(static_cast<int>(all.size()) + 1));
  EXPECT_NE(why.find(std::to_string(all.size() + 1) + " CPUs"), std::string::npos) << why;
  EXPECT_NE(why.find("only " + std::to_string(all.size()) + " qualify"), std::string::npos) << why;
  EXPECT_NE(why.find(t_.description()), std::string::npos) << why;
}

TEST_P(PolicyOnStock, SkipSmtTakesOnePuPerCore) {
  const std::vector<int> picked = pick_cpus(t_, CpuPolicy::skip_smt(kAll));
  ASSERT_EQ(static_cast<int>(picked.size()), t_.cores());
  std::set<int> cores;
  for (const int cpu : picked) {
    EXPECT_TRUE(cores.insert(t_.cpu(cpu).core).second) << "second PU of a core: " << cpu;
    EXPECT_EQ(t_.smt_siblings(cpu).front(), cpu) << "not the core's first PU";
  }
  const std::string why = rejection(t_, CpuPolicy::skip_smt(t_.cores() + 1));
  EXPECT_NE(why.find("one per core"), std::string::npos) << why;
  EXPECT_NE(why.find(std::to_string(t_.cores()) + " distinct cores"), std::string::npos) << why;
}

TEST_P(PolicyOnStock, SiblingsLastUsesEveryCoreBeforeAnySibling) {
  const std::vector<int> picked =
      pick_cpus(t_, CpuPolicy::compact(kAll).with_smt(Smt::siblings_last));
  ASSERT_EQ(picked.size(), t_.cpus().size());
  expect_unique_and_known(t_, picked);
  const auto cores = static_cast<std::size_t>(t_.cores());
  EXPECT_EQ(std::vector<int>(picked.begin(), picked.begin() + static_cast<std::ptrdiff_t>(cores)),
            pick_cpus(t_, CpuPolicy::skip_smt(kAll)));
  if (picked.size() > cores) {
    // One more than there are cores: every core once, then the first core's sibling.
    const std::vector<int> more =
        pick_cpus(t_, CpuPolicy::skip_smt(t_.cores() + 1).with_smt(Smt::siblings_last));
    EXPECT_EQ(more.back(), t_.smt_siblings(more.front()).at(1));
  }
}

TEST_P(PolicyOnStock, SameNumaAsStaysOnTheNode) {
  for (int node = 0; node < t_.numa_nodes(); ++node) {
    SCOPED_TRACE("node " + std::to_string(node));
    const std::vector<int>& on_node = t_.numa_node(node).cpus;
    const int reference = on_node.back();
    const std::vector<int> picked = pick_cpus(t_, CpuPolicy::same_numa_as(reference, kAll));
    EXPECT_EQ(picked, on_node);  // logical order, all of them
    const std::vector<int> one_per_core =
        pick_cpus(t_, CpuPolicy::same_numa_as(reference, kAll).with_smt(Smt::never));
    for (const int cpu : one_per_core) {
      EXPECT_EQ(t_.cpu(cpu).numa, node);
    }
    EXPECT_EQ(static_cast<int>(one_per_core.size()),
              t_.cores() / t_.numa_nodes());  // equal nodes on every stock machine
  }
}

TEST_P(PolicyOnStock, OtherNumaThanAvoidsTheNodeOrFailsOnOneNode) {
  const int reference = 0;
  const int node = t_.cpu(reference).numa;
  if (t_.numa_nodes() == 1) {
    const std::string why = rejection(t_, CpuPolicy::other_numa_than(reference, 1));
    EXPECT_NE(why.find("only 0 qualify"), std::string::npos) << why;
    EXPECT_NE(why.find("off NUMA node 0 of 1"), std::string::npos) << why;
    return;
  }
  const std::vector<int> picked = pick_cpus(t_, CpuPolicy::other_numa_than(reference, kAll));
  EXPECT_EQ(picked.size(), t_.cpus().size() - t_.numa_node(node).cpus.size());
  expect_unique_and_known(t_, picked);
  for (const int cpu : picked) {
    EXPECT_NE(t_.cpu(cpu).numa, node) << cpu;
  }
}

TEST_P(PolicyOnStock, SpreadPackagesVisitsEveryPackageThenEveryNode) {
  const std::vector<int> all = pick_cpus(t_, CpuPolicy::spread_packages(kAll));
  ASSERT_EQ(all.size(), t_.cpus().size());
  expect_unique_and_known(t_, all);
  // The first packages() picks hit every package once.
  std::set<int> packages;
  for (int i = 0; i < t_.packages(); ++i) {
    packages.insert(t_.cpu(all[static_cast<std::size_t>(i)]).package);
  }
  EXPECT_EQ(static_cast<int>(packages.size()), t_.packages());
  // One PU per core: the first numa_nodes() picks hit every NUMA node once.
  const std::vector<int> spread =
      pick_cpus(t_, CpuPolicy::spread_packages(t_.numa_nodes()).with_smt(Smt::never));
  std::set<int> nodes;
  for (const int cpu : spread) {
    nodes.insert(t_.cpu(cpu).numa);
  }
  EXPECT_EQ(static_cast<int>(nodes.size()), t_.numa_nodes());
}

TEST_P(PolicyOnStock, ExcludedCpusAreNeverPicked) {
  const std::vector<int> all = all_os(t_);
  const std::vector<int> first_half(all.begin(),
                                    all.begin() + static_cast<std::ptrdiff_t>(all.size() / 2));
  const std::vector<int> second_half(all.begin() + static_cast<std::ptrdiff_t>(all.size() / 2),
                                     all.end());
  EXPECT_EQ(pick_cpus(t_, CpuPolicy::compact(kAll).excluding(first_half)), second_half);
  EXPECT_NE(rejection(t_, CpuPolicy::compact(1).excluding(all)).find("0 not excluded"),
            std::string::npos);
  if (all.size() < 3) {
    return;  // nothing would be left to pick below
  }
  for (const CpuPolicy& policy :
       {CpuPolicy::skip_smt(kAll), CpuPolicy::spread_packages(kAll),
        CpuPolicy::same_numa_as(all.back(), kAll), CpuPolicy::compact(kAll)}) {
    const std::vector<int> picked = pick_cpus(t_, policy.excluding({all.front(), all.back()}));
    expect_unique_and_known(t_, picked);
    EXPECT_EQ(std::count(picked.begin(), picked.end(), all.front()), 0) << to_string(policy);
    EXPECT_EQ(std::count(picked.begin(), picked.end(), all.back()), 0) << to_string(policy);
  }
}

TEST_P(PolicyOnStock, BadRequestsAreRejectedNamingWhatWasAsked) {
  for (const int count : {0, -2}) {
    const std::string why = rejection(t_, CpuPolicy::compact(count));
    EXPECT_NE(why.find("count must be at least 1"), std::string::npos) << why;
  }
  const int missing = static_cast<int>(t_.cpus().size()) + 7;
  for (const CpuPolicy& policy :
       {CpuPolicy::same_numa_as(missing, 1), CpuPolicy::other_numa_than(missing, 1),
        CpuPolicy::compact(1).excluding({missing})}) {
    const std::string why = rejection(t_, policy);
    EXPECT_NE(
        why.find("CPU " + std::to_string(missing) + " is not a usable CPU of " + t_.description()),
        std::string::npos)
        << why;
  }
}

INSTANTIATE_TEST_SUITE_P(Machines, PolicyOnStock,
                         testing::Values("this-2core", "server-1s16c-smt", "server-2s64c-numa",
                                         "epyc-8numa"),
                         [](const testing::TestParamInfo<const char*>& param) {
                           std::string name = param.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// --- Exact picks on the named machines ----------------------------------------------------------

TEST(PickCpus, TwoCoreVmExclusion) {
  const Topology t = Topology::stock("this-2core");
  EXPECT_EQ(pick_cpus(t, CpuPolicy::compact(1).excluding({0})), std::vector<int>{1});
  EXPECT_EQ(pick_cpus(t, CpuPolicy::skip_smt(2)), (std::vector<int>{0, 1}));
  const std::string why = rejection(t, CpuPolicy::compact(2).excluding({0}));
  EXPECT_NE(why.find("only 1 qualify (2 usable CPUs, 1 not excluded)"), std::string::npos) << why;
}

TEST(PickCpus, SixteenCoreServerSiblings) {
  const Topology t = Topology::stock("server-1s16c-smt");
  EXPECT_EQ(pick_cpus(t, CpuPolicy::compact(4)), (std::vector<int>{0, 16, 1, 17}));
  EXPECT_EQ(pick_cpus(t, CpuPolicy::skip_smt(kAll)), range(0, 15));
  std::vector<int> twenty = range(0, 15);
  for (const int s : range(16, 19)) {
    twenty.push_back(s);
  }
  EXPECT_EQ(pick_cpus(t, CpuPolicy::compact(20).with_smt(Smt::siblings_last)), twenty);
  // Core 0's first PU is excluded, so its sibling 16 stands for it (exclude siblings too, via
  // smt_siblings(), to keep off a core entirely).
  std::vector<int> core0_by_sibling = {16};
  for (const int c : range(1, 15)) {
    core0_by_sibling.push_back(c);
  }
  EXPECT_EQ(pick_cpus(t, CpuPolicy::skip_smt(kAll).excluding({0})), core0_by_sibling);
  EXPECT_EQ(pick_cpus(t, CpuPolicy::skip_smt(kAll).excluding(t.smt_siblings(0))), range(1, 15));
}

TEST(PickCpus, TwoSocketSpreadAndCrossNuma) {
  const Topology t = Topology::stock("server-2s64c-numa");
  EXPECT_EQ(pick_cpus(t, CpuPolicy::spread_packages(4)), (std::vector<int>{0, 32, 64, 96}));
  EXPECT_EQ(pick_cpus(t, CpuPolicy::spread_packages(4).with_smt(Smt::siblings_last)),
            (std::vector<int>{0, 32, 1, 33}));
  EXPECT_EQ(pick_cpus(t, CpuPolicy::other_numa_than(0, 3)), (std::vector<int>{32, 96, 33}));
  EXPECT_EQ(pick_cpus(t, CpuPolicy::other_numa_than(40, 2)), (std::vector<int>{0, 64}));
  // RX on CPUs 0 and 32 (one per package), workers one per core on package 0, not the RX cores.
  const std::vector<int> rx = pick_cpus(t, CpuPolicy::spread_packages(2));
  EXPECT_EQ(rx, (std::vector<int>{0, 32}));
  const std::vector<int> workers = pick_cpus(
      t, CpuPolicy::same_numa_as(0, 31).with_smt(Smt::never).excluding(t.smt_siblings(0)));
  EXPECT_EQ(workers, range(1, 31));
}

TEST(PickCpus, EpycSpreadsOverPackagesThenNodes) {
  const Topology t = Topology::stock("epyc-8numa");
  EXPECT_EQ(pick_cpus(t, CpuPolicy::spread_packages(8).with_smt(Smt::never)),
            (std::vector<int>{0, 64, 16, 80, 32, 96, 48, 112}));
  EXPECT_EQ(pick_cpus(t, CpuPolicy::same_numa_as(200, 4)), (std::vector<int>{64, 192, 65, 193}));
  EXPECT_EQ(pick_cpus(t, CpuPolicy::same_numa_as(200, 4).with_smt(Smt::never)),
            (std::vector<int>{64, 65, 66, 67}));
  const std::string why =
      rejection(t, CpuPolicy::same_numa_as(0, 40).with_smt(Smt::never).excluding({0, 1}));
  EXPECT_NE(why.find("pick_cpus(40 CPUs on the NUMA node of CPU 0, one per core, compact, "
                     "excluding {0, 1}): only 16 qualify (32 CPUs on NUMA node 0 of 8, 30 not "
                     "excluded, on 16 distinct cores) in stock epyc-8numa"),
            std::string::npos)
      << why;
}

TEST(PickCpus, PolicyDescriptions) {
  EXPECT_EQ(to_string(CpuPolicy::compact(1)), "1 CPU, SMT siblings in logical order, compact");
  EXPECT_EQ(to_string(CpuPolicy::spread_packages(kAll).with_smt(Smt::siblings_last)),
            "all CPUs, SMT siblings last, spread across packages");
  EXPECT_EQ(to_string(CpuPolicy::other_numa_than(3, 2).excluding({4})),
            "2 CPUs off the NUMA node of CPU 3, SMT siblings in logical order, compact, "
            "excluding {4}");
}

TEST(PickCpus, ThisMachineCompactIsEveryUsableCpu) {
  const Topology t = Topology::discover();
  EXPECT_EQ(pick_cpus(t, CpuPolicy::compact(kAll)), all_os(t));
  const int first = t.cpus().front().os_index;
  const std::vector<int> local = pick_cpus(t, CpuPolicy::same_numa_as(first, kAll));
  EXPECT_EQ(local, t.numa_node(t.cpu(first).numa).cpus);
}

}  // namespace
