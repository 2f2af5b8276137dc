// SPDX-License-Identifier: MIT
//
// xmaps::HashMap<K, Value16> behind the benchmark facade (see adapters.h), preallocated
// (flags 0), max_entries = the table size. Its own hash (jhash with a random seed, as the
// kernel's htab) cannot be replaced, so it is the one xmaps uses for both key types.
//
//   lookup        lookup() -> pointer, then the value is read through it (a BPF program's view)
//   lookup_copy   lookup_copy() -> std::optional<V> (consistent copy, seq-checked)
//   lookup_many   lookup_many() on kBulk keys -> pointers, then each hit's value is read
//   update        update(key, value, UpdateFlag::any) (BPF_ANY), a replace for present keys
//   insert        update(key, value, UpdateFlag::no_exist)
//   erase         erase()
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <xmaps/hash_map.h>

#include "support/keys.h"

namespace xmaps_bench {

template <class K>
class XmapsPeer {
 public:
  static constexpr std::string_view kName = "Xmaps";
  static constexpr bool kConcurrent = true;
  static constexpr std::uint32_t kBulk = 32;
  struct ThreadScope {};
  static std::string describe() { return "xmaps::HashMap prealloc hash=jhash(seeded)"; }

  explicit XmapsPeer(std::uint32_t max_entries) : map_(max_entries) {}

  bool insert(const K& k, const Value16& v) {
    return map_.update(k, v, xmaps::UpdateFlag::no_exist) == xmaps::Errc::ok;
  }
  bool lookup(const K& k, Value16& out) {
    const Value16* p = map_.lookup(k);
    if (p == nullptr)
      return false;
    out = *p;
    return true;
  }
  bool lookup_copy(const K& k, Value16& out) const {
    const std::optional<Value16> v = map_.lookup_copy(k);
    if (!v)
      return false;
    out = *v;
    return true;
  }
  // keys[0..kBulk) -> out[i] for each hit; returns the hit count.
  std::size_t lookup_many(const K* keys, Value16* out) {
    Value16* ptrs[kBulk];
    const std::size_t hits =
        map_.lookup_many(std::span<const K>(keys, kBulk), std::span<Value16*>(ptrs));
    for (std::uint32_t i = 0; i < kBulk; ++i) {
      if (ptrs[i] != nullptr)
        out[i] = *ptrs[i];
    }
    return hits;
  }
  bool update(const K& k, const Value16& v) {
    return map_.update(k, v, xmaps::UpdateFlag::any) == xmaps::Errc::ok;
  }
  bool erase(const K& k) { return map_.erase(k) == xmaps::Errc::ok; }

 private:
  xmaps::HashMap<K, Value16> map_;
};

}  // namespace xmaps_bench
