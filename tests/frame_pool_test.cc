// SPDX-License-Identifier: MIT
//
// FramePool: preallocated frames, alloc/free rules, refusal of bad frees, concurrent use.
#include <atomic>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>
#include <xmaps/frame_pool.h>

#include <gtest/gtest.h>

namespace {

using xmaps::Frame;
using xmaps::FramePool;

TEST(FramePool, RejectsBadSizes) {
  EXPECT_THROW(FramePool(0), std::invalid_argument);
  EXPECT_THROW(FramePool(4, 256, 256), std::invalid_argument);
  EXPECT_THROW(FramePool(4, 256, 300), std::invalid_argument);
}

TEST(FramePool, HandsOutEveryFrameOnceWithHeadroomThenNothing) {
  FramePool pool(8, 1024, 128);
  std::set<Frame*> seen;
  for (int i = 0; i < 8; ++i) {
    Frame* f = pool.alloc();
    ASSERT_NE(f, nullptr);
    EXPECT_TRUE(seen.insert(f).second);
    EXPECT_EQ(f->headroom(), 128U);
    EXPECT_EQ(f->len, 0U);
    EXPECT_EQ(f->tailroom(), 1024U - 128U);
    EXPECT_EQ(f->buffer_size(), 1024U);
    EXPECT_EQ(f->pool(), &pool);
    EXPECT_EQ(f->data, f->buffer() + 128);
    EXPECT_LT(f->index(), 8U);
  }
  EXPECT_EQ(pool.alloc(), nullptr);
  EXPECT_EQ(pool.in_use(), 8U);
  for (Frame* f : seen)
    EXPECT_TRUE(pool.free(f));
  EXPECT_EQ(pool.in_use(), 0U);
  EXPECT_EQ(pool.bad_frees(), 0U);
}

// Buffers sit an odd number of cache lines apart, so the packet starts of consecutive frames
// use every cache set instead of the few a power-of-two stride leaves them.
TEST(FramePool, BuffersAreAnOddNumberOfCacheLinesApart) {
  for (const std::uint32_t size : {256U, 1000U, 2048U, 4096U, 9000U}) {
    SCOPED_TRACE(size);
    FramePool pool(128, size, 128);
    const std::size_t stride = pool.buffer_stride();
    EXPECT_GE(stride, size);
    EXPECT_LT(stride, std::size_t{size} + 128);  // at most a line of rounding, one of colour
    EXPECT_EQ(stride % 64, 0U);
    EXPECT_EQ(stride / 64 % 2, 1U);
    std::set<std::uintptr_t> l1_sets;  // 64 sets of 64-byte lines: address bits 6..11
    for (std::uint32_t i = 0; i < pool.count(); ++i) {
      const Frame* f = pool.frame_at(i);
      ASSERT_NE(f, nullptr);
      EXPECT_EQ(f->buffer_size(), size);
      if (i > 0) {
        EXPECT_EQ(f->buffer() - pool.frame_at(i - 1)->buffer(),
                  static_cast<std::ptrdiff_t>(stride));
      }
      l1_sets.insert(reinterpret_cast<std::uintptr_t>(f->buffer() + 128) >> 6 & 63);
    }
    EXPECT_EQ(l1_sets.size(), 64U);  // 128 consecutive frames' first data lines: every set
  }
}

TEST(FramePool, AllocResetsWhatThePreviousOwnerLeft) {
  FramePool pool(1, 512, 64);
  Frame* f = pool.alloc();
  ASSERT_NE(f, nullptr);
  f->data += 10;
  f->len = 100;
  f->rx_queue = 3;
  f->ifindex = 7;
  f->ingress_cpu = 1;
  f->stamp_ns = 42;
  f->user = 9;
  ASSERT_TRUE(f->recycle());
  Frame* g = pool.alloc();
  ASSERT_EQ(g, f);
  EXPECT_EQ(g->headroom(), 64U);
  EXPECT_EQ(g->len, 0U);
  EXPECT_EQ(g->rx_queue, 0U);
  EXPECT_EQ(g->ifindex, 0U);
  EXPECT_EQ(g->ingress_cpu, -1);
  EXPECT_EQ(g->stamp_ns, 0U);
  EXPECT_EQ(g->user, 0U);
}

TEST(FramePool, RefusesDoubleFreeForeignFrameAndNull) {
  FramePool a(2);
  FramePool b(2);
  Frame* f = a.alloc();
  ASSERT_NE(f, nullptr);
  EXPECT_FALSE(b.free(f));  // not b's
  EXPECT_TRUE(a.free(f));
  EXPECT_FALSE(a.free(f));  // already free
  EXPECT_FALSE(a.free(nullptr));
  Frame loose;
  EXPECT_FALSE(loose.recycle());  // not from a pool
  EXPECT_EQ(a.bad_frees(), 2U);
  EXPECT_EQ(b.bad_frees(), 1U);
  EXPECT_EQ(a.in_use(), 0U);
  // The pool still holds exactly its two frames.
  EXPECT_NE(a.alloc(), nullptr);
  EXPECT_NE(a.alloc(), nullptr);
  EXPECT_EQ(a.alloc(), nullptr);
}

TEST(FramePool, AllocBulkStopsAtTheLastFrame) {
  FramePool pool(40);
  std::vector<Frame*> out(64, nullptr);
  EXPECT_EQ(pool.alloc_bulk(out.data(), 64), 40U);
  std::set<Frame*> unique(out.begin(), out.begin() + 40);
  EXPECT_EQ(unique.size(), 40U);
  EXPECT_EQ(pool.alloc_bulk(out.data(), 1), 0U);
}

TEST(FramePool, FreeBulkTakesBackItsOwnFramesAndRefusesTheRest) {
  FramePool a(8);
  FramePool b(2);
  std::vector<Frame*> fs(8, nullptr);
  ASSERT_EQ(a.alloc_bulk(fs.data(), 8), 8U);
  Frame* foreign = b.alloc();
  std::vector<Frame*> mixed = {fs[0], fs[1], foreign, fs[2], nullptr, fs[1]};
  EXPECT_EQ(a.free_bulk(mixed.data(), mixed.size()), 3U);  // fs[1] twice: once refused
  EXPECT_EQ(a.bad_frees(), 3U);
  EXPECT_EQ(a.in_use(), 5U);
  // recycle_frames() sends each run to its own pool.
  std::vector<Frame*> rest = {fs[3], fs[4], foreign, fs[5], fs[6], fs[7]};
  xmaps::recycle_frames(rest.data(), rest.size());
  EXPECT_EQ(a.in_use(), 0U);
  EXPECT_EQ(b.in_use(), 0U);
  EXPECT_EQ(b.bad_frees(), 0U);
}

TEST(FramePool, IdsNameLivePoolsAndFramesTravelAsWords) {
  FramePool a(4);
  FramePool b(4);
  EXPECT_NE(a.id(), b.id());
  EXPECT_EQ(FramePool::from_id(a.id()), &a);
  EXPECT_EQ(FramePool::from_id(b.id()), &b);
  EXPECT_EQ(FramePool::from_id(xmaps::detail::kMaxFramePools), nullptr);
  Frame* f = b.alloc();
  const std::uint64_t w = xmaps::detail::frame_word(f);
  EXPECT_EQ(xmaps::detail::word_frame(w), f);
  Frame loose;
  EXPECT_EQ(xmaps::detail::word_frame(xmaps::detail::frame_word(&loose)), &loose);
  ASSERT_TRUE(b.hand_to_engine(f->index()));
  EXPECT_FALSE(b.hand_to_engine(f->index()));  // handed over already
  EXPECT_FALSE(b.free(f));                     // the engine's now, not the caller's
  const std::uint64_t words[] = {w, xmaps::detail::frame_word(&loose)};
  xmaps::detail::recycle_words(words, 2);  // b's frame goes back; the loose one is skipped
  EXPECT_EQ(b.in_use(), 0U);
  EXPECT_EQ(b.frame_at(4), nullptr);
  const std::uint32_t bad[] = {0, 99};  // frame 0 is not out; 99 is out of range
  EXPECT_EQ(b.free_indices(bad, 2), 0U);
  EXPECT_EQ(b.bad_frees(), 3U);  // with the refused free() above
  std::uint32_t id_of_gone = 0;
  {
    FramePool c(1);
    id_of_gone = c.id();
  }
  EXPECT_EQ(FramePool::from_id(id_of_gone), nullptr);
}

// Threads (more than cores) allocate, write a signature, hand frames to each other through the
// pool and free them; no frame is ever held twice.
TEST(FramePool, ConcurrentAllocFreeNeverHandsOutAFrameTwice) {
  constexpr std::uint32_t kFrames = 64;
  FramePool pool(kFrames, 256, 32);
  std::vector<std::atomic<int>> owner(kFrames);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Frame*> held;
      for (int i = 0; i < 20000; ++i) {
        if (Frame* f = pool.alloc()) {
          const auto idx = static_cast<std::size_t>(f->index());
          int expected = 0;
          if (!owner[idx].compare_exchange_strong(expected, t + 1))
            errors.fetch_add(1);
          held.push_back(f);
        }
        if (held.size() > 4 || (i % 3 == 0 && !held.empty())) {
          Frame* f = held.back();
          held.pop_back();
          const auto idx = static_cast<std::size_t>(f->index());
          owner[idx].store(0);
          if (!pool.free(f))
            errors.fetch_add(1);
        }
        if (i % 97 == 0)
          std::this_thread::yield();
      }
      for (Frame* f : held) {
        const auto idx = static_cast<std::size_t>(f->index());
        owner[idx].store(0);
        (void)pool.free(f);
      }
    });
  }
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(pool.in_use(), 0U);
  EXPECT_EQ(pool.bad_frees(), 0U);
}

}  // namespace
