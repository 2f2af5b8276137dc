// SPDX-License-Identifier: MIT
#include "xmaps/topology.h"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <sched.h>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

#include <hwloc.h>

#include "topology_impl.h"

namespace xmaps::topology {

namespace {

// Upper bound on OS CPU numbers pin_this_thread() accepts; matches the limit of
// xmaps::set_possible_cpus() and keeps CPU_ALLOC small.
constexpr int kMaxOsIndex = 1 << 16;

// ACPI SLIT values the Linux kernel assumes without a SLIT (LOCAL_DISTANCE, REMOTE_DISTANCE in
// include/linux/topology.h); NumaDistances::Source::fallback uses them.
constexpr std::uint64_t kLocalDistance = 10;
constexpr std::uint64_t kRemoteDistance = 20;

// hwloc's data/unified cache types, by level (instruction caches have their own types).
constexpr std::array<hwloc_obj_type_t, kCacheLevels> kCacheTypes = {
    HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L2CACHE, HWLOC_OBJ_L3CACHE, HWLOC_OBJ_L4CACHE, HWLOC_OBJ_L5CACHE};

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

// The OS indices set in `set`, ascending (hwloc_bitmap_next returns -1 after the last).
std::vector<int> bits_of(hwloc_const_bitmap_t set) {
  std::vector<int> bits;
  for (int i = hwloc_bitmap_first(set); i >= 0; i = hwloc_bitmap_next(set, i)) {
    bits.push_back(i);
  }
  return bits;
}

// A matrix usable as NumaDistances: NUMA nodes only, every one of the topology's `nodes`.
bool covers_every_node(const hwloc_distances_s& d, int nodes) {
  if (static_cast<int>(d.nbobjs) != nodes) {
    return false;
  }
  return std::all_of(d.objs, d.objs + d.nbobjs, [](hwloc_obj_t obj) {
    return obj != nullptr && obj->type == HWLOC_OBJ_NUMANODE;
  });
}

// Stock topology directories, in search order (see Topology::stock()).
std::vector<std::filesystem::path> stock_dirs() {
  std::vector<std::filesystem::path> dirs;
  // NOLINTNEXTLINE(concurrency-mt-unsafe): xmaps never modifies the environment.
  if (const char* env = std::getenv("XMAPS_MACHINES_DIR"); env != nullptr && *env != '\0') {
    dirs.emplace_back(env);
  }
#ifdef XMAPS_MACHINES_SOURCE_DIR
  dirs.emplace_back(XMAPS_MACHINES_SOURCE_DIR);
#endif
#ifdef XMAPS_MACHINES_INSTALL_DIR
  dirs.emplace_back(XMAPS_MACHINES_INSTALL_DIR);
#endif
  return dirs;
}

// A stock name is a plain file stem: no directory parts, nothing hidden.
bool valid_stock_name(std::string_view name) {
  return !name.empty() && name.front() != '.' && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

std::string joined(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const std::string& item : items) {
    out += (out.empty() ? "" : separator) + item;
  }
  return out;
}

}  // namespace

// --- Impl: extraction, once at load time ---------------------------------------------------------

int Topology::Impl::load(HwlocTopology loading, std::string from) {
  if (hwloc_topology_load(loading.get()) != 0) {
    return errno != 0 ? errno : EINVAL;
  }
  topo = std::move(loading);
  source = std::move(from);
  this_system = hwloc_topology_is_thissystem(topo.get()) != 0;
  extract_cpus();
  extract_caches();
  extract_nodes();
  extract_distances();
  return 0;
}

std::size_t Topology::Impl::position(int os_index, const char* what) const {
  if (os_index < 0 || static_cast<std::size_t>(os_index) >= position_by_os.size() ||
      position_by_os[static_cast<std::size_t>(os_index)] < 0) {
    throw std::out_of_range(std::string("xmaps::topology: ") + what + ": CPU " +
                            std::to_string(os_index) + " is not a usable CPU of " + source);
  }
  return static_cast<std::size_t>(position_by_os[static_cast<std::size_t>(os_index)]);
}

void Topology::Impl::extract_cpus() {
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

  int max_os = -1;
  for (const Cpu& cpu : cpus) {
    max_os = std::max(max_os, cpu.os_index);
  }
  position_by_os.assign(max_os < 0 ? 0U : static_cast<std::size_t>(max_os) + 1, -1);
  for (std::size_t i = 0; i < cpus.size(); ++i) {
    position_by_os[static_cast<std::size_t>(cpus[i].os_index)] = static_cast<int>(i);
  }
}

void Topology::Impl::extract_caches() {
  hwloc_topology* t = topo.get();
  std::array<int, kCacheLevels> none{};
  none.fill(-1);
  cache_by_cpu.assign(cpus.size(), none);
  for (int level = 1; level <= kCacheLevels; ++level) {
    const hwloc_obj_type_t type = kCacheTypes[static_cast<std::size_t>(level - 1)];
    const int count = hwloc_get_nbobjs_by_type(t, type);
    int logical = 0;
    for (int i = 0; i < count; ++i) {
      hwloc_obj_t obj = hwloc_get_obj_by_type(t, type, static_cast<unsigned>(i));
      Cache cache{
          level, logical, obj->attr->cache.size, static_cast<int>(obj->attr->cache.linesize), {}};
      for (const int os : bits_of(obj->cpuset)) {
        if (static_cast<std::size_t>(os) < position_by_os.size() &&
            position_by_os[static_cast<std::size_t>(os)] >= 0) {
          cache.cpus.push_back(os);
        }
      }
      if (cache.cpus.empty()) {
        continue;  // only disallowed PUs below it
      }
      const auto index = static_cast<int>(caches.size());
      for (const int os : cache.cpus) {
        const auto pos = static_cast<std::size_t>(position_by_os[static_cast<std::size_t>(os)]);
        cache_by_cpu[pos][static_cast<std::size_t>(level - 1)] = index;
      }
      caches.push_back(std::move(cache));
      ++logical;
    }
  }
}

void Topology::Impl::extract_nodes() {
  hwloc_topology* t = topo.get();
  const int count = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE);
  for (int i = 0; i < numa_nodes; ++i) {
    NumaNode node{i, 0, 0, {}};
    if (i < count) {
      hwloc_obj_t obj = hwloc_get_obj_by_type(t, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
      node.os_index = static_cast<int>(obj->os_index);
      node.local_memory = obj->attr->numanode.local_memory;
    }
    for (const Cpu& cpu : cpus) {
      if (cpu.numa == i) {
        node.cpus.push_back(cpu.os_index);
      }
    }
    nodes.push_back(std::move(node));
  }
}

// Steps:
// 1. Ask hwloc for every NUMA-node matrix (kind 0: any source, any meaning).
// 2. Take the first latency matrix over all nodes; else the first over all nodes that is not a
//    bandwidth (higher would mean nearer, the opposite of a distance); else the fallback.
// 3. Copy it, re-indexed by the nodes' logical indices (hwloc's objs[] order need not be).
void Topology::Impl::extract_distances() {
  hwloc_topology* t = topo.get();
  const int n = numa_nodes;
  const auto un = static_cast<std::size_t>(n);
  distances = NumaDistances{n, std::vector<std::uint64_t>(un * un, kRemoteDistance),
                            NumaDistances::Source::fallback, ""};
  for (std::size_t i = 0; i < un; ++i) {
    distances.values[i * un + i] = kLocalDistance;
  }

  unsigned found = 0;  // (1)
  if (hwloc_distances_get_by_type(t, HWLOC_OBJ_NUMANODE, &found, nullptr, 0, 0) != 0 ||
      found == 0) {
    return;
  }
  std::vector<hwloc_distances_s*> all(found, nullptr);
  unsigned stored = found;
  if (hwloc_distances_get_by_type(t, HWLOC_OBJ_NUMANODE, &stored, all.data(), 0, 0) != 0) {
    return;
  }
  all.resize(std::min(stored, found));

  hwloc_distances_s* chosen = nullptr;  // (2)
  for (hwloc_distances_s* d : all) {
    if ((d->kind & HWLOC_DISTANCES_KIND_MEANS_LATENCY) != 0 && covers_every_node(*d, n)) {
      chosen = d;
      distances.source = NumaDistances::Source::latency;
      break;
    }
  }
  if (chosen == nullptr) {
    for (hwloc_distances_s* d : all) {
      if ((d->kind & HWLOC_DISTANCES_KIND_MEANS_BANDWIDTH) == 0 && covers_every_node(*d, n)) {
        chosen = d;
        distances.source = NumaDistances::Source::relative;
        break;
      }
    }
  }
  if (chosen != nullptr) {  // (3)
    const std::size_t m = chosen->nbobjs;
    for (std::size_t i = 0; i < m; ++i) {
      for (std::size_t j = 0; j < m; ++j) {
        const std::size_t from = chosen->objs[i]->logical_index;
        const std::size_t to = chosen->objs[j]->logical_index;
        distances.values[from * un + to] = chosen->values[i * m + j];
      }
    }
    const char* name = hwloc_distances_get_name(t, chosen);
    distances.name = name != nullptr ? name : "";
  }
  for (hwloc_distances_s* d : all) {
    hwloc_distances_release(t, d);
  }
}

// --- Public API ----------------------------------------------------------------------------------

const char* to_string(DistanceClass distance) noexcept {
  switch (distance) {
    case DistanceClass::same_cpu: return "same_cpu";
    case DistanceClass::smt_sibling: return "smt_sibling";
    case DistanceClass::same_l2: return "same_l2";
    case DistanceClass::same_l3: return "same_l3";
    case DistanceClass::same_numa: return "same_numa";
    case DistanceClass::same_package: return "same_package";
    case DistanceClass::cross_package: return "cross_package";
  }
  return "unknown";
}

std::uint64_t NumaDistances::at(int from, int to) const {
  if (from < 0 || from >= nodes || to < 0 || to >= nodes) {
    throw std::out_of_range("xmaps::topology: NUMA distance from node " + std::to_string(from) +
                            " to node " + std::to_string(to) + " asked of a matrix of " +
                            plural(nodes, "node", "nodes"));
  }
  return values[static_cast<std::size_t>(from) * static_cast<std::size_t>(nodes) +
                static_cast<std::size_t>(to)];
}

Topology::Topology(std::shared_ptr<const Impl> impl) noexcept : impl_(std::move(impl)) {}

Topology Topology::discover() {
  auto impl = std::make_shared<Impl>();
  if (const int error = impl->load(init_topology(), "this system"); error != 0) {
    throw_errno(error, "cannot discover this system's topology (hwloc_topology_load)");
  }
  return Topology(std::move(impl));
}

std::shared_ptr<Topology::Impl> Topology::Impl::load_xml(const std::filesystem::path& path,
                                                         std::string label) {
  // hwloc reports a missing file only as a failed load; check first for a clear message.
  if (!std::ifstream(path).is_open()) {
    throw_errno(errno != 0 ? errno : ENOENT, "cannot read topology XML '" + path.string() + "'");
  }
  HwlocTopology loading = init_topology();
  if (hwloc_topology_set_xml(loading.get(), path.c_str()) != 0) {
    throw_errno(errno, "hwloc cannot use topology XML '" + path.string() + "'");
  }
  auto impl = std::make_shared<Impl>();
  if (impl->load(std::move(loading), std::move(label)) != 0) {
    throw std::invalid_argument("xmaps::topology: hwloc could not load topology XML '" +
                                path.string() + "' (not an hwloc XML export?)");
  }
  return impl;
}

Topology Topology::from_xml(const std::filesystem::path& path) {
  return Topology(Impl::load_xml(path, "xml " + path.filename().string()));
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

Topology Topology::stock(std::string_view name) {
  std::string stem(name);
  if (stem.size() > 4 && stem.compare(stem.size() - 4, 4, ".xml") == 0) {
    stem.resize(stem.size() - 4);
  }
  if (valid_stock_name(stem)) {
    for (const std::filesystem::path& dir : stock_dirs()) {
      std::error_code ignored;
      const std::filesystem::path file = dir / (stem + ".xml");
      if (std::filesystem::is_regular_file(file, ignored)) {
        return Topology(Impl::load_xml(file, "stock " + stem));
      }
    }
  }
  std::vector<std::string> searched;
  for (const std::filesystem::path& dir : stock_dirs()) {
    searched.push_back(dir.string());
  }
  throw std::invalid_argument("xmaps::topology: no stock topology '" + std::string(name) +
                              "'; available: " + joined(stock_names(), ", ") +
                              " (searched: " + joined(searched, ", ") + ")");
}

std::vector<std::string> Topology::stock_names() {
  std::set<std::string> names;
  for (const std::filesystem::path& dir : stock_dirs()) {
    std::error_code error;
    for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end;
         it.increment(error)) {
      const std::filesystem::path& file = it->path();
      if (file.extension() == ".xml" && valid_stock_name(file.stem().string())) {
        names.insert(file.stem().string());
      }
    }
  }
  return {names.begin(), names.end()};
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

const Cpu& Topology::cpu(int os_index) const {
  return impl_->cpus[impl_->position(os_index, "cpu()")];
}

bool Topology::has_cpu(int os_index) const noexcept {
  const std::vector<int>& by_os = impl_->position_by_os;
  return os_index >= 0 && static_cast<std::size_t>(os_index) < by_os.size() &&
         by_os[static_cast<std::size_t>(os_index)] >= 0;
}

std::vector<int> Topology::smt_siblings(int os_index) const {
  const int core = impl_->cpus[impl_->position(os_index, "smt_siblings()")].core;
  std::vector<int> siblings;
  for (const Cpu& c : impl_->cpus) {
    if (c.core == core) {
      siblings.push_back(c.os_index);
    }
  }
  return siblings;
}

const std::vector<Cache>& Topology::caches() const noexcept {
  return impl_->caches;
}

const Cache* Topology::cache_of(int os_index, int level) const {
  const std::size_t pos = impl_->position(os_index, "cache_of()");
  if (level < 1 || level > kCacheLevels) {
    return nullptr;
  }
  const int index = impl_->cache_by_cpu[pos][static_cast<std::size_t>(level - 1)];
  return index >= 0 ? &impl_->caches[static_cast<std::size_t>(index)] : nullptr;
}

const NumaNode& Topology::numa_node(int logical_index) const {
  if (logical_index < 0 || logical_index >= impl_->numa_nodes) {
    throw std::out_of_range("xmaps::topology: numa_node(" + std::to_string(logical_index) +
                            "): " + impl_->source + " has " +
                            plural(impl_->numa_nodes, "NUMA node", "NUMA nodes"));
  }
  return impl_->nodes[static_cast<std::size_t>(logical_index)];
}

const NumaDistances& Topology::numa_distances() const noexcept {
  return impl_->distances;
}

DistanceClass Topology::distance_class(int os_a, int os_b) const {
  const std::size_t pa = impl_->position(os_a, "distance_class()");
  const std::size_t pb = impl_->position(os_b, "distance_class()");
  const Cpu& a = impl_->cpus[pa];
  const Cpu& b = impl_->cpus[pb];
  const auto shared = [&](int level) {
    const int ca = impl_->cache_by_cpu[pa][static_cast<std::size_t>(level - 1)];
    return ca >= 0 && ca == impl_->cache_by_cpu[pb][static_cast<std::size_t>(level - 1)];
  };
  if (pa == pb) {
    return DistanceClass::same_cpu;
  }
  if (a.core == b.core) {
    return DistanceClass::smt_sibling;
  }
  if (shared(2)) {
    return DistanceClass::same_l2;
  }
  if (shared(3)) {
    return DistanceClass::same_l3;
  }
  if (a.numa == b.numa) {
    return DistanceClass::same_numa;
  }
  if (a.package == b.package) {
    return DistanceClass::same_package;
  }
  return DistanceClass::cross_package;
}

bool Topology::is_this_system() const noexcept {
  return impl_->this_system;
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
