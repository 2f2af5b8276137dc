// SPDX-License-Identifier: MIT
//
// Queue<T> ~ BPF_MAP_TYPE_QUEUE: a bounded FIFO of exactly max_entries values, with the kernel's
// rules (kernel/bpf/queue_stack_maps.c):
//   push(v)                       Errc::too_big when full
//   push(v, UpdateFlag::exist)    when full, the oldest element (the front) is dropped to make
//                                 room. Counted: dropped()
//   push(v, UpdateFlag::no_exist) and unknown flags: Errc::invalid
//   pop / peek                    the oldest element; Errc::not_found when empty (out zeroed)
//   push_bulk / pop_bulk          n values per call
//
//   xmaps::Queue<Event> last(1024);
//   (void)last.push(e, xmaps::UpdateFlag::exist);    // remember the last 1024 events
//   while (auto ev = last.pop()) handle(*ev);          // oldest first
//
// Concurrency: any number of threads may push and pop at once, without a lock; every history is
// equivalent to a sequential one with these rules (linearizable), overwrites, E2BIG and ENOENT
// included. A ticket ring (detail/mpmc_ring.h says how): producers and consumers meet only in
// the slots they hand over. push_bulk / pop_bulk take a range of slots per atomic step and
// behave as that many single pushes / pops in order. No allocation after construction.
//
// Memory: max_entries * (8 + round_up(sizeof(T), 8)) bytes plus three cache lines.
#pragma once

#include <cstdint>

#include "xmaps/concepts.h"
#include "xmaps/detail/mpmc_ring.h"
#include "xmaps/detail/typed_ring.h"

namespace xmaps {

template <MapValue T>
class Queue : public detail::TypedRing<T, detail::MpmcRing> {
 public:
  // Throws std::invalid_argument (max_entries 0), std::bad_alloc.
  explicit Queue(std::uint32_t max_entries)
      : detail::TypedRing<T, detail::MpmcRing>(static_cast<std::uint32_t>(sizeof(T)), max_entries) {
  }
  ~Queue() = default;
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;
  Queue(Queue&&) = delete;
  Queue& operator=(Queue&&) = delete;
};

}  // namespace xmaps
