// SPDX-License-Identifier: MIT
//
// CpuMap under traffic while its entries are replaced and deleted: more ingress threads than
// cores (random batch sizes and yields), workers on both CPUs, a control thread changing the
// entries all the time. Every frame must end exactly once (delivered, dropped by a program,
// aborted, dropped at enqueue, or dropped on the ingress CPU because the entry was missing),
// the counters must add up, and the pool must get every frame back.
//
// XMAPS_STRESS_SECONDS bounds the run (default 2 s), XMAPS_STRESS_SEED replays it.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <thread>
#include <vector>
#include <xmaps/cpumap.h>
#include <xmaps/redirect.h>

#include <gtest/gtest.h>

#include "support/stress.h"

namespace {

using xmaps::CpuMap;
using xmaps::CpuMapStats;
using xmaps::Errc;
using xmaps::Frame;
using xmaps::FramePool;
using xmaps::RedirectContext;
using xmaps::XdpAction;
using xmaps::XdpProgram;

enum Fate : std::uint8_t { kNone = 0, kSunk = 1, kProgDrop = 2, kAborted = 3 };

constexpr int kIngress = 4;
constexpr std::uint64_t kPerThread = 1U << 18;  // frame ids per ingress thread

TEST(CpuMapStress, EveryFrameEndsOnceWhileEntriesAreReplacedUnderTraffic) {
  const double seconds = xmaps::testing::stress_seconds(2.0);
  const std::uint64_t seed = xmaps::testing::stress_seed();
  std::printf("XMAPS_STRESS_SEED=%llu seconds=%.1f\n", static_cast<unsigned long long>(seed),
              seconds);
  const auto keys = static_cast<std::uint32_t>(std::min(2, xmaps::possible_cpus()));

  std::vector<std::atomic<std::uint8_t>> fate(kIngress * kPerThread);
  std::atomic<std::uint64_t> doubles{0};
  std::atomic<std::uint64_t> sunk{0};
  auto mark = [&](const Frame& f, Fate what) {
    if (fate[static_cast<std::size_t>(f.user)].exchange(what) != kNone)
      doubles.fetch_add(1);
  };

  FramePool pool(2048);
  CpuMap::Options opt;
  opt.sink = [&](std::span<Frame* const> frames, int) {
    for (Frame* f : frames)
      mark(*f, kSunk);
    sunk.fetch_add(frames.size());
  };
  CpuMap map(keys, opt);
  // Second programs: by frame id, pass / drop / TX (aborted); one of them yields at times.
  const auto verdicts = std::make_shared<const XdpProgram>([&](Frame& f) {
    const std::uint64_t h = f.user * 0x9E3779B97F4A7C15ULL >> 60;
    if (h < 11)
      return XdpAction::pass;
    if (h < 14) {
      mark(f, kProgDrop);
      return XdpAction::drop;
    }
    mark(f, kAborted);
    return XdpAction::tx;
  });
  const auto slow = std::make_shared<const XdpProgram>([&](Frame& f) {
    if (f.user % 64 == 0)
      std::this_thread::yield();
    return XdpAction::pass;
  });

  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> handed{0};
  std::atomic<std::uint64_t> missing{0};
  std::atomic<std::uint64_t> ctx_redirected{0};
  std::atomic<std::uint64_t> ctx_errors{0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);

  std::vector<std::thread> ingress;
  for (int t = 0; t < kIngress; ++t) {
    ingress.emplace_back([&, t] {
      std::mt19937_64 rng(seed + static_cast<std::uint64_t>(t));
      RedirectContext ctx;
      std::uint32_t key = 0;
      std::uint64_t my_missing = 0;
      const XdpProgram first([&](Frame&) {
        const XdpAction a = xmaps::redirect_map(map, key, 1);  // missing: XDP_DROP
        if (a == XdpAction::drop)
          ++my_missing;
        return a;
      });
      std::uint64_t seq = 0;
      while (seq < kPerThread && std::chrono::steady_clock::now() < deadline) {
        const std::uint64_t batch = 1 + rng() % 64;
        for (std::uint64_t i = 0; i < batch && seq < kPerThread; ++i) {
          Frame* f = pool.alloc();
          if (f == nullptr)
            break;  // every frame is out: end the batch, let the workers catch up
          f->user = static_cast<std::uint64_t>(t) * kPerThread + seq++;
          key = static_cast<std::uint32_t>(rng() % keys);
          const XdpAction a = ctx.run(first, f);
          ASSERT_NE(a, XdpAction::pass);
        }
        ctx.flush();
        if (rng() % 4 == 0)
          std::this_thread::yield();
      }
      handed.fetch_add(seq);
      missing.fetch_add(my_missing);
      ctx_redirected.fetch_add(ctx.stats().redirected);
      ctx_errors.fetch_add(ctx.stats().redirect_errors);
    });
  }

  std::uint64_t control_ops = 0;
  std::thread control([&] {
    std::mt19937_64 rng(seed ^ 0xC0FFEEULL);
    const std::uint32_t qsizes[] = {1, 4, 16, 64, 256};
    while (!done.load()) {
      const auto k = static_cast<std::uint32_t>(rng() % keys);
      const unsigned op = static_cast<unsigned>(rng() % 8);
      Errc e = Errc::ok;
      if (op == 0) {
        e = map.erase(k);
      } else if (op == 1) {
        e = map.update(k, 0);  // qsize 0: delete
      } else {
        e = map.update(k, qsizes[rng() % 5], op % 2 == 0 ? verdicts : slow, rng() % 2 == 0 ? 0 : 2);
      }
      EXPECT_EQ(e, Errc::ok);
      ++control_ops;
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
    }
  });

  for (auto& th : ingress)
    th.join();
  done.store(true);
  control.join();
  for (std::uint32_t k = 0; k < keys; ++k)
    ASSERT_EQ(map.erase(k), Errc::ok);  // drains; the counters stay in stats()

  const CpuMapStats s = map.totals();
  std::printf(
      "handed %llu, missing %llu, enqueue drops %llu, processed %llu (passed %llu, "
      "dropped %llu, aborted %llu), control ops %llu, sleeps %llu\n",
      static_cast<unsigned long long>(handed.load()),
      static_cast<unsigned long long>(missing.load()),
      static_cast<unsigned long long>(s.enqueue_drops),
      static_cast<unsigned long long>(s.processed), static_cast<unsigned long long>(s.passed),
      static_cast<unsigned long long>(s.dropped), static_cast<unsigned long long>(s.aborted),
      static_cast<unsigned long long>(control_ops), static_cast<unsigned long long>(s.sleeps));
  EXPECT_EQ(doubles.load(), 0U);
  EXPECT_EQ(ctx_errors.load(), 0U);
  // Ingress: every frame was redirected or dropped for a missing entry.
  EXPECT_EQ(handed.load(), ctx_redirected.load() + missing.load());
  // Every redirected frame entered a ring or was dropped at its flush.
  EXPECT_EQ(ctx_redirected.load(), s.enqueued + s.enqueue_drops);
  // Every frame in a ring was processed (the rings drained), with one verdict.
  EXPECT_EQ(s.enqueued, s.processed);
  EXPECT_EQ(s.processed, s.passed + s.dropped + s.aborted + s.redirected + s.redirect_errors);
  EXPECT_EQ(s.redirected, 0U);
  EXPECT_EQ(sunk.load(), s.passed);
  std::uint64_t by_fate[4] = {0, 0, 0, 0};
  for (const auto& f : fate)
    ++by_fate[f.load()];
  EXPECT_EQ(by_fate[kSunk], s.passed);
  EXPECT_EQ(by_fate[kProgDrop], s.dropped);
  EXPECT_EQ(by_fate[kAborted], s.aborted);
  EXPECT_EQ(pool.in_use(), 0U);
  EXPECT_EQ(pool.bad_frees(), 0U);
  EXPECT_GT(s.processed, 0U);
  EXPECT_GT(control_ops, 0U);
}

}  // namespace
