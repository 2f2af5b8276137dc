// SPDX-License-Identifier: MIT
//
// NumaMemory: an owned, page-aligned, zero-filled block of memory bound to one NUMA node where
// the machine allows it, and ordinary memory where it does not.
//
// Binding uses hwloc_alloc_membind(HWLOC_MEMBIND_BIND, BYNODESET | STRICT | NOCPUBIND): the
// kernel then places every page of the block on that node (Linux mbind(MPOL_BIND)), from the
// first touch on. It is attempted only on a Topology that is this system (Topology::discover());
// for an XML, stock or synthetic topology the node is a model, so the block is ordinary
// anonymous memory and bound() is false. The same fallback applies when the kernel or a
// sandbox refuses binding (ENOSYS, EPERM from seccomp, EXDEV), so code that asks for NUMA-local
// memory runs everywhere and can report, via bound(), whether it got it.
//
// Thread safety: a NumaMemory is a plain owner (like std::unique_ptr): moving or destroying it
// must not race with other uses of the same object; the memory itself is the caller's to
// synchronise. Different objects are independent, including ones from the same Topology.
#pragma once

#include <cstddef>

#include "xmaps/topology.h"

namespace xmaps::topology {

class NumaMemory {
 public:
  // At least `size` bytes (rounded up to whole pages) for NUMA node `node` (a logical index,
  // as Cpu::numa) of `topology`, which the block keeps alive. Throws std::out_of_range if the
  // topology has no such node, std::invalid_argument for size 0, std::bad_alloc only if no
  // memory at all could be had.
  NumaMemory(const Topology& topology, int node, std::size_t size);

  ~NumaMemory();
  NumaMemory(NumaMemory&& other) noexcept;
  NumaMemory& operator=(NumaMemory&& other) noexcept;
  NumaMemory(const NumaMemory&) = delete;
  NumaMemory& operator=(const NumaMemory&) = delete;

  // The block: page-aligned, zero-filled, size() bytes usable. nullptr after a move.
  [[nodiscard]] void* data() const noexcept { return data_; }

  // The requested size in bytes (the mapping is rounded up to pages); 0 after a move.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  // Whether the kernel binds the block's pages to node() (false for a modelled topology or a
  // refused binding; then the pages go wherever the kernel's default policy puts them).
  [[nodiscard]] bool bound() const noexcept { return bound_; }

  // The NUMA node (logical index) it was asked for, bound or not.
  [[nodiscard]] int node() const noexcept { return node_; }

 private:
  void release() noexcept;

  Topology topology_;       // keeps the hwloc topology alive for hwloc_free()
  void* data_ = nullptr;    // start of the mapping
  std::size_t size_ = 0;    // requested bytes
  std::size_t mapped_ = 0;  // bytes mapped: size_ rounded up to the page size
  int node_ = -1;
  bool bound_ = false;  // true: from hwloc_alloc_membind, freed with hwloc_free
};

}  // namespace xmaps::topology
