// SPDX-License-Identifier: MIT
//
// Adapters that give each peer hash map the same small facade, so one benchmark body drives
// them all (atomic_queue's and rigtorp's way of comparing queues):
//
//   explicit Peer(std::uint32_t max_entries);      // sized for max_entries keys; may throw
//   bool insert(const K&, const Value16&);         // new key; false if present or full
//   bool lookup(const K&, Value16& out);           // find and copy the value out
//   bool update(const K&, const Value16&);         // overwrite an existing key; false if absent
//   bool erase(const K&);                          // false if absent
//   struct ThreadScope;   // RAII per benchmark thread: RCU/HP/lcore registration where needed
//   static constexpr std::string_view kName;       // the <Peer> in BM_<Peer><Case>
//   static constexpr bool kConcurrent;             // may run with several threads
//   static std::string describe();                 // for the benchmark label
//
// ThreadScope must nest (a thread already registered stays registered), since a table may be
// built or destroyed on a thread that is inside another peer's or the same peer's scope.
//
// Each peer is compiled only when CMake found its package (XMAPS_BENCH_HAVE_<PEER>); peers that
// need more than a few lines live in their own header next to this one.
#pragma once

#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>

#include "support/keys.h"

#if XMAPS_BENCH_HAVE_ABSL
#include <absl/container/flat_hash_map.h>
#endif
#if XMAPS_BENCH_HAVE_TBB
#include <oneapi/tbb/concurrent_hash_map.h>
#endif
#if XMAPS_BENCH_HAVE_CUCKOO
#include <libcuckoo/cuckoohash_map.hh>
#endif

namespace xmaps_bench {

// No registration needed.
struct NoThreadScope {};

// std::unordered_map behind one std::shared_mutex: readers share the lock, writers own it.
template <class K>
class StdMutexPeer {
 public:
  static constexpr std::string_view kName = "StdMutex";
  static constexpr bool kConcurrent = true;
  using ThreadScope = NoThreadScope;
  static std::string describe() {
    return std::is_same_v<K, Key16> ? "std::unordered_map+std::shared_mutex hash=Key16Hash"
                                    : "std::unordered_map+std::shared_mutex hash=std::hash";
  }

  explicit StdMutexPeer(std::uint32_t max_entries) { map_.reserve(max_entries); }

  bool insert(const K& k, const Value16& v) {
    std::unique_lock lock(mu_);
    return map_.try_emplace(k, v).second;
  }
  bool lookup(const K& k, Value16& out) {
    std::shared_lock lock(mu_);
    const auto it = map_.find(k);
    if (it == map_.end())
      return false;
    out = it->second;
    return true;
  }
  bool update(const K& k, const Value16& v) {
    std::unique_lock lock(mu_);
    return !map_.insert_or_assign(k, v).second;
  }
  bool erase(const K& k) {
    std::unique_lock lock(mu_);
    return map_.erase(k) == 1;
  }

 private:
  std::shared_mutex mu_;
  std::unordered_map<K, Value16, DefaultHash<K>> map_;
};

#if XMAPS_BENCH_HAVE_ABSL
// absl::flat_hash_map (SwissTable). Not thread-safe: 1 thread only.
template <class K>
class AbslPeer {
 public:
  static constexpr std::string_view kName = "Absl";
  static constexpr bool kConcurrent = false;
  using ThreadScope = NoThreadScope;
  static std::string describe() {
    return std::is_same_v<K, Key16> ? "absl::flat_hash_map hash=Key16Hash"
                                    : "absl::flat_hash_map hash=absl::Hash";
  }

  explicit AbslPeer(std::uint32_t max_entries) { map_.reserve(max_entries); }

  bool insert(const K& k, const Value16& v) { return map_.try_emplace(k, v).second; }
  bool lookup(const K& k, Value16& out) const {
    const auto it = map_.find(k);
    if (it == map_.end())
      return false;
    out = it->second;
    return true;
  }
  bool update(const K& k, const Value16& v) { return !map_.insert_or_assign(k, v).second; }
  bool erase(const K& k) { return map_.erase(k) == 1; }

 private:
  using Hash = std::conditional_t<std::is_same_v<K, Key16>, Key16Hash, absl::Hash<K>>;
  absl::flat_hash_map<K, Value16, Hash> map_;
};
#endif

#if XMAPS_BENCH_HAVE_TBB
// oneTBB concurrent_hash_map: per-bucket reader-writer locks, taken through accessors.
template <class K>
class TbbPeer {
 public:
  static constexpr std::string_view kName = "Tbb";
  static constexpr bool kConcurrent = true;
  using ThreadScope = NoThreadScope;
  static std::string describe() {
    return std::is_same_v<K, Key16>
               ? "tbb::concurrent_hash_map const_accessor/accessor hash=Key16Hash"
               : "tbb::concurrent_hash_map const_accessor/accessor hash=tbb_hash_compare";
  }

  explicit TbbPeer(std::uint32_t max_entries) : map_(max_entries) {}

  bool insert(const K& k, const Value16& v) {
    return map_.insert(std::pair<const K, Value16>(k, v));
  }
  bool lookup(const K& k, Value16& out) const {
    typename Map::const_accessor acc;
    if (!map_.find(acc, k))
      return false;
    out = acc->second;
    return true;
  }
  // TBB's upsert idiom: insert(accessor, key) finds or inserts and write-locks the element.
  bool update(const K& k, const Value16& v) {
    typename Map::accessor acc;
    const bool inserted = map_.insert(acc, k);
    acc->second = v;
    return !inserted;
  }
  bool erase(const K& k) { return map_.erase(k); }

 private:
  struct Key16Compare {
    static std::size_t hash(const Key16& k) { return Key16Hash{}(k); }
    static bool equal(const Key16& a, const Key16& b) { return a == b; }
  };
  using Compare =
      std::conditional_t<std::is_same_v<K, Key16>, Key16Compare, tbb::tbb_hash_compare<K>>;
  using Map = tbb::concurrent_hash_map<K, Value16, Compare>;
  Map map_;
};
#endif

#if XMAPS_BENCH_HAVE_CUCKOO
// libcuckoo cuckoohash_map: striped spinlocks, find/insert_or_assign/erase.
template <class K>
class CuckooPeer {
 public:
  static constexpr std::string_view kName = "Cuckoo";
  static constexpr bool kConcurrent = true;
  using ThreadScope = NoThreadScope;
  static std::string describe() {
    return std::is_same_v<K, Key16> ? "libcuckoo::cuckoohash_map hash=Key16Hash"
                                    : "libcuckoo::cuckoohash_map hash=std::hash";
  }

  explicit CuckooPeer(std::uint32_t max_entries) : map_(max_entries) {}

  bool insert(const K& k, const Value16& v) { return map_.insert(k, v); }
  bool lookup(const K& k, Value16& out) const { return map_.find(k, out); }
  bool update(const K& k, const Value16& v) { return !map_.insert_or_assign(k, v); }
  bool erase(const K& k) { return map_.erase(k); }

 private:
  libcuckoo::cuckoohash_map<K, Value16, DefaultHash<K>> map_;
};
#endif

}  // namespace xmaps_bench

#if XMAPS_BENCH_HAVE_URCU
#include "support/urcu_adapter.h"
#endif
#if XMAPS_BENCH_HAVE_CDS
#include "support/cds_adapter.h"
#endif
#if XMAPS_BENCH_HAVE_DPDK
#include "support/dpdk_adapter.h"
#endif
