// SPDX-License-Identifier: MIT
//
// The knobs every stress test shares (read before any worker thread starts):
//   XMAPS_STRESS_SECONDS  time bound per test; a test scales its op counts by it too
//   XMAPS_STRESS_SEED     seed of the random streams, to replay a run (tests print theirs)
#pragma once

#include <cstdint>
#include <cstdlib>
#include <random>

namespace xmaps::testing {

// XMAPS_STRESS_SECONDS if set to a positive number, else `default_seconds`.
inline double stress_seconds(double default_seconds) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any worker starts
  const char* env = std::getenv("XMAPS_STRESS_SECONDS");
  if (env != nullptr) {
    const double s = std::strtod(env, nullptr);
    if (s > 0)
      return s;
  }
  return default_seconds;
}

// A numeric environment knob (decimal, or 0x.. hex): its value if set and non-empty, else
// `fallback`. (The kernel differential tests' XMAPS_DIFF_* knobs.)
inline std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any worker starts
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 0) : fallback;
}

// XMAPS_STRESS_SEED if set, else a fresh random seed.
inline std::uint64_t stress_seed() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any worker starts
  const char* env = std::getenv("XMAPS_STRESS_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : std::random_device{}();
}

}  // namespace xmaps::testing
