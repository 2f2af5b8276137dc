// SPDX-License-Identifier: MIT
// xmaps::topology: discovery on this machine (whatever its size), synthetic and XML topologies,
// thread pinning and NUMA-bound memory. Nothing here assumes a CPU count: the suite passes on 1,
// 2 or many CPUs and on a single package or NUMA node. The stock machines are tested in
// topology_stock_test.cc, CPU policies in topology_policy_test.cc.
#include "xmaps/topology.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <linux/mempolicy.h>  // MPOL_BIND, MPOL_F_ADDR, MPOL_MF_STRICT (kernel UAPI)
#include <new>
#include <sched.h>
#include <set>
#include <stdexcept>
#include <string>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "xmaps/cpu.h"
#include "xmaps/topology/cpu_policy.h"
#include "xmaps/topology/numa_memory.h"

namespace {

using xmaps::topology::Cache;
using xmaps::topology::Cpu;
using xmaps::topology::CpuPolicy;
using xmaps::topology::DistanceClass;
using xmaps::topology::NumaMemory;
using xmaps::topology::pick_cpus;
using xmaps::topology::pin_this_thread;
using xmaps::topology::Topology;

// A file in topology/machines/ (the directory comes from tests/CMakeLists.txt).
std::filesystem::path machine_file(const char* name) {
  return std::filesystem::path(XMAPS_TOPOLOGY_MACHINES_DIR) / name;
}

// Every index a Cpu carries is in range and OS indices are unique.
void expect_consistent(const Topology& t) {
  ASSERT_FALSE(t.cpus().empty());
  EXPECT_GE(t.packages(), 1);
  EXPECT_GE(t.numa_nodes(), 1);
  EXPECT_GE(t.cores(), 1);
  EXPECT_LE(t.cores(), static_cast<int>(t.cpus().size()));
  EXPECT_LE(t.packages(), t.cores());
  EXPECT_GE(t.complete_pu_count(), static_cast<int>(t.cpus().size()));
  std::set<int> os_indices;
  for (const Cpu& cpu : t.cpus()) {
    SCOPED_TRACE("os_index " + std::to_string(cpu.os_index));
    EXPECT_GE(cpu.os_index, 0);
    EXPECT_TRUE(os_indices.insert(cpu.os_index).second) << "duplicate OS index";
    EXPECT_GE(cpu.core, 0);
    EXPECT_LT(cpu.core, t.cores());
    EXPECT_GE(cpu.package, 0);
    EXPECT_LT(cpu.package, t.packages());
    EXPECT_GE(cpu.numa, 0);
    EXPECT_LT(cpu.numa, t.numa_nodes());
  }
}

// The OS CPUs the calling thread may run on.
std::vector<int> affinity_of_this_thread() {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_EQ(sched_getaffinity(0, sizeof(set), &set), 0) << "errno " << errno;
  std::vector<int> cpus;
  for (int i = 0; i < CPU_SETSIZE; ++i) {
    if (CPU_ISSET(i, &set)) {
      cpus.push_back(i);
    }
  }
  return cpus;
}

// Restores the thread's CPU affinity when the test ends.
class AffinityGuard {
 public:
  AffinityGuard() {
    CPU_ZERO(&saved_);
    sched_getaffinity(0, sizeof(saved_), &saved_);
  }
  ~AffinityGuard() { sched_setaffinity(0, sizeof(saved_), &saved_); }
  AffinityGuard(const AffinityGuard&) = delete;
  AffinityGuard& operator=(const AffinityGuard&) = delete;
  AffinityGuard(AffinityGuard&&) = delete;
  AffinityGuard& operator=(AffinityGuard&&) = delete;

 private:
  cpu_set_t saved_{};
};

TEST(Topology, DiscoverDescribesThisMachineWhateverItsSize) {
  const Topology t = Topology::discover();
  expect_consistent(t);
  EXPECT_NE(t.description().find("this system"), std::string::npos) << t.description();
  std::cout << "[          ] " << t.description() << '\n';
}

TEST(Topology, DiscoverListsEveryCpuThisThreadMayRunOn) {
  const Topology t = Topology::discover();
  std::set<int> known;
  for (const Cpu& cpu : t.cpus()) {
    known.insert(cpu.os_index);
  }
  for (const int cpu : affinity_of_this_thread()) {
    EXPECT_TRUE(known.count(cpu) == 1) << "CPU " << cpu << " is allowed but not in cpus()";
  }
}

TEST(Topology, CompletePuCountEqualsPossibleCpus) {
  // Both come from the kernel's possible set (hwloc's complete cpuset; xmaps reads
  // /sys/devices/system/cpu/possible), which per-CPU maps are sized by.
  EXPECT_EQ(Topology::discover().complete_pu_count(), xmaps::possible_cpus());
}

TEST(Topology, CopiesShareTheSameView) {
  const Topology t = Topology::discover();
  const Topology copy = t;  // NOLINT(performance-unnecessary-copy-initialization): the point
  EXPECT_EQ(copy.cpus(), t.cpus());
  EXPECT_EQ(copy.description(), t.description());
}

TEST(Topology, SyntheticTwoPackagesFourNumaNodesSmt2) {
  const Topology t = Topology::from_synthetic("pack:2 numa:2 core:4 pu:2");
  expect_consistent(t);
  ASSERT_EQ(t.cpus().size(), 32U);
  EXPECT_EQ(t.packages(), 2);
  EXPECT_EQ(t.numa_nodes(), 4);
  EXPECT_EQ(t.cores(), 16);
  EXPECT_EQ(t.complete_pu_count(), 32);
  // Logical order: PU i sits on core i/2, NUMA node i/8, package i/16.
  for (int i = 0; i < 32; ++i) {
    const Cpu& cpu = t.cpus()[static_cast<std::size_t>(i)];
    EXPECT_EQ(cpu, (Cpu{i, i / 2, i / 16, i / 8})) << "PU " << i;
  }
  EXPECT_EQ(t.description(),
            "synthetic \"pack:2 numa:2 core:4 pu:2\": 32 PUs, 16 cores, 2 packages, 4 NUMA nodes "
            "(complete cpuset: 32 PUs)");
}

TEST(Topology, SyntheticWithoutNumaLevelHasOneNode) {
  const Topology t = Topology::from_synthetic("pack:1 core:3 pu:1");
  expect_consistent(t);
  EXPECT_EQ(t.cpus().size(), 3U);
  EXPECT_EQ(t.cores(), 3);
  EXPECT_EQ(t.packages(), 1);
  EXPECT_EQ(t.numa_nodes(), 1);
}

TEST(Topology, BadSyntheticDescriptionThrowsInvalidArgument) {
  for (const char* bad : {"pack:2 bogus:3 pu:2", "pack:x pu:2", "pu:2 core:2"}) {
    SCOPED_TRACE(bad);
    try {
      (void)Topology::from_synthetic(bad);
      ADD_FAILURE() << "no exception";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(Topology, EmptyOrZeroCountSyntheticDescriptionsAreRejected) {
  for (const char* bad : {"", "pack:0 pu:1", "core:2 pu:0"}) {
    SCOPED_TRACE(bad);
    try {
      (void)Topology::from_synthetic(bad);
      ADD_FAILURE() << "no exception";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("'" + std::string(bad) + "'"), std::string::npos)
          << e.what();
    }
  }
}

TEST(Topology, DiscoverReportsNodesCachesAndDistancesConsistently) {
  const Topology t = Topology::discover();
  EXPECT_TRUE(t.is_this_system());
  EXPECT_FALSE(Topology::from_synthetic("pack:1 core:2 pu:1").is_this_system());
  std::set<int> on_nodes;
  for (int n = 0; n < t.numa_nodes(); ++n) {
    const xmaps::topology::NumaNode& node = t.numa_node(n);
    EXPECT_EQ(node.logical_index, n);
    EXPECT_GE(node.os_index, 0);
    if (!node.cpus.empty()) {
      EXPECT_GT(node.local_memory, 0U) << "hwloc reads it from /sys/devices/system/node";
    }
    for (const int cpu : node.cpus) {
      EXPECT_EQ(t.cpu(cpu).numa, n);
      on_nodes.insert(cpu);
    }
  }
  EXPECT_EQ(on_nodes.size(), t.cpus().size());
  const xmaps::topology::NumaDistances& d = t.numa_distances();
  ASSERT_EQ(d.nodes, t.numa_nodes());
  for (int n = 0; n < d.nodes; ++n) {
    EXPECT_EQ(d.at(n, n), 10U) << "the SLIT's local distance";
  }
  for (const Cpu& cpu : t.cpus()) {
    EXPECT_EQ(t.distance_class(cpu.os_index, cpu.os_index), DistanceClass::same_cpu);
    for (int level = 1; level <= 3; ++level) {
      if (const Cache* cache = t.cache_of(cpu.os_index, level); cache != nullptr) {
        EXPECT_NE(std::find(cache->cpus.begin(), cache->cpus.end(), cpu.os_index),
                  cache->cpus.end());
      }
    }
  }
  std::cout << "[          ] NUMA distances: " << d.values.size() << " values, source "
            << static_cast<int>(d.source) << " '" << d.name << "'; " << t.caches().size()
            << " caches; node 0: OS " << t.numa_node(0).os_index << ", "
            << t.numa_node(0).local_memory << " bytes\n";
}

TEST(Topology, StockXmlOfThisTwoCoreMachineLoads) {
  const Topology t = Topology::from_xml(machine_file("this-2core.xml"));
  expect_consistent(t);
  ASSERT_EQ(t.cpus().size(), 2U);
  EXPECT_EQ(t.cores(), 2);
  EXPECT_EQ(t.packages(), 1);
  EXPECT_EQ(t.numa_nodes(), 1);
  EXPECT_EQ(t.complete_pu_count(), 2);
  EXPECT_EQ(t.cpus()[0], (Cpu{0, 0, 0, 0}));
  EXPECT_EQ(t.cpus()[1], (Cpu{1, 1, 0, 0}));
  EXPECT_EQ(t.description(),
            "xml this-2core.xml: 2 PUs, 2 cores, 1 package, 1 NUMA node (complete cpuset: 2 PUs)");
}

TEST(Topology, MissingXmlThrowsSystemErrorNamingTheFile) {
  try {
    (void)Topology::from_xml(machine_file("no-such-machine.xml"));
    FAIL() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    EXPECT_NE(std::string(e.what()).find("no-such-machine.xml"), std::string::npos) << e.what();
  }
}

TEST(Topology, XmlThatIsNotAnHwlocExportThrowsInvalidArgument) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("xmaps-topology-test-" + std::to_string(getpid()) + ".xml");
  std::ofstream(path) << "<?xml version=\"1.0\"?>\n<notatopology/>\n";
  EXPECT_THROW((void)Topology::from_xml(path), std::invalid_argument);
  std::filesystem::remove(path);
}

TEST(PinThisThread, FirstAllowedCpuAgreesWithSchedGetcpu) {
  const Topology t = Topology::discover();
  const std::vector<int> allowed = affinity_of_this_thread();
  ASSERT_FALSE(allowed.empty());
  // The first PU in hwloc order that this thread may use.
  const auto first = std::find_if(t.cpus().begin(), t.cpus().end(), [&](const Cpu& cpu) {
    return std::find(allowed.begin(), allowed.end(), cpu.os_index) != allowed.end();
  });
  ASSERT_NE(first, t.cpus().end());
  const AffinityGuard guard;
  ASSERT_TRUE(pin_this_thread(first->os_index)) << "errno " << errno;
  EXPECT_EQ(affinity_of_this_thread(), std::vector<int>{first->os_index});
  // sched_setaffinity migrates the caller before returning, and it cannot move again.
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(sched_getcpu(), first->os_index);
    std::this_thread::yield();
  }
}

TEST(PinThisThread, EveryAllowedCpuFromItsOwnThread) {
  for (const int cpu : affinity_of_this_thread()) {
    int seen = -1;
    std::error_code error;
    bool pinned = false;
    std::thread([&] {
      pinned = pin_this_thread(cpu, error);
      seen = sched_getcpu();
    }).join();
    EXPECT_TRUE(pinned) << "CPU " << cpu << ": " << error.message();
    EXPECT_EQ(seen, cpu);
  }
}

TEST(PinThisThread, InvalidCpuFailsWithEinval) {
  const AffinityGuard guard;
  const std::vector<int> before = affinity_of_this_thread();
  errno = 0;
  EXPECT_FALSE(pin_this_thread(-1));
  EXPECT_EQ(errno, EINVAL);

  // One past every CPU the kernel could ever bring online.
  std::error_code error;
  EXPECT_FALSE(pin_this_thread(Topology::discover().complete_pu_count() + 64, error));
  EXPECT_EQ(error, std::errc::invalid_argument) << error.message();
  EXPECT_EQ(affinity_of_this_thread(), before) << "a failed pin changed the affinity";
}

TEST(PinThisThread, EachCoreOfAPolicyFromItsOwnThread) {
  const Topology t = Topology::discover();
  const std::vector<int> allowed = affinity_of_this_thread();
  for (const int cpu : pick_cpus(t, CpuPolicy::skip_smt(CpuPolicy::kAll))) {
    if (std::find(allowed.begin(), allowed.end(), cpu) == allowed.end()) {
      continue;  // in hwloc's usable set but not this thread's affinity (a narrower taskset)
    }
    int seen = -1;
    bool pinned = false;
    std::thread([&] {
      pinned = pin_this_thread(cpu);
      seen = sched_getcpu();
    }).join();
    EXPECT_TRUE(pinned) << "CPU " << cpu;
    EXPECT_EQ(seen, cpu);
  }
}

// --- NumaMemory ---------------------------------------------------------------------------------

// Whether this kernel and sandbox let a process bind memory to node `os_node` (the raw mbind
// that hwloc issues; seccomp profiles often deny it without CAP_SYS_NICE).
bool kernel_allows_mbind(int os_node) {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  void* p = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return false;
  }
  std::vector<unsigned long> mask(static_cast<std::size_t>(os_node) / 64 + 1, 0);
  mask[static_cast<std::size_t>(os_node) / 64] |= 1UL << (os_node % 64);
  const long rc =
      syscall(SYS_mbind, p, page, MPOL_BIND, mask.data(), mask.size() * 64 + 1, MPOL_MF_STRICT);
  munmap(p, page);
  return rc == 0;
}

// The kernel's policy for the page at `addr`: {mode, whether node `os_node` is in its mask}.
std::pair<int, bool> policy_of(void* addr, int os_node) {
  int mode = -1;
  std::vector<unsigned long> mask(1024 / 64, 0);
  const long rc =
      syscall(SYS_get_mempolicy, &mode, mask.data(), mask.size() * 64, addr, MPOL_F_ADDR);
  EXPECT_EQ(rc, 0) << "get_mempolicy: errno " << errno;
  const bool in_mask = (mask[static_cast<std::size_t>(os_node) / 64] >> (os_node % 64) & 1UL) != 0;
  return {mode, in_mask};
}

// data() is page-aligned, zero-filled, and every byte of size() can be written and read back.
void expect_usable(const NumaMemory& m) {
  ASSERT_NE(m.data(), nullptr);
  const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(m.data()) % page, 0U);
  auto* bytes = static_cast<unsigned char*>(m.data());
  EXPECT_TRUE(std::all_of(bytes, bytes + m.size(), [](unsigned char b) { return b == 0; }));
  for (std::size_t i = 0; i < m.size(); ++i) {
    bytes[i] = static_cast<unsigned char>(i * 7);
  }
  for (std::size_t i = 0; i < m.size(); i += 4093) {
    ASSERT_EQ(bytes[i], static_cast<unsigned char>(i * 7)) << i;
  }
}

TEST(NumaMemory, OnThisMachineIsBoundWhereTheKernelAllows) {
  const Topology t = Topology::discover();
  for (int n = 0; n < t.numa_nodes(); ++n) {
    SCOPED_TRACE("node " + std::to_string(n));
    const int os_node = t.numa_node(n).os_index;
    const NumaMemory m(t, n, (1U << 20) + 1);  // not a whole number of pages
    EXPECT_EQ(m.node(), n);
    EXPECT_EQ(m.size(), (1U << 20) + 1);
    expect_usable(m);
    const bool allowed = kernel_allows_mbind(os_node);
    std::cout << "[          ] node " << n << " (OS " << os_node << "): mbind "
              << (allowed ? "allowed" : "refused") << ", bound() " << m.bound() << '\n';
    EXPECT_EQ(m.bound(), allowed);
    if (m.bound()) {
      const auto [mode, in_mask] = policy_of(m.data(), os_node);
      EXPECT_EQ(mode, MPOL_BIND);
      EXPECT_TRUE(in_mask);
    }
  }
}

TEST(NumaMemory, OnALoadedTopologyFallsBackToOrdinaryMemory) {
  const Topology t = Topology::stock("server-2s64c-numa");
  const NumaMemory m(t, 1, std::size_t{3} * 4096);
  EXPECT_FALSE(m.bound());
  EXPECT_EQ(m.node(), 1);
  EXPECT_EQ(m.size(), 3U * 4096);
  expect_usable(m);
  const NumaMemory s(Topology::from_synthetic("pack:2 numa:2 core:2 pu:1"), 3, 100);
  EXPECT_FALSE(s.bound());
  expect_usable(s);
}

TEST(NumaMemory, BadNodeOrSizeThrows) {
  const Topology t = Topology::stock("server-2s64c-numa");
  EXPECT_THROW(NumaMemory(t, -1, 4096), std::out_of_range);
  EXPECT_THROW(NumaMemory(t, 2, 4096), std::out_of_range);
  EXPECT_THROW(NumaMemory(t, 0, 0), std::invalid_argument);
  EXPECT_THROW(NumaMemory(t, 0, std::numeric_limits<std::size_t>::max()), std::bad_alloc);
  EXPECT_THROW(NumaMemory(Topology::discover(), 0, std::numeric_limits<std::size_t>::max() / 2),
               std::bad_alloc);
}

TEST(NumaMemory, MovesTransferOwnership) {
  const Topology t = Topology::discover();
  NumaMemory a(t, 0, 8192);
  void* const block = a.data();
  const bool bound = a.bound();
  NumaMemory b(std::move(a));
  EXPECT_EQ(b.data(), block);
  EXPECT_EQ(b.size(), 8192U);
  EXPECT_EQ(b.bound(), bound);
  // The moved-from state is part of the contract.
  // NOLINTBEGIN(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(a.size(), 0U);
  EXPECT_FALSE(a.bound());
  // NOLINTEND(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  NumaMemory c(Topology::stock("this-2core"), 0, 100);
  c = std::move(b);  // frees c's own block first (ASan would report a leak otherwise)
  EXPECT_EQ(c.data(), block);
  expect_usable(c);
}

TEST(NumaMemory, ThreadsAllocateFromOneTopologyConcurrently) {
  const Topology t = Topology::discover();
  std::atomic<int> failures{0};
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&t, &failures, i] {
      for (int round = 0; round < 25; ++round) {
        NumaMemory m(t, 0, 4096 * static_cast<std::size_t>(1 + (i + round) % 4));
        std::memset(m.data(), i, m.size());
        if (static_cast<unsigned char*>(m.data())[m.size() - 1] != i) {
          failures.fetch_add(1, std::memory_order_relaxed);  // counted; read after join()
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(failures.load(std::memory_order_relaxed), 0);
}

}  // namespace
