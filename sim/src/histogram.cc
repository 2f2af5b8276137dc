// SPDX-License-Identifier: MIT
//
// LatencyHistogram (xmaps/sim/histogram.h). Bucket layout, with S = kSubBits:
//
//   index i < 2^S          value i exactly
//   index i = g * 2^S + s  (g >= 1, s < 2^S) values [(2^S + s) << (g - 1), + 2^(g - 1)):
//                          group g splits [2^(g+S-1), 2^(g+S)) into 2^S buckets
//
// so a value v >= 2^S with top bit m lands in group m - S + 1 at sub-bucket
// (v >> (m - S)) - 2^S; group 1 has width 1, so values below 2^(S+1) are exact too. A bucket
// of group g is 2^(g-1) wide and starts at >= 2^(g+S-1): relative width <= 2^-S.
#include "xmaps/sim/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace xmaps::sim {

namespace {

constexpr unsigned kS = LatencyHistogram::kSubBits;
constexpr std::uint64_t kSub = std::uint64_t{1} << kS;
constexpr std::uint64_t kLargest = (std::uint64_t{1} << LatencyHistogram::kMaxBits) - 1;

constexpr std::size_t bucket_of(std::uint64_t v) noexcept {
  if (v < kSub)
    return static_cast<std::size_t>(v);
  const unsigned m = 63U - static_cast<unsigned>(std::countl_zero(v));  // >= kS
  const std::uint64_t group = m - kS + 1;
  const std::uint64_t sub = (v >> (m - kS)) - kSub;
  return static_cast<std::size_t>((group << kS) | sub);
}

// The largest value bucket i holds.
std::uint64_t bucket_upper(std::size_t i) noexcept {
  if (i < kSub)
    return i;
  const std::uint64_t group = i >> kS;
  const std::uint64_t sub = i & (kSub - 1);
  const std::uint64_t lower = (kSub + sub) << (group - 1);
  return lower + (std::uint64_t{1} << (group - 1)) - 1;
}

}  // namespace

void LatencyHistogram::record(std::uint64_t ns) noexcept {
  record_n(ns, 1);
}

void LatencyHistogram::record_n(std::uint64_t ns, std::uint64_t n) noexcept {
  static_assert(bucket_of(kLargest) == kBuckets - 1, "the largest value fills the last bucket");
  if (n == 0)
    return;
  if (ns > kLargest) {
    ns = kLargest;
    clamped_ += n;
  }
  counts_[bucket_of(ns)] += n;
  count_ += n;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
  sum_ += static_cast<long double>(ns) * static_cast<long double>(n);
}

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept {
  for (std::size_t i = 0; i < kBuckets; ++i)
    counts_[i] += other.counts_[i];
  count_ += other.count_;
  clamped_ += other.clamped_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void LatencyHistogram::reset() noexcept {
  *this = LatencyHistogram{};
}

std::uint64_t LatencyHistogram::min() const noexcept {
  return count_ == 0 ? 0 : min_;
}

std::uint64_t LatencyHistogram::max() const noexcept {
  return count_ == 0 ? 0 : max_;
}

double LatencyHistogram::mean() const noexcept {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

std::uint64_t LatencyHistogram::percentile(double p) const noexcept {
  if (count_ == 0)
    return 0;
  if (!(p > 0.0))  // also NaN
    p = 0.0;
  p = std::min(p, 100.0);
  // The rank (1-based) of the value at percentile p: ceil(p% of count), at least 1.
  const long double exact = static_cast<long double>(p) / 100.0L * static_cast<long double>(count_);
  auto rank = static_cast<std::uint64_t>(std::ceil(exact));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank)
      return std::clamp(bucket_upper(i), min_, max_);
  }
  return max_;  // not reached: the counts add up to count_
}

std::vector<std::pair<std::uint64_t, double>> LatencyHistogram::cdf() const {
  std::vector<std::pair<std::uint64_t, double>> out;
  if (count_ == 0)
    return out;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    if (counts_[i] == 0)
      continue;
    seen += counts_[i];
    const double frac =
        seen == count_ ? 1.0 : static_cast<double>(seen) / static_cast<double>(count_);
    out.emplace_back(std::clamp(bucket_upper(i), min_, max_), frac);
  }
  return out;
}

}  // namespace xmaps::sim
