// SPDX-License-Identifier: MIT
// xmaps::topology: discovery on this machine (whatever its size), synthetic and XML topologies,
// and thread pinning. Nothing here assumes a CPU count: the suite passes on 1, 2 or many CPUs
// and on a single package.
#include "xmaps/topology.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sched.h>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "xmaps/cpu.h"

namespace {

using xmaps::topology::Cpu;
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

}  // namespace
