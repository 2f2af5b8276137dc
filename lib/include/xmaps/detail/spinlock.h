// SPDX-License-Identifier: MIT
//
// Spinlock: a test-and-test-and-set lock for per-CPU lists, in the kernel's style (raw
// spinlocks; critical sections are a few dozen instructions). Waiters spin with a pause and
// yield after a while (Backoff), because on a 2-core box the holder may be descheduled.
// (Hash buckets carry their own lock bit: see Bucket in hash_table.h.)
#pragma once

#include <atomic>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace xmaps::detail {

inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Out of line and cold, so that callers' fast paths do not save registers around a call.
[[gnu::cold, gnu::noinline]] inline void yield_cpu() noexcept {
  std::this_thread::yield();
}

// Spins with pause; every 64 rounds yields the CPU so a preempted holder can run.
class Backoff {
 public:
  void pause() noexcept {
    if (++rounds_ % 64 == 0) [[unlikely]] {
      yield_cpu();
    } else {
      spin_pause();
    }
  }

 private:
  unsigned rounds_ = 0;
};

class Spinlock {
 public:
  void lock() noexcept {
    Backoff backoff;
    // Acquire: A0, pairs with R0 in unlock(); the critical section sees the previous holder's
    // writes.
    while (locked_.exchange(true, std::memory_order_acquire)) {
      // Relaxed: only a hint to retry the exchange, which does the ordering.
      while (locked_.load(std::memory_order_relaxed))
        backoff.pause();
    }
  }
  bool try_lock() noexcept {
    // Relaxed pre-check avoids dirtying the line when held; the exchange orders (A0).
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  // R0: pairs with A0 in lock(); publishes the critical section's writes to the next holder.
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace xmaps::detail
