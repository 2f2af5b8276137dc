// SPDX-License-Identifier: MIT
//
// xmaps::topology: the machine's CPUs as hwloc sees them, in plain C++.
//
// This is the only part of xmaps that talks to hwloc; this header does not include <hwloc.h>.
// A Topology is loaded once (from this system, an XML file exported by `lstopo --of xml`, or
// an hwloc synthetic description such as "pack:2 numa:2 core:4 pu:2") and is immutable after
// that. Benchmarks use it to choose SMT-sibling / same-package / cross-package CPU pairs; the
// redirect engine and the tests use pin_this_thread().
//
// Indices. Cpu::os_index is the OS (kernel) CPU number, the one sched_getcpu() returns and
// pin_this_thread() takes. Cpu::core, Cpu::package and Cpu::numa are hwloc *logical* indices,
// dense from 0: core in [0, cores()), package in [0, packages()), numa in [0, numa_nodes()).
// A machine without Core objects in hwloc gets one core per PU; without Package objects, one
// package.
//
// Thread safety: a Topology is immutable and may be read from any number of threads. Copies
// share the loaded hwloc topology (read-only), so copying is cheap.
//
// Errors: the factories throw std::system_error when hwloc cannot initialise or a file cannot
// be read, and std::invalid_argument for a bad synthetic description or unparsable XML.
#pragma once

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

  // The usable PUs, ordered by hwloc logical index (package, then core, then SMT sibling).
  [[nodiscard]] const std::vector<Cpu>& cpus() const noexcept;

  [[nodiscard]] int packages() const noexcept;
  [[nodiscard]] int numa_nodes() const noexcept;
  [[nodiscard]] int cores() const noexcept;

  // The weight of hwloc's complete cpuset: every PU the OS knows of, including offline and
  // disallowed ones. On Linux this is the kernel's possible set, so for a contiguous
  // /sys/devices/system/cpu/possible it equals xmaps::possible_cpus().
  [[nodiscard]] int complete_pu_count() const noexcept;

  // One line for logs and benchmark labels, e.g.
  // "this system: 2 PUs, 2 cores, 1 package, 1 NUMA node (complete cpuset: 2 PUs)".
  [[nodiscard]] std::string description() const;

 private:
  struct Impl;  // owns the hwloc topology; defined in topology.cc
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
