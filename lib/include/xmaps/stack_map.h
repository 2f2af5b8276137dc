// SPDX-License-Identifier: MIT
//
// Stack<T> ~ BPF_MAP_TYPE_STACK: a bounded LIFO of exactly max_entries values, with the kernel's
// rules (kernel/bpf/queue_stack_maps.c):
//   push(v)                      Errc::too_big when full
//   push(v, UpdateFlag::exist)   when full, the *bottom* (oldest) element is dropped to make
//                                room; pops still return the newest first. Counted: dropped()
//   push(v, UpdateFlag::no_exist) and unknown flags: Errc::invalid
//   pop / peek                   the newest element; Errc::not_found when empty (out zeroed)
//   push_bulk / pop_bulk         n values under one lock acquisition
//
//   xmaps::Stack<Event> recent(1024);
//   (void)recent.push(e, xmaps::UpdateFlag::exist);   // keep the last 1024 events
//   while (auto ev = recent.pop()) handle(*ev);          // newest first
//
// Concurrency: any number of threads may push and pop at once. Every operation takes the
// stack's spinlock for a few dozen instructions and one copy of the value, so every history is
// equivalent to the sequential one in lock order (linearizable). Dropping the bottom
// moves both ends of the ring in one step; that is why the stack is not lock-free
// (detail/ring_table.h says more). No allocation after construction.
//
// Memory: (max_entries + 1) * sizeof(T) bytes plus two cache lines.
#pragma once

#include <cstdint>

#include "xmaps/concepts.h"
#include "xmaps/detail/ring_table.h"
#include "xmaps/detail/typed_ring.h"

namespace xmaps {

template <MapValue T>
class Stack : public detail::TypedRing<T, detail::RingTable> {
 public:
  // Throws std::invalid_argument (max_entries 0), std::bad_alloc.
  explicit Stack(std::uint32_t max_entries)
      : detail::TypedRing<T, detail::RingTable>(static_cast<std::uint32_t>(sizeof(T)), max_entries,
                                                detail::RingOrder::lifo) {}
  ~Stack() = default;
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;
  Stack(Stack&&) = delete;
  Stack& operator=(Stack&&) = delete;
};

}  // namespace xmaps
