// SPDX-License-Identifier: MIT
//
// The simulator's RX queue (internal to sim/): a bounded single-producer single-consumer
// ring of frame pointers, as a NIC's descriptor ring. The live pipeline's source pushes and
// one ingress thread pops; calibrate() times the same ring.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "xmaps/detail/cache_line.h"
#include "xmaps/frame_pool.h"

namespace xmaps::sim::detail {

// An RX queue: a bounded single-producer (the source) single-consumer (one ingress thread)
// ring of frame pointers, as a NIC's descriptor ring.
class RxRing {
 public:
  explicit RxRing(std::uint32_t capacity)
      : mask_(capacity - 1), slots_(std::make_unique<Frame*[]>(capacity)) {}

  // Producer only.
  bool try_push(Frame* f) noexcept {
    // Relaxed: tail_ is written by this thread only.
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);
    if (t - head_cache_ > mask_) {
      // A1: pairs with R2 in pop_bulk(): the consumer has finished with the slots it freed.
      head_cache_ = head_.load(std::memory_order_acquire);
      if (t - head_cache_ > mask_)
        return false;
    }
    slots_[t & mask_] = f;
    // R1: pairs with A2 in pop_bulk(): the slot's pointer (and the frame) is written.
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

  // Consumer only.
  std::size_t pop_bulk(Frame** out, std::size_t n) noexcept {
    // Relaxed: head_ is written by this thread only.
    const std::uint64_t h = head_.load(std::memory_order_relaxed);
    if (tail_cache_ - h < n) {
      // A2: pairs with R1 in try_push().
      tail_cache_ = tail_.load(std::memory_order_acquire);
    }
    const std::uint64_t avail = tail_cache_ - h;
    const std::size_t k = avail < n ? static_cast<std::size_t>(avail) : n;
    for (std::size_t i = 0; i < k; ++i)
      out[i] = slots_[(h + i) & mask_];
    if (k != 0) {
      // R2: pairs with A1 in try_push(): the slots are read, the producer may reuse them.
      head_.store(h + k, std::memory_order_release);
    }
    return k;
  }

  // Consumer only: nothing is left (as of the acquire).
  [[nodiscard]] bool consumer_empty() noexcept {
    // A2': pairs with R1, as A2.
    tail_cache_ = tail_.load(std::memory_order_acquire);
    // Relaxed: own counter.
    return tail_cache_ == head_.load(std::memory_order_relaxed);
  }

  // Any thread: a racy snapshot of the occupancy, for sampling.
  [[nodiscard]] std::uint32_t was_size() const noexcept {
    // Relaxed (both): a monitoring snapshot; the difference is clamped, so a torn view
    // between the two loads cannot go negative or above the capacity.
    const std::uint64_t h = head_.load(std::memory_order_relaxed);
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);
    const std::uint64_t d = t > h ? t - h : 0;
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(d, mask_ + 1));
  }

 private:
  const std::uint64_t mask_;
  std::unique_ptr<Frame*[]> slots_;
  alignas(xmaps::detail::kCacheLine) std::atomic<std::uint64_t> tail_{0};  // producer writes
  std::uint64_t head_cache_ = 0;                                           // producer's
  alignas(xmaps::detail::kCacheLine) std::atomic<std::uint64_t> head_{0};  // consumer writes
  std::uint64_t tail_cache_ = 0;                                           // consumer's
};

}  // namespace xmaps::sim::detail
