// SPDX-License-Identifier: MIT
#include "xmaps/topology/numa_memory.h"

#include <cstddef>
#include <new>
#include <stdexcept>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <utility>

#include <hwloc.h>

#include "topology_impl.h"
#include "xmaps/topology.h"

namespace xmaps::topology {

namespace {

std::size_t page_size() noexcept {
  const long page = sysconf(_SC_PAGESIZE);
  return page > 0 ? static_cast<std::size_t>(page) : 4096U;  // 4096: the x86-64/arm64 base page
}

}  // namespace

// Steps:
// 1. Validate the node and size; round the size up to whole pages.
// 2. On this system, ask hwloc for memory bound to the node's nodeset, strictly (STRICT makes a
//    refused mbind a failure instead of silently unbound memory; NOCPUBIND forbids hwloc from
//    emulating memory binding by binding this thread's CPUs).
// 3. Otherwise, or if that failed, map ordinary anonymous memory (page-aligned, zero-filled).
NumaMemory::NumaMemory(const Topology& topology, int node, std::size_t size)
    : topology_(topology), node_(node) {
  // 1.
  const NumaNode& numa = topology.numa_node(node);  // throws std::out_of_range
  if (size == 0) {
    throw std::invalid_argument("xmaps::topology: NumaMemory of 0 bytes on NUMA node " +
                                std::to_string(node));
  }
  const std::size_t page = page_size();
  if (size > static_cast<std::size_t>(-1) - page) {
    throw std::bad_alloc();
  }
  mapped_ = (size + page - 1) / page * page;
  size_ = size;

  // 2.
  const Topology::Impl& impl = *topology.impl_;
  hwloc_topology* t = impl.topo.get();
  hwloc_obj_t obj = hwloc_get_obj_by_type(t, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(node));
  if (impl.this_system && obj != nullptr && obj->os_index == static_cast<unsigned>(numa.os_index)) {
    const int flags = HWLOC_MEMBIND_BYNODESET | HWLOC_MEMBIND_STRICT | HWLOC_MEMBIND_NOCPUBIND;
    void* p = hwloc_alloc_membind(t, mapped_, obj->nodeset, HWLOC_MEMBIND_BIND, flags);
    if (p != nullptr) {
      data_ = p;
      bound_ = true;
      return;
    }
  }

  // 3.
  void* p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    throw std::bad_alloc();
  }
  data_ = p;
}

NumaMemory::~NumaMemory() {
  release();
}

// topology_ is copied, not moved: a moved-from Topology would break its never-null invariant,
// and the copy is one reference-count increment.
NumaMemory::NumaMemory(NumaMemory&& other) noexcept
    : topology_(other.topology_),  // NOLINT(performance-move-constructor-init): see above
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, 0)),
      node_(other.node_),
      bound_(std::exchange(other.bound_, false)) {}

NumaMemory& NumaMemory::operator=(NumaMemory&& other) noexcept {
  if (this != &other) {
    release();
    topology_ = other.topology_;
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapped_ = std::exchange(other.mapped_, 0);
    node_ = other.node_;
    bound_ = std::exchange(other.bound_, false);
  }
  return *this;
}

void NumaMemory::release() noexcept {
  if (data_ == nullptr) {
    return;
  }
  if (bound_) {
    hwloc_free(topology_.impl_->topo.get(), data_, mapped_);
  } else {
    munmap(data_, mapped_);
  }
  data_ = nullptr;
  size_ = 0;
  mapped_ = 0;
  bound_ = false;
}

}  // namespace xmaps::topology
