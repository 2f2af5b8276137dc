// SPDX-License-Identifier: MIT
//
// PinToCpu: pins the calling thread (a benchmark's, or a test's that drives the kernel) to one CPU
// for a scope, so that every peer runs on the same CPUs (and a thread's CpuBinding matches the CPU
// it really runs on).
#pragma once

#include <sched.h>

namespace xmaps::testing {

// Pins the calling thread to one CPU for the object's lifetime (restoring its previous
// affinity after): `cpu` if the thread may run there, else the (cpu mod n)-th allowed CPU.
class PinToCpu {
 public:
  explicit PinToCpu(int cpu) {
    if (::sched_getaffinity(0, sizeof(saved_), &saved_) != 0)
      return;
    int target = -1;
    if (cpu < CPU_SETSIZE && CPU_ISSET(cpu, &saved_)) {
      target = cpu;
    } else {
      const int allowed = CPU_COUNT(&saved_);
      int nth = allowed > 0 ? cpu % allowed : 0;
      for (int c = 0; c < CPU_SETSIZE && target < 0; ++c) {
        if (CPU_ISSET(c, &saved_) && nth-- == 0)
          target = c;
      }
    }
    if (target < 0)
      return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(target, &one);
    if (::sched_setaffinity(0, sizeof(one), &one) == 0) {
      pinned_ = true;
      cpu_ = target;
    }
  }
  ~PinToCpu() {
    if (pinned_)
      ::sched_setaffinity(0, sizeof(saved_), &saved_);
  }
  PinToCpu(const PinToCpu&) = delete;
  PinToCpu& operator=(const PinToCpu&) = delete;
  PinToCpu(PinToCpu&&) = delete;
  PinToCpu& operator=(PinToCpu&&) = delete;
  [[nodiscard]] bool pinned() const noexcept { return pinned_; }
  [[nodiscard]] int cpu() const noexcept { return cpu_; }

 private:
  cpu_set_t saved_{};
  bool pinned_ = false;
  int cpu_ = -1;
};

}  // namespace xmaps::testing
