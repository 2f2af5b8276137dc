// SPDX-License-Identifier: MIT
//
// LatencyHistogram: an HDR-style histogram of nanosecond values. Values below 2^kSubBits are
// counted exactly; above, each power-of-two range is split into 2^kSubBits equal buckets, so
// a reported percentile is within 1/2^kSubBits (0.8 %) of the true value. Fixed size
// (no allocation when recording), values up to 2^40 ns (~18 min; larger ones are clamped and
// counted in clamped()).
//
// One histogram per thread; merge() them at the end. Not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

namespace xmaps::sim {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBits = 7;
  static constexpr unsigned kMaxBits = 40;

  void record(std::uint64_t ns) noexcept;
  void record_n(std::uint64_t ns, std::uint64_t n) noexcept;
  void merge(const LatencyHistogram& other) noexcept;
  void reset() noexcept;

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] std::uint64_t clamped() const noexcept { return clamped_; }
  [[nodiscard]] std::uint64_t min() const noexcept;  // 0 when empty
  [[nodiscard]] std::uint64_t max() const noexcept;  // 0 when empty
  [[nodiscard]] double mean() const noexcept;        // 0 when empty
  // The smallest recorded bucket's upper bound b with at least p (0..100) percent of values
  // <= b; 0 when empty. percentile(100) == max() up to the bucket's resolution.
  [[nodiscard]] std::uint64_t percentile(double p) const noexcept;
  // (value, cumulative fraction) for every non-empty bucket, ascending: a CDF to plot.
  [[nodiscard]] std::vector<std::pair<std::uint64_t, double>> cdf() const;

 private:
  static constexpr std::size_t kBuckets = (kMaxBits - kSubBits + 1) << kSubBits;
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t clamped_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace xmaps::sim
