// SPDX-License-Identifier: MIT
//
// The two small locks xmaps uses, in the kernel's style (raw spinlocks; critical sections are a
// few dozen instructions):
//   Spinlock    test-and-test-and-set lock for per-CPU lists. Waiters spin with a pause and
//               yield after a while, because on a 2-core box the holder may be descheduled.
//   OwnedLock   a 32-bit lock word that records its holder's thread token, so that a thread
//               re-entering a lock it already holds gets Errc::busy instead of deadlocking (the
//               kernel's map_locked re-entry check returns -EBUSY for the same reason).
#pragma once

#include <atomic>
#include <cstdint>
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

// Spins with pause; every 64 rounds yields the CPU so a preempted holder can run.
class Backoff {
 public:
  void pause() noexcept {
    if (++rounds_ % 64 == 0) {
      std::this_thread::yield();
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
    // Acquire: A0, pairs with R0 in unlock(); the critical section sees the previous holder's writes.
    while (locked_.exchange(true, std::memory_order_acquire)) {
      // Relaxed: only a hint to retry the exchange, which does the ordering.
      while (locked_.load(std::memory_order_relaxed)) backoff.pause();
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

// A small non-zero token per thread, used as the OwnedLock holder id.
inline std::uint32_t thread_token() noexcept {
  static std::atomic<std::uint32_t> next{1};
  // Relaxed: tokens only need to be distinct, not ordered.
  thread_local const std::uint32_t token = [] {
    std::uint32_t t = 0;
    while (t == 0) t = next.fetch_add(1, std::memory_order_relaxed);  // skip 0 after a wrap
    return t;
  }();
  return token;
}

class OwnedLock {
 public:
  // Takes the lock. Returns false (and takes nothing) if the calling thread already holds it.
  [[nodiscard]] bool lock(std::uint32_t me) noexcept {
    Backoff backoff;
    for (;;) {
      std::uint32_t expected = 0;
      // Acquire: A1, pairs with R1 in unlock().
      if (owner_.compare_exchange_weak(expected, me, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
      // Relaxed: a thread only ever finds its own token here if it stored it itself.
      if (expected == me) return false;
      while (owner_.load(std::memory_order_relaxed) != 0) backoff.pause();
    }
  }
  // R1: pairs with A1 in lock().
  void unlock() noexcept { owner_.store(0, std::memory_order_release); }

 private:
  // 0 = free, else the holder's thread_token(). Written by lockers, read by waiters.
  std::atomic<std::uint32_t> owner_{0};
};

}  // namespace xmaps::detail
