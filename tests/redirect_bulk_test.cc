// SPDX-License-Identifier: MIT
//
// RedirectContext's bulk queues on a machine with many CPUs: a batch keeps a bulk queue open
// for every target whatever the targets' CPU numbers (the kernel keeps one per CPUMAP entry
// per CPU), so frames spread over targets whose keys share a home slot still travel in full
// bulks. Its own binary: possible_cpus() is fixed at 256 before any map exists.
#include <algorithm>
#include <cstdint>
#include <vector>
#include <xmaps/cpu.h>
#include <xmaps/cpumap.h>
#include <xmaps/frame_pool.h>
#include <xmaps/redirect.h>

#include <gtest/gtest.h>

namespace {

using xmaps::CpuMap;
using xmaps::Errc;
using xmaps::FramePool;
using xmaps::RedirectContext;
using xmaps::XdpAction;

// gtest_main runs the tests after static initialization.
const bool kPrepared = [] {
  xmaps::set_possible_cpus(256);
  return true;
}();

CpuMap::Options manual() {
  CpuMap::Options o;
  o.manual_workers = true;  // no worker threads: the test drains the rings itself
  return o;                 // bulk 8
}

// Sends `frames` frames round-robin over `keys` in one batch; the context's flush count.
std::uint64_t flushes_for(const std::vector<std::uint32_t>& keys, std::uint32_t frames) {
  FramePool pool(1024);  // first: frames must outlive the map that holds them
  CpuMap map(256, manual());
  for (std::uint32_t k : keys)
    EXPECT_EQ(map.update(k, 256), Errc::ok) << k;
  RedirectContext ctx;
  for (std::uint32_t i = 0; i < frames; ++i) {
    const std::uint32_t k = keys[i % keys.size()];
    EXPECT_EQ(xmaps::redirect_map(map, k, 0), XdpAction::redirect);
    EXPECT_TRUE(ctx.redirect(pool.alloc()));
  }
  ctx.flush();
  std::uint64_t enqueued = 0;
  for (std::uint32_t k : keys) {
    enqueued += map.stats(k).enqueued;
    (void)map.run_worker(k, 256);
  }
  EXPECT_EQ(enqueued, frames);
  EXPECT_EQ(ctx.stats().redirected, frames);
  return ctx.stats().flushes;
}

TEST(RedirectBulk, TargetsSharingAHomeSlotStillFillWholeBulks) {
  (void)kPrepared;
  // 2 and 66 (and 3 and 67, ...) are 64 apart: SMT siblings on a 2 x 32-core machine.
  EXPECT_EQ(flushes_for({2, 66}, 16), 2U);  // one full bulk each, nothing left at flush
  std::vector<std::uint32_t> siblings;
  for (std::uint32_t c = 2; c < 10; ++c) {
    siblings.push_back(c);
    siblings.push_back(c + 64);
  }
  EXPECT_EQ(flushes_for(siblings, 16 * 8), 16U);
  // Keys 16 apart, and a contiguous range: the same.
  EXPECT_EQ(flushes_for({1, 17, 33, 49, 65, 81, 97, 113}, 64), 8U);
  std::vector<std::uint32_t> range;
  for (std::uint32_t c = 0; c < 64; ++c)
    range.push_back(c);
  EXPECT_EQ(flushes_for(range, 64 * 8), 64U);
  // 63 CPUs not starting at a multiple of 64, and SMT pairs 128 apart.
  range.clear();
  for (std::uint32_t c = 40; c < 103; ++c)
    range.push_back(c);
  EXPECT_EQ(flushes_for(range, 63 * 8), 63U);
  siblings.clear();
  for (std::uint32_t c = 0; c < 31; ++c) {
    siblings.push_back(c);
    siblings.push_back(c + 128);
  }
  EXPECT_EQ(flushes_for(siblings, 62 * 8), 62U);
}

TEST(RedirectBulk, AContextStartsEachBatchWithEmptyBulks) {
  // One context, three batches of 3 frames each to different targets: nothing from one
  // batch's bulks (target, count) is left for the next after flush().
  FramePool pool(64);
  CpuMap map(256, manual());
  for (std::uint32_t k : {5U, 69U, 133U, 197U})
    ASSERT_EQ(map.update(k, 64), Errc::ok);
  RedirectContext ctx;
  const std::uint32_t batches[3][3] = {{5, 69, 5}, {133, 197, 133}, {69, 69, 69}};
  const std::uint64_t flushes_after[3] = {2, 4, 5};  // one bulk per distinct target a batch
  for (int b = 0; b < 3; ++b) {
    for (std::uint32_t k : batches[b]) {
      ASSERT_EQ(xmaps::redirect_map(map, k, 0), XdpAction::redirect);
      ASSERT_TRUE(ctx.redirect(pool.alloc()));
    }
    ctx.flush();
    EXPECT_EQ(ctx.stats().flushes, flushes_after[b]) << "batch " << b;
  }
  EXPECT_EQ(map.stats(5).enqueued, 2U);
  EXPECT_EQ(map.stats(69).enqueued, 4U);
  EXPECT_EQ(map.stats(133).enqueued, 2U);
  EXPECT_EQ(map.stats(197).enqueued, 1U);
  for (std::uint32_t k : {5U, 69U, 133U, 197U})
    (void)map.run_worker(k, 64);
}

// Average probes a frame when `keys` share one batch round-robin: linear probing from
// detail::bulk_home_slot() over 64 slots, as RedirectContext::bulk_for() does.
double mean_probes(const std::vector<std::uint32_t>& keys) {
  constexpr std::uint32_t kSlots = 64;
  std::vector<std::int64_t> owner(kSlots, -1);
  std::uint64_t probes = 0;
  for (std::uint32_t k : keys) {
    std::uint32_t i = 0;
    std::uint32_t slot = xmaps::detail::bulk_home_slot(k);
    EXPECT_LT(slot, kSlots);
    while (owner[slot] != -1) {
      slot = (slot + 1) % kSlots;
      ++i;
    }
    owner[slot] = k;
    probes += i + 1;  // a later frame of k finds it after the same probes
  }
  return static_cast<double>(probes) / static_cast<double>(keys.size());
}

TEST(RedirectBulk, HomeSlotsKeepProbesShortForCommonCpuLayouts) {
  // Contiguous ranges from any start, and SMT pairs 32, 64 or 128 apart, up to 63 targets:
  // at most 2 probes a frame (detail::bulk_home_slot()'s claim).
  double worst = 0;
  for (std::uint32_t n : {8U, 16U, 24U, 32U, 48U, 63U}) {
    for (std::uint32_t a = 0; a < 256; ++a) {
      std::vector<std::uint32_t> keys;
      for (std::uint32_t c = a; c < a + n; ++c)
        keys.push_back(c);
      const double p = mean_probes(keys);
      EXPECT_LE(p, 2.0) << n << " CPUs from " << a;
      worst = std::max(worst, p);
    }
    for (std::uint32_t apart : {32U, 64U, 128U}) {
      for (std::uint32_t a = 0; a < 128; ++a) {
        std::vector<std::uint32_t> keys;
        for (std::uint32_t c = a; c < a + n / 2; ++c) {
          keys.push_back(c);
          keys.push_back(c + apart);
        }
        const double p = mean_probes(keys);
        EXPECT_LE(p, 2.0) << n / 2 << " SMT pairs " << apart << " apart from " << a;
        worst = std::max(worst, p);
      }
    }
  }
  EXPECT_GT(worst, 1.0);  // the simulation probes: some layouts do collide
  // The layout that showed the flaw: 48 workers on CPUs 8-31 and 72-95 (13 probes with the
  // CPU number's low six bits).
  std::vector<std::uint32_t> compact;
  for (std::uint32_t c = 8; c < 32; ++c) {
    compact.push_back(c);
    compact.push_back(c + 64);
  }
  EXPECT_LE(mean_probes(compact), 1.3);
}

TEST(RedirectBulk, MoreTargetsThanSlotsStillDeliversEveryFrame) {
  // 100 targets in one batch: past the context's slots some bulks go out early, but every
  // frame reaches its target's ring (flushes_for checks the enqueue counts).
  std::vector<std::uint32_t> keys;
  for (std::uint32_t c = 0; c < 100; ++c)
    keys.push_back(c);
  const std::uint64_t f = flushes_for(keys, 400);
  EXPECT_GE(f, 100U);  // at least one bulk per target
  EXPECT_LE(f, 400U);  // at most one per frame
}

}  // namespace
