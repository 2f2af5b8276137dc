// SPDX-License-Identifier: MIT
//
// CpuMap and redirect_map(): the kernel's CPUMAP rules (kernel/bpf/cpumap.c, kernel-notes
// §1.4), bulking and flush, the worker's verdicts, draining on replace, stats.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sched.h>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#include <xmaps/cpu.h>
#include <xmaps/cpumap.h>
#include <xmaps/redirect.h>

#include <gtest/gtest.h>

#include "support/eventually.h"

namespace {

using namespace std::chrono_literals;
using xmaps::CpuMap;
using xmaps::CpuMapStats;
using xmaps::CpuMapValue;
using xmaps::Errc;
using xmaps::Frame;
using xmaps::FramePool;
using xmaps::RedirectContext;
using xmaps::UpdateFlag;
using xmaps::XdpAction;
using xmaps::XdpProgram;

using xmaps::testing::eventually;

std::shared_ptr<const XdpProgram> program(XdpProgram::Fn fn) {
  return std::make_shared<const XdpProgram>(std::move(fn));
}

// Frames redirected to `key` of `map` through a fresh context, flushed at the end.
void send(CpuMap& map, FramePool& pool, std::uint32_t key, int n, std::uint64_t first_user = 0) {
  RedirectContext ctx;
  for (int i = 0; i < n; ++i) {
    Frame* f = pool.alloc();
    ASSERT_NE(f, nullptr);
    f->user = first_user + static_cast<std::uint64_t>(i);
    ASSERT_EQ(xmaps::redirect_map(map, key, 0), XdpAction::redirect);
    ASSERT_TRUE(ctx.redirect(f));
  }
  ctx.flush();
}

TEST(CpuMap, ConstructionRejectsOutOfRangeSizes) {
  EXPECT_THROW(CpuMap(0), std::invalid_argument);
  EXPECT_THROW(CpuMap(CpuMap::kMaxEntries + 1), std::invalid_argument);
  CpuMap::Options o;
  o.bulk_size = 0;
  EXPECT_THROW(CpuMap(2, o), std::invalid_argument);
  o.bulk_size = CpuMap::kMaxBulk + 1;
  EXPECT_THROW(CpuMap(2, o), std::invalid_argument);
  o.bulk_size = 8;
  o.batch_size = 0;
  EXPECT_THROW(CpuMap(2, o), std::invalid_argument);
  o.batch_size = CpuMap::kMaxBatch + 1;
  EXPECT_THROW(CpuMap(2, o), std::invalid_argument);
}

TEST(CpuMap, UpdateChecksInTheKernelsOrder) {
  const auto possible = static_cast<std::uint32_t>(xmaps::possible_cpus());
  CpuMap map(possible + 2);
  // flags first, then the key range, then NOEXIST, then qsize, then the CPU.
  EXPECT_EQ(map.update(possible + 2, 16, nullptr, 3), Errc::invalid);
  EXPECT_EQ(map.update(0, 16, nullptr, 1ULL << 32), Errc::invalid);
  EXPECT_EQ(map.update(possible + 2, 99999, nullptr, 1), Errc::too_big);
  EXPECT_EQ(map.update(0, 99999, UpdateFlag::no_exist), Errc::exists);
  EXPECT_EQ(map.update(0, 16, UpdateFlag::no_exist), Errc::exists);  // even when empty
  EXPECT_EQ(map.update(possible, CpuMap::kMaxQsize + 1, UpdateFlag::any), Errc::overflow);
  EXPECT_EQ(map.update(possible, 16, UpdateFlag::any), Errc::no_device);
  EXPECT_EQ(map.update(possible + 1, 0, UpdateFlag::exist), Errc::no_device);
  EXPECT_EQ(map.update(0, CpuMap::kMaxQsize, UpdateFlag::exist), Errc::ok);  // EXIST creates
  CpuMapValue v;
  ASSERT_EQ(map.lookup(0, v), Errc::ok);
  EXPECT_EQ(v.qsize, CpuMap::kMaxQsize);
  EXPECT_EQ(v.prog_id, 0U);
}

TEST(CpuMap, QsizeZeroDeletesAndEraseRules) {
  CpuMap map(2);
  ASSERT_EQ(map.update(0, 64), Errc::ok);
  CpuMapValue v;
  ASSERT_EQ(map.lookup(0, v), Errc::ok);
  ASSERT_EQ(map.update(0, 0), Errc::ok);
  EXPECT_EQ(map.lookup(0, v), Errc::not_found);
  EXPECT_EQ(map.update(0, 0), Errc::ok);  // deleting an empty slot too
  EXPECT_EQ(map.erase(0), Errc::ok);      // empty: still ok, as the kernel
  EXPECT_EQ(map.erase(2), Errc::invalid);
  ASSERT_EQ(map.update(0, 32), Errc::ok);
  EXPECT_EQ(map.erase(0), Errc::ok);
  EXPECT_EQ(map.lookup(0, v), Errc::not_found);
  EXPECT_EQ(map.lookup(2, v), Errc::not_found);
}

TEST(CpuMap, LookupReportsQsizeAndProgramIdAndUpdateReplaces) {
  CpuMap map(2);
  const auto prog = program([](Frame&) { return XdpAction::pass; });
  ASSERT_NE(prog->id(), 0U);
  ASSERT_EQ(map.update(1, 192, prog), Errc::ok);
  CpuMapValue v;
  ASSERT_EQ(map.lookup(1, v), Errc::ok);
  EXPECT_EQ(v.qsize, 192U);
  EXPECT_EQ(v.prog_id, prog->id());
  ASSERT_EQ(map.update(1, 64, nullptr, 2), Errc::ok);
  ASSERT_EQ(map.lookup(1, v), Errc::ok);
  EXPECT_EQ(v.qsize, 64U);
  EXPECT_EQ(v.prog_id, 0U);
  const auto other = program([](Frame&) { return XdpAction::drop; });
  EXPECT_NE(other->id(), prog->id());
}

TEST(CpuMap, GetNextKeyWalksEveryIndexPopulatedOrNot) {
  CpuMap map(3);
  std::uint32_t next = 99;
  ASSERT_EQ(map.get_next_key(nullptr, next), Errc::ok);
  EXPECT_EQ(next, 0U);
  std::uint32_t k = 0;
  ASSERT_EQ(map.get_next_key(&k, next), Errc::ok);
  EXPECT_EQ(next, 1U);
  k = 1;
  ASSERT_EQ(map.get_next_key(&k, next), Errc::ok);
  EXPECT_EQ(next, 2U);
  k = 2;
  EXPECT_EQ(map.get_next_key(&k, next), Errc::not_found);
  k = 7;
  ASSERT_EQ(map.get_next_key(&k, next), Errc::ok);
  EXPECT_EQ(next, 0U);
}

TEST(CpuMap, RedirectMapReturnsTheFlagsActionForAMissingEntry) {
  CpuMap map(2);
  {
    // No context on this thread: nothing to redirect with.
    EXPECT_EQ(xmaps::redirect_map(map, 0, 0), XdpAction::aborted);
  }
  RedirectContext ctx;
  EXPECT_EQ(xmaps::redirect_map(map, 0, 0), XdpAction::aborted);  // 0 = XDP_ABORTED
  EXPECT_EQ(xmaps::redirect_map(map, 0, 1), XdpAction::drop);
  EXPECT_EQ(xmaps::redirect_map(map, 0, 2), XdpAction::pass);
  EXPECT_EQ(xmaps::redirect_map(map, 0, 3), XdpAction::tx);
  EXPECT_EQ(xmaps::redirect_map(map, 5, 2), XdpAction::pass);     // out of range: missing too
  EXPECT_EQ(xmaps::redirect_map(map, 0, 4), XdpAction::aborted);  // a flag bit beyond the action
  EXPECT_EQ(xmaps::redirect_map(map, 0, 1ULL << 40), XdpAction::aborted);
  ctx.flush();
  ASSERT_EQ(map.update(0, 8), Errc::ok);
  EXPECT_EQ(xmaps::redirect_map(map, 0, 2), XdpAction::redirect);
  EXPECT_EQ(xmaps::redirect_map(map, 0, 4), XdpAction::aborted);  // checked before the lookup
  ctx.flush();
}

TEST(CpuMap, PassedFramesReachTheSinkOnTheEntrysCpuWithTheirBytes) {
  FramePool pool(64);  // first: frames must outlive the map that holds them
  std::mutex mu;
  std::vector<std::uint64_t> seen;
  std::vector<int> cpus;
  bool bytes_ok = true;
  CpuMap::Options o;
  o.sink = [&](std::span<Frame* const> frames, int cpu) {
    std::lock_guard lock(mu);
    for (Frame* f : frames) {
      seen.push_back(f->user);
      cpus.push_back(cpu);
      bytes_ok = bytes_ok && f->len == 60 && f->data[0] == static_cast<unsigned char>(f->user);
    }
  };
  CpuMap map(2, o);
  const int target = xmaps::possible_cpus() > 1 ? 1 : 0;
  std::atomic<int> program_cpu{-1};
  ASSERT_EQ(map.update(static_cast<std::uint32_t>(target), 64, program([&](Frame&) {
                         program_cpu.store(xmaps::current_cpu());
                         return XdpAction::pass;
                       })),
            Errc::ok);
  {
    RedirectContext ctx;
    for (int i = 0; i < 20; ++i) {
      Frame* f = pool.alloc();
      f->len = 60;
      std::memset(f->data, i, 60);
      f->user = static_cast<std::uint64_t>(i);
      ASSERT_EQ(xmaps::redirect_map(map, static_cast<std::uint32_t>(target), 0),
                XdpAction::redirect);
      ASSERT_TRUE(ctx.redirect(f));
    }
    ctx.flush();
  }
  ASSERT_TRUE(
      eventually([&] { return map.stats(static_cast<std::uint32_t>(target)).passed == 20; }));
  ASSERT_TRUE(eventually([&] { return pool.in_use() == 0; }));  // recycled after the sink
  std::lock_guard lock(mu);
  EXPECT_EQ(seen.size(), 20U);
  for (std::size_t i = 0; i < seen.size(); ++i)
    EXPECT_EQ(seen[i], i);  // one ingress thread, one ring: order kept
  for (int c : cpus)
    EXPECT_EQ(c, target);
  EXPECT_TRUE(bytes_ok);
  EXPECT_EQ(program_cpu.load(), target);  // the worker acts as its CPU
  EXPECT_TRUE(map.worker_pinned(static_cast<std::uint32_t>(target)));
  const CpuMapStats s = map.stats(static_cast<std::uint32_t>(target));
  EXPECT_EQ(s.enqueued, 20U);
  EXPECT_EQ(s.processed, 20U);
  EXPECT_EQ(s.enqueue_drops, 0U);
}

TEST(CpuMap, FramesWaitInTheBulkUntilItFillsOrTheBatchFlushes) {
  FramePool pool(32);  // first: frames must outlive the map that holds them
  CpuMap map(1);       // bulk 8
  ASSERT_EQ(map.update(0, 64), Errc::ok);
  RedirectContext ctx;
  for (int i = 0; i < 7; ++i) {
    ASSERT_EQ(xmaps::redirect_map(map, 0, 0), XdpAction::redirect);
    ASSERT_TRUE(ctx.redirect(pool.alloc()));
  }
  EXPECT_EQ(map.stats(0).enqueued, 0U);  // still in this thread's bulk queue
  ASSERT_EQ(xmaps::redirect_map(map, 0, 0), XdpAction::redirect);
  ASSERT_TRUE(ctx.redirect(pool.alloc()));
  EXPECT_EQ(map.stats(0).enqueued, 8U);  // the 8th pushed the bulk
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(xmaps::redirect_map(map, 0, 0), XdpAction::redirect);
    ASSERT_TRUE(ctx.redirect(pool.alloc()));
  }
  EXPECT_EQ(map.stats(0).enqueued, 8U);
  EXPECT_TRUE(ctx.in_batch());
  ctx.flush();
  EXPECT_FALSE(ctx.in_batch());
  EXPECT_EQ(map.stats(0).enqueued, 11U);
  EXPECT_EQ(ctx.stats().redirected, 11U);
  EXPECT_EQ(ctx.stats().flushes, 2U);
  ASSERT_TRUE(eventually([&] { return map.stats(0).processed == 11; }));
}

TEST(CpuMap, BulkSizeOptionSetsWhenABulkIsPushed) {
  FramePool pool(32);  // first: frames must outlive the map that holds them
  CpuMap::Options o;
  o.bulk_size = 16;
  CpuMap map(1, o);
  ASSERT_EQ(map.update(0, 64), Errc::ok);
  RedirectContext ctx;
  for (int i = 0; i < 15; ++i) {
    ASSERT_EQ(xmaps::redirect_map(map, 0, 0), XdpAction::redirect);
    ASSERT_TRUE(ctx.redirect(pool.alloc()));
  }
  EXPECT_EQ(map.stats(0).enqueued, 0U);
  ASSERT_EQ(xmaps::redirect_map(map, 0, 0), XdpAction::redirect);
  ASSERT_TRUE(ctx.redirect(pool.alloc()));
  EXPECT_EQ(map.stats(0).enqueued, 16U);
  ctx.flush();
}

TEST(CpuMap, RedirectWithoutATargetIsAnErrorAndRecyclesTheFrame) {
  FramePool pool(4);
  RedirectContext ctx;
  Frame* f = pool.alloc();
  EXPECT_FALSE(ctx.redirect(f));  // no redirect_map() before
  EXPECT_EQ(ctx.stats().redirect_errors, 1U);
  EXPECT_EQ(pool.in_use(), 0U);
  CpuMap map(1);
  EXPECT_EQ(xmaps::redirect_map(map, 0, 1), XdpAction::drop);  // missing entry
  EXPECT_FALSE(ctx.redirect(pool.alloc()));
  EXPECT_EQ(ctx.stats().redirect_errors, 2U);
  EXPECT_EQ(pool.in_use(), 0U);
  ctx.flush();
}

TEST(CpuMap, AFrameCannotBeRedirectedTwiceOrFreedOnceHandedOver) {
  FramePool pool(4);  // first: frames must outlive the map that holds them
  CpuMap map(1);
  ASSERT_EQ(map.update(0, 64), Errc::ok);
  RedirectContext ctx;
  Frame* f = pool.alloc();
  ASSERT_EQ(xmaps::redirect_map(map, 0, 0), XdpAction::redirect);
  ASSERT_TRUE(ctx.redirect(f));
  EXPECT_FALSE(f->recycle());  // the engine's now
  ASSERT_EQ(xmaps::redirect_map(map, 0, 0), XdpAction::redirect);
  EXPECT_FALSE(ctx.redirect(f));  // not the caller's to send again
  EXPECT_EQ(ctx.stats().redirect_errors, 1U);
  EXPECT_EQ(ctx.stats().redirected, 1U);
  ctx.flush();
  ASSERT_TRUE(eventually([&] { return map.stats(0).processed == 1; }));
  ASSERT_TRUE(eventually([&] { return pool.in_use() == 0; }));
  EXPECT_EQ(pool.bad_frees(), 1U);
}

TEST(CpuMap, RunCarriesOutTheFirstProgramsVerdict) {
  FramePool pool(16);  // first: frames must outlive the map that holds them
  CpuMap map(1);
  ASSERT_EQ(map.update(0, 64), Errc::ok);
  RedirectContext ctx;
  std::uint32_t verdict = 0;
  const XdpProgram prog([&](Frame&) {
    if (verdict == 4)
      return xmaps::redirect_map(map, 0, 0);
    return static_cast<XdpAction>(verdict);
  });
  verdict = 2;
  Frame* kept = pool.alloc();
  EXPECT_EQ(ctx.run(prog, kept), XdpAction::pass);
  EXPECT_EQ(pool.in_use(), 1U);  // PASS: still ours
  verdict = 1;
  EXPECT_EQ(ctx.run(prog, pool.alloc()), XdpAction::drop);
  verdict = 3;
  EXPECT_EQ(ctx.run(prog, pool.alloc()), XdpAction::aborted);  // TX: no TX here
  verdict = 9;
  EXPECT_EQ(ctx.run(prog, pool.alloc()), XdpAction::aborted);
  verdict = 4;
  EXPECT_EQ(ctx.run(prog, pool.alloc()), XdpAction::redirect);
  ctx.flush();
  EXPECT_EQ(ctx.stats().passed, 1U);
  EXPECT_EQ(ctx.stats().dropped, 1U);
  EXPECT_EQ(ctx.stats().aborted, 2U);
  EXPECT_EQ(ctx.stats().redirected, 1U);
  ASSERT_TRUE(eventually([&] { return pool.in_use() == 1; }));
  EXPECT_TRUE(kept->recycle());
}

TEST(CpuMap, WorkerVerdictsAreCountedAndEveryFrameIsRecycled) {
  FramePool pool(128);  // first: frames must outlive the map that holds them
  std::atomic<int> sunk{0};
  CpuMap::Options o;
  o.sink = [&](std::span<Frame* const> frames, int) {
    sunk.fetch_add(static_cast<int>(frames.size()));
  };
  CpuMap map(1, o);
  // user % 5: 0 pass, 1 drop, 2 tx, 3 aborted, 4 redirect without a target
  ASSERT_EQ(map.update(0, 256, program([](Frame& f) {
                         switch (f.user % 5) {
                           case 0: return XdpAction::pass;
                           case 1: return XdpAction::drop;
                           case 2: return XdpAction::tx;
                           case 3: return XdpAction::aborted;
                           default: return XdpAction::redirect;
                         }
                       })),
            Errc::ok);
  send(map, pool, 0, 100);
  ASSERT_TRUE(eventually([&] { return map.stats(0).processed == 100; }));
  const CpuMapStats s = map.stats(0);
  EXPECT_EQ(s.passed, 20U);
  EXPECT_EQ(s.dropped, 20U);
  EXPECT_EQ(s.aborted, 40U);  // TX and ABORTED
  EXPECT_EQ(s.redirect_errors, 20U);
  EXPECT_EQ(s.redirected, 0U);
  EXPECT_EQ(sunk.load(), 20);
  ASSERT_TRUE(eventually([&] { return pool.in_use() == 0; }));
}

TEST(CpuMap, SecondProgramRedirectsOnToAnotherCpuMap) {
  FramePool pool(64);  // first: frames must outlive the map that holds them
  std::atomic<int> at_second{0};
  CpuMap::Options o2;
  o2.sink = [&](std::span<Frame* const> frames, int) {
    at_second.fetch_add(static_cast<int>(frames.size()));
  };
  CpuMap second(1, o2);
  ASSERT_EQ(second.update(0, 64), Errc::ok);
  CpuMap first(1);
  ASSERT_EQ(first.update(0, 64, program([&](Frame&) { return xmaps::redirect_map(second, 0, 0); })),
            Errc::ok);
  send(first, pool, 0, 30);
  ASSERT_TRUE(eventually([&] { return at_second.load() == 30; }));
  EXPECT_EQ(first.stats(0).redirected, 30U);
  EXPECT_EQ(second.stats(0).passed, 30U);
  ASSERT_TRUE(eventually([&] { return pool.in_use() == 0; }));
}

// A worker held inside its program leaves the ring full: the flush drops what does not fit.
TEST(CpuMap, AFullRingDropsAtFlushAndCountsIt) {
  FramePool pool(32);  // first: frames must outlive the map that holds them
  std::atomic<bool> hold{true};
  std::atomic<bool> holding{false};
  CpuMap::Options o;
  o.batch_size = 1;
  CpuMap map(1, o);
  ASSERT_EQ(map.update(0, 4, program([&](Frame&) {
                         holding.store(true);
                         while (hold.load())
                           std::this_thread::sleep_for(100us);
                         return XdpAction::drop;
                       })),
            Errc::ok);
  send(map, pool, 0, 1);
  ASSERT_TRUE(eventually([&] { return holding.load(); }));  // the worker holds frame 1
  send(map, pool, 0, 10);  // a bulk of 8 (4 fit), then 2 more (no room)
  CpuMapStats s = map.stats(0);
  EXPECT_EQ(s.enqueued, 5U);
  EXPECT_EQ(s.enqueue_drops, 6U);
  std::uint64_t ingress_drops = 0;  // by whichever CPU this thread ran on at each flush
  for (int c = 0; c < xmaps::possible_cpus(); ++c)
    ingress_drops += map.ingress_stats(c).enqueue_drops;
  EXPECT_EQ(ingress_drops, 6U);
  EXPECT_EQ(pool.in_use(), 5U);  // dropped frames went back at once
  hold.store(false);
  ASSERT_TRUE(eventually([&] { return map.stats(0).processed == 5; }));
  s = map.stats(0);
  EXPECT_EQ(s.dropped, 5U);
  EXPECT_EQ(s.enqueued + s.enqueue_drops, 11U);
  ASSERT_TRUE(eventually([&] { return pool.in_use() == 0; }));
}

TEST(CpuMap, ReplacingAnEntryDrainsTheOldRingFirst) {
  FramePool pool(256);  // first: frames must outlive the map that holds them
  std::atomic<int> sunk{0};
  CpuMap::Options o;
  o.sink = [&](std::span<Frame* const> frames, int) {
    sunk.fetch_add(static_cast<int>(frames.size()));
  };
  CpuMap map(1, o);
  ASSERT_EQ(map.update(0, 256, program([](Frame&) {
                         std::this_thread::sleep_for(20us);  // slow: frames pile up
                         return XdpAction::pass;
                       })),
            Errc::ok);
  send(map, pool, 0, 200);
  ASSERT_EQ(map.update(0, 16), Errc::ok);  // returns after the old worker drained
  EXPECT_EQ(sunk.load(), 200);
  const CpuMapStats s = map.stats(0);  // both entries at key 0
  EXPECT_EQ(s.enqueued, 200U);
  EXPECT_EQ(s.processed, 200U);
  EXPECT_EQ(s.passed, 200U);
  EXPECT_EQ(pool.in_use(), 0U);
  send(map, pool, 0, 10);  // the new entry works
  ASSERT_TRUE(eventually([&] { return sunk.load() == 210; }));
  EXPECT_EQ(map.erase(0), Errc::ok);
  EXPECT_EQ(map.stats(0).processed, 210U);
}

TEST(CpuMap, AFrameOfNoPoolTravelsAndIsLeftToItsOwner) {
  std::atomic<int> seen{0};
  Frame own;
  unsigned char bytes[64] = {7};
  own.data = bytes;
  own.len = 64;
  CpuMap::Options o;
  o.sink = [&](std::span<Frame* const> frames, int) {
    for (Frame* f : frames)
      seen.fetch_add(f == &own && f->data[0] == 7 ? 1 : 100);
  };
  CpuMap map(1, o);
  ASSERT_EQ(map.update(0, 8), Errc::ok);
  {
    RedirectContext ctx;
    ASSERT_EQ(xmaps::redirect_map(map, 0, 0), XdpAction::redirect);
    ASSERT_TRUE(ctx.redirect(&own));
    ctx.flush();
  }
  ASSERT_TRUE(eventually([&] { return map.stats(0).passed == 1; }));
  EXPECT_EQ(seen.load(), 1);
}

TEST(CpuMap, DestroyingTheMapDrainsEveryRing) {
  FramePool pool(512);  // first: frames must outlive the map that holds them
  std::atomic<int> sunk{0};
  {
    CpuMap::Options o;
    o.sink = [&](std::span<Frame* const> frames, int) {
      sunk.fetch_add(static_cast<int>(frames.size()));
    };
    CpuMap map(2, o);
    const auto slow = program([](Frame&) {
      std::this_thread::sleep_for(10us);
      return XdpAction::pass;
    });
    const auto n = static_cast<std::uint32_t>(std::min(2, xmaps::possible_cpus()));
    for (std::uint32_t k = 0; k < n; ++k)
      ASSERT_EQ(map.update(k, 256, slow), Errc::ok);
    for (std::uint32_t k = 0; k < n; ++k)
      send(map, pool, k, 200);
  }
  EXPECT_EQ(sunk.load(), 200 * std::min(2, xmaps::possible_cpus()));
  EXPECT_EQ(pool.in_use(), 0U);
}

TEST(CpuMap, UpdateAndEraseInsideABatchAreBusy) {
  CpuMap map(1);
  ASSERT_EQ(map.update(0, 8), Errc::ok);
  RedirectContext ctx;
  ASSERT_EQ(xmaps::redirect_map(map, 0, 0), XdpAction::redirect);  // batch started
  EXPECT_EQ(map.update(0, 16), Errc::busy);
  EXPECT_EQ(map.erase(0), Errc::busy);
  ctx.flush();
  EXPECT_EQ(map.update(0, 16), Errc::ok);
}

TEST(CpuMap, AnIdleWorkerSleepsAndIsWokenByAFlush) {
  FramePool pool(16);  // first: frames must outlive the map that holds them
  CpuMap map(1);
  ASSERT_EQ(map.update(0, 64), Errc::ok);
  ASSERT_TRUE(eventually([&] { return map.stats(0).sleeps >= 1; }));
  for (int round = 0; round < 5; ++round) {
    const std::uint64_t before = map.stats(0).sleeps;
    send(map, pool, 0, 3);
    ASSERT_TRUE(eventually([&] { return map.stats(0).processed == 3U * (round + 1U); }));
    ASSERT_TRUE(eventually([&] { return map.stats(0).sleeps > before; }));  // asleep again
  }
  // Asleep, it stays asleep: no wake-ups without frames.
  const std::uint64_t idle = map.stats(0).sleeps;
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(map.stats(0).sleeps, idle);
}

TEST(CpuMap, WorkerInitRunsOnTheNewPinnedWorkerBeforeItsRingExists) {
  const int target = xmaps::possible_cpus() > 1 ? 1 : 0;
  std::atomic<int> init_cpu{-1};
  std::atomic<int> init_os_cpu{-1};
  std::atomic<bool> init_thread_differs{false};
  const auto control = std::this_thread::get_id();
  CpuMap::Options o;
  o.worker_init = [&](int cpu) {
    init_cpu.store(cpu);
    init_os_cpu.store(::sched_getcpu());
    init_thread_differs.store(std::this_thread::get_id() != control);
  };
  CpuMap map(2, o);
  ASSERT_EQ(map.update(static_cast<std::uint32_t>(target), 64), Errc::ok);
  // update() returns once the ring exists, which the worker makes after worker_init.
  EXPECT_EQ(init_cpu.load(), target);
  EXPECT_TRUE(init_thread_differs.load());
  if (map.worker_pinned(static_cast<std::uint32_t>(target))) {
    EXPECT_EQ(init_os_cpu.load(), target);  // pinned before the hook runs
  }
}

TEST(CpuMap, TotalsAddUpEveryKey) {
  FramePool pool(64);  // first: frames must outlive the map that holds them
  CpuMap map(2);
  const auto n = static_cast<std::uint32_t>(std::min(2, xmaps::possible_cpus()));
  for (std::uint32_t k = 0; k < n; ++k)
    ASSERT_EQ(map.update(k, 64), Errc::ok);
  for (std::uint32_t k = 0; k < n; ++k)
    send(map, pool, k, 5 + static_cast<int>(k));
  ASSERT_TRUE(eventually([&] { return map.totals().processed == (n == 2 ? 11U : 5U); }));
  CpuMapStats sum;
  for (std::uint32_t k = 0; k < n; ++k)
    sum += map.stats(k);
  EXPECT_EQ(sum.processed, map.totals().processed);
  EXPECT_EQ(map.ingress_stats(-1).enqueued, 0U);
  EXPECT_EQ(map.stats(9).enqueued, 0U);
}

// --- manual mode (Options::manual_workers): no worker threads, run_worker() on the caller ---

// Threads of this process now (/proc/self/status), or -1.
int thread_count() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) == 0)
      return std::stoi(line.substr(8));
  }
  return -1;
}

CpuMap::Options manual_options() {
  CpuMap::Options o;
  o.manual_workers = true;
  return o;
}

TEST(CpuMapManual, ProcessesExactlyWhatWasEnqueuedOnTheCallingThread) {
  FramePool pool(256);
  CpuMap::Options o = manual_options();
  std::vector<std::uint64_t> seen;
  std::vector<int> cpus;
  const auto caller = std::this_thread::get_id();
  bool same_thread = true;
  o.sink = [&](std::span<Frame* const> frames, int cpu) {
    same_thread = same_thread && std::this_thread::get_id() == caller;
    for (Frame* f : frames) {
      seen.push_back(f->user);
      cpus.push_back(cpu);
    }
  };
  CpuMap map(2, o);
  EXPECT_TRUE(map.manual_workers());
  ASSERT_EQ(map.update(0, 64), Errc::ok);
  EXPECT_FALSE(map.worker_pinned(0));
  send(map, pool, 0, 20);
  EXPECT_EQ(map.ring_count(0), 20U);
  EXPECT_EQ(map.stats(0).processed, 0U);  // nothing runs by itself
  EXPECT_EQ(map.run_worker(0, 5), 5U);
  EXPECT_EQ(map.ring_count(0), 15U);
  EXPECT_EQ(map.run_worker(0, 100), 15U);
  EXPECT_EQ(map.run_worker(0, 100), 0U);
  EXPECT_EQ(map.ring_count(0), 0U);
  ASSERT_EQ(seen.size(), 20U);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i], i);  // in order
    EXPECT_EQ(cpus[i], 0);
  }
  EXPECT_TRUE(same_thread);
  const CpuMapStats st = map.stats(0);
  EXPECT_EQ(st.enqueued, 20U);
  EXPECT_EQ(st.processed, 20U);
  EXPECT_EQ(st.passed, 20U);
  EXPECT_EQ(st.sleeps, 0U);
  EXPECT_EQ(pool.in_use(), 0U);
  // Missing entries and keys out of range do nothing.
  EXPECT_EQ(map.run_worker(1, 10), 0U);
  EXPECT_EQ(map.run_worker(7, 10), 0U);
  EXPECT_EQ(map.ring_count(1), 0U);
  EXPECT_EQ(map.ring_count(7), 0U);
}

TEST(CpuMapManual, TakesFramesInBatchesOfBatchSize) {
  FramePool pool(64);
  CpuMap::Options o = manual_options();
  o.batch_size = 4;
  std::vector<std::size_t> batches;
  o.sink = [&](std::span<Frame* const> frames, int) { batches.push_back(frames.size()); };
  CpuMap map(1, o);
  ASSERT_EQ(map.update(0, 64), Errc::ok);
  send(map, pool, 0, 10);
  EXPECT_EQ(map.run_worker(0, 9), 9U);
  EXPECT_EQ(batches, (std::vector<std::size_t>{4, 4, 1}));
  EXPECT_EQ(map.run_worker(0, 9), 1U);
}

TEST(CpuMapManual, AFullRingDropsAtFlush) {
  FramePool pool(64);
  CpuMap map(1, manual_options());
  ASSERT_EQ(map.update(0, 8), Errc::ok);
  {
    const xmaps::CpuBinding as_cpu0(0);  // ingress counters go by the flushing CPU
    send(map, pool, 0, 13);              // no worker runs: 8 fit
  }
  EXPECT_EQ(map.ring_count(0), 8U);
  CpuMapStats st = map.stats(0);
  EXPECT_EQ(st.enqueued, 8U);
  EXPECT_EQ(st.enqueue_drops, 5U);
  EXPECT_EQ(map.ingress_stats(0).enqueue_drops, 5U);
  EXPECT_EQ(pool.in_use(), 8U);  // the dropped ones were recycled
  EXPECT_EQ(map.run_worker(0, 64), 8U);
  EXPECT_EQ(pool.in_use(), 0U);
}

TEST(CpuMapManual, SecondProgramVerdictsAndStatsAsTheThreadedWorker) {
  FramePool pool(64);
  CpuMap::Options o = manual_options();
  std::uint64_t sunk = 0;
  o.sink = [&](std::span<Frame* const> frames, int) { sunk += frames.size(); };
  CpuMap map(2, o);
  int seen_cpu = -1;
  // user % 4: pass, drop, redirect without a target (error), abort.
  const auto prog = program([&](Frame& f) {
    seen_cpu = xmaps::current_cpu();
    switch (f.user % 4) {
      case 0: return XdpAction::pass;
      case 1: return XdpAction::drop;
      case 2: return XdpAction::redirect;
      default: return XdpAction::tx;
    }
  });
  const std::uint32_t key = xmaps::possible_cpus() > 1 ? 1 : 0;
  ASSERT_EQ(map.update(key, 64, prog), Errc::ok);
  send(map, pool, key, 20);
  EXPECT_EQ(map.run_worker(key, 64), 20U);
  EXPECT_EQ(seen_cpu, static_cast<int>(key));  // bound as CPU `key`
  const CpuMapStats st = map.stats(key);
  EXPECT_EQ(st.processed, 20U);
  EXPECT_EQ(st.passed, 5U);
  EXPECT_EQ(st.dropped, 5U);
  EXPECT_EQ(st.redirect_errors, 5U);
  EXPECT_EQ(st.redirected, 0U);
  EXPECT_EQ(st.aborted, 5U);
  EXPECT_EQ(sunk, 5U);
  EXPECT_EQ(pool.in_use(), 0U);
}

TEST(CpuMapManual, ARedirectingSecondProgramHandsOnToAnotherManualMap) {
  FramePool pool(64);
  CpuMap::Options o = manual_options();
  std::uint64_t sunk = 0;
  o.sink = [&](std::span<Frame* const> frames, int) { sunk += frames.size(); };
  CpuMap next(1, o);
  ASSERT_EQ(next.update(0, 64), Errc::ok);
  CpuMap map(1, manual_options());
  const auto prog = program([&](Frame&) { return xmaps::redirect_map(next, 0, 0); });
  ASSERT_EQ(map.update(0, 64, prog), Errc::ok);
  send(map, pool, 0, 12);
  EXPECT_EQ(map.run_worker(0, 64), 12U);
  EXPECT_EQ(map.stats(0).redirected, 12U);
  EXPECT_EQ(next.ring_count(0), 12U);  // flushed after each batch
  EXPECT_EQ(next.run_worker(0, 64), 12U);
  EXPECT_EQ(sunk, 12U);
  EXPECT_EQ(pool.in_use(), 0U);
}

TEST(CpuMapManual, EraseUpdateAndDestructionDrainOnTheCallingThread) {
  FramePool pool(256);
  CpuMap::Options o = manual_options();
  std::uint64_t sunk = 0;
  o.sink = [&](std::span<Frame* const> frames, int) { sunk += frames.size(); };
  {
    CpuMap map(1, o);
    ASSERT_EQ(map.update(0, 64), Errc::ok);
    send(map, pool, 0, 10);
    ASSERT_EQ(map.erase(0), Errc::ok);  // drains
    EXPECT_EQ(sunk, 10U);
    EXPECT_EQ(map.stats(0).processed, 10U);  // stats survive the entry
    ASSERT_EQ(map.update(0, 64), Errc::ok);
    send(map, pool, 0, 7);
    ASSERT_EQ(map.update(0, 32), Errc::ok);  // replaces: the old ring is drained
    EXPECT_EQ(sunk, 17U);
    send(map, pool, 0, 3);
    // Inside a batch, erase is refused (as in threaded mode).
    RedirectContext ctx;
    ASSERT_EQ(xmaps::redirect_map(map, 0, 0), XdpAction::redirect);
    EXPECT_EQ(map.erase(0), Errc::busy);
    ctx.flush();
    EXPECT_EQ(map.stats(0).processed, 17U);
  }  // the destructor drains the last 3
  EXPECT_EQ(sunk, 20U);
  EXPECT_EQ(pool.in_use(), 0U);
}

TEST(CpuMapManual, CreatesNoThreads) {
  const int before = thread_count();
  ASSERT_GT(before, 0);
  FramePool pool(64);
  CpuMap map(static_cast<std::uint32_t>(xmaps::possible_cpus()), manual_options());
  for (int c = 0; c < xmaps::possible_cpus(); ++c)
    ASSERT_EQ(map.update(static_cast<std::uint32_t>(c), 16), Errc::ok);
  EXPECT_EQ(thread_count(), before);
  send(map, pool, 0, 4);
  EXPECT_EQ(map.run_worker(0, 4), 4U);
  ASSERT_EQ(map.erase(0), Errc::ok);
  EXPECT_EQ(thread_count(), before);
}

}  // namespace
