// SPDX-License-Identifier: MIT
//
// libcds MichaelHashMap (a fixed bucket array of lock-free ordered lists, Michael 2002) over
// MichaelKVList, with hazard pointers (cds::gc::HP) for safe memory reclamation.
//
// libcds needs, as its documentation requires:
//   cds::Initialize() and one cds::gc::HP object for the whole program  -> CdsRuntime (main());
//   every thread that touches a map attached to the threading manager   -> ThreadScope.
// Lookups copy the value in the find() functor. update() of an existing key writes the value in
// place in the update() functor (libcds's documented way; the functor runs on the node without a
// lock, so the write is two relaxed 8-byte stores). insert() allocates a node, erase() retires it
// to the hazard-pointer GC.
//
// Buckets: nLoadFactor = 1, so bit_ceil(max_entries) buckets.
#pragma once

#include <cds/container/michael_kvlist_hp.h>
#include <cds/container/michael_map.h>
#include <cds/gc/hp.h>
#include <cds/init.h>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "support/keys.h"

namespace xmaps_bench {

// The libcds runtime: construct once in main() before any benchmark runs, destroy after.
class CdsRuntime {
 public:
  CdsRuntime() = default;
  CdsRuntime(const CdsRuntime&) = delete;
  CdsRuntime& operator=(const CdsRuntime&) = delete;

 private:
  // Members are built in order and destroyed in reverse: Initialize, HP ... ~HP, Terminate.
  struct Library {
    Library() { cds::Initialize(); }
    ~Library() { cds::Terminate(); }
  };
  Library library_;
  // Defaults: 8 hazard pointers per thread, up to 100 threads.
  cds::gc::HP hp_;
};

template <class K>
class CdsPeer {
 public:
  static constexpr std::string_view kName = "Cds";
  static constexpr bool kConcurrent = true;
  static std::string describe() {
    return std::is_same_v<K, Key16> ? "libcds MichaelHashMap<HP,MichaelKVList> hash=Key16Hash"
                                    : "libcds MichaelHashMap<HP,MichaelKVList> hash=std::hash";
  }

  // Attaches the calling thread to libcds for its lifetime, unless it already is.
  class ThreadScope {
   public:
    ThreadScope() : owner_(!cds::threading::Manager::isThreadAttached()) {
      if (owner_)
        cds::threading::Manager::attachThread();
    }
    ~ThreadScope() {
      if (owner_)
        cds::threading::Manager::detachThread();
    }
    ThreadScope(const ThreadScope&) = delete;
    ThreadScope& operator=(const ThreadScope&) = delete;

   private:
    bool owner_;
  };

  explicit CdsPeer(std::uint32_t max_entries) : map_(max_entries, 1) {}
  ~CdsPeer() {
    ThreadScope scope;  // clear() retires nodes through the HP GC
    map_.clear();
  }
  CdsPeer(const CdsPeer&) = delete;
  CdsPeer& operator=(const CdsPeer&) = delete;

  bool insert(const K& k, const Value16& v) { return map_.insert(k, v); }
  bool lookup(const K& k, Value16& out) {
    return map_.find(k, [&out](typename Map::value_type& item) { out = item.second; });
  }
  bool update(const K& k, const Value16& v) {
    const auto [ok, inserted] = map_.update(
        k,
        [&v](bool /*is_new*/, typename Map::value_type& item) {
          store_value_relaxed(item.second, v);
        },
        /*bAllowInsert=*/false);
    return ok && !inserted;
  }
  bool erase(const K& k) { return map_.erase(k); }

 private:
  struct ListTraits : cds::container::michael_list::traits {
    using less = std::less<K>;
  };
  using List = cds::container::MichaelKVList<cds::gc::HP, K, Value16, ListTraits>;
  struct MapTraits : cds::container::michael_map::traits {
    using hash = DefaultHash<K>;
  };
  using Map = cds::container::MichaelHashMap<cds::gc::HP, List, MapTraits>;
  Map map_;
};

}  // namespace xmaps_bench
