// SPDX-License-Identifier: MIT
//
// Topology::Impl: the loaded hwloc topology and the plain-C++ view extracted from it once, at
// load time. Internal to xmaps::topology (topology.cc, numa_memory.cc); never installed.
//
// Everything is written by load() before the Impl is shared and only read afterwards, so the
// Impl needs no locking (hwloc allows concurrent read-only use of a loaded topology).
#pragma once

#include <array>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <hwloc.h>

#include "xmaps/topology.h"

namespace xmaps::topology {

using HwlocTopology = std::unique_ptr<hwloc_topology, decltype(&hwloc_topology_destroy)>;

// Cache levels looked up per CPU: hwloc has L1 to L5 (HWLOC_OBJ_L1CACHE .. HWLOC_OBJ_L5CACHE).
inline constexpr int kCacheLevels = 5;

struct Topology::Impl {
  HwlocTopology topo{nullptr, &hwloc_topology_destroy};  // loaded; read-only from then on
  std::string source;                                    // "this system", "xml ...", ...
  bool this_system = false;                              // hwloc_topology_is_thissystem()
  std::vector<Cpu> cpus;
  int packages = 0;
  int numa_nodes = 0;
  int cores = 0;
  int complete_pus = 0;
  std::vector<Cache> caches;    // by level, then logical index
  std::vector<NumaNode> nodes;  // by logical index; numa_nodes entries
  NumaDistances distances;
  std::vector<int> position_by_os;  // os_index -> index into cpus, -1 if not a usable PU
  // cache_by_cpu[i][level - 1]: index into caches of cpus[i]'s cache at that level, or -1.
  std::vector<std::array<int, kCacheLevels>> cache_by_cpu;

  // Loads `loading` (already configured for its source) and extracts the plain-C++ view.
  // Returns hwloc_topology_load's errno on failure, 0 on success.
  int load(HwlocTopology loading, std::string from);

  // A loaded XML topology labelled `label`; throws as Topology::from_xml().
  static std::shared_ptr<Impl> load_xml(const std::filesystem::path& path, std::string label);

  // Index into cpus of `os_index`; throws std::out_of_range naming `what` if there is none.
  [[nodiscard]] std::size_t position(int os_index, const char* what) const;

 private:
  void extract_cpus();
  void extract_caches();
  void extract_nodes();
  void extract_distances();
};

}  // namespace xmaps::topology
