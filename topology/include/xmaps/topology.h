// SPDX-License-Identifier: MIT
//
// xmaps::topology: the machine's CPUs as hwloc sees them, in plain C++.
//
// This is the only part of xmaps that talks to hwloc; this header does not include <hwloc.h>.
// A Topology is loaded once (from this system, an XML file exported by `lstopo --of xml`, a
// stock machine in topology/machines/, or an hwloc synthetic description such as
// "pack:2 numa:2 core:4 pu:2") and is immutable after that. Benchmarks use it to choose
// SMT-sibling / same-package / cross-package CPU pairs; the redirect engine and the tests use
// pin_this_thread(); the model mode costs a transfer between two CPUs by distance_class() and
// numa_distances().
//
// Indices. Cpu::os_index is the OS (kernel) CPU number, the one sched_getcpu() returns and
// pin_this_thread() takes; every function here that takes "a CPU" takes an OS index. Cpu::core,
// Cpu::package and Cpu::numa are hwloc *logical* indices, dense from 0: core in [0, cores()),
// package in [0, packages()), numa in [0, numa_nodes()). A machine without Core objects in
// hwloc gets one core per PU; without Package objects, one package; without NUMA nodes, one.
//
// Thread safety: a Topology is immutable and may be read from any number of threads. Copies
// share the loaded hwloc topology (read-only), so copying is cheap.
//
// Errors: the factories throw std::system_error when hwloc cannot initialise or a file cannot
// be read, and std::invalid_argument for a bad synthetic description, unparsable XML or an
// unknown stock name. Lookups by OS CPU index or NUMA node throw std::out_of_range for an index
// the topology does not have.
//
// Related headers: xmaps/topology/cpu_policy.h (pick_cpus: CPU sets by policy) and
// xmaps/topology/numa_memory.h (NumaMemory: memory bound to a NUMA node).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace xmaps::topology {

// One processing unit (hardware thread).
struct Cpu {
  int os_index;  // OS CPU number: what sched_getcpu() returns
  int core;      // logical index of the PU's core
  int package;   // logical index of the PU's package (socket)
  int numa;      // logical index of the PU's local NUMA node

  friend bool operator==(const Cpu&, const Cpu&) = default;
};

// One data or unified CPU cache (hwloc L1..L5 objects; instruction-only caches are left out).
struct Cache {
  int level;              // 1 for L1(d), 2 for L2, ...
  int logical_index;      // index among this level's caches, dense from 0, in hwloc logical order
  std::uint64_t size;     // bytes; 0 if hwloc does not know
  int line_size;          // bytes; 0 if hwloc does not know
  std::vector<int> cpus;  // OS indices of the usable PUs that share this cache, ascending
};

// One NUMA node (memory node), possibly without CPUs (HBM, CXL memory).
struct NumaNode {
  int logical_index;           // hwloc logical index, what Cpu::numa holds; dense from 0
  int os_index;                // the kernel's node number (numactl, /sys/devices/system/node)
  std::uint64_t local_memory;  // bytes of memory in this node; 0 if unknown
  std::vector<int> cpus;       // OS indices of the usable PUs local to it, in logical order
};

// The NUMA distance matrix: relative memory access cost from node `from` to node `to`, scaled
// so that local access is 10, as in the ACPI SLIT (numactl --hardware shows the same table).
struct NumaDistances {
  // Where the values came from.
  enum class Source {
    latency,   // an hwloc matrix of kind HWLOC_DISTANCES_KIND_MEANS_LATENCY (Linux: the SLIT)
    relative,  // another hwloc NUMA matrix that is not a bandwidth (e.g. hops); used as is
    fallback,  // hwloc has none covering every node: 10 on the diagonal, 20 elsewhere
  };

  int nodes = 0;                      // numa_nodes() of the topology
  std::vector<std::uint64_t> values;  // nodes * nodes, row-major: values[from * nodes + to]
  Source source = Source::fallback;
  std::string name;  // hwloc's name for the matrix, e.g. "NUMALatency"; "" if none

  // values[from * nodes + to]; throws std::out_of_range unless both are in [0, nodes).
  [[nodiscard]] std::uint64_t at(int from, int to) const;
};

// How far apart two CPUs are, nearest first, for costing a transfer between them. The class is
// the first of these that holds; "share" means a common hwloc object of that kind.
enum class DistanceClass {
  same_cpu,       // the same PU
  smt_sibling,    // different PUs of one core
  same_l2,        // share an L2 cache (not a core)
  same_l3,        // share an L3 cache (not an L2)
  same_numa,      // the same NUMA node (no shared L2/L3)
  same_package,   // the same package, different NUMA nodes
  cross_package,  // different packages
};

// "same_cpu", "smt_sibling", ... (the enumerator's name).
[[nodiscard]] const char* to_string(DistanceClass distance) noexcept;

class NumaMemory;

class Topology {
 public:
  // This machine, as far as the process may use it: PUs outside the process's allowed cpuset
  // (cgroup, taskset) are left out of cpus(), but still counted in complete_pu_count().
  [[nodiscard]] static Topology discover();

  // A topology exported with `lstopo --of xml FILE` (see topology/machines/). Throws
  // std::system_error if the file cannot be read, std::invalid_argument if hwloc rejects it.
  [[nodiscard]] static Topology from_xml(const std::filesystem::path& path);

  // An hwloc synthetic topology, e.g. "pack:2 numa:2 core:4 pu:2" (hwloc(7), "Synthetic
  // topologies"). Throws std::invalid_argument if hwloc rejects the description.
  [[nodiscard]] static Topology from_synthetic(std::string_view description);

  // A stock topology from topology/machines/ by name, e.g. "epyc-8numa" (".xml" may be given).
  // Searches, in order: $XMAPS_MACHINES_DIR if set, the source tree's topology/machines/ (as
  // compiled in), then the installed ${CMAKE_INSTALL_DATADIR}/xmaps/machines. description()
  // starts with "stock <name>". Throws std::invalid_argument listing stock_names() if no
  // directory has it; otherwise as from_xml().
  [[nodiscard]] static Topology stock(std::string_view name);

  // The names stock() accepts (every *.xml in the searched directories), sorted, no duplicates.
  [[nodiscard]] static std::vector<std::string> stock_names();

  // The usable PUs, ordered by hwloc logical index (package, then core, then SMT sibling).
  [[nodiscard]] const std::vector<Cpu>& cpus() const noexcept;

  [[nodiscard]] int packages() const noexcept;
  [[nodiscard]] int numa_nodes() const noexcept;
  [[nodiscard]] int cores() const noexcept;

  // The usable PU with this OS index. Throws std::out_of_range if there is none.
  [[nodiscard]] const Cpu& cpu(int os_index) const;

  // Whether a usable PU has this OS index.
  [[nodiscard]] bool has_cpu(int os_index) const noexcept;

  // The OS indices of the usable PUs on the same core as `os_index`, itself included, in
  // logical order. Throws std::out_of_range for an unknown CPU.
  [[nodiscard]] std::vector<int> smt_siblings(int os_index) const;

  // Every data/unified cache, ordered by level, then logical index.
  [[nodiscard]] const std::vector<Cache>& caches() const noexcept;

  // The level-`level` cache of CPU `os_index` (its cpus are the CPUs sharing it with this one),
  // or nullptr if that CPU has no cache at that level in hwloc (e.g. a synthetic topology
  // without caches). Throws std::out_of_range for an unknown CPU.
  [[nodiscard]] const Cache* cache_of(int os_index, int level) const;

  // NUMA node `logical_index` (Cpu::numa). Throws std::out_of_range outside [0, numa_nodes()).
  // A machine that hwloc reports without NUMA nodes gets one node with os_index 0, unknown
  // memory and every CPU.
  [[nodiscard]] const NumaNode& numa_node(int logical_index) const;

  // The NUMA distance matrix (see NumaDistances for where it comes from).
  [[nodiscard]] const NumaDistances& numa_distances() const noexcept;

  // How far apart two CPUs are. Throws std::out_of_range if either is not a usable CPU.
  [[nodiscard]] DistanceClass distance_class(int os_a, int os_b) const;

  // Whether this is the running system (discover()), so that pinning and memory binding act on
  // the topology's CPUs and nodes; false for XML, stock and synthetic topologies.
  [[nodiscard]] bool is_this_system() const noexcept;

  // The weight of hwloc's complete cpuset: every PU the OS knows of, including offline and
  // disallowed ones. On Linux this is the kernel's possible set, so for a contiguous
  // /sys/devices/system/cpu/possible it equals xmaps::possible_cpus().
  [[nodiscard]] int complete_pu_count() const noexcept;

  // One line for logs and benchmark labels, e.g.
  // "this system: 2 PUs, 2 cores, 1 package, 1 NUMA node (complete cpuset: 2 PUs)".
  [[nodiscard]] std::string description() const;

 private:
  friend class NumaMemory;  // allocates through the hwloc topology
  struct Impl;              // owns the hwloc topology; defined in src/topology_impl.h
  explicit Topology(std::shared_ptr<const Impl> impl) noexcept;

  std::shared_ptr<const Impl> impl_;  // never null
};

// Pins the calling thread to one OS CPU (sched_setaffinity on this thread only). Returns false
// on failure and sets errno: EINVAL for a negative or impossible index or a CPU the process
// may not use (e.g. outside its cgroup cpuset). Thread-safe.
[[nodiscard]] bool pin_this_thread(int os_index) noexcept;

// As above, reporting the failure through `error` (cleared on success) instead of errno.
[[nodiscard]] bool pin_this_thread(int os_index, std::error_code& error) noexcept;

}  // namespace xmaps::topology
