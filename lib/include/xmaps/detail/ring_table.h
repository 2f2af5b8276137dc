// SPDX-License-Identifier: MIT
//
// RingTable: the storage and rules of BPF_MAP_TYPE_QUEUE and BPF_MAP_TYPE_STACK
// (kernel/bpf/queue_stack_maps.c), with runtime value size, behind one lock.
//
// Layout, as the kernel's: `size = max_entries + 1` slots (one always empty), `head` = the next
// push index, `tail` = the oldest element. Empty <=> head == tail; full <=> head + 1 == tail
// (mod size). The usable capacity is exactly max_entries.
//   push     full and not EXIST: E2BIG. Full and EXIST: tail advances (the oldest element,
//            the queue's front or the stack's bottom, is dropped and counted); then the value
//            is written at head and head advances.
//   pop      queue: the element at tail (oldest first); stack: the one at head - 1 (newest
//            first). Empty: ENOENT.
//   peek     as pop, without removing.
// Flags of push: BPF_ANY (0) or BPF_EXIST (2); BPF_NOEXIST and anything above BPF_EXIST are
// EINVAL, checked before anything else (queue_stack_map_push_elem).
//
// Concurrency: every operation takes the map's Spinlock (test-and-test-and-set with Backoff,
// held for a few dozen instructions plus one value copy), as the kernel takes its raw
// spinlock, so every history is the sequential one of the lock's order. Not FIFO-fair: a ticket
// lock was measured first and was 12x slower with two threads on this 2-vCPU VM (a waiter
// that the hypervisor deschedules holds up every later ticket; bench/RESULTS.md, queue_bench). The
// stack's drop-the-bottom rule moves both ends of the ring at once, which is why the stack stays on
// a lock: a lock-free bounded stack that can also drop its bottom would need both ends in one
// atomic word, where every push and pop would contend anyway. Bulk operations take the lock once
// for n elements.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "xmaps/detail/cache_line.h"
#include "xmaps/detail/region.h"
#include "xmaps/detail/spinlock.h"
#include "xmaps/errc.h"

namespace xmaps::detail {

// What push accepts: BPF_ANY or BPF_EXIST (queue_stack_map_push_elem).
inline Errc check_push_flags(std::uint64_t flags) noexcept {
  return (flags & static_cast<std::uint64_t>(UpdateFlag::no_exist)) != 0 ||
                 flags > static_cast<std::uint64_t>(UpdateFlag::exist)
             ? Errc::invalid
             : Errc::ok;
}

enum class RingOrder : std::uint8_t { fifo, lifo };

class RingTable {
 public:
  // Throws std::invalid_argument (zero sizes, a size that cannot be indexed), std::bad_alloc.
  RingTable(std::uint32_t value_size, std::uint32_t max_entries, RingOrder order)
      : order_(order), value_size_(value_size) {
    if (value_size == 0 || max_entries == 0)
      throw std::invalid_argument("xmaps: queue/stack value_size and max_entries must be > 0");
    size_ = static_cast<std::uint64_t>(max_entries) + 1;
    slot_ = value_size;  // packed, as the kernel's: small values cost no padding
    slots_ = Region(static_cast<std::size_t>(size_) * slot_, /*commit=*/true);
  }

  [[nodiscard]] std::uint32_t capacity() const noexcept {
    return static_cast<std::uint32_t>(size_ - 1);
  }
  [[nodiscard]] std::uint32_t value_size() const noexcept { return value_size_; }
  [[nodiscard]] RingOrder order() const noexcept { return order_; }

  // Elements now (exact at the moment of the call).
  [[nodiscard]] std::uint32_t size() const noexcept {
    lock_.lock();
    const std::uint64_t n = head_ >= tail_ ? head_ - tail_ : head_ + size_ - tail_;
    lock_.unlock();
    return static_cast<std::uint32_t>(n);
  }
  // Elements dropped by EXIST pushes on a full map, since construction.
  [[nodiscard]] std::uint64_t dropped() const noexcept {
    // Relaxed: a statistic, written under the lock.
    return dropped_.load(std::memory_order_relaxed);
  }

  // bpf_map_push_elem. VS > 0: value_size known at compile time.
  template <std::size_t VS = 0>
  [[nodiscard]] Errc push(const void* value, std::uint64_t flags) noexcept {
    if (const Errc err = check_push_flags(flags); err != Errc::ok)
      return err;
    lock_.lock();
    const Errc err = push_locked<VS>(value, flags == static_cast<std::uint64_t>(UpdateFlag::exist));
    lock_.unlock();
    return err;
  }

  // bpf_map_pop_elem / bpf_map_peek_elem. Empty: Errc::not_found, and `out` (if not null) is
  // zeroed, as the kernel's helpers do.
  // `zero_on_empty` false: `out` is left as it was (the bpf(2) path, which copies nothing out
  // on an error). `out` may be null: the element is still taken (pop) or found (peek).
  template <std::size_t VS = 0>
  [[nodiscard]] Errc pop(void* out, bool zero_on_empty = true) noexcept {
    return get<VS>(out, /*remove=*/true, zero_on_empty);
  }
  template <std::size_t VS = 0>
  [[nodiscard]] Errc peek(void* out, bool zero_on_empty = true) const noexcept {
    return const_cast<RingTable*>(this)->get<VS>(out, /*remove=*/false, zero_on_empty);
  }

  // Pushes n values (packed at value_size stride) under one lock; returns how many were
  // pushed. ANY stops at the first full slot (the rest would be E2BIG); EXIST pushes all n,
  // dropping the oldest as needed. Invalid flags push none (*err = Errc::invalid).
  template <std::size_t VS = 0>
  std::size_t push_bulk(const void* values, std::size_t n, std::uint64_t flags,
                        Errc* err = nullptr) noexcept {
    Errc e = check_push_flags(flags);
    std::size_t done = 0;
    if (e == Errc::ok) {
      const bool exist = flags == static_cast<std::uint64_t>(UpdateFlag::exist);
      const auto* src = static_cast<const unsigned char*>(values);
      lock_.lock();
      for (; done < n; ++done) {
        e = push_locked<VS>(src + done * value_size_, exist);
        if (e != Errc::ok)
          break;
      }
      lock_.unlock();
    }
    if (err != nullptr)
      *err = e;
    return done;
  }

  // Pops up to n values into `out` (value_size stride), in pop order; returns how many.
  template <std::size_t VS = 0>
  std::size_t pop_bulk(void* out, std::size_t n) noexcept {
    auto* dst = static_cast<unsigned char*>(out);
    std::size_t done = 0;
    lock_.lock();
    for (; done < n && head_ != tail_; ++done)
      take_locked<VS>(dst + done * value_size_, /*remove=*/true);
    lock_.unlock();
    return done;
  }

 private:
  [[nodiscard]] unsigned char* slot(std::uint64_t i) const noexcept {
    return slots_.data() + static_cast<std::size_t>(i) * slot_;
  }
  template <std::size_t VS>
  [[nodiscard]] std::size_t bytes() const noexcept {
    if constexpr (VS != 0)
      return VS;
    return value_size_;
  }

  template <std::size_t VS>
  Errc push_locked(const void* value, bool exist) noexcept {
    std::uint64_t next = head_ + 1 == size_ ? 0 : head_ + 1;
    if (next == tail_) {  // full
      if (!exist)
        return Errc::too_big;
      tail_ = tail_ + 1 == size_ ? 0 : tail_ + 1;
      // Relaxed: a statistic; the lock orders the ring itself.
      dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    std::memcpy(slot(head_), value, bytes<VS>());
    head_ = next;
    return Errc::ok;
  }

  // Caller holds the lock and has checked the ring is not empty.
  template <std::size_t VS>
  void take_locked(void* out, bool remove) noexcept {
    std::uint64_t i = 0;
    if (order_ == RingOrder::fifo) {
      i = tail_;
      if (remove)
        tail_ = tail_ + 1 == size_ ? 0 : tail_ + 1;
    } else {
      i = head_ == 0 ? size_ - 1 : head_ - 1;
      if (remove)
        head_ = i;
    }
    if (out != nullptr)
      std::memcpy(out, slot(i), bytes<VS>());
  }

  template <std::size_t VS>
  Errc get(void* out, bool remove, bool zero_on_empty) noexcept {
    lock_.lock();
    if (head_ == tail_) {
      lock_.unlock();
      if (out != nullptr && zero_on_empty)
        std::memset(out, 0, bytes<VS>());
      return Errc::not_found;
    }
    take_locked<VS>(out, remove);
    lock_.unlock();
    return Errc::ok;
  }

  const RingOrder order_;
  const std::uint32_t value_size_;
  std::uint64_t size_ = 0;  // max_entries + 1
  std::size_t slot_ = 0;    // bytes per slot: value_size
  Region slots_;
  alignas(kCacheLine) mutable Spinlock lock_;
  std::uint64_t head_ = 0;  // under lock_
  std::uint64_t tail_ = 0;  // under lock_
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace xmaps::detail
