// SPDX-License-Identifier: MIT
#include "xmaps/topology.h"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <fstream>
#include <sched.h>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

#include <hwloc.h>

namespace xmaps::topology {

namespace {

using HwlocTopology = std::unique_ptr<hwloc_topology, decltype(&hwloc_topology_destroy)>;

// Upper bound on OS CPU numbers pin_this_thread() accepts; matches the limit of
// xmaps::set_possible_cpus() and keeps CPU_ALLOC small.
constexpr int kMaxOsIndex = 1 << 16;

[[noreturn]] void throw_errno(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), "xmaps::topology: " + what);
}

HwlocTopology init_topology() {
  hwloc_topology_t raw = nullptr;
  if (hwloc_topology_init(&raw) != 0) {
    throw_errno(errno, "hwloc_topology_init failed");
  }
  return {raw, &hwloc_topology_destroy};
}

std::string plural(int n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

struct Topology::Impl {
  HwlocTopology topo{nullptr, &hwloc_topology_destroy};  // loaded; read-only from then on
  std::string source;                                    // "this system", "xml ...", ...
  std::vector<Cpu> cpus;
  int packages = 0;
  int numa_nodes = 0;
  int cores = 0;
  int complete_pus = 0;

  // Loads `loading` (already configured for its source) and extracts the plain-C++ view.
  // Returns hwloc_topology_load's errno on failure, 0 on success.
  int load(HwlocTopology loading, std::string from) {
    if (hwloc_topology_load(loading.get()) != 0) {
      return errno != 0 ? errno : EINVAL;
    }
    topo = std::move(loading);
    source = std::move(from);
    extract();
    return 0;
  }

 private:
  void extract() {
    hwloc_topology* t = topo.get();
    const int pu_count = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU);
    std::vector<hwloc_obj_t> pus;
    pus.reserve(pu_count > 0 ? static_cast<std::size_t>(pu_count) : 0U);
    for (int i = 0; i < pu_count; ++i) {
      pus.push_back(hwloc_get_obj_by_type(t, HWLOC_OBJ_PU, static_cast<unsigned>(i)));
    }
    // Some platforms report no Core objects; then every PU counts as its own core. (If only
    // some PUs had a core, the same rule applies, so core indices stay dense.)
    const bool every_pu_has_core = std::all_of(pus.begin(), pus.end(), [t](hwloc_obj_t pu) {
      return hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_CORE, pu) != nullptr;
    });
    std::set<int> core_ids;
    cpus.reserve(pus.size());
    for (hwloc_obj_t pu : pus) {
      Cpu cpu{};
      cpu.os_index = static_cast<int>(pu->os_index);
      hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_CORE, pu);
      cpu.core = static_cast<int>(every_pu_has_core ? core->logical_index : pu->logical_index);
      hwloc_obj_t package = hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_PACKAGE, pu);
      cpu.package = package != nullptr ? static_cast<int>(package->logical_index) : 0;
      // The PU's nodeset holds the NUMA nodes local to it (hwloc 2: memory children of an
      // ancestor). Take the first; a PU local to several nodes is counted under the lowest.
      cpu.numa = 0;
      const int first_node = hwloc_bitmap_first(pu->nodeset);
      if (first_node >= 0) {
        hwloc_obj_t node = hwloc_get_numanode_obj_by_os_index(t, static_cast<unsigned>(first_node));
        if (node != nullptr) {
          cpu.numa = static_cast<int>(node->logical_index);
        }
      }
      core_ids.insert(cpu.core);
      cpus.push_back(cpu);
    }
    cores = static_cast<int>(core_ids.size());
    // hwloc keeps only objects with usable PUs, except NUMA nodes: a CPU-less memory node
    // (HBM, CXL) still counts here, as it does in numactl.
    packages = std::max(1, hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PACKAGE));
    numa_nodes = std::max(1, hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE));
    const int weight = hwloc_bitmap_weight(hwloc_topology_get_complete_cpuset(t));
    complete_pus = weight > 0 ? weight : pu_count;  // -1 would mean an infinite cpuset
  }
};

Topology::Topology(std::shared_ptr<const Impl> impl) noexcept : impl_(std::move(impl)) {}

Topology Topology::discover() {
  auto impl = std::make_shared<Impl>();
  if (const int error = impl->load(init_topology(), "this system"); error != 0) {
    throw_errno(error, "cannot discover this system's topology (hwloc_topology_load)");
  }
  return Topology(std::move(impl));
}

Topology Topology::from_xml(const std::filesystem::path& path) {
  // hwloc reports a missing file only as a failed load; check first for a clear message.
  if (!std::ifstream(path).is_open()) {
    throw_errno(errno != 0 ? errno : ENOENT, "cannot read topology XML '" + path.string() + "'");
  }
  HwlocTopology loading = init_topology();
  if (hwloc_topology_set_xml(loading.get(), path.c_str()) != 0) {
    throw_errno(errno, "hwloc cannot use topology XML '" + path.string() + "'");
  }
  auto impl = std::make_shared<Impl>();
  if (impl->load(std::move(loading), "xml " + path.filename().string()) != 0) {
    throw std::invalid_argument("xmaps::topology: hwloc could not load topology XML '" +
                                path.string() + "' (not an hwloc XML export?)");
  }
  return Topology(std::move(impl));
}

Topology Topology::from_synthetic(std::string_view description) {
  const std::string desc(description);
  HwlocTopology loading = init_topology();
  if (hwloc_topology_set_synthetic(loading.get(), desc.c_str()) != 0) {
    throw std::invalid_argument("xmaps::topology: invalid synthetic topology description '" + desc +
                                "' (expected e.g. \"pack:2 numa:2 core:4 pu:2\")");
  }
  auto impl = std::make_shared<Impl>();
  if (impl->load(std::move(loading), "synthetic \"" + desc + "\"") != 0) {
    throw std::invalid_argument("xmaps::topology: hwloc could not build synthetic topology '" +
                                desc + "'");
  }
  return Topology(std::move(impl));
}

const std::vector<Cpu>& Topology::cpus() const noexcept {
  return impl_->cpus;
}
int Topology::packages() const noexcept {
  return impl_->packages;
}
int Topology::numa_nodes() const noexcept {
  return impl_->numa_nodes;
}
int Topology::cores() const noexcept {
  return impl_->cores;
}
int Topology::complete_pu_count() const noexcept {
  return impl_->complete_pus;
}

std::string Topology::description() const {
  const Impl& i = *impl_;
  return i.source + ": " + plural(static_cast<int>(i.cpus.size()), "PU", "PUs") + ", " +
         plural(i.cores, "core", "cores") + ", " + plural(i.packages, "package", "packages") +
         ", " + plural(i.numa_nodes, "NUMA node", "NUMA nodes") +
         " (complete cpuset: " + plural(i.complete_pus, "PU", "PUs") + ")";
}

bool pin_this_thread(int os_index, std::error_code& error) noexcept {
  if (os_index < 0 || os_index >= kMaxOsIndex) {
    error = std::make_error_code(std::errc::invalid_argument);
    return false;
  }
  const auto count = static_cast<std::size_t>(os_index) + 1;
  cpu_set_t* set = CPU_ALLOC(count);
  if (set == nullptr) {
    error = std::make_error_code(std::errc::not_enough_memory);
    return false;
  }
  const std::size_t size = CPU_ALLOC_SIZE(count);
  CPU_ZERO_S(size, set);
  CPU_SET_S(static_cast<std::size_t>(os_index), size, set);
  // pid 0: the calling thread only (sched_setaffinity acts on a thread id on Linux).
  const int rc = sched_setaffinity(0, size, set);
  const int saved = errno;
  CPU_FREE(set);
  if (rc != 0) {
    error = std::error_code(saved, std::generic_category());
    return false;
  }
  error.clear();
  return true;
}

bool pin_this_thread(int os_index) noexcept {
  std::error_code error;
  if (pin_this_thread(os_index, error)) {
    return true;
  }
  errno = error.value();
  return false;
}

}  // namespace xmaps::topology
