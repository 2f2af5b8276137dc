// SPDX-License-Identifier: MIT
//
// PerCpuFreelist: free element indices kept in one LIFO list per CPU, each with its own lock.
// Mirrors kernel/bpf/percpu_freelist.c:
//   populate  fills CPU 0's list with nr / ncpus + 1 elements, then CPU 1's, and so on;
//   pop       tries the caller's CPU first, then every other CPU round-robin;
//   push      goes to the caller's CPU list.
// A list whose head is empty is skipped without taking its lock (the 2022 is_empty fix that made
// updates into a full map ~10x faster in the kernel).
//
// Concurrency: all operations may run concurrently. The CPU id is a hint (see xmaps/cpu.h):
// every list is locked, so threads sharing an id are safe. Links live in the elements
// themselves (the caller's `link(idx)`), touched only under the owning list's lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "xmaps/detail/cache_line.h"
#include "xmaps/detail/spinlock.h"

namespace xmaps::detail {

inline constexpr std::uint32_t kNoElem = 0xffffffffU;

template <class LinkFn>  // LinkFn: std::uint32_t& (std::uint32_t idx)
class PerCpuFreelist {
 public:
  PerCpuFreelist(int ncpus, LinkFn link)
      : ncpus_(ncpus),
        lists_(std::make_unique<CacheAligned<List>[]>(static_cast<std::size_t>(ncpus))),
        link_(link) {}

  // Single-threaded: puts indices [first, first + n) on the lists as the kernel's populate does.
  void unsynchronized_populate(std::uint32_t first, std::uint32_t n) noexcept {
    const std::uint32_t per_cpu = n / static_cast<std::uint32_t>(ncpus_) + 1;
    std::uint32_t i = 0;
    for (int cpu = 0; cpu < ncpus_ && i < n; ++cpu) {
      do {
        push_locked(lists_[static_cast<std::size_t>(cpu)].value, first + i);
        ++i;
      } while (i < n && i % per_cpu != 0);
    }
  }

  void push(int cpu, std::uint32_t idx) noexcept {
    List& list = lists_[static_cast<std::size_t>(cpu)].value;
    list.lock.lock();
    push_locked(list, idx);
    list.lock.unlock();
  }

  // Indices on the lists now: a racy sum of the per-list counts, exact when quiet.
  [[nodiscard]] std::uint64_t approx_free() const noexcept {
    std::uint64_t n = 0;
    for (int c = 0; c < ncpus_; ++c) {
      // Relaxed: a statistic; no data is read through it.
      n += lists_[static_cast<std::size_t>(c)].value.count.load(std::memory_order_relaxed);
    }
    return n;
  }

  // Returns kNoElem if every list is empty.
  [[nodiscard]] std::uint32_t pop(int cpu) noexcept {
    for (int i = 0; i < ncpus_; ++i) {
      List& list = lists_[static_cast<std::size_t>((cpu + i) % ncpus_)].value;
      // Relaxed: a hint only; the real check is repeated under the lock.
      if (list.head.load(std::memory_order_relaxed) == kNoElem)
        continue;
      list.lock.lock();
      const std::uint32_t idx = list.head.load(std::memory_order_relaxed);
      if (idx != kNoElem) {
        // Relaxed: head is only written under the lock; the lock orders it.
        list.head.store(link_(idx), std::memory_order_relaxed);
        // Relaxed, and a load + store rather than an RMW: only the lock holder writes count.
        list.count.store(list.count.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
      }
      list.lock.unlock();
      if (idx != kNoElem)
        return idx;
    }
    return kNoElem;
  }

 private:
  struct List {
    Spinlock lock;
    // Written under `lock`; read without it as the is-empty hint in pop().
    std::atomic<std::uint32_t> head{kNoElem};
    // Indices on the list. Written under `lock`; read without it by approx_free().
    std::atomic<std::uint32_t> count{0};
  };

  void push_locked(List& list, std::uint32_t idx) noexcept {
    // Relaxed: under the list lock (see pop()).
    link_(idx) = list.head.load(std::memory_order_relaxed);
    list.head.store(idx, std::memory_order_relaxed);
    list.count.store(list.count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  int ncpus_;
  std::unique_ptr<CacheAligned<List>[]> lists_;
  LinkFn link_;
};

}  // namespace xmaps::detail
