// SPDX-License-Identifier: MIT
// xmaps::topology on the stock machines (topology/machines/): each loads with the packages,
// NUMA nodes, cores, PUs, caches, node memory and NUMA distances its generator asked for
// (topology/machines/generate.sh), and distance_class() classifies CPU pairs on them and on
// small synthetic machines. Nothing here depends on the machine the tests run on.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "xmaps/topology.h"

namespace {

using xmaps::topology::Cache;
using xmaps::topology::Cpu;
using xmaps::topology::DistanceClass;
using xmaps::topology::NumaDistances;
using xmaps::topology::NumaNode;
using xmaps::topology::Topology;

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = 1024 * kKiB;
constexpr std::uint64_t kGiB = 1024 * kMiB;

// What a stock machine should contain. Caches of one level all have the same size here.
struct Machine {
  const char* name;
  int packages;
  int numa_nodes;
  int cores;
  int pus;
  int l1_count;
  std::uint64_t l1_size;
  int l2_count;
  std::uint64_t l2_size;
  int l3_count;
  std::uint64_t l3_size;
  std::uint64_t node_memory;  // per node
  NumaDistances::Source distance_source;
  // The expected SLIT value between two NUMA nodes (logical indices).
  std::uint64_t (*distance)(int from, int to);
  // The OS index of the SMT sibling of the first PU of core `core` (-1: no SMT).
  int (*sibling_of)(int os_index);
};

std::uint64_t local_only(int from, int to) {
  return from == to ? 10 : 20;
}
std::uint64_t two_socket(int from, int to) {
  return from == to ? 10 : 21;
}
std::uint64_t epyc(int from, int to) {
  if (from == to) {
    return 10;
  }
  return from / 4 == to / 4 ? 12 : 32;
}

constexpr std::array<Machine, 4> kMachines = {{
    // lstopo export of the 2-core VM: per-core L1d/L2 and (as this hypervisor reports it) L3.
    {"this-2core", 1, 1, 2, 2, 2, 48 * kKiB, 2, 1 * kMiB, 2, 508 * kMiB, 4791762944U,
     NumaDistances::Source::fallback, local_only, [](int) { return -1; }},
    {"server-1s16c-smt", 1, 1, 16, 32, 16, 48 * kKiB, 16, 1280 * kKiB, 1, 24 * kMiB, 64 * kGiB,
     NumaDistances::Source::fallback, local_only, [](int c) { return c + 16; }},
    {"server-2s64c-numa", 2, 2, 64, 128, 64, 48 * kKiB, 64, 1280 * kKiB, 2, 48 * kMiB, 256 * kGiB,
     NumaDistances::Source::latency, two_socket, [](int c) { return c + 64; }},
    {"epyc-8numa", 2, 8, 128, 256, 128, 32 * kKiB, 128, 512 * kKiB, 16, 32 * kMiB, 128 * kGiB,
     NumaDistances::Source::latency, epyc, [](int c) { return c + 128; }},
}};

class StockMachine : public testing::TestWithParam<Machine> {};

TEST(StockTopology, NamesListEveryShippedMachine) {
  const std::vector<std::string> names = Topology::stock_names();
  for (const Machine& m : kMachines) {
    EXPECT_EQ(std::count(names.begin(), names.end(), m.name), 1) << m.name;
  }
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST(StockTopology, UnknownNameThrowsListingTheAvailableNames) {
  for (const char* bad : {"no-such-machine", "../machines/this-2core", "/etc/passwd", ""}) {
    SCOPED_TRACE(bad);
    try {
      (void)Topology::stock(bad);
      ADD_FAILURE() << "no exception";
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("'" + std::string(bad) + "'"), std::string::npos) << what;
      for (const Machine& m : kMachines) {
        EXPECT_NE(what.find(m.name), std::string::npos) << what;
      }
    }
  }
}

TEST(StockTopology, NameMayEndInXml) {
  EXPECT_EQ(Topology::stock("this-2core.xml").description(),
            Topology::stock("this-2core").description());
}

TEST(StockTopology, EnvironmentDirectoryIsSearchedFirst) {
  // A private directory holding a "this-2core" that is really the 16-core server.
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("xmaps-machines-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(
      std::filesystem::path(XMAPS_TOPOLOGY_MACHINES_DIR) / "server-1s16c-smt.xml",
      dir / "this-2core.xml", std::filesystem::copy_options::overwrite_existing);
  // NOLINTNEXTLINE(concurrency-mt-unsafe): no other thread runs during this test
  ASSERT_EQ(setenv("XMAPS_MACHINES_DIR", dir.c_str(), 1), 0);
  const Topology t = Topology::stock("this-2core");
  ASSERT_EQ(unsetenv("XMAPS_MACHINES_DIR"), 0);  // NOLINT(concurrency-mt-unsafe): as above
  std::filesystem::remove_all(dir);
  EXPECT_EQ(t.cpus().size(), 32U);
  EXPECT_EQ(Topology::stock("this-2core").cpus().size(), 2U);
}

TEST_P(StockMachine, LoadsWithTheExpectedShape) {
  const Machine& m = GetParam();
  const Topology t = Topology::stock(m.name);
  EXPECT_FALSE(t.is_this_system());
  EXPECT_EQ(t.description().rfind("stock " + std::string(m.name) + ": ", 0), 0U) << t.description();
  EXPECT_EQ(t.packages(), m.packages);
  EXPECT_EQ(t.numa_nodes(), m.numa_nodes);
  EXPECT_EQ(t.cores(), m.cores);
  ASSERT_EQ(static_cast<int>(t.cpus().size()), m.pus);
  EXPECT_EQ(t.complete_pu_count(), m.pus);
  // Stock from_xml() and stock() see the same machine.
  EXPECT_EQ(Topology::from_xml(std::filesystem::path(XMAPS_TOPOLOGY_MACHINES_DIR) /
                               (std::string(m.name) + ".xml"))
                .cpus(),
            t.cpus());

  std::set<int> os;
  for (const Cpu& cpu : t.cpus()) {
    EXPECT_TRUE(os.insert(cpu.os_index).second) << "duplicate CPU " << cpu.os_index;
    EXPECT_TRUE(t.has_cpu(cpu.os_index));
    EXPECT_EQ(t.cpu(cpu.os_index), cpu);
    EXPECT_LT(cpu.core, m.cores);
    EXPECT_LT(cpu.package, m.packages);
    EXPECT_LT(cpu.numa, m.numa_nodes);
  }
  EXPECT_EQ(*os.begin(), 0);
  EXPECT_EQ(*os.rbegin(), m.pus - 1);  // OS indices 0 .. pus-1, as Linux numbers them
  EXPECT_FALSE(t.has_cpu(m.pus));
  EXPECT_FALSE(t.has_cpu(-1));
  EXPECT_THROW((void)t.cpu(m.pus), std::out_of_range);
}

TEST_P(StockMachine, SmtSiblingsFollowLinuxNumbering) {
  const Machine& m = GetParam();
  const Topology t = Topology::stock(m.name);
  const int threads_per_core = m.pus / m.cores;
  for (const Cpu& cpu : t.cpus()) {
    const std::vector<int> siblings = t.smt_siblings(cpu.os_index);
    ASSERT_EQ(static_cast<int>(siblings.size()), threads_per_core) << "CPU " << cpu.os_index;
    EXPECT_NE(std::find(siblings.begin(), siblings.end(), cpu.os_index), siblings.end());
    for (const int s : siblings) {
      EXPECT_EQ(t.cpu(s).core, cpu.core);
    }
  }
  // CPU c (c < cores) is the first thread of core c; its sibling is c + cores.
  for (int c = 0; c < m.cores && threads_per_core > 1; ++c) {
    EXPECT_EQ(t.smt_siblings(c), (std::vector<int>{c, m.sibling_of(c)}));
  }
  EXPECT_THROW((void)t.smt_siblings(m.pus), std::out_of_range);
}

TEST_P(StockMachine, CachesPartitionTheCpusAtEachLevel) {
  const Machine& m = GetParam();
  const Topology t = Topology::stock(m.name);
  const std::map<int, std::pair<int, std::uint64_t>> expected = {
      {1, {m.l1_count, m.l1_size}}, {2, {m.l2_count, m.l2_size}}, {3, {m.l3_count, m.l3_size}}};
  std::map<int, int> per_level;
  int previous_level = 0;
  for (const Cache& cache : t.caches()) {
    SCOPED_TRACE("L" + std::to_string(cache.level) + " #" + std::to_string(cache.logical_index));
    EXPECT_GE(cache.level, previous_level) << "caches() not ordered by level";
    previous_level = cache.level;
    EXPECT_EQ(cache.logical_index, per_level[cache.level]++);
    ASSERT_EQ(expected.count(cache.level), 1U);
    EXPECT_EQ(cache.size, expected.at(cache.level).second);
    EXPECT_EQ(cache.line_size, 64);
    EXPECT_TRUE(std::is_sorted(cache.cpus.begin(), cache.cpus.end()));
    EXPECT_EQ(static_cast<int>(cache.cpus.size()), m.pus / expected.at(cache.level).first);
  }
  for (const auto& [level, count_size] : expected) {
    EXPECT_EQ(per_level[level], count_size.first) << "L" << level;
  }
  // Each CPU's cache at each level contains it, and its sharers have the same cache.
  for (const Cpu& cpu : t.cpus()) {
    for (int level = 1; level <= 3; ++level) {
      const Cache* cache = t.cache_of(cpu.os_index, level);
      ASSERT_NE(cache, nullptr) << "CPU " << cpu.os_index << " L" << level;
      EXPECT_EQ(cache->level, level);
      EXPECT_NE(std::find(cache->cpus.begin(), cache->cpus.end(), cpu.os_index), cache->cpus.end());
      for (const int other : cache->cpus) {
        EXPECT_EQ(t.cache_of(other, level), cache);
      }
    }
    EXPECT_EQ(t.cache_of(cpu.os_index, 4), nullptr);
    EXPECT_EQ(t.cache_of(cpu.os_index, 0), nullptr);
  }
}

TEST_P(StockMachine, NumaNodesHaveOsIndexMemoryAndCpus) {
  const Machine& m = GetParam();
  const Topology t = Topology::stock(m.name);
  std::set<int> seen;
  for (int i = 0; i < t.numa_nodes(); ++i) {
    const NumaNode& node = t.numa_node(i);
    EXPECT_EQ(node.logical_index, i);
    EXPECT_EQ(node.os_index, i);
    EXPECT_EQ(node.local_memory, m.node_memory);
    EXPECT_EQ(static_cast<int>(node.cpus.size()), m.pus / m.numa_nodes);
    for (const int cpu : node.cpus) {
      EXPECT_EQ(t.cpu(cpu).numa, i);
      EXPECT_TRUE(seen.insert(cpu).second);
    }
  }
  EXPECT_EQ(static_cast<int>(seen.size()), m.pus);
  EXPECT_THROW((void)t.numa_node(-1), std::out_of_range);
  EXPECT_THROW((void)t.numa_node(m.numa_nodes), std::out_of_range);
}

TEST_P(StockMachine, NumaDistancesAreTheAnnotatedSlit) {
  const Machine& m = GetParam();
  const Topology t = Topology::stock(m.name);
  const NumaDistances& d = t.numa_distances();
  EXPECT_EQ(d.source, m.distance_source);
  EXPECT_EQ(d.name, m.distance_source == NumaDistances::Source::latency ? "NUMALatency" : "");
  ASSERT_EQ(d.nodes, m.numa_nodes);
  ASSERT_EQ(d.values.size(), static_cast<std::size_t>(m.numa_nodes * m.numa_nodes));
  for (int from = 0; from < d.nodes; ++from) {
    for (int to = 0; to < d.nodes; ++to) {
      EXPECT_EQ(d.at(from, to), m.distance(from, to)) << from << " -> " << to;
      EXPECT_EQ(d.values[static_cast<std::size_t>(from * d.nodes + to)], d.at(from, to));
    }
  }
  EXPECT_THROW((void)d.at(0, d.nodes), std::out_of_range);
  EXPECT_THROW((void)d.at(-1, 0), std::out_of_range);
}

TEST_P(StockMachine, DistanceClassesFromCpuZeroAddUp) {
  const Machine& m = GetParam();
  const Topology t = Topology::stock(m.name);
  std::map<DistanceClass, int> from_zero;
  for (const Cpu& cpu : t.cpus()) {
    const DistanceClass c = t.distance_class(0, cpu.os_index);
    EXPECT_EQ(t.distance_class(cpu.os_index, 0), c) << "not symmetric for CPU " << cpu.os_index;
    ++from_zero[c];
  }
  // Every class by counting: PUs sharing each object with CPU 0, minus the nearer classes.
  const int smt = m.pus / m.cores;
  const int l2 = m.pus / m.l2_count;
  const int l3 = m.pus / m.l3_count;
  const int node = m.pus / m.numa_nodes;
  const int package = m.pus / m.packages;
  EXPECT_EQ(from_zero[DistanceClass::same_cpu], 1);
  EXPECT_EQ(from_zero[DistanceClass::smt_sibling], smt - 1);
  EXPECT_EQ(from_zero[DistanceClass::same_l2], l2 - smt);
  EXPECT_EQ(from_zero[DistanceClass::same_l3], l3 - l2);
  EXPECT_EQ(from_zero[DistanceClass::same_numa], node - l3);
  EXPECT_EQ(from_zero[DistanceClass::same_package], package - node);
  EXPECT_EQ(from_zero[DistanceClass::cross_package], m.pus - package);
}

INSTANTIATE_TEST_SUITE_P(Machines, StockMachine, testing::ValuesIn(kMachines),
                         [](const testing::TestParamInfo<Machine>& param) {
                           std::string name = param.param.name;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(DistanceClass, NamedPairsOnTheEpyc) {
  const Topology t = Topology::stock("epyc-8numa");
  EXPECT_EQ(t.distance_class(5, 5), DistanceClass::same_cpu);
  EXPECT_EQ(t.distance_class(0, 128), DistanceClass::smt_sibling);
  EXPECT_EQ(t.distance_class(0, 7), DistanceClass::same_l3);        // CCX 0: cores 0-7
  EXPECT_EQ(t.distance_class(0, 135), DistanceClass::same_l3);      // core 7's second thread
  EXPECT_EQ(t.distance_class(0, 8), DistanceClass::same_numa);      // CCX 1, node 0
  EXPECT_EQ(t.distance_class(0, 16), DistanceClass::same_package);  // node 1
  EXPECT_EQ(t.distance_class(63, 56), DistanceClass::same_l3);      // node 3, CCX 7
  EXPECT_EQ(t.distance_class(63, 48), DistanceClass::same_numa);    // node 3, CCX 6 and 7
  EXPECT_EQ(t.distance_class(0, 64), DistanceClass::cross_package);
  EXPECT_EQ(t.distance_class(0, 200), DistanceClass::cross_package);  // core 72's thread 2
  EXPECT_EQ(t.distance_class(64, 192), DistanceClass::smt_sibling);
  EXPECT_THROW((void)t.distance_class(0, 256), std::out_of_range);
  EXPECT_THROW((void)t.distance_class(-1, 0), std::out_of_range);
}

TEST(DistanceClass, TwoSocketServer) {
  const Topology t = Topology::stock("server-2s64c-numa");
  EXPECT_EQ(t.distance_class(0, 64), DistanceClass::smt_sibling);
  EXPECT_EQ(t.distance_class(0, 31), DistanceClass::same_l3);
  EXPECT_EQ(t.distance_class(0, 95), DistanceClass::same_l3);  // core 31's second thread
  EXPECT_EQ(t.distance_class(0, 32), DistanceClass::cross_package);
  EXPECT_EQ(t.distance_class(31, 96), DistanceClass::cross_package);
  // A transfer's NUMA cost: the SLIT between the two CPUs' nodes.
  const NumaDistances& d = t.numa_distances();
  EXPECT_EQ(d.at(t.cpu(0).numa, t.cpu(32).numa), 21U);
  EXPECT_EQ(d.at(t.cpu(0).numa, t.cpu(95).numa), 10U);
}

TEST(DistanceClass, ThisTwoCoreVmSharesNoCacheBetweenItsCores) {
  // The hypervisor reports a private L3 per vCPU, so the two CPUs meet only in the NUMA node.
  const Topology t = Topology::stock("this-2core");
  EXPECT_EQ(t.distance_class(0, 1), DistanceClass::same_numa);
}

TEST(DistanceClass, SyntheticMachinesCoverSharedL2AndNoCaches) {
  const Topology shared_l2 = Topology::from_synthetic("pack:1 l3:1 l2:2 core:2 pu:1");
  EXPECT_EQ(shared_l2.distance_class(0, 1), DistanceClass::same_l2);
  EXPECT_EQ(shared_l2.distance_class(0, 2), DistanceClass::same_l3);

  const Topology bare = Topology::from_synthetic("pack:2 numa:2 core:2 pu:1");
  EXPECT_EQ(bare.cache_of(0, 1), nullptr);
  EXPECT_TRUE(bare.caches().empty());
  EXPECT_EQ(bare.distance_class(0, 1), DistanceClass::same_numa);
  EXPECT_EQ(bare.distance_class(0, 2), DistanceClass::same_package);
  EXPECT_EQ(bare.distance_class(0, 4), DistanceClass::cross_package);
}

TEST(DistanceClass, NamesAreTheEnumerators) {
  EXPECT_STREQ(to_string(DistanceClass::same_cpu), "same_cpu");
  EXPECT_STREQ(to_string(DistanceClass::smt_sibling), "smt_sibling");
  EXPECT_STREQ(to_string(DistanceClass::same_l2), "same_l2");
  EXPECT_STREQ(to_string(DistanceClass::same_l3), "same_l3");
  EXPECT_STREQ(to_string(DistanceClass::same_numa), "same_numa");
  EXPECT_STREQ(to_string(DistanceClass::same_package), "same_package");
  EXPECT_STREQ(to_string(DistanceClass::cross_package), "cross_package");
}

// Fallback matrix for a synthetic machine (hwloc has no distances for it): 10 / 20.
TEST(NumaDistances, WithoutAnHwlocMatrixFallBackToSlitDefaults) {
  const Topology t = Topology::from_synthetic("pack:2 numa:2 core:2 pu:1");
  const NumaDistances& d = t.numa_distances();
  EXPECT_EQ(d.source, NumaDistances::Source::fallback);
  EXPECT_EQ(d.name, "");
  ASSERT_EQ(d.nodes, 4);
  EXPECT_EQ(d.values, (std::vector<std::uint64_t>{10, 20, 20, 20, 20, 10, 20, 20, 20, 20, 10, 20,
                                                  20, 20, 20, 10}));
  EXPECT_EQ(Topology::from_synthetic("pack:1 core:2 pu:1").numa_distances().values,
            std::vector<std::uint64_t>{10});
}

// The two-socket XML with its matrix's kind rewritten, loaded from a temporary file.
Topology two_socket_with_kind(const std::string& kind) {
  std::ifstream in(std::filesystem::path(XMAPS_TOPOLOGY_MACHINES_DIR) / "server-2s64c-numa.xml");
  std::stringstream text;
  text << in.rdbuf();
  std::string xml = text.str();
  const std::string from = "kind=\"5\"";
  const std::size_t at = xml.find(from);
  EXPECT_NE(at, std::string::npos);
  xml.replace(at, from.size(), "kind=\"" + kind + "\"");
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("xmaps-distances-" + std::to_string(getpid()) + "-" + kind + ".xml");
  std::ofstream(path) << xml;
  Topology t = Topology::from_xml(path);
  std::filesystem::remove(path);
  return t;
}

TEST(NumaDistances, ANonLatencyRelativeMatrixIsUsedAsIs) {
  // kind 1: HWLOC_DISTANCES_KIND_FROM_OS without a MEANS_* bit (e.g. hop counts).
  const Topology t = two_socket_with_kind("1");
  const NumaDistances& d = t.numa_distances();
  EXPECT_EQ(d.source, NumaDistances::Source::relative);
  EXPECT_EQ(d.values, (std::vector<std::uint64_t>{10, 21, 21, 10}));
}

TEST(NumaDistances, ABandwidthMatrixIsNotADistance) {
  // kind 9: FROM_OS | MEANS_BANDWIDTH (higher is nearer), so the fallback applies.
  const Topology t = two_socket_with_kind("9");
  EXPECT_EQ(t.numa_distances().source, NumaDistances::Source::fallback);
  EXPECT_EQ(t.numa_distances().values, (std::vector<std::uint64_t>{10, 20, 20, 10}));
}

}  // namespace
