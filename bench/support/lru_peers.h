// SPDX-License-Identifier: MIT
//
// Peer LRU caches for bench/lru_bench.cc, each behind the same small facade so one benchmark
// body drives them all (the facade of support/adapters.h, cut to what an LRU cache does):
//
//   explicit Peer(std::uint32_t capacity);          // holds at most `capacity` entries; may throw
//   bool lookup(const K&, Value16& out);            // hit: copy the value out and make the entry
//                                                   // the most recently used; false on a miss
//   UpdateResult update(const K&, const Value16&);  // insert or overwrite; evicts the least
//                                                   // recently used entry when full
//   static constexpr std::string_view kName;        // the <peer> in BM_<Case>/<peer>/...
//   static std::string describe();                  // for the benchmark label
// Optional (the benchmark body checks with `requires`):
//   bool contains(const K&);            // membership, without touching the recency order
//   std::size_t size();                 // entries now
//   std::uint64_t evictions();          // entries evicted so far
//   bool lookup_or_insert(const K&, const Value16& if_absent, Value16& out);
//                                       // one call for "look up, insert on a miss" (peers whose
//                                       // only operation is that, i.e. TBB); true on a hit
//
// Every peer here is safe to call from several threads at once.
//
//   MutexLruPeer<K, false>  "mutex_lru_alloc": std::mutex + std::list + std::unordered_map; an
//                           insert into a full cache erases the back node and allocates a fresh
//                           one (variant A)
//   MutexLruPeer<K, true>   "mutex_lru_reuse": the same, but the evicted entry's list node is
//                           spliced to the front and overwritten, and its unordered_map node is
//                           re-keyed through extract()/insert(node_handle): no allocation after
//                           the cache is full (variant B)
//   TbbLruPeer<K>           "tbb_lru_cache": oneTBB's preview tbb::concurrent_lru_cache (only if
//                           CMake found it: XMAPS_BENCH_HAVE_TBB_LRU)
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "support/keys.h"

#if XMAPS_BENCH_HAVE_TBB_LRU
#define TBB_PREVIEW_CONCURRENT_LRU_CACHE 1
#include <oneapi/tbb/concurrent_lru_cache.h>
#endif

namespace xmaps_bench {

// What an update did, as far as the peer can tell.
enum class UpdateResult {
  added,     // the key was new (and, in a full cache, an entry was evicted)
  replaced,  // the key was present; its value was overwritten
  done,      // added or replaced; the peer does not say which (xmaps: BPF_ANY returns 0 for both)
  failed,    // an error (xmaps: an Errc other than ok)
};

// A least-recently-used cache of at most `capacity` entries: one std::mutex around a
// std::list<std::pair<K, V>> in recency order (front = most recent) and a
// std::unordered_map<K, list iterator>. get() moves the entry to the front; put() overwrites a
// present key and moves it to the front, or inserts at the front, evicting the back entry when
// the cache is full.
//
// kReuseNodes == false (variant A): eviction erases the back node (list node and map node
// freed) and a new key gets freshly allocated nodes, i.e. two frees and two allocations per
// evicting insert.
// kReuseNodes == true (variant B): eviction splices the back list node to the front and
// overwrites its key and value, and moves the victim's unordered_map node to the new key with
// extract() + insert(node_handle): no allocation at all once the cache is full.
template <class K, class V, bool kReuseNodes, class Hash = std::hash<K>>
class MutexLru {
 public:
  // capacity >= 1.
  explicit MutexLru(std::size_t capacity) : capacity_(capacity) { index_.reserve(capacity); }

  // On a hit: copies the value to `out`, makes the entry the most recent, returns true.
  bool get(const K& key, V& out) {
    const std::lock_guard lock(mu_);
    const auto it = index_.find(key);
    if (it == index_.end())
      return false;
    list_.splice(list_.begin(), list_, it->second);
    out = it->second->second;
    return true;
  }

  // Inserts or overwrites; the entry becomes the most recent. Returns true if the key was new.
  bool put(const K& key, const V& value) {
    const std::lock_guard lock(mu_);
    const auto it = index_.find(key);
    if (it != index_.end()) {
      it->second->second = value;
      list_.splice(list_.begin(), list_, it->second);
      return false;
    }
    if (index_.size() < capacity_) {
      list_.emplace_front(key, value);
      index_.emplace(key, list_.begin());
      return true;
    }
    ++evictions_;
    if constexpr (kReuseNodes) {
      // The victim's list node moves to the front (iterators stay valid across splice), and its
      // map node, whose mapped iterator already points at that list node, is re-keyed.
      const auto victim = std::prev(list_.end());
      list_.splice(list_.begin(), list_, victim);
      auto node = index_.extract(victim->first);
      victim->first = key;
      victim->second = value;
      node.key() = key;
      index_.insert(std::move(node));
    } else {
      index_.erase(list_.back().first);
      list_.pop_back();
      list_.emplace_front(key, value);
      index_.emplace(key, list_.begin());
    }
    return true;
  }

  // Membership without touching the recency order.
  bool contains(const K& key) {
    const std::lock_guard lock(mu_);
    return index_.find(key) != index_.end();
  }
  std::size_t size() {
    const std::lock_guard lock(mu_);
    return index_.size();
  }
  std::uint64_t evictions() {
    const std::lock_guard lock(mu_);
    return evictions_;
  }

 private:
  using List = std::list<std::pair<K, V>>;
  std::mutex mu_;
  List list_;
  std::unordered_map<K, typename List::iterator, Hash> index_;
  const std::size_t capacity_;
  std::uint64_t evictions_ = 0;
};

template <class K, bool kReuseNodes>
class MutexLruPeer {
 public:
  static constexpr std::string_view kName = kReuseNodes ? "mutex_lru_reuse" : "mutex_lru_alloc";
  static std::string describe() {
    return kReuseNodes ? "std::mutex+std::list+std::unordered_map, evicted nodes reused (B)"
                       : "std::mutex+std::list+std::unordered_map, fresh node per insert (A)";
  }

  explicit MutexLruPeer(std::uint32_t capacity) : lru_(capacity) {}

  bool lookup(const K& k, Value16& out) { return lru_.get(k, out); }
  UpdateResult update(const K& k, const Value16& v) {
    return lru_.put(k, v) ? UpdateResult::added : UpdateResult::replaced;
  }
  bool contains(const K& k) { return lru_.contains(k); }
  std::size_t size() { return lru_.size(); }
  std::uint64_t evictions() { return lru_.evictions(); }

 private:
  MutexLru<K, Value16, kReuseNodes, DefaultHash<K>> lru_;
};

#if XMAPS_BENCH_HAVE_TBB_LRU
// oneTBB's tbb::concurrent_lru_cache<K, V, F> (preview). It is not a map with an update call but
// a cache of a value function: operator[](key) returns a handle to the key's value, computing
// it with F(key) on a miss (on the calling thread) and inserting it. While a handle lives, its
// entry cannot be evicted; when the last handle to an entry goes away, the entry goes to the
// front of the history list, and when that list holds `capacity` entries the least recently
// used one is evicted. All bookkeeping runs under one TBB aggregator (operations are queued and
// applied by one thread at a time), the index is a std::map and the history a std::list, so
// every operator[] is two aggregated operations (retrieve; end of use when the handle dies).
//
// How the benchmark's operations map onto it (handles are dropped at once, so every entry is in
// the history and the cache holds at most `capacity` entries):
//   "update with a new key" (evicting update)  operator[] on a key not in the cache: F runs,
//                                              the entry is inserted, and releasing the handle
//                                              evicts the least recently used entry. The value
//                                              stored is F(key) = value_for(key), not the
//                                              caller's: a present key cannot be overwritten,
//                                              so update() reports `replaced` if F did not run.
//   "lookup hit"                               operator[] on a present key; the value is read
//                                              through the handle; a hit iff F did not run.
//   "look up, insert on a miss" (Zipf mixed)   one operator[] (lookup_or_insert()).
// Whether F ran is counted per thread (F runs on the thread that called operator[]).
template <class K>
class TbbLruPeer {
 public:
  static constexpr std::string_view kName = "tbb_lru_cache";
  static std::string describe() {
    return "tbb::concurrent_lru_cache (preview; std::map + std::list under an aggregator), "
           "value = F(key)";
  }

  explicit TbbLruPeer(std::uint32_t capacity) : cache_(ValueFn{}, capacity) {}

  bool lookup(const K& k, Value16& out) {
    const std::uint64_t before = ValueFn::calls();
    auto handle = cache_[k];
    out = handle.value();
    return ValueFn::calls() == before;
  }
  UpdateResult update(const K& k, const Value16& /*ignored: the value is F(k)*/) {
    const std::uint64_t before = ValueFn::calls();
    { auto handle = cache_[k]; }
    return ValueFn::calls() != before ? UpdateResult::added : UpdateResult::replaced;
  }
  bool lookup_or_insert(const K& k, const Value16& /*ignored: the value is F(k)*/, Value16& out) {
    return lookup(k, out);
  }

 private:
  struct ValueFn {
    static std::uint64_t& calls() noexcept {
      thread_local std::uint64_t n = 0;
      return n;
    }
    Value16 operator()(K k) const noexcept {
      ++calls();
      return value_for(static_cast<std::uint64_t>(k));
    }
  };
  tbb::concurrent_lru_cache<K, Value16, ValueFn> cache_;
};
#endif

}  // namespace xmaps_bench
