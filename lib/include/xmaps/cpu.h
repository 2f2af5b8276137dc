// SPDX-License-Identifier: MIT
//
// The per-CPU execution model every xmaps structure uses.
//
// possible_cpus(): how many CPUs per-CPU structures are sized for, the kernel's
//   num_possible_cpus(). It is fixed at first use, from /sys/devices/system/cpu/possible (the
//   set the kernel and libbpf_num_possible_cpus() use, and the one hwloc reports as the complete
//   cpuset), falling back to the configured processor count. set_possible_cpus() overrides it
//   before the first per-CPU structure is created, so a 128-CPU machine can be modelled on a
//   2-core box.
//
// current_cpu(): the CPU id the calling thread acts as, in [0, possible_cpus()). A thread may
//   bind itself to an id for a scope with CpuBinding (redirect-engine workers, simulated CPUs in
//   model mode, tests); otherwise it is sched_getcpu() folded into the possible range.
//
// What per-CPU means in user space. In the kernel, a per-CPU list is owned by its CPU while
// preemption is off. A thread here can migrate between reading current_cpu() and using the
// slot, and two unbound threads (or two threads bound to the same id) can act as the same CPU
// at once. xmaps therefore treats the CPU id as a placement hint, never as ownership: every
// per-CPU free list, LRU list and spare element is protected by its own lock or atomic, so the
// library's state stays race-free (TSan-clean) whoever shares an id. What sharing an id does
// change is the *values* of per-CPU maps: two threads acting as CPU 3 write the same PERCPU
// slot, as two programs on one CPU would if they could interleave. Use atomics on such values
// (as BPF programs use __sync_fetch_and_add) or bind each thread to its own id.
#pragma once

#include <atomic>
#include <cstdint>
#include <fstream>
#include <sched.h>
#include <stdexcept>
#include <string>
#include <thread>

namespace xmaps {

namespace detail {

// Parses a kernel CPU list such as "0-3,8-11" (surrounding white space allowed) and returns the
// highest id + 1, or 0 if the text is not such a list.
inline int cpu_count_from_list(const std::string& text) noexcept {
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  const std::size_t last = text.find_last_not_of(" \t\r\n");
  if (first == std::string::npos)
    return 0;
  int highest = -1;
  std::size_t pos = first;
  // Reads a decimal number at pos; false if there is none or it is absurdly large.
  auto number = [&](int& out) {
    const std::size_t start = pos;
    long value = 0;
    while (pos <= last && text[pos] >= '0' && text[pos] <= '9') {
      value = value * 10 + (text[pos] - '0');
      if (value > 1 << 22)
        return false;
      ++pos;
    }
    out = static_cast<int>(value);
    return pos > start;
  };
  for (;;) {
    int lo = 0;
    int hi = 0;
    if (!number(lo))
      return 0;
    hi = lo;
    if (pos <= last && text[pos] == '-') {
      ++pos;
      if (!number(hi) || hi < lo)
        return 0;
    }
    if (hi > highest)
      highest = hi;
    if (pos > last)
      break;
    if (text[pos] != ',')
      return 0;
    ++pos;
  }
  return highest + 1;
}

inline int detect_possible_cpus() noexcept {
  std::ifstream in("/sys/devices/system/cpu/possible");
  std::string line;
  if (in && std::getline(in, line)) {
    const int n = cpu_count_from_list(line);
    if (n > 0)
      return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// The possible-CPU count: 0 until fixed, then written never again. Fixed by the first
// possible_cpus() call (detected) or by set_possible_cpus(); read by everyone.
inline std::atomic<int>& possible_cpu_count() noexcept {
  static std::atomic<int> count{0};
  return count;
}

// The id this thread is bound to, or -1. Thread-local, so no synchronization.
inline int& bound_cpu() noexcept {
  thread_local int cpu = -1;
  return cpu;
}

}  // namespace detail

// The number of possible CPUs. Fixed at first use; thread-safe; never writes after that.
inline int possible_cpus() noexcept {
  auto& count = detail::possible_cpu_count();
  // Acquire: pairs with the release of whichever CAS fixed the count (here or in
  // set_possible_cpus), so every structure sees the count the others were sized with.
  int n = count.load(std::memory_order_acquire);
  if (n != 0)
    return n;
  const int detected = detail::detect_possible_cpus();
  // Release publishes the detected count; on failure, acquire reads the winner's count.
  if (count.compare_exchange_strong(n, detected, std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
    return detected;
  }
  return n;
}

// Overrides the possible-CPU count. Must run before possible_cpus() is first called (before
// any map is created): throws std::logic_error if a different count is already fixed, and
// std::invalid_argument for n outside 1..65536.
inline void set_possible_cpus(int n) {
  if (n < 1 || n > 1 << 16) {
    throw std::invalid_argument("xmaps: possible CPU count must be 1..65536");
  }
  int expected = 0;
  // Release: pairs with the acquire load in possible_cpus().
  if (!detail::possible_cpu_count().compare_exchange_strong(expected, n, std::memory_order_acq_rel,
                                                            std::memory_order_acquire) &&
      expected != n) {
    throw std::logic_error("xmaps: set_possible_cpus() after the CPU count was fixed at " +
                           std::to_string(expected));
  }
}

// The CPU id the calling thread acts as: its CpuBinding if any, else sched_getcpu() modulo
// possible_cpus(). Thread-safe; cheap (a thread-local read, or glibc's rseq-backed getcpu).
inline int current_cpu() noexcept {
  const int bound = detail::bound_cpu();
  if (bound >= 0)
    return bound;
  const int cpu = ::sched_getcpu();
  const int n = possible_cpus();
  return cpu < 0 ? 0 : cpu % n;
}

// Binds the calling thread to a CPU id for the lifetime of the object (scopes nest; the
// previous binding is restored). Does not pin the OS thread: xmaps::topology does that.
class CpuBinding {
 public:
  explicit CpuBinding(int cpu) : previous_(detail::bound_cpu()) {
    if (cpu < 0 || cpu >= possible_cpus()) {
      throw std::out_of_range("xmaps: CpuBinding to a CPU id outside [0, possible_cpus())");
    }
    detail::bound_cpu() = cpu;
  }
  ~CpuBinding() { detail::bound_cpu() = previous_; }
  CpuBinding(const CpuBinding&) = delete;
  CpuBinding& operator=(const CpuBinding&) = delete;
  CpuBinding(CpuBinding&&) = delete;
  CpuBinding& operator=(CpuBinding&&) = delete;

 private:
  int previous_;
};

}  // namespace xmaps
