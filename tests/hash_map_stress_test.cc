// SPDX-License-Identifier: MIT
//
// Concurrent stress of HashMap / PercpuHashMap with more threads than cores and random yields.
// Seeded (XMAPS_STRESS_SEED replays a run; the seed is in every failure message) and bounded by
// time (XMAPS_STRESS_SECONDS, default 0.4 s per test) and by operation count.
//
// What is checked:
//   - keys owned by one thread: every return code and value equals a sequential model;
//   - keys shared by all threads: a copy is never torn (each value carries a checksum of its
//     key and version) and always belongs to its key;
//   - concurrent walks (get_next_key) terminate and return only keys that were inserted;
//   - conservation at the end: the walk, approx_size() and the model agree, every bucket word
//     matches its chain (unsynchronized_bad_buckets()), and after clearing,
//     exactly max_entries new keys fit (no element lost or duplicated: free + in use == capacity);
//   - replacing keys of a full map from many threads never fails with E2BIG.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/stress.h"
#include "xmaps/cpu.h"
#include "xmaps/errc.h"
#include "xmaps/hash_map.h"

namespace {

using xmaps::Errc;
using xmaps::UpdateFlag;
using Clock = std::chrono::steady_clock;

double stress_seconds() {
  return xmaps::testing::stress_seconds(0.4);
}
using xmaps::testing::stress_seed;

constexpr int kThreads = 6;  // three per core on the 2-core CI machine
constexpr std::uint32_t kOwnedPerThread = 48;
constexpr std::uint32_t kShared = 16;
constexpr std::uint32_t kSharedBase = 1U << 20;

struct Value {
  std::uint64_t key;
  std::uint64_t version;
  std::uint64_t check;  // mix(key, version): a torn copy mixes words of two writes
  std::uint64_t pad;
};

std::uint64_t mix(std::uint64_t key, std::uint64_t version) {
  std::uint64_t x = key * 0x9e3779b97f4a7c15ULL ^ (version + 0x632be59bd9b4e019ULL);
  x ^= x >> 29;
  x *= 0xbf58476d1ce4e5b9ULL;
  return x ^ (x >> 32);
}

Value make_value(std::uint64_t key, std::uint64_t version) {
  return Value{key, version, mix(key, version), ~key};
}

bool intact(const Value& v, std::uint64_t key) {
  return v.key == key && v.check == mix(key, v.version) && v.pad == ~key;
}

// Starts every thread at once.
class StartLine {
 public:
  explicit StartLine(int n) : waiting_(n) {}
  void arrive_and_wait() {
    // Acq_rel: the last arrival releases everyone with what was set up before.
    waiting_.fetch_sub(1, std::memory_order_acq_rel);
    while (waiting_.load(std::memory_order_acquire) > 0)
      std::this_thread::yield();
  }

 private:
  std::atomic<int> waiting_;
};

// Threads 0 and 1 share CPU id 0: per-CPU state must stay race-free when ids are shared.
int cpu_of(int thread) {
  return thread < 2 ? 0 : thread % xmaps::possible_cpus();
}

// A per-CPU element created on another CPU holds zeroes in this CPU's slot: also intact.
bool intact_or_zero(const Value& v, std::uint64_t key, bool percpu) {
  return intact(v, key) || (percpu && v.key == 0 && v.version == 0 && v.check == 0 && v.pad == 0);
}

// Key shape of a run: keys owned per thread (exact model) and keys all threads share.
struct Shape {
  std::uint32_t owned = kOwnedPerThread;
  std::uint32_t shared = kShared;
};

template <class Map>
void run_mixed(std::uint32_t flags, std::uint64_t seed, Shape shape = {}) {
  constexpr bool kPercpu = std::is_same_v<Map, xmaps::PercpuHashMap<std::uint32_t, Value>>;
  SCOPED_TRACE("XMAPS_STRESS_SEED=" + std::to_string(seed));
  const std::uint32_t n_owned = shape.owned;
  const std::uint32_t n_shared = shape.shared;
  const std::uint32_t max_entries = kThreads * n_owned + n_shared + 8;
  Map map(max_entries, flags);
  const auto deadline = Clock::now() + std::chrono::duration<double>(stress_seconds());
  StartLine start(kThreads + 1);
  std::atomic<bool> failed{false};
  std::vector<std::vector<std::int64_t>> models(kThreads, std::vector<std::int64_t>(n_owned, -1));
  std::vector<std::thread> threads;
  std::atomic<std::uint64_t> total_ops{0};

  auto fail = [&](const std::string& what) {
    ADD_FAILURE() << what;
    failed.store(true, std::memory_order_relaxed);  // Relaxed: a stop flag only.
  };

  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed + static_cast<std::uint64_t>(t) * 7919);
      xmaps::CpuBinding bind(cpu_of(t));
      auto& model = models[static_cast<std::size_t>(t)];
      const std::uint32_t base = static_cast<std::uint32_t>(t) * n_owned;
      std::uint64_t version = 1;
      std::uint64_t ops = 0;
      start.arrive_and_wait();
      while (!failed.load(std::memory_order_relaxed) && ops < 400000 &&
             (ops % 64 != 0 || Clock::now() < deadline)) {
        ++ops;
        if (rng() % 16 == 0)
          std::this_thread::yield();
        const unsigned op = static_cast<unsigned>(rng() % 10);
        if (op < 6) {  // an owned key: exact model
          const std::uint32_t slot = static_cast<std::uint32_t>(rng() % n_owned);
          const std::uint32_t key = base + slot;
          std::int64_t& m = model[slot];
          switch (op) {
            case 0:
            case 1: {
              const auto flag = static_cast<UpdateFlag>(rng() % 3);
              const Errc want = flag == UpdateFlag::no_exist && m >= 0 ? Errc::exists
                                : flag == UpdateFlag::exist && m < 0   ? Errc::not_found
                                                                       : Errc::ok;
              const Errc got = map.update(key, make_value(key, version), flag);
              if (got != want)
                return fail("update of owned key " + std::to_string(key) + " gave " +
                            std::string(xmaps::to_string(got)));
              if (got == Errc::ok)
                m = static_cast<std::int64_t>(version++);
              break;
            }
            case 2: {
              const Errc got = map.erase(key);
              if (got != (m >= 0 ? Errc::ok : Errc::not_found))
                return fail("erase of owned key");
              m = -1;
              break;
            }
            default: {
              const auto v = map.lookup_copy(key);
              if (v.has_value() != (m >= 0))
                return fail("presence of owned key " + std::to_string(key));
              if (v && (!intact(*v, key) || static_cast<std::int64_t>(v->version) != m)) {
                return fail("value of owned key " + std::to_string(key));
              }
            }
          }
        } else if (op < 9) {  // a shared key: never torn, always its own
          const std::uint32_t key = kSharedBase + static_cast<std::uint32_t>(rng() % n_shared);
          if (op == 6) {
            (void)map.update(key, make_value(key, version++));
          } else if (op == 7 && rng() % 4 == 0) {
            (void)map.erase(key);
          } else {
            const auto v = map.lookup_copy(key);
            if (v && !intact_or_zero(*v, key, kPercpu))
              return fail("torn or foreign value for shared key");
          }
        } else {  // a short walk
          std::uint32_t k = 0;
          Errc err = map.get_next_key(nullptr, k);
          for (int steps = 0; err == Errc::ok && steps < 32; ++steps) {
            const bool known =
                k < kThreads * n_owned || (k >= kSharedBase && k < kSharedBase + n_shared);
            if (!known)
              return fail("walk returned a key never inserted: " + std::to_string(k));
            err = map.get_next_key(&k, k);
          }
        }
      }
      total_ops.fetch_add(ops, std::memory_order_relaxed);  // Relaxed: a statistic.
    });
  }
  start.arrive_and_wait();
  for (auto& th : threads)
    th.join();
  ASSERT_FALSE(failed.load());
  EXPECT_GT(total_ops.load(), static_cast<std::uint64_t>(kThreads) * 100);

  // Quiescent: model, walk and size agree.
  std::size_t model_present = 0;
  for (int t = 0; t < kThreads; ++t) {
    xmaps::CpuBinding bind(cpu_of(t));  // per-CPU maps: read the slot the owner wrote
    for (std::uint32_t s = 0; s < n_owned; ++s) {
      const std::uint32_t key = static_cast<std::uint32_t>(t) * n_owned + s;
      const std::int64_t m = models[static_cast<std::size_t>(t)][s];
      const auto v = map.lookup_copy(key);
      ASSERT_EQ(v.has_value(), m >= 0) << key;
      if (v) {
        EXPECT_EQ(static_cast<std::int64_t>(v->version), m);
        ++model_present;
      }
    }
  }
  std::set<std::uint32_t> walked;
  std::uint32_t k = 0;
  for (Errc err = map.get_next_key(nullptr, k); err == Errc::ok; err = map.get_next_key(&k, k)) {
    ASSERT_TRUE(walked.insert(k).second) << "walk returned " << k << " twice";
  }
  std::size_t shared_present = 0;
  for (std::uint32_t s = 0; s < n_shared; ++s)
    shared_present += walked.count(kSharedBase + s);
  EXPECT_EQ(walked.size(), model_present + shared_present);
  EXPECT_EQ(map.approx_size(), walked.size());
  EXPECT_EQ(map.unsynchronized_bad_buckets(), 0U) << "a bucket word disagrees with its chain";

  // Conservation: clear, then exactly max_entries new keys fit.
  for (const std::uint32_t key : walked)
    ASSERT_EQ(map.erase(key), Errc::ok);
  EXPECT_EQ(map.approx_size(), 0U);
  for (std::uint32_t i = 0; i < max_entries; ++i) {
    ASSERT_EQ(map.update(5000000 + i, make_value(i, 1)), Errc::ok)
        << "insert " << i << " of " << max_entries;
  }
  EXPECT_EQ(map.update(9999999, make_value(1, 1)), Errc::too_big);
}

using Hash = xmaps::HashMap<std::uint32_t, Value>;
using PercpuHash = xmaps::PercpuHashMap<std::uint32_t, Value>;

// 24 keys in a 32-entry map (32 buckets): many chains hold two or more keys and their heads
// change all the time. In HASH, lock-free replaces of a chain head then race with inserts,
// deletes and locked replaces in the same bucket; PERCPU_HASH (no lock-free replace) runs the
// same crowding through the locked paths only.
TEST(HashMapStress, CrowdedBucketsPreallocated) {
  run_mixed<Hash>(0, stress_seed(), Shape{.owned = 3, .shared = 6});
}
TEST(HashMapStress, CrowdedBucketsPercpuPreallocated) {
  run_mixed<PercpuHash>(0, stress_seed(), Shape{.owned = 3, .shared = 6});
}

TEST(HashMapStress, MixedOpsPreallocated) {
  run_mixed<Hash>(0, stress_seed());
}
TEST(HashMapStress, MixedOpsNoPrealloc) {
  run_mixed<Hash>(xmaps::map_flag::kNoPrealloc, stress_seed());
}
TEST(HashMapStress, MixedOpsPercpuPreallocated) {
  run_mixed<PercpuHash>(0, stress_seed());
}
TEST(HashMapStress, MixedOpsPercpuNoPrealloc) {
  run_mixed<PercpuHash>(xmaps::map_flag::kNoPrealloc, stress_seed());
}

// Replacing present keys of a full map from many threads at once (more replacers than spare
// elements) never fails, and new keys always fail with E2BIG.
void run_full_replace(std::uint32_t flags, std::uint64_t seed) {
  SCOPED_TRACE("XMAPS_STRESS_SEED=" + std::to_string(seed));
  constexpr std::uint32_t kMax = 64;
  Hash map(kMax, flags);
  for (std::uint32_t k = 0; k < kMax; ++k)
    ASSERT_EQ(map.update(k, make_value(k, 0)), Errc::ok);
  const auto deadline = Clock::now() + std::chrono::duration<double>(stress_seconds());
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads + 2; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed ^ static_cast<std::uint64_t>(t));
      for (std::uint64_t i = 1; i < 200000 && (i % 64 != 0 || Clock::now() < deadline); ++i) {
        const auto k = static_cast<std::uint32_t>(rng() % kMax);
        if (map.update(k, make_value(k, i)) != Errc::ok)
          bad.fetch_add(1, std::memory_order_relaxed);
        if (rng() % 8 == 0) {
          if (map.update(kMax + static_cast<std::uint32_t>(rng() % 100), make_value(0, 0)) !=
              Errc::too_big) {
            bad.fetch_add(1, std::memory_order_relaxed);
          }
          std::this_thread::yield();
        }
        const auto v = map.lookup_copy(k);
        if (!v || !intact(*v, k))
          bad.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(map.approx_size(), kMax);
  EXPECT_EQ(map.unsynchronized_bad_buckets(), 0U) << "a bucket word disagrees with its chain";
}

TEST(HashMapStress, FullMapReplaceNeverFailsPreallocated) {
  run_full_replace(0, stress_seed());
}
TEST(HashMapStress, FullMapReplaceNeverFailsNoPrealloc) {
  run_full_replace(xmaps::map_flag::kNoPrealloc, stress_seed());
}

}  // namespace
