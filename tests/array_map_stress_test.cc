// SPDX-License-Identifier: MIT
//
// ArrayMap / PercpuArrayMap under concurrent writers and readers: a copy is never torn.
//
// Writers store 32-byte values whose four words are all equal ({x, x, x, x}, x naming the writer
// and its sequence number) into a small array; readers take consistent copies and check that the
// words never mix, that x is a value some writer really wrote, and that one writer's values
// never go backwards for one reader. More threads than cores (the CI box has 2), random yields
// to shuffle the interleavings, every thread starts on a barrier, and each test is bounded by
// an op count and by time. XMAPS_STRESS_SECONDS scales both; XMAPS_STRESS_SEED replays a run.
#include <array>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/stress.h"
#include "xmaps/array_map.h"
#include "xmaps/cpu.h"
#include "xmaps/errc.h"

namespace {

using xmaps::ArrayMap;
using xmaps::CpuBinding;
using xmaps::Errc;
using xmaps::PercpuArrayMap;
using Clock = std::chrono::steady_clock;

struct Value32 {
  std::array<std::uint64_t, 4> w{};
};
static_assert(sizeof(Value32) == 32);

constexpr int kWriters = 3;
constexpr int kReaders = 4;  // 7 threads on a 2-core box
constexpr std::uint32_t kEntries = 4;
constexpr double kDefaultSeconds = 0.25;
constexpr std::uint64_t kDefaultOpsPerThread = 200'000;

double stress_seconds() {
  return xmaps::testing::stress_seconds(kDefaultSeconds);
}

std::uint64_t ops_per_thread() {
  const double scale = stress_seconds() / kDefaultSeconds;
  return static_cast<std::uint64_t>(static_cast<double>(kDefaultOpsPerThread) *
                                    (scale < 1 ? 1 : scale));
}

std::uint64_t stress_seed() {
  const char* env = std::getenv("XMAPS_STRESS_SEED");
  if (env != nullptr)
    return std::strtoull(env, nullptr, 10);
  return std::random_device{}();
}

// x = writer (1-based) in the top 16 bits, sequence number below; 0 = the initial zero fill.
std::uint64_t encode(int writer, std::uint64_t seq) {
  return (static_cast<std::uint64_t>(writer + 1) << 48) | seq;
}

Value32 uniform(std::uint64_t x) {
  return Value32{{x, x, x, x}};
}

// What the readers found wrong; checked on the main thread once everyone has joined.
struct Findings {
  std::atomic<std::uint64_t> reads{0};
  std::atomic<std::uint64_t> writes{0};
  std::atomic<std::uint64_t> torn{0};       // words of one copy differ
  std::atomic<std::uint64_t> foreign{0};    // x no writer wrote
  std::atomic<std::uint64_t> backwards{0};  // a writer's older value after a newer one
  std::atomic<std::uint64_t> errors{0};     // an operation that must succeed failed
};

// Checks one copied value against everything this reader saw before; `last[idx][writer]`.
void check_value(const Value32& v, std::uint32_t idx,
                 std::array<std::array<std::uint64_t, kWriters>, kEntries>& last, Findings& f) {
  const std::uint64_t x = v.w[0];
  if (v.w[1] != x || v.w[2] != x || v.w[3] != x) {
    f.torn.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (x == 0)
    return;
  const auto writer = static_cast<int>((x >> 48) - 1);
  const std::uint64_t seq = x & ((1ULL << 48) - 1);
  if (writer < 0 || writer >= kWriters) {
    f.foreign.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::uint64_t& seen = last[idx][static_cast<std::size_t>(writer)];
  if (seq < seen)
    f.backwards.fetch_add(1, std::memory_order_relaxed);
  seen = seq;
}

// Runs writer(id, rng, stop) and reader(id, rng, stop) threads from a common barrier until
// either their op budget or the deadline runs out.
template <class Writer, class Reader>
void run_threads(std::uint64_t seed, Writer writer, Reader reader) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(stress_seconds());
  const std::uint64_t budget = ops_per_thread();
  std::barrier start(kWriters + kReaders);
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters + kReaders; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed + static_cast<std::uint64_t>(t) * 0x9e3779b97f4a7c15ULL);
      start.arrive_and_wait();
      for (std::uint64_t op = 0; op < budget; ++op) {
        if ((op & 63) == 0 && Clock::now() >= deadline)
          break;
        if (rng() % 16 == 0)
          std::this_thread::yield();
        if (t < kWriters) {
          writer(t, op + 1, rng);
        } else {
          reader(t - kWriters, rng);
        }
      }
    });
  }
  for (std::thread& th : threads)
    th.join();
}

void expect_clean(const Findings& f) {
  EXPECT_GT(f.writes.load(), 0U);
  EXPECT_GT(f.reads.load(), 0U);
  EXPECT_EQ(f.torn.load(), 0U) << "torn reads";
  EXPECT_EQ(f.foreign.load(), 0U) << "values no writer wrote";
  EXPECT_EQ(f.backwards.load(), 0U) << "a writer's values went backwards";
  EXPECT_EQ(f.errors.load(), 0U) << "operations failed";
}

TEST(ArrayMapStress, ConcurrentUpdateAndLookupCopyNeverTearA32ByteValue) {
  const std::uint64_t seed = stress_seed();
  SCOPED_TRACE("XMAPS_STRESS_SEED=" + std::to_string(seed));
  ArrayMap<Value32> map(kEntries);
  Findings f;
  std::vector<std::array<std::array<std::uint64_t, kWriters>, kEntries>> last(kReaders);
  run_threads(
      seed,
      [&](int w, std::uint64_t seq, std::mt19937_64& rng) {
        const auto idx = static_cast<std::uint32_t>(rng() % kEntries);
        if (map.update(idx, uniform(encode(w, seq))) != Errc::ok) {
          f.errors.fetch_add(1, std::memory_order_relaxed);
        }
        f.writes.fetch_add(1, std::memory_order_relaxed);
      },
      [&](int r, std::mt19937_64& rng) {
        const auto idx = static_cast<std::uint32_t>(rng() % kEntries);
        const auto v = map.lookup_copy(idx);
        if (!v) {
          f.errors.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        check_value(*v, idx, last[static_cast<std::size_t>(r)], f);
        f.reads.fetch_add(1, std::memory_order_relaxed);
      });
  expect_clean(f);
  // Quiescent now: every element holds one uniform value.
  for (std::uint32_t i = 0; i < kEntries; ++i) {
    const auto v = map.lookup_copy(i);
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->w[0], v->w[3]);
  }
}

TEST(PercpuArrayMapStress, ConcurrentUpdateAllAndLookupAllNeverMixWordsOrCpus) {
  const std::uint64_t seed = stress_seed();
  SCOPED_TRACE("XMAPS_STRESS_SEED=" + std::to_string(seed));
  const auto ncpus = static_cast<std::size_t>(xmaps::possible_cpus());
  PercpuArrayMap<Value32> map(kEntries);
  Findings f;
  std::vector<std::array<std::array<std::uint64_t, kWriters>, kEntries>> last(kReaders);
  run_threads(
      seed,
      [&](int w, std::uint64_t seq, std::mt19937_64& rng) {
        const auto idx = static_cast<std::uint32_t>(rng() % kEntries);
        const std::vector<Value32> values(ncpus, uniform(encode(w, seq)));
        if (map.update_all(idx, values) != Errc::ok) {
          f.errors.fetch_add(1, std::memory_order_relaxed);
        }
        f.writes.fetch_add(1, std::memory_order_relaxed);
      },
      [&](int r, std::mt19937_64& rng) {
        const auto idx = static_cast<std::uint32_t>(rng() % kEntries);
        std::vector<Value32> out(ncpus);
        if (map.lookup_all(idx, out) != Errc::ok) {
          f.errors.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        // One update_all wrote every CPU's slot: a consistent copy shows one x everywhere.
        for (std::size_t c = 1; c < ncpus; ++c) {
          if (out[c].w != out[0].w)
            f.torn.fetch_add(1, std::memory_order_relaxed);
        }
        check_value(out[0], idx, last[static_cast<std::size_t>(r)], f);
        f.reads.fetch_add(1, std::memory_order_relaxed);
      });
  expect_clean(f);
}

TEST(PercpuArrayMapStress, ThreadsSharingACpuIdNeverTearThatCpusSlot) {
  const std::uint64_t seed = stress_seed();
  SCOPED_TRACE("XMAPS_STRESS_SEED=" + std::to_string(seed));
  const int ncpus = xmaps::possible_cpus();
  PercpuArrayMap<Value32> map(kEntries);
  Findings f;
  std::vector<std::array<std::array<std::uint64_t, kWriters>, kEntries>> last(kReaders);
  // Writers and readers act as CPU (id % ncpus): several threads share each CPU id, as two
  // programs on one CPU would if they could interleave.
  run_threads(
      seed,
      [&](int w, std::uint64_t seq, std::mt19937_64& rng) {
        CpuBinding bind(w % ncpus);
        const auto idx = static_cast<std::uint32_t>(rng() % kEntries);
        if (map.update(idx, uniform(encode(w, seq))) != Errc::ok) {
          f.errors.fetch_add(1, std::memory_order_relaxed);
        }
        f.writes.fetch_add(1, std::memory_order_relaxed);
      },
      [&](int r, std::mt19937_64& rng) {
        CpuBinding bind(r % ncpus);
        const auto idx = static_cast<std::uint32_t>(rng() % kEntries);
        const auto v = map.lookup_copy(idx);
        if (!v) {
          f.errors.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        check_value(*v, idx, last[static_cast<std::size_t>(r)], f);
        f.reads.fetch_add(1, std::memory_order_relaxed);
      });
  expect_clean(f);
}

}  // namespace
