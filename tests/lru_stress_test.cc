// SPDX-License-Identifier: MIT
//
// Concurrent stress of LruHashMap / LruPercpuHashMap, common LRU and NO_COMMON_LRU, with more
// threads than cores (each bound to CPU id t % possible_cpus(), so CPU ids are shared) and random
// yields. Seeded (XMAPS_STRESS_SEED replays a run; the seed is in every failure message) and
// bounded by time (XMAPS_STRESS_SECONDS, default 0.4 s per test) and by operation count.
//
// All threads work on one shared key range, several times larger than the map, so inserts evict
// all the time and every operation races with evictions of its own key. Checked:
//   - every value read (datapath and user-side lookups, lookup_and_erase, the eviction callback)
//     belongs to its key: each value carries its key and a checksum of key and version; a per-CPU
//     slot that no write reached reads as zeroes; datapath lookups that hand out pointers
//     (lookup, lookup_many, lookup_percpu) run too, for their reference-bit writes, but their
//     pointers are not read, since the element may be recycled under them;
//   - only the kernel's results: ok / exists / not_found (no_memory only for tiny maps, where
//     every node can be held by inserts in flight; never busy, invalid or too_big);
//   - between rounds, with the threads stopped: a get_next_key walk returns each key once and
//     only keys of the range; approx_size() equals the walked count and is <= max_entries;
//     with NO_COMMON_LRU, the CPUs' free nodes plus the entries make max_entries;
//   - conservation: every successful insert (no_exist) ends as exactly one of present, erased
//     (erase / lookup_and_erase) or evicted. LruHashMap counts evictions per key through the
//     eviction callback (and the callback total equals stats().evictions); LruPercpuHashMap,
//     whose callback is not settled, by stats().evictions in total.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include "support/stress.h"
#include "xmaps/cpu.h"
#include "xmaps/errc.h"
#include "xmaps/lru_hash_map.h"

namespace {

using xmaps::Errc;
using xmaps::UpdateFlag;
using Clock = std::chrono::steady_clock;

double stress_seconds() {
  return xmaps::testing::stress_seconds(0.4);
}
using xmaps::testing::stress_seed;

constexpr int kThreads = 8;                         // four per core on the 2-core CI machine
constexpr int kRounds = 3;                          // quiescent checks between rounds
constexpr std::uint64_t kMaxOpsPerRound = 200000;   // per thread, whatever the time bound
constexpr std::uint32_t kUntrackedBase = 1U << 20;  // LruHashMap: keys updated with `any`
constexpr std::uint32_t kUntracked = 32;

struct Value {
  std::uint64_t key;
  std::uint64_t version;
  std::uint64_t check;  // mix(key, version): a torn or foreign value fails it
};

std::uint64_t mix(std::uint64_t key, std::uint64_t version) {
  std::uint64_t x = (key + 0x9e3779b97f4a7c15ULL) * 0xbf58476d1ce4e5b9ULL ^ version;
  x ^= x >> 31;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 29);
}

Value make_value(std::uint64_t key, std::uint64_t version) {
  return Value{key, version, mix(key, version)};
}

bool intact(const Value& v, std::uint64_t key) {
  return v.key == key && v.check == mix(key, v.version);
}

bool zero(const Value& v) {
  return v.key == 0 && v.version == 0 && v.check == 0;
}

// Starts every thread of a round at once.
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

// Per-key outcome counters, written by the workers and the eviction callback, read between
// rounds (after join). Relaxed everywhere: each counter is a tally; join orders the reads.
struct Tally {
  explicit Tally(std::size_t keys) : inserted(keys), erased(keys), evicted(keys) {}
  std::vector<std::atomic<std::uint64_t>> inserted;
  std::vector<std::atomic<std::uint64_t>> erased;
  std::vector<std::atomic<std::uint64_t>> evicted;  // LruHashMap only (the callback)
  std::atomic<std::uint64_t> evicted_untracked{0};  // callback reports of kUntrackedBase keys
  std::atomic<std::uint64_t> evicted_total{0};      // every callback report
  std::atomic<std::uint64_t> foreign_in_callback{0};
  std::atomic<std::uint64_t> no_memory{0};
};

void bump(std::atomic<std::uint64_t>& c) {
  c.fetch_add(1, std::memory_order_relaxed);  // Relaxed: a tally (see Tally).
}
std::uint64_t read(const std::atomic<std::uint64_t>& c) {
  return c.load(std::memory_order_relaxed);  // Relaxed: read after join (see Tally).
}

struct Config {
  std::uint32_t flags;
  std::uint32_t max_entries;
  std::uint32_t keys;       // tracked keys 0..keys-1, shared by every thread
  bool tiny;                // nodes can all be in flight: no_memory is a legal result
  bool must_steal = false;  // common LRU of one node: CPUs can only get it by stealing
};

template <class Map>
class Churn {
 public:
  static constexpr bool kPercpu =
      std::is_same_v<Map, xmaps::LruPercpuHashMap<std::uint32_t, Value>>;

  Churn(const Config& cfg, std::uint64_t seed)
      : cfg_(cfg), seed_(seed), map_(cfg.max_entries, cfg.flags), tally_(cfg.keys) {
    if constexpr (!kPercpu) {
      // Runs in the evicting update, under the victim's bucket lock: counters only.
      map_.set_eviction_callback([this](const std::uint32_t& key, const Value& value) {
        if (!intact(value, key))
          bump(tally_.foreign_in_callback);
        if (key < cfg_.keys)
          bump(tally_.evicted[key]);
        else
          bump(tally_.evicted_untracked);
        bump(tally_.evicted_total);
      });
    }
  }

  void run() {
    SCOPED_TRACE("XMAPS_STRESS_SEED=" + std::to_string(seed_));
    const auto per_round = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(stress_seconds() / kRounds));
    std::uint64_t total_ops = 0;
    for (int round = 0; round < kRounds && !failed(); ++round) {
      SCOPED_TRACE("round " + std::to_string(round));
      const auto deadline = Clock::now() + per_round;
      StartLine start(kThreads + 1);
      std::atomic<std::uint64_t> ops{0};
      std::vector<std::thread> threads;
      threads.reserve(kThreads);
      for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
          const std::uint64_t n = worker(t, round, start, deadline);
          ops.fetch_add(n, std::memory_order_relaxed);  // Relaxed: a statistic.
        });
      }
      start.arrive_and_wait();
      // While the workers run, approx_size() is only exercised: it sums per-list counters read
      // one after another, so a node moving between lists meanwhile can be counted more than
      // once. It is exact, and checked, when the map is quiet (check_quiescent()).
      while (Clock::now() < deadline && !failed()) {
        max_running_size_ = std::max(max_running_size_, map_.approx_size());
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      for (auto& th : threads)
        th.join();
      total_ops += ops.load(std::memory_order_relaxed);
      check_quiescent();
    }
    ASSERT_FALSE(failed());
    EXPECT_GT(total_ops, static_cast<std::uint64_t>(kThreads) * 100);
    const xmaps::LruStats s = map_.stats();
    EXPECT_GT(s.evictions, 0U) << "the key range should keep the map evicting";
    if (cfg_.must_steal && xmaps::possible_cpus() > 1) {
      EXPECT_GT(s.steals, 0U) << "a one-node map shared by CPUs must steal";
    }
    if (!cfg_.tiny) {
      EXPECT_EQ(read(tally_.no_memory), 0U) << "no_memory from a map with room for every thread";
    }
    if constexpr (!kPercpu) {
      EXPECT_EQ(read(tally_.foreign_in_callback), 0U) << "the callback saw a foreign value";
    }
    std::cout << "[          ] ops " << total_ops << ", evictions " << s.evictions << ", shrinks "
              << s.shrinks << ", forced " << s.forced_shrinks << ", steals " << s.steals
              << ", no_memory " << read(tally_.no_memory)
              << ", largest approx_size() while running " << max_running_size_ << " (max_entries "
              << map_.max_entries() << ")\n";
  }

 private:
  [[nodiscard]] bool failed() const {
    return failed_.load(std::memory_order_relaxed);  // Relaxed: a stop flag only.
  }
  // Reports a failure and stops every worker; returns false, for `return ok || fail(...)`.
  bool fail(const std::string& what) {
    ADD_FAILURE() << what;
    failed_.store(true, std::memory_order_relaxed);  // Relaxed: a stop flag only.
    return false;
  }

  // Every slot of a per-CPU value is this key's or untouched (zeroes).
  static bool slots_belong(std::span<const Value> slots, std::uint64_t key) {
    return std::ranges::all_of(slots, [key](const Value& v) { return intact(v, key) || zero(v); });
  }

  // Checks an update's result; counts successful inserts.
  bool updated(Errc got, UpdateFlag flag, std::uint32_t key) {
    switch (got) {
      case Errc::ok:
        if (flag == UpdateFlag::no_exist && key < cfg_.keys)
          bump(tally_.inserted[key]);
        return true;
      case Errc::exists: return flag == UpdateFlag::no_exist;
      case Errc::not_found: return flag == UpdateFlag::exist;
      case Errc::no_memory:
        // Every node is held by inserts in flight. (LruPercpuHashMap's exist update takes no
        // node, so it never fails this way.)
        bump(tally_.no_memory);
        return cfg_.tiny && !(kPercpu && flag == UpdateFlag::exist);
      default: return false;
    }
  }

  std::uint64_t worker(int t, int round, StartLine& start, Clock::time_point deadline) {
    const xmaps::CpuBinding bind(t % xmaps::possible_cpus());
    std::mt19937_64 rng(seed_ + static_cast<std::uint64_t>(round) * 1000003 +
                        static_cast<std::uint64_t>(t) * 7919);
    std::vector<Value> slots(static_cast<std::size_t>(xmaps::possible_cpus()));
    // Versions unique per (round, thread): the checksum then tells any two writes apart.
    std::uint64_t version =
        (static_cast<std::uint64_t>(round) << 40) | (static_cast<std::uint64_t>(t) << 32);
    std::uint64_t ops = 0;
    start.arrive_and_wait();
    while (!failed() && ops < kMaxOpsPerRound && (ops % 64 != 0 || Clock::now() < deadline)) {
      ++ops;
      if (rng() % 16 == 0)
        std::this_thread::yield();
      if (!one_op(rng, slots, version))
        break;
    }
    return ops;
  }

  // One random operation on a random key of the shared range; false after a failure.
  bool one_op(std::mt19937_64& rng, std::vector<Value>& slots, std::uint64_t& version) {
    const auto key = static_cast<std::uint32_t>(rng() % cfg_.keys);
    const auto op = static_cast<unsigned>(rng() % 20);
    if (op < 6 || (kPercpu && op == 18)) {  // insert
      const Errc got = insert(key, make_value(key, ++version), rng);
      return updated(got, UpdateFlag::no_exist, key) || fail_op("no_exist update", key, got);
    }
    if (op < 8) {  // replace
      const Errc got = replace(key, make_value(key, ++version), rng);
      return updated(got, UpdateFlag::exist, key) || fail_op("exist update", key, got);
    }
    if (op < 10) {  // erase
      const Errc got = map_.erase(key);
      if (got == Errc::ok)
        bump(tally_.erased[key]);
      return got == Errc::ok || got == Errc::not_found || fail_op("erase", key, got);
    }
    if (op == 10) {  // lookup_and_erase
      Errc got = Errc::ok;
      bool belongs = true;
      if constexpr (kPercpu) {
        got = map_.lookup_and_erase(key, slots);
        belongs = slots_belong(slots, key);
      } else {
        Value out{};
        got = map_.lookup_and_erase(key, out);
        belongs = intact(out, key);
      }
      if (got == Errc::ok)
        bump(tally_.erased[key]);
      if (got == Errc::ok && !belongs)
        return fail("lookup_and_erase of " + std::to_string(key) + ": foreign value");
      return got == Errc::ok || got == Errc::not_found || fail_op("lookup_and_erase", key, got);
    }
    if (op < 14) {  // datapath lookup with a copy: sets the reference bit
      const std::optional<Value> v = map_.lookup_copy(key);
      if (v && !intact(*v, key) && !(kPercpu && zero(*v)))
        return fail("lookup_copy of " + std::to_string(key) + ": foreign value");
      return true;
    }
    if (op < 16) {  // datapath lookups handing out pointers (not read: the element may recycle)
      if constexpr (kPercpu) {
        const auto cpu = static_cast<std::uint32_t>(rng() % slots.size());
        (void)map_.lookup_percpu(key, cpu);
      } else {
        const std::array<std::uint32_t, 3> keys = {key, (key + 1) % cfg_.keys,
                                                   (key + 7) % cfg_.keys};
        std::array<Value*, 3> out = {};
        (void)map_.lookup_many(keys, out);
      }
      (void)map_.lookup(key);
      return true;
    }
    if (op < 18) {  // user-side lookups: no reference bit
      if constexpr (kPercpu) {
        const Errc got = map_.lookup_all(key, slots);
        if (got == Errc::ok && !slots_belong(slots, key))
          return fail("lookup_all of " + std::to_string(key) + ": foreign value");
        return got == Errc::ok || got == Errc::not_found || fail_op("lookup_all", key, got);
      } else {
        const std::optional<Value> v = map_.lookup_user(key);
        if (v && !intact(*v, key))
          return fail("lookup_user of " + std::to_string(key) + ": foreign value");
        return true;
      }
    }
    if (op == 18) {  // LruHashMap: `any` updates of untracked keys
      const std::uint32_t other = kUntrackedBase + static_cast<std::uint32_t>(rng() % kUntracked);
      const Errc got = map_.update(other, make_value(other, ++version), UpdateFlag::any);
      return got == Errc::ok || (cfg_.tiny && got == Errc::no_memory) ||
             fail_op("any update", other, got);
    }
    return walk_ok();  // a short walk
  }

  // A new key, from a program (update) or from user space (update_all, per-CPU maps).
  Errc insert(std::uint32_t key, const Value& v, std::mt19937_64& rng) {
    if constexpr (kPercpu) {
      if (rng() % 2 == 0) {
        const std::vector<Value> all(static_cast<std::size_t>(xmaps::possible_cpus()), v);
        return map_.update_all(key, all, UpdateFlag::no_exist);
      }
    }
    (void)rng;
    return map_.update(key, v, UpdateFlag::no_exist);
  }
  Errc replace(std::uint32_t key, const Value& v, std::mt19937_64& rng) {
    if constexpr (kPercpu) {
      if (rng() % 2 == 0) {
        const std::vector<Value> all(static_cast<std::size_t>(xmaps::possible_cpus()), v);
        return map_.update_all(key, all, UpdateFlag::exist);
      }
    }
    (void)rng;
    return map_.update(key, v, UpdateFlag::exist);
  }

  bool fail_op(const char* op, std::uint32_t key, Errc got) {
    return fail(std::string(op) + " of " + std::to_string(key) + " gave " +
                std::string(xmaps::to_string(got)));
  }

  [[nodiscard]] bool known(std::uint32_t key) const {
    return key < cfg_.keys ||
           (!kPercpu && key >= kUntrackedBase && key < kUntrackedBase + kUntracked);
  }

  bool walk_ok() {
    std::uint32_t key = 0;
    std::uint32_t next = 0;
    Errc err = map_.get_next_key(nullptr, next);
    for (int steps = 0; err == Errc::ok && steps < 24; ++steps) {
      key = next;
      if (!known(key))
        return fail("walk returned a key never inserted: " + std::to_string(key));
      err = map_.get_next_key(&key, next);
    }
    return err == Errc::ok || err == Errc::not_found ||
           fail("get_next_key gave " + std::string(xmaps::to_string(err)));
  }

  // Threads stopped: walk, sizes, values and conservation.
  void check_quiescent() {
    std::set<std::uint32_t> walked;
    std::uint32_t key = 0;
    std::uint32_t next = 0;
    for (Errc err = map_.get_next_key(nullptr, next); err == Errc::ok;
         err = map_.get_next_key(&key, next)) {
      key = next;
      if (!walked.insert(key).second) {
        fail("the walk returned " + std::to_string(key) + " twice");
        return;
      }
      if (!known(key)) {
        fail("the walk returned a key never inserted: " + std::to_string(key));
        return;
      }
      if (walked.size() > map_.max_entries()) {
        fail("the walk returned more keys than max_entries");
        return;
      }
    }
    EXPECT_EQ(map_.approx_size(), walked.size());
    EXPECT_LE(walked.size(), map_.max_entries());
    EXPECT_EQ(map_.unsynchronized_bad_buckets(), 0U) << "a bucket word disagrees with its chain";

    std::vector<Value> slots(static_cast<std::size_t>(xmaps::possible_cpus()));
    for (const std::uint32_t k : walked) {
      if constexpr (kPercpu) {
        ASSERT_EQ(map_.lookup_all(k, slots), Errc::ok) << k;
        EXPECT_TRUE(slots_belong(slots, k)) << k;
      } else {
        const std::optional<Value> v = map_.lookup_user(k);
        ASSERT_TRUE(v.has_value()) << k;
        EXPECT_TRUE(intact(*v, k)) << k;
      }
    }

    if (!map_.common_lru()) {
      std::uint64_t free_nodes = 0;
      for (int cpu = 0; cpu < xmaps::possible_cpus(); ++cpu)
        free_nodes += map_.free_before_eviction(cpu).value_or(0);
      EXPECT_EQ(free_nodes + walked.size(), map_.max_entries())
          << "free nodes + entries must make max_entries";
    }

    // Conservation.
    std::uint64_t inserted = 0;
    std::uint64_t erased = 0;
    std::uint64_t present_tracked = 0;
    for (std::uint32_t k = 0; k < cfg_.keys; ++k) {
      const std::uint64_t in = read(tally_.inserted[k]);
      const std::uint64_t out = read(tally_.erased[k]);
      const std::uint64_t present = walked.count(k);
      inserted += in;
      erased += out;
      present_tracked += present;
      if constexpr (!kPercpu) {
        const std::uint64_t gone = read(tally_.evicted[k]);
        EXPECT_EQ(in, out + gone + present)
            << "key " << k << ": " << in << " inserts, " << out << " erased, " << gone
            << " evicted, present " << present;
      }
    }
    if constexpr (kPercpu) {
      EXPECT_EQ(inserted, erased + map_.stats().evictions + present_tracked)
          << inserted << " inserts, " << erased << " erased, " << map_.stats().evictions
          << " evicted, " << present_tracked << " present";
    } else {
      EXPECT_EQ(read(tally_.evicted_total), map_.stats().evictions)
          << "callback reports vs stats().evictions";
    }
  }

  Config cfg_;
  std::uint64_t seed_;
  Map map_;
  Tally tally_;
  std::atomic<bool> failed_{false};
  std::size_t max_running_size_ = 0;  // main thread only
};

using LruHash = xmaps::LruHashMap<std::uint32_t, Value>;
using LruPercpuHash = xmaps::LruPercpuHashMap<std::uint32_t, Value>;

template <class Map>
void run_churn(const Config& cfg) {
  Churn<Map> churn(cfg, stress_seed());
  churn.run();
}

constexpr std::uint32_t kNoCommon = xmaps::map_flag::kNoCommonLru;

// A map of 256 entries over 768 keys: batches of up to 128 (common) or 4 (per CPU) evictions.
TEST(LruStress, ChurnLruHashCommon) {
  run_churn<LruHash>({0, 256, 768, false});
}
TEST(LruStress, ChurnLruHashNoCommonLru) {
  run_churn<LruHash>({kNoCommon, 256, 768, false});
}
TEST(LruStress, ChurnLruPercpuHashCommon) {
  run_churn<LruPercpuHash>({0, 256, 768, false});
}
TEST(LruStress, ChurnLruPercpuHashNoCommonLru) {
  run_churn<LruPercpuHash>({kNoCommon, 256, 768, false});
}

// Tiny maps: 12 entries (common: target_free = clamp(12 / ncpus / 2, 1, 128), 3 on 2 CPUs, so
// CPUs steal from each other's local lists) or 4 per CPU, over 48 keys. With 8 threads every
// node can be held by inserts in flight at once.
TEST(LruStress, ChurnTinyLruHashCommon) {
  run_churn<LruHash>({0, 12, 48, true});
}
TEST(LruStress, ChurnTinyLruHashNoCommonLru) {
  run_churn<LruHash>({kNoCommon, 4 * static_cast<std::uint32_t>(xmaps::possible_cpus()), 48, true});
}
TEST(LruStress, ChurnTinyLruPercpuHashCommon) {
  run_churn<LruPercpuHash>({0, 12, 48, true});
}
TEST(LruStress, ChurnTinyLruPercpuHashNoCommonLru) {
  run_churn<LruPercpuHash>(
      {kNoCommon, 4 * static_cast<std::uint32_t>(xmaps::possible_cpus()), 48, true});
}

// One node, common LRU: sanity5 under fire. Whoever holds the node's CPU, every other CPU gets
// it only by stealing it from that CPU's pending list (evicting its key) or local free list.
TEST(LruStress, ChurnOneNodeLruHashSteals) {
  run_churn<LruHash>({0, 1, 8, true, true});
}
TEST(LruStress, ChurnOneNodeLruPercpuHashSteals) {
  run_churn<LruPercpuHash>({0, 1, 8, true, true});
}

}  // namespace
