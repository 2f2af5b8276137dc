// SPDX-License-Identifier: MIT
//
// The simulator's clock (internal to sim/): steady_clock in nanoseconds, for frame stamps,
// latency and the calibration's timed regions.
#pragma once

#include <chrono>
#include <cstdint>

namespace xmaps::sim::detail {

inline std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace xmaps::sim::detail
