// SPDX-License-Identifier: MIT
//
// xmaps::LruHashMap (BPF_MAP_TYPE_LRU_HASH) against peer LRU caches, on the workloads of the LRU
// issue.
//
// Names: BM_<Case>/<peer>/<key>/<size>/real_time/threads:<n>, e.g.
//   BM_EvictingUpdate/xmaps_lru_common/u32/1M/real_time/threads:2
// Peers (support/lru_peers.h; TBB only if CMake found it):
//   xmaps_lru_common    xmaps::LruHashMap<u32, Value16>(size), flags 0 (the common LRU)
//   xmaps_lru_nocommon  the same with map_flag::kNoCommonLru (one LRU list set per CPU)
//   mutex_lru_alloc     std::mutex + std::list + std::unordered_map, a fresh node per insert
//   mutex_lru_reuse     the same, reusing the evicted entry's list and map nodes
//   tbb_lru_cache       tbb::concurrent_lru_cache (a value-function cache; see lru_peers.h for
//                       how its operator[] stands in for update and lookup)
// Cases (one operation per iteration):
//   EvictingUpdate  the map is full; every update is of a key not in it, so every update makes
//                   room (xmaps: update(key, value, UpdateFlag::any), as a BPF program's
//                   bpf_map_update_elem(BPF_ANY)). Counter evictions_per_update (peers that
//                   count evictions): entries evicted / updates; ~1 in the steady state (xmaps'
//                   common LRU evicts in batches, so a short run can read a little off).
//   LookupHit       look up a present key and read its 16-byte value (xmaps: lookup(), the
//                   datapath lookup, which sets the entry's reference bit). Counter hit_rate
//                   (must be 1).
//   ZipfMixed       look up a key drawn from a Zipf distribution (s = kZipfS = 0.99, YCSB's
//                   default) over 4 x size keys; on a miss, insert it (update, evicting).
//                   Counter hit_ratio = hits / operations. The label gives the share of the
//                   `size` most popular keys ("top-size share"), the hit ratio of an ideal
//                   cache that always holds exactly them; an LRU cache gets less.
// Conditions: sizes 1K / 64K / 1M entries (= max_entries, the capacity); key u32, value 16
//   bytes (as hash_map_bench); 1 and 2 threads; real time. Each benchmark thread acts as CPU
//   thread_index % possible_cpus() (xmaps::CpuBinding: the per-CPU LRU lists it uses) and is
//   pinned with sched_setaffinity to that CPU (every peer alike), restored afterwards.
// Reading the numbers: as hash_map_bench, 1e9 / items_per_second is ns per operation over all
//   threads (with 2 threads: wall time / operations of both).
//
// Keys (all generated before timing; make_key<u32>(index) of support/keys.h is a bijection, so
// disjoint index ranges are disjoint key sets):
//   [0, size)                      fill: the map is filled with these before EvictingUpdate and
//                                  LookupHit (inserted as CPU i % possible_cpus(), so with
//                                  NO_COMMON_LRU every CPU's share of the map is filled)
//   kEvictBase + t * R + [0, R)    thread t's ring of new keys for EvictingUpdate
//   kZipfBase + rank               the Zipf key of popularity rank `rank` (0 = most popular;
//                                  the bijection scatters ranks over the hash space)
// The EvictingUpdate ring holds R = max(4 x size, 4M) distinct keys per thread, and
// each thread's position in it carries on from one run (iteration-count search, repetition) to
// the next. A key comes round again only after 4M or more newer inserts by its thread, long after
// the map (at most 1M entries) has evicted it, so every update is of a key not in the map. The
// peers that can tell (mutex LRUs, TBB) check it: an update that finds its key present is a
// verification failure.
//
// LookupHit and ZipfMixed give each thread a stream of its own (fixed seeds; thread 0's is the
// one stream all threads shared, at offsets, before 2026-12-04): two threads on one stream
// drift into lockstep on the same keys. LookupHit's streams are max(size, 64K) draws, uniform
// over the fill keys present after the fill.
// Each Zipf stream is max(32 x size, 4M) draws (fixed seed), also used as a ring with carried-on
// positions. It must be long: a replayed stream whose distinct keys fit in the cache hits every
// time once warm (4M draws over 4M keys hold only ~0.9M distinct ones, which a 1M-entry cache
// keeps entirely: hit ratio 1.000, the first version of this file). With max(32 x size, 4M)
// draws the stream holds 2.8 x size distinct keys at 1M (3.6 x at 64K, all 4 x at 1K), so a
// key that comes round again after a whole stream has been evicted by an LRU of `size`
// entries, as it would have been with fresh draws.
//
// Tables: one map per (peer, size, case), built and filled outside timing, shared by the 1- and
// 2-thread runs and the repetitions of that case (only one exists at a time; registration is
// size -> peer -> case -> threads). ZipfMixed starts from an empty map warmed, untimed, with
// the first max(8 x size, 1M) draws of thread 0's stream (the CPU binding alternating every
// 1024 operations, so with NO_COMMON_LRU every CPU's share is warm); every thread's timed runs
// then go on from draw `warm-up` of its own stream.
//
// Command (Release build only; see bench/RESULTS.md, "LRU maps"):
//   cmake --preset bench && cmake --build build/bench --target lru_bench
//   build/bench/bench/lru_bench --benchmark_min_time=0.2 --benchmark_repetitions=3
//     --benchmark_report_aggregates_only=true   (one command line)
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <sched.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "support/kernel_hash.h"
#include "support/keys.h"
#include "support/lru_peers.h"
#include "support/pin.h"
#include "xmaps/cpu.h"
#include "xmaps/errc.h"
#include "xmaps/lru_hash_map.h"

namespace xmaps_bench {

// xmaps::LruHashMap<K, Value16>(capacity, kFlags) behind the facade of support/lru_peers.h.
//   lookup   lookup() (datapath: sets the reference bit), value read through the pointer
//   update   update(key, value, UpdateFlag::any) (BPF_ANY); reports `done` (cannot tell new
//            from present) or `failed`
//   contains lookup_user() (user side: does not set the reference bit)
template <class K, std::uint32_t kFlags>
class XmapsLruPeer {
 public:
  static constexpr bool kNoCommon = (kFlags & xmaps::map_flag::kNoCommonLru) != 0;
  static constexpr std::string_view kName = kNoCommon ? "xmaps_lru_nocommon" : "xmaps_lru_common";
  static std::string describe() {
    return kNoCommon ? "xmaps::LruHashMap flags=kNoCommonLru" : "xmaps::LruHashMap flags=0";
  }

  explicit XmapsLruPeer(std::uint32_t capacity) : map_(capacity, kFlags) {}

  bool lookup(const K& k, Value16& out) {
    const Value16* p = map_.lookup(k);
    if (p == nullptr)
      return false;
    out = *p;
    return true;
  }
  UpdateResult update(const K& k, const Value16& v) {
    return map_.update(k, v, xmaps::UpdateFlag::any) == xmaps::Errc::ok ? UpdateResult::done
                                                                        : UpdateResult::failed;
  }
  bool contains(const K& k) const { return map_.lookup_user(k).has_value(); }
  std::size_t size() const { return map_.approx_size(); }
  std::uint64_t evictions() const { return map_.stats().evictions; }

 private:
  xmaps::LruHashMap<K, Value16> map_;
};

}  // namespace xmaps_bench

namespace {

using namespace xmaps_bench;
using xmaps::testing::PinToCpu;

enum class Case { evicting_update, lookup_hit, zipf_mixed };

constexpr std::string_view case_name(Case c) {
  switch (c) {
    case Case::evicting_update: return "EvictingUpdate";
    case Case::lookup_hit: return "LookupHit";
    case Case::zipf_mixed: return "ZipfMixed";
  }
  return "?";
}

constexpr double kZipfS = 0.99;
constexpr std::uint32_t kZipfSpaceFactor = 4;                 // Zipf key space = 4 x size
constexpr std::size_t kMinZipfStream = std::size_t{1} << 22;  // Zipf draws per size (a ring)
constexpr std::uint32_t kZipfStreamFactor = 32;               // ... and at least 32 x size
constexpr std::size_t kMinZipfWarm = std::size_t{1} << 20;    // untimed warm-up operations ...
constexpr std::uint32_t kZipfWarmFactor = 8;                  // ... and at least 8 x size
constexpr std::size_t kMinEvictRing = std::size_t{1} << 22;
constexpr std::uint64_t kEvictBase = std::uint64_t{1} << 24;  // > every size
constexpr std::uint64_t kZipfBase = std::uint64_t{1} << 27;   // > kEvictBase + 2 rings of 4M
constexpr std::uint32_t kWarmChunk = 1024;  // Zipf warm-up: operations per CPU binding

std::string size_name(std::uint32_t size) {
  return size >= (1U << 20) ? std::to_string(size >> 20) + "M" : std::to_string(size >> 10) + "K";
}

// YCSB's ZipfianGenerator (Gray et al., "Quickly generating billion-record synthetic
// databases", SIGMOD 1994): ranks in [0, n), P(rank r) ~ 1 / (r + 1)^s, O(1) per draw after an
// O(n) zeta sum. Approximate in the tail (as YCSB's), exact for ranks 0 and 1.
class Zipf {
 public:
  Zipf(std::uint64_t n, double s) : n_(n), s_(s) {
    for (std::uint64_t i = 1; i <= n; ++i)
      zetan_ += 1.0 / std::pow(static_cast<double>(i), s);
    const double zeta2 = 1.0 + std::pow(0.5, s);
    alpha_ = 1.0 / (1.0 - s);
    eta_ = (1.0 - std::pow(2.0 / static_cast<double>(n), 1.0 - s)) / (1.0 - zeta2 / zetan_);
    half_pow_ = std::pow(0.5, s);
  }
  template <class Rng>
  std::uint64_t operator()(Rng& rng) const {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    const double uz = u * zetan_;
    if (uz < 1.0)
      return 0;
    if (uz < 1.0 + half_pow_)
      return 1;
    const auto r = static_cast<std::uint64_t>(static_cast<double>(n_) *
                                              std::pow(eta_ * u - eta_ + 1.0, alpha_));
    return std::min(r, n_ - 1);
  }
  // Probability mass of the k most popular ranks (exact, from the zeta sums).
  [[nodiscard]] double top_share(std::uint64_t k) const {
    double sum = 0;
    for (std::uint64_t i = 1; i <= k; ++i)
      sum += 1.0 / std::pow(static_cast<double>(i), s_);
    return sum / zetan_;
  }

 private:
  std::uint64_t n_;
  double s_;
  double zetan_ = 0;
  double alpha_ = 0;
  double eta_ = 0;
  double half_pow_ = 0;
};

// The seed of thread t's stream: thread 0 keeps `base` (the one stream all threads shared
// before, at offsets: running at nearly the same speed, two threads on one stream drift into
// lockstep on the same keys, which flatters or convoys them; bench/RESULTS.md, "Two threads
// updating"), the others get streams of their own.
constexpr std::uint64_t stream_seed(std::uint64_t base, std::uint32_t t) {
  return base + (std::uint64_t{t} << 40);
}

// Every key stream of one size, generated before any timing.
struct LruStreams {
  using K = std::uint32_t;
  std::uint32_t size = 0;
  std::vector<K> fill;                           // size keys
  std::size_t ring_mask = 0;                     // R - 1
  std::array<std::vector<K>, kMaxThreads> ring;  // per thread: R new keys
  std::array<std::vector<K>, kMaxThreads> zipf;  // per thread: max(32 x size, 4M) draws
  double zipf_top_share = 0;                     // mass of the `size` most popular keys

  explicit LruStreams(std::uint32_t n) : size(n) {
    fill.reserve(n);
    for (std::uint64_t i = 0; i < n; ++i)
      fill.push_back(make_key<K>(i));
    const std::size_t ring_len =
        std::bit_ceil(std::max<std::size_t>(std::size_t{4} * n, kMinEvictRing));
    ring_mask = ring_len - 1;
    for (std::uint32_t t = 0; t < kMaxThreads; ++t) {
      ring[t].reserve(ring_len);
      for (std::uint64_t i = 0; i < ring_len; ++i)
        ring[t].push_back(make_key<K>(kEvictBase + t * ring_len + i));
    }
    const std::uint64_t space = std::uint64_t{kZipfSpaceFactor} * n;
    const Zipf zipf_dist(space, kZipfS);
    zipf_top_share = zipf_dist.top_share(n);
    const std::size_t zipf_len =
        std::bit_ceil(std::max<std::size_t>(std::size_t{kZipfStreamFactor} * n, kMinZipfStream));
    for (std::uint32_t t = 0; t < kMaxThreads; ++t) {
      // Fixed seeds: every peer sees the same streams. Thread 0's is the stream of the runs
      // before per-thread streams; each further thread draws its own (stream_seed()).
      std::mt19937_64 rng(stream_seed(0x21bf0000ULL + n, t));
      zipf[t].reserve(zipf_len);
      for (std::size_t i = 0; i < zipf_len; ++i)
        zipf[t].push_back(make_key<K>(kZipfBase + zipf_dist(rng)));
    }
  }
};
static_assert(kEvictBase + 2 * (std::uint64_t{1} << 22) <= kZipfBase);
static_assert(kZipfBase + std::uint64_t{kZipfSpaceFactor} * (1U << 20) <= (std::uint64_t{1} << 32));

const LruStreams& streams(std::uint32_t size) {
  static std::mutex mu;
  static std::unique_ptr<LruStreams> cached;
  const std::lock_guard lock(mu);
  if (!cached || cached->size != size) {
    cached.reset();  // free the old streams before building the new ones
    cached = std::make_unique<LruStreams>(size);
  }
  return *cached;
}

// LookupHit's streams, one per thread, of max(size, 64K) keys drawn uniformly from `present`
// (fixed seeds: every peer, including the kernel's, sees the same streams).
std::array<std::vector<std::uint32_t>, kMaxThreads> hit_streams(
    const std::vector<std::uint32_t>& present, std::uint32_t size) {
  const std::size_t len = std::bit_ceil(std::max<std::size_t>(size, kMinStream));
  std::array<std::vector<std::uint32_t>, kMaxThreads> out;
  for (std::uint32_t t = 0; t < kMaxThreads; ++t) {
    std::mt19937_64 rng(stream_seed(0x5eed0000ULL + size, t));
    std::uniform_int_distribution<std::size_t> pick(0, present.size() - 1);
    out[t].reserve(len);
    for (std::size_t i = 0; i < len; ++i)
      out[t].push_back(present[pick(rng)]);
  }
  return out;
}

// The one cached table, with what its benchmarks need besides the map.
struct TableSlot {
  std::mutex mu;
  std::string tag;
  std::shared_ptr<void> table;
  std::string error;
  // LookupHit, per thread: keys drawn from the present fill keys.
  std::array<std::vector<std::uint32_t>, kMaxThreads> hit;
  std::size_t present = 0;           // entries after the fill (or the warm-up)
  std::uint64_t fill_evictions = 0;  // evictions during the fill, where the peer counts
  std::array<std::size_t, kMaxThreads> cursor{};  // per thread, carried across runs
};
TableSlot& table_slot() {
  static TableSlot slot;
  return slot;
}
void release_cached_table() {
  TableSlot& s = table_slot();
  const std::lock_guard lock(s.mu);
  s.table.reset();
  s.tag.clear();
}

template <class Peer>
std::uint64_t evictions_of(Peer& peer) {
  if constexpr (requires { peer.evictions(); }) {
    return peer.evictions();
  } else {
    return 0;
  }
}

// One operation of the Zipf workload; true on a hit.
template <class Peer>
bool lookup_or_insert(Peer& peer, std::uint32_t key, const Value16& if_absent, Value16& out,
                      std::uint64_t& failures) {
  if constexpr (requires { peer.lookup_or_insert(key, if_absent, out); }) {
    return peer.lookup_or_insert(key, if_absent, out);
  } else {
    if (peer.lookup(key, out))
      return true;
    failures += peer.update(key, if_absent) == UpdateResult::failed ? 1 : 0;
    return false;
  }
}

// Returns the table for (Peer, size, C), built on first use; nullptr and `error` on failure.
template <class Peer, Case C>
Peer* table(std::uint32_t size, const LruStreams& ks, TableSlot*& slot, std::string& error) {
  TableSlot& s = table_slot();
  slot = &s;
  const std::lock_guard lock(s.mu);
  const std::string tag =
      std::string(Peer::kName) + "/" + std::to_string(size) + "/" + std::string(case_name(C));
  if (s.tag != tag) {
    s.table.reset();  // destroy the previous table first: memory
    s.error.clear();
    for (auto& h : s.hit) {
      h.clear();
      h.shrink_to_fit();
    }
    s.present = 0;
    s.fill_evictions = 0;
    s.tag = tag;
    try {
      auto t = std::make_shared<Peer>(size);
      const int cpus = xmaps::possible_cpus();
      std::uint64_t failures = 0;
      if constexpr (C == Case::zipf_mixed) {
        // Warm-up: the first `warm` draws of thread 0's stream (every thread's timed runs
        // then go on from draw `warm` of its own stream, below).
        Value16 v{};
        const std::size_t warm =
            std::min(ks.zipf[0].size(),
                     std::max<std::size_t>(std::size_t{kZipfWarmFactor} * size, kMinZipfWarm));
        for (std::size_t i = 0; i < warm; ++i) {
          const xmaps::CpuBinding bind(static_cast<int>((i / kWarmChunk) % cpus));
          lookup_or_insert(*t, ks.zipf[0][i], value_for(i), v, failures);
        }
        // Thread 0 goes on from the warm-up; the others start their own streams at the same
        // draw (their first `warm` draws are never used: the map is warm already).
        s.cursor.fill(warm);
      } else {
        for (std::uint32_t i = 0; i < size; ++i) {
          const xmaps::CpuBinding bind(static_cast<int>(i % static_cast<std::uint32_t>(cpus)));
          failures += t->update(ks.fill[i], value_for(i)) == UpdateResult::failed ? 1 : 0;
        }
        s.fill_evictions = evictions_of(*t);
        s.cursor.fill(0);
      }
      if (failures != 0)
        throw std::runtime_error(std::to_string(failures) + " updates failed while filling");
      if constexpr (C == Case::lookup_hit) {
        // The hit stream draws from the fill keys still present (all of them unless the peer
        // evicted during the fill).
        std::vector<std::uint32_t> present;
        if constexpr (requires { t->contains(ks.fill[0]); }) {
          for (const std::uint32_t k : ks.fill) {
            if (t->contains(k))
              present.push_back(k);
          }
        } else {
          present = ks.fill;  // TBB: evicts only past `capacity` entries, so all are present
        }
        if (present.empty())
          throw std::runtime_error("no fill key present after the fill");
        s.hit = hit_streams(present, size);
        s.cursor.fill(0);
        s.present = present.size();
      } else if constexpr (requires { t->size(); }) {
        s.present = t->size();
      } else {
        s.present = C == Case::zipf_mixed ? 0 : size;  // TBB after the fill: exactly `size`
      }
      s.table = std::move(t);
    } catch (const std::exception& e) {
      s.error = std::string(Peer::kName) + ": " + e.what();
    }
  }
  error = s.error;
  return static_cast<Peer*>(s.table.get());
}

template <class Peer, Case C>
void bm_lru(benchmark::State& state, std::uint32_t size) {
  const int cpu = state.thread_index() % xmaps::possible_cpus();
  const xmaps::CpuBinding binding(cpu);
  const PinToCpu pin(cpu);
  const LruStreams& ks = streams(size);
  TableSlot* slot = nullptr;
  std::string error;
  Peer* const peer = table<Peer, C>(size, ks, slot, error);
  if (peer == nullptr || !pin.pinned()) {
    state.SkipWithError(peer == nullptr ? error.c_str() : "sched_setaffinity failed");
    for (auto _ : state) {  // every thread must pass the start/stop barriers
    }
    return;
  }

  const auto t = static_cast<std::size_t>(state.thread_index());
  std::size_t i = slot->cursor[t];
  std::uint64_t hits = 0;
  std::uint64_t failures = 0;
  // Only thread 0 reads the eviction counter: before the start barrier (no thread is timing
  // yet) and after the stop barrier (every thread is done).
  const std::uint64_t evictions_before = t == 0 ? evictions_of(*peer) : 0;

  if constexpr (C == Case::evicting_update) {
    const std::uint32_t* const keys = ks.ring[t].data();
    const std::size_t mask = ks.ring_mask;
    for (auto _ : state) {
      const UpdateResult r = peer->update(keys[i & mask], value_for(i));
      failures += (r == UpdateResult::added || r == UpdateResult::done) ? 0 : 1;
      ++i;
    }
  } else if constexpr (C == Case::lookup_hit) {
    const std::uint32_t* const keys = slot->hit[t].data();
    const std::size_t mask = slot->hit[t].size() - 1;
    for (auto _ : state) {
      Value16 v;  // NOLINT(cppcoreguidelines-pro-type-member-init): read only after a hit
      if (peer->lookup(keys[i & mask], v)) {
        ++hits;
        benchmark::DoNotOptimize(v);
      }
      ++i;
    }
  } else {
    const std::uint32_t* const keys = ks.zipf[t].data();
    const std::size_t mask = ks.zipf[t].size() - 1;
    for (auto _ : state) {
      Value16 v;  // NOLINT(cppcoreguidelines-pro-type-member-init): read only after a hit
      if (lookup_or_insert(*peer, keys[i & mask], value_for(i), v, failures)) {
        ++hits;
        benchmark::DoNotOptimize(v);
      }
      ++i;
    }
  }
  slot->cursor[t] = i;

  const auto items = static_cast<std::int64_t>(state.iterations());
  state.SetItemsProcessed(items);
  if constexpr (C == Case::evicting_update) {
    if (t == 0 && requires { peer->evictions(); }) {
      state.counters["evictions_per_update"] =
          benchmark::Counter(static_cast<double>(evictions_of(*peer) - evictions_before),
                             benchmark::Counter::kAvgIterations);
    }
  } else {
    state.counters[C == Case::lookup_hit ? "hit_rate" : "hit_ratio"] =
        benchmark::Counter(static_cast<double>(hits), benchmark::Counter::kAvgIterations);
    if (C == Case::lookup_hit && hits != static_cast<std::uint64_t>(items))
      failures += static_cast<std::uint64_t>(items) - hits;
  }
  std::string label = Peer::describe() + " key=u32 value=16B size=" + std::to_string(size);
  if constexpr (C == Case::zipf_mixed) {
    char share[32];
    std::snprintf(share, sizeof share, "%.3f", ks.zipf_top_share);
    label += " zipf s=0.99 keys=4xsize top-size share=" + std::string(share);
  } else {
    label += " fill=" + std::to_string(slot->present) + "/" + std::to_string(size);
    if (slot->fill_evictions != 0)
      label += " fill_evictions=" + std::to_string(slot->fill_evictions);
  }
  state.SetLabel(label);
  if (failures != 0) {
    state.SkipWithError(("verification failed: " + std::to_string(failures) +
                         " operations did not do what the case requires")
                            .c_str());
  }
}

// --- The kernel's LRU_HASH, driven from a BPF program (support/kernel_hash.h) ---------------

// "kernel_lru_common" / "kernel_lru_nocommon": the same key streams as the other peers, run by
// the kernel in BPF_PROG_TEST_RUN calls of kKernelRepeat x KernelHash::kOpsPerRun operations; one
// benchmark iteration is one call. Wall time, as for every peer (the syscall's own cost is
// spread over 1024 operations).
constexpr std::uint32_t kKernelRepeat = 16;

struct KernelTable {
  std::unique_ptr<KernelHash> kernel;
  std::size_t present = 0;
};

template <std::uint32_t kFlags>
constexpr std::string_view kernel_name() {
  return (kFlags & BPF_F_NO_COMMON_LRU) != 0 ? "kernel_lru_nocommon" : "kernel_lru_common";
}

template <std::uint32_t kFlags, Case C>
KernelTable* kernel_table(std::uint32_t size, const LruStreams& ks, std::string& error) {
  static_assert(C != Case::zipf_mixed, "no Zipf workload for the kernel peer");
  TableSlot& s = table_slot();
  const std::lock_guard lock(s.mu);
  const std::string tag = std::string(kernel_name<kFlags>()) + "/" + std::to_string(size) + "/" +
                          std::string(case_name(C));
  if (s.tag != tag) {
    s.table.reset();
    s.error.clear();
    s.present = 0;
    s.fill_evictions = 0;
    s.tag = tag;
    try {
      auto t = std::make_shared<KernelTable>();
      const std::size_t ring = ks.ring_mask + 1;
      const std::size_t hit_len = std::bit_ceil(std::max<std::size_t>(size, kMinStream));
      const auto slots =
          static_cast<std::uint32_t>((C == Case::evicting_update ? ring : hit_len) * kMaxThreads);
      t->kernel = std::make_unique<KernelHash>(
          BPF_MAP_TYPE_LRU_HASH, size, kFlags, slots,
          C == Case::evicting_update ? KernelHash::Op::update : KernelHash::Op::lookup);
      KernelHash& k = *t->kernel;
      // The fill, from user space, the CPUs taking turns in chunks small enough that every CPU
      // gets its share of a per-CPU LRU (the xmaps peers alternate per insert).
      const int cpus = k.cpus();
      const std::uint32_t chunk =
          std::clamp<std::uint32_t>(size / (4U * static_cast<std::uint32_t>(cpus)), 1, 1024);
      for (std::uint32_t at = 0, turn = 0; at < size; at += chunk, ++turn) {
        const PinToCpu pin(static_cast<int>(turn % static_cast<std::uint32_t>(cpus)));
        k.insert(ks.fill.data() + at, std::min(chunk, size - at));
      }
      std::vector<std::uint32_t> present;
      for (const std::uint32_t key : ks.fill) {
        if (k.contains(key))
          present.push_back(key);
      }
      if (present.empty())
        throw std::runtime_error("no fill key present after the fill");
      t->present = present.size();
      std::vector<KernelHash::State> st(static_cast<std::size_t>(cpus));
      if constexpr (C == Case::evicting_update) {
        for (std::uint32_t th = 0; th < kMaxThreads; ++th)
          k.set_keys(th * static_cast<std::uint32_t>(ring), ks.ring[th]);
        for (std::size_t c = 0; c < st.size(); ++c) {
          st[c].base = (c % kMaxThreads) * ring;
          st[c].mask = ring - 1;
        }
      } else {
        // The hit streams of the xmaps peers: same seeds, same draws over the present keys;
        // the thread pinned to CPU c runs stream c % kMaxThreads.
        const auto hit = hit_streams(present, size);
        for (std::uint32_t th = 0; th < kMaxThreads; ++th)
          k.set_keys(th * static_cast<std::uint32_t>(hit_len), hit[th]);
        for (std::size_t c = 0; c < st.size(); ++c) {
          st[c].base = (c % kMaxThreads) * hit_len;
          st[c].mask = hit_len - 1;
        }
      }
      k.set_states(st);
      s.present = t->present;
      s.table = std::move(t);
    } catch (const std::exception& e) {
      s.error = std::string(kernel_name<kFlags>()) + ": " + e.what();
    }
  }
  error = s.error;
  return static_cast<KernelTable*>(s.table.get());
}

template <std::uint32_t kFlags, Case C>
void bm_kernel_lru(benchmark::State& state, std::uint32_t size) {
  const int cpu = state.thread_index() % xmaps::testing::kernel_possible_cpus();
  const PinToCpu pin(cpu);
  const LruStreams& ks = streams(size);
  std::string error;
  KernelTable* const t = kernel_table<kFlags, C>(size, ks, error);
  if (t == nullptr || !pin.pinned() || pin.cpu() != cpu) {
    state.SkipWithError(t == nullptr ? error.c_str() : "could not pin to the thread's CPU");
    for (auto _ : state) {  // every thread must pass the start/stop barriers
    }
    return;
  }
  const KernelHash& k = *t->kernel;
  const auto slot = static_cast<std::size_t>(cpu);
  const std::uint64_t ok_before = k.states()[slot].ok;
  std::string failure;
  for (auto _ : state) {
    try {
      k.run(kKernelRepeat);
    } catch (const std::exception& e) {
      failure = e.what();
      state.SkipWithError(failure.c_str());
      break;
    }
  }
  const auto ops = static_cast<std::uint64_t>(state.iterations()) * kKernelRepeat *
                   static_cast<std::uint64_t>(KernelHash::kOpsPerRun);
  state.SetItemsProcessed(static_cast<std::int64_t>(ops));
  const std::uint64_t ok = k.states()[slot].ok - ok_before;
  if (C == Case::lookup_hit) {
    state.counters["hit_rate"] =
        benchmark::Counter(ops == 0 ? 0.0 : static_cast<double>(ok) / static_cast<double>(ops),
                           benchmark::Counter::kAvgThreads);
  }
  state.SetLabel("the kernel's LRU_HASH from a BPF program (BPF_PROG_TEST_RUN), flags=" +
                 std::string((kFlags & BPF_F_NO_COMMON_LRU) != 0 ? "BPF_F_NO_COMMON_LRU" : "0") +
                 " key=u32 value=16B size=" + std::to_string(size) +
                 " fill=" + std::to_string(t->present) + "/" + std::to_string(size));
  if (failure.empty() && ok != ops) {
    state.SkipWithError(("verification failed: " + std::to_string(ops - ok) + " of " +
                         std::to_string(ops) + " operations did not do what the case requires")
                            .c_str());
  }
}

template <std::uint32_t kFlags, Case C>
void add_kernel(std::uint32_t size) {
  const std::string name = "BM_" + std::string(case_name(C)) + "/" +
                           std::string(kernel_name<kFlags>()) + "/u32/" + size_name(size);
  benchmark::RegisterBenchmark(name.c_str(), bm_kernel_lru<kFlags, C>, size)
      ->UseRealTime()
      ->Threads(1)
      ->Threads(2);
}

template <std::uint32_t kFlags>
void add_kernel_peer(std::uint32_t size) {
  add_kernel<kFlags, Case::evicting_update>(size);
  add_kernel<kFlags, Case::lookup_hit>(size);
}

// --- Registration: size -> peer -> case -> threads, so each table is built once. ---

template <class Peer, Case C>
void add(std::uint32_t size) {
  const std::string name = "BM_" + std::string(case_name(C)) + "/" + std::string(Peer::kName) +
                           "/u32/" + size_name(size);
  benchmark::RegisterBenchmark(name.c_str(), bm_lru<Peer, C>, size)
      ->UseRealTime()
      ->Threads(1)
      ->Threads(2);
}

template <class Peer>
void add_peer(std::uint32_t size) {
  add<Peer, Case::evicting_update>(size);
  add<Peer, Case::lookup_hit>(size);
  add<Peer, Case::zipf_mixed>(size);
}

void register_all() {
  using K = std::uint32_t;
  constexpr std::array<std::uint32_t, 3> kSizes = {1U << 10, 1U << 16, 1U << 20};
  std::string why;
  const bool kernel = KernelHash::available(&why);
  if (!kernel)
    std::cerr << "lru_bench: the kernel peers are skipped: " << why << '\n';
  for (const std::uint32_t size : kSizes) {
    if (kernel) {
      add_kernel_peer<0>(size);
      add_kernel_peer<BPF_F_NO_COMMON_LRU>(size);
    }
    add_peer<XmapsLruPeer<K, 0>>(size);
    add_peer<XmapsLruPeer<K, xmaps::map_flag::kNoCommonLru>>(size);
    add_peer<MutexLruPeer<K, false>>(size);
    add_peer<MutexLruPeer<K, true>>(size);
#if XMAPS_BENCH_HAVE_TBB_LRU
    add_peer<TbbLruPeer<K>>(size);
#endif
  }
}

}  // namespace

int main(int argc, char** argv) try {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  release_cached_table();
  benchmark::Shutdown();
  return 0;
} catch (const std::exception& e) {
  std::cerr << "lru_bench: " << e.what() << '\n';
  return 1;
}
