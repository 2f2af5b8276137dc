// SPDX-License-Identifier: MIT
// LatencyHistogram (xmaps/sim/histogram.h): exact small values, percentiles within 2^-kSubBits
// of the exact ones for known distributions, merge, clamping, the empty histogram, the CDF.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "xmaps/sim/histogram.h"

namespace {

using xmaps::sim::LatencyHistogram;

constexpr double kTolerance = 1.0 / (1U << LatencyHistogram::kSubBits);
constexpr double kPercentiles[] = {0, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100};

// The exact value at percentile p of sorted data, with the histogram's rank rule.
std::uint64_t exact_percentile(const std::vector<std::uint64_t>& sorted, double p) {
  auto rank = static_cast<std::uint64_t>(
      std::ceil(static_cast<long double>(p) / 100.0L * static_cast<long double>(sorted.size())));
  rank = std::clamp<std::uint64_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void expect_within_resolution(const LatencyHistogram& h, std::vector<std::uint64_t> values) {
  std::sort(values.begin(), values.end());
  ASSERT_EQ(h.count(), values.size());
  EXPECT_EQ(h.min(), values.front());
  EXPECT_EQ(h.max(), values.back());
  for (const double p : kPercentiles) {
    const auto want = static_cast<double>(exact_percentile(values, p));
    const auto got = static_cast<double>(h.percentile(p));
    EXPECT_GE(got, want) << "p" << p;  // a bucket's upper bound
    EXPECT_LE(std::abs(got - want), kTolerance * want) << "p" << p;
  }
  EXPECT_EQ(h.percentile(100), values.back());
}

TEST(SimHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (std::uint64_t v = 0; v < (1U << LatencyHistogram::kSubBits); ++v)
    h.record_n(v, v + 1);  // v recorded v + 1 times
  std::vector<std::uint64_t> all;
  for (std::uint64_t v = 0; v < (1U << LatencyHistogram::kSubBits); ++v)
    all.insert(all.end(), v + 1, v);
  for (const double p : {0.0, 0.5, 5.0, 33.3, 50.0, 77.7, 99.0, 100.0})
    EXPECT_EQ(h.percentile(p), exact_percentile(all, p)) << p;
  const auto cdf = h.cdf();
  ASSERT_EQ(cdf.size(), 1U << LatencyHistogram::kSubBits);
  for (std::size_t i = 0; i < cdf.size(); ++i)
    EXPECT_EQ(cdf[i].first, i);
}

TEST(SimHistogram, SingleValue) {
  LatencyHistogram h;
  h.record(123456);
  EXPECT_EQ(h.count(), 1U);
  EXPECT_EQ(h.min(), 123456U);
  EXPECT_EQ(h.max(), 123456U);
  EXPECT_DOUBLE_EQ(h.mean(), 123456.0);
  for (const double p : kPercentiles)
    EXPECT_EQ(h.percentile(p), 123456U) << p;  // clamped into [min, max]
}

TEST(SimHistogram, UniformPercentilesWithinResolution) {
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<std::uint64_t> d(1, 1000000);
  LatencyHistogram h;
  std::vector<std::uint64_t> values;
  long double sum = 0;
  for (int i = 0; i < 200000; ++i) {
    const std::uint64_t v = d(rng);
    values.push_back(v);
    h.record(v);
    sum += static_cast<long double>(v);
  }
  expect_within_resolution(h, values);
  EXPECT_NEAR(h.mean(), static_cast<double>(sum / values.size()), 1e-6);
  EXPECT_NEAR(static_cast<double>(h.percentile(50)), 500000.0, 5000.0);
}

TEST(SimHistogram, ExponentialPercentilesWithinResolution) {
  std::mt19937_64 rng(12345);
  std::exponential_distribution<double> d(1.0 / 20000.0);  // mean 20 us
  LatencyHistogram h;
  std::vector<std::uint64_t> values;
  for (int i = 0; i < 200000; ++i) {
    const auto v = static_cast<std::uint64_t>(d(rng)) + 1;
    values.push_back(v);
    h.record(v);
  }
  expect_within_resolution(h, values);
  // Median of an exponential: mean * ln 2.
  EXPECT_NEAR(static_cast<double>(h.percentile(50)), 20000.0 * std::log(2.0), 400.0);
}

TEST(SimHistogram, WideRangeEveryPowerOfTwo) {
  LatencyHistogram h;
  std::vector<std::uint64_t> values;
  for (unsigned b = 0; b < LatencyHistogram::kMaxBits; ++b) {
    for (const std::uint64_t v :
         {std::uint64_t{1} << b, (std::uint64_t{1} << b) + 3, (std::uint64_t{3} << b) / 2 + 1}) {
      values.push_back(v);
      h.record(v);
    }
  }
  expect_within_resolution(h, values);
  EXPECT_EQ(h.clamped(), 0U);
}

TEST(SimHistogram, MergeEqualsRecordingIntoOne) {
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<std::uint64_t> d(0, 5000000);
  LatencyHistogram parts[4];
  LatencyHistogram all;
  for (int i = 0; i < 40000; ++i) {
    const std::uint64_t v = d(rng) >> (i % 13);
    parts[i % 4].record(v);
    all.record(v);
  }
  all.record(std::uint64_t{1} << 45);
  parts[2].record(std::uint64_t{1} << 45);
  LatencyHistogram merged;
  for (const auto& p : parts)
    merged.merge(p);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.clamped(), all.clamped());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_DOUBLE_EQ(merged.mean(), all.mean());
  EXPECT_EQ(merged.cdf(), all.cdf());
  for (const double p : kPercentiles)
    EXPECT_EQ(merged.percentile(p), all.percentile(p)) << p;
  LatencyHistogram empty;
  merged.merge(empty);
  EXPECT_EQ(merged.cdf(), all.cdf());
  EXPECT_EQ(merged.min(), all.min());
}

TEST(SimHistogram, ValuesAboveTheRangeAreClampedAndCounted) {
  LatencyHistogram h;
  const std::uint64_t top = (std::uint64_t{1} << LatencyHistogram::kMaxBits) - 1;
  h.record(10);
  h.record(top);  // the largest value held: not clamped
  EXPECT_EQ(h.clamped(), 0U);
  h.record(top + 1);
  h.record_n(UINT64_MAX, 3);
  EXPECT_EQ(h.clamped(), 4U);
  EXPECT_EQ(h.count(), 6U);
  EXPECT_EQ(h.max(), top);
  EXPECT_EQ(h.percentile(100), top);
  EXPECT_EQ(h.percentile(0), 10U);
}

TEST(SimHistogram, EmptyHistogram) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0U);
  EXPECT_EQ(h.min(), 0U);
  EXPECT_EQ(h.max(), 0U);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.percentile(50), 0U);
  EXPECT_EQ(h.percentile(100), 0U);
  EXPECT_TRUE(h.cdf().empty());
  h.record_n(99, 0);  // n = 0 records nothing
  EXPECT_EQ(h.count(), 0U);
  EXPECT_EQ(h.min(), 0U);
  h.record(7);
  h.reset();
  EXPECT_EQ(h.count(), 0U);
  EXPECT_EQ(h.max(), 0U);
  EXPECT_TRUE(h.cdf().empty());
}

TEST(SimHistogram, CdfIsMonotoneAndEndsAtOne) {
  std::mt19937_64 rng(99);
  std::lognormal_distribution<double> d(9.0, 1.5);
  LatencyHistogram h;
  for (int i = 0; i < 100000; ++i)
    h.record(static_cast<std::uint64_t>(d(rng)));
  const auto cdf = h.cdf();
  ASSERT_FALSE(cdf.empty());
  for (std::size_t i = 1; i < cdf.size(); ++i) {
    EXPECT_GT(cdf[i].first, cdf[i - 1].first) << i;
    EXPECT_GT(cdf[i].second, cdf[i - 1].second) << i;
  }
  EXPECT_EQ(cdf.back().second, 1.0);
  EXPECT_EQ(cdf.back().first, h.max());
  EXPECT_EQ(cdf.front().first, std::max(h.min(), cdf.front().first));
  EXPECT_GT(cdf.front().second, 0.0);
  // Out-of-range percentiles are clamped to 0 and 100.
  EXPECT_EQ(h.percentile(-5), h.percentile(0));
  EXPECT_EQ(h.percentile(250), h.max());
}

}  // namespace
