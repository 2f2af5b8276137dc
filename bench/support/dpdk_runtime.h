// SPDX-License-Identifier: MIT
//
// DpdkRuntime: the DPDK EAL, initialised once per benchmark binary (main() calls init() before
// any benchmark thread exists) without hugepages or devices:
//   --no-huge --no-pci --no-shconf --no-telemetry -l 0-1 -m 256 --log-level=error
// rte_eal_init pins the calling thread to lcore 0's CPU; init() restores the thread's affinity
// afterwards, or every benchmark thread spawned later would inherit the pin to CPU 0.
#pragma once

#include <sched.h>
#include <string>
#include <vector>

// rte_config.h first, as pkg-config's `-include rte_config.h` would put it.
// clang-format off
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
// clang-format on

namespace xmaps_bench {

class DpdkRuntime {
 public:
  // Initialises the EAL. Call once, from main(), before any benchmark thread exists.
  static void init() {
    State& s = state();
    std::vector<std::string> args = {
        "xmaps_bench", "--no-huge", "--no-pci", "--no-shconf", "--no-telemetry",
        "-l",          "0-1",       "-m",       "256",         "--log-level=error"};
    std::vector<char*> argv;
    for (std::string& a : args)
      argv.push_back(a.data());
    cpu_set_t saved;
    CPU_ZERO(&saved);
    const bool have_mask = sched_getaffinity(0, sizeof(saved), &saved) == 0;
    const int rc = rte_eal_init(static_cast<int>(argv.size()), argv.data());
    if (have_mask)
      sched_setaffinity(0, sizeof(saved), &saved);
    if (rc < 0) {
      s.error = std::string("rte_eal_init failed: ") + rte_strerror(rte_errno);
    } else {
      s.ok = true;
    }
  }
  static void cleanup() {
    if (state().ok)
      rte_eal_cleanup();
  }
  static bool ok() noexcept { return state().ok; }
  static const std::string& error() noexcept { return state().error; }

 private:
  struct State {
    bool ok = false;
    std::string error = "rte_eal_init was not called";
  };
  static State& state() noexcept {
    static State s;
    return s;
  }
};

}  // namespace xmaps_bench
