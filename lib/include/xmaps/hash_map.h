// SPDX-License-Identifier: MIT
//
// HashMap<K, V>        ~ BPF_MAP_TYPE_HASH
// PercpuHashMap<K, V>  ~ BPF_MAP_TYPE_PERCPU_HASH
//
// Preallocated hash maps with the kernel's semantics (kernel/bpf/hashtab.c), typed: K and V
// are trivially copyable and copied as bytes, as BPF maps copy them. The engine and its
// concurrency contract are described in xmaps/detail/hash_table.h; in short:
//   - every operation may run concurrently with every other, on any thread;
//   - lookups take no lock and write no shared memory; writers lock only their bucket;
//   - a preallocated map allocates nothing after construction.
//
// Flags (constructor): map_flag::kNoPrealloc, map_flag::kZeroSeed (hash seed 0 instead of a
// random one: deterministic bucket order, but crafted keys can then collide on purpose),
// map_flag::kNumaNode (accepted for HashMap; memory placement comes with xmaps::topology).
//
// Errors (update/erase/...), as the kernel's: Errc::exists (no_exist on a present key),
// Errc::not_found (exist on a missing key, erase of a missing key), Errc::too_big (a new key in
// a full map; replacing a present key never fails), Errc::invalid (a flag value outside
// UpdateFlag), Errc::busy (the calling thread already holds the key's bucket lock).
//
// What lookup() hands out. lookup() returns a pointer into the element, as
// bpf_map_lookup_elem does, so values can be updated in place with atomics
// (std::atomic_ref<std::uint64_t>(v->packets).fetch_add(1)). Elements of a preallocated map are
// never freed, only recycled, so the pointer always points at valid memory of this map. An
// update of the key writes the new value into the same element (the pointer sees it); if the
// key is deleted meanwhile, the element may be reused for another key and the pointer then
// shows that key's value (the kernel's documented behaviour). Plain writes through
// the pointer race with other writers and with lookup_copy. For NO_PREALLOC maps, hold an
// RcuReadGuard (xmaps/rcu.h) while using the pointer: the element is then not recycled under
// it. lookup_copy() returns a consistent copy (never torn) and has neither hazard.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <type_traits>

#include "xmaps/concepts.h"
#include "xmaps/cpu.h"
#include "xmaps/detail/hash_table.h"
#include "xmaps/errc.h"
#include "xmaps/rcu.h"

namespace xmaps {

namespace detail {

// Enters an RCU read section for NO_PREALLOC maps only (preallocated maps need none). Only
// lock-free readers take it: writers hold the bucket lock, which keeps every element they can
// reach linked, and a writer may have to wait for a grace period (which a reader must not).
class MaybeRcu {
 public:
  explicit MaybeRcu(bool active) noexcept : active_(active) {
    if (active_)
      rcu_enter();
  }
  ~MaybeRcu() {
    if (active_)
      rcu_leave();
  }
  MaybeRcu(const MaybeRcu&) = delete;
  MaybeRcu& operator=(const MaybeRcu&) = delete;
  MaybeRcu(MaybeRcu&&) = delete;
  MaybeRcu& operator=(MaybeRcu&&) = delete;

 private:
  bool active_;
};

inline HashConfig typed_hash_config(std::uint32_t key_size, std::uint32_t value_size,
                                    std::uint32_t max_entries, std::uint32_t flags, bool percpu) {
  const std::uint32_t allowed =
      map_flag::kNoPrealloc | map_flag::kZeroSeed | (percpu ? 0U : map_flag::kNumaNode);
  if ((flags & ~allowed) != 0) {
    throw std::invalid_argument(
        "xmaps: hash map flags may be kNoPrealloc, kZeroSeed (and kNumaNode, not per-CPU)");
  }
  if (max_entries == 0)
    throw std::invalid_argument("xmaps: hash map max_entries must be > 0");
  HashConfig cfg;
  cfg.key_size = key_size;
  cfg.value_size = value_size;
  cfg.max_entries = max_entries;
  cfg.percpu = percpu;
  cfg.prealloc = (flags & map_flag::kNoPrealloc) == 0;
  cfg.zero_seed = (flags & map_flag::kZeroSeed) != 0;
  return cfg;
}

// The operations HashMap and PercpuHashMap share. `lookup` means the program's view: the value
// (HashMap) or the current CPU's slot (PercpuHashMap).
template <class K, class V, bool kPercpu>
class TypedHash {
 public:
  TypedHash(std::uint32_t max_entries, std::uint32_t flags)
      : table_(typed_hash_config(sizeof(K), sizeof(V), max_entries, flags, kPercpu)) {}

  // Creates or replaces the entry (the current CPU's slot for per-CPU maps; a new per-CPU
  // element starts with every other CPU's slot zeroed). Thread-safe, lock on one bucket.
  [[nodiscard]] Errc update(const K& key, const V& value,
                            UpdateFlag flag = UpdateFlag::any) noexcept {
    return table_.template update<sizeof(K), sizeof(V)>(
        &key, &value, static_cast<std::uint64_t>(flag), Side::program);
  }

  // Pointer into the element (see the header comment for its lifetime), or nullptr.
  // Lock-free; writes nothing shared.
  [[nodiscard]] V* lookup(const K& key) noexcept {
    if (!table_.config().prealloc) [[unlikely]]
      return lookup_in_rcu(key);
    return lookup_unguarded(key);
  }

  // A consistent copy of the value (current CPU's slot for per-CPU maps). Lock-free.
  [[nodiscard]] std::optional<V> lookup_copy(const K& key) const noexcept {
    MaybeRcu rcu(!table_.config().prealloc);
    V out{};
    if (table_.template copy_value<sizeof(K), sizeof(V)>(&key, &out, Side::program) != Errc::ok) {
      return std::nullopt;
    }
    return out;
  }

  // Looks up keys.size() keys at once, overlapping their cache misses (prefetching, in tables
  // larger than a core's L2 cache); writes a pointer (as lookup()) or nullptr to out[i] and
  // returns the number found. Only the first min(keys.size(), out.size()) keys are looked up:
  // nothing is written past out. Lock-free.
  std::size_t lookup_many(std::span<const K> keys, std::span<V*> out) noexcept {
    keys = keys.first(std::min(keys.size(), out.size()));
    MaybeRcu rcu(!table_.config().prealloc);
    constexpr std::size_t kChunk = 64;
    std::uint32_t idx[kChunk];
    std::size_t hits = 0;
    const int cpu = kPercpu ? current_cpu() : 0;
    for (std::size_t base = 0; base < keys.size(); base += kChunk) {
      const std::size_t n = std::min(kChunk, keys.size() - base);
      table_.template find_many<sizeof(K)>(
          reinterpret_cast<const unsigned char*>(keys.data() + base), sizeof(K), n, idx);
      for (std::size_t j = 0; j < n; ++j) {
        out[base + j] =
            idx[j] == kNoElem ? nullptr : static_cast<V*>(table_.value_ptr(idx[j], cpu));
        hits += idx[j] != kNoElem ? 1 : 0;
      }
    }
    return hits;
  }

  // Deletes the entry. Errc::not_found if absent. Lock on one bucket.
  [[nodiscard]] Errc erase(const K& key) noexcept {
    return table_.template erase<sizeof(K), sizeof(V)>(&key);
  }

  // Iteration in the kernel's order: key == nullptr, or a key not in the map, gives the first
  // key; Errc::not_found after the last. Lock-free; concurrent updates may be seen or not.
  [[nodiscard]] Errc get_next_key(const K* key, K& next) const noexcept {
    MaybeRcu rcu(!table_.config().prealloc);
    return table_.template get_next_key<sizeof(K)>(key, &next);
  }

  [[nodiscard]] std::uint32_t max_entries() const noexcept { return table_.config().max_entries; }
  // Longest bucket chain (how well the seeded hash spreads the keys). Single-threaded use only.
  [[nodiscard]] std::uint32_t unsynchronized_longest_chain() const noexcept {
    return table_.unsynchronized_longest_chain();
  }
  // Self-check for tests: buckets whose chain or summary word is inconsistent (0 if healthy).
  // Single-threaded use only.
  [[nodiscard]] std::uint32_t unsynchronized_bad_buckets() const noexcept {
    return table_.unsynchronized_bad_buckets();
  }
  // Entries now; exact when no update runs concurrently.
  [[nodiscard]] std::size_t approx_size() const noexcept { return table_.approx_size(); }

 protected:
  [[nodiscard]] V* lookup_unguarded(const K& key) noexcept {
    const std::uint32_t i =
        table_.template find<sizeof(K)>(&key, table_.template hash_of<sizeof(K)>(&key));
    return i == kNoElem ? nullptr
                        : static_cast<V*>(table_.value_ptr(i, kPercpu ? current_cpu() : 0));
  }
  // NO_PREALLOC: out of line, so the preallocated fast path stays free of calls.
  [[gnu::noinline]] V* lookup_in_rcu(const K& key) noexcept {
    MaybeRcu rcu(true);
    return lookup_unguarded(key);
  }

  HashTable table_;
};

}  // namespace detail

template <MapKey K, MapValue V>
class HashMap : public detail::TypedHash<K, V, false> {
 public:
  // Throws std::invalid_argument (max_entries 0, bad flags), std::bad_alloc.
  explicit HashMap(std::uint32_t max_entries, std::uint32_t flags = 0)
      : detail::TypedHash<K, V, false>(max_entries, flags) {}

  // Deletes the entry and returns its value in `out`. Lock on one bucket.
  [[nodiscard]] Errc lookup_and_erase(const K& key, V& out) noexcept {
    return this->table_.template erase<sizeof(K), sizeof(V)>(&key, &out, detail::Side::program);
  }
};

template <MapKey K, MapValue V>
class PercpuHashMap : public detail::TypedHash<K, V, true> {
 public:
  // Throws std::invalid_argument (max_entries 0, bad flags), std::bad_alloc.
  explicit PercpuHashMap(std::uint32_t max_entries, std::uint32_t flags = 0)
      : detail::TypedHash<K, V, true>(max_entries, flags) {}

  // bpf_map_lookup_percpu_elem: the slot of `cpu`; nullptr if absent or cpu >= possible_cpus().
  [[nodiscard]] V* lookup_percpu(const K& key, std::uint32_t cpu) noexcept {
    if (cpu >= static_cast<std::uint32_t>(this->table_.ncpus()))
      return nullptr;
    detail::MaybeRcu rcu(!this->table_.config().prealloc);
    const std::uint32_t i =
        this->table_.template find<sizeof(K)>(&key, this->table_.template hash_of<sizeof(K)>(&key));
    return i == detail::kNoElem ? nullptr
                                : static_cast<V*>(this->table_.value_ptr(i, static_cast<int>(cpu)));
  }

  // User side: every CPU's value at once (out.size() must be possible_cpus()). Consistent.
  [[nodiscard]] Errc lookup_all(const K& key, std::span<V> out) const noexcept {
    if (out.size() != static_cast<std::size_t>(this->table_.ncpus()))
      return Errc::invalid;
    detail::MaybeRcu rcu(!this->table_.config().prealloc);
    return this->table_.template copy_value<sizeof(K)>(&key, out.data(), detail::Side::user,
                                                       sizeof(V));
  }

  // User side: sets every CPU's value (values.size() must be possible_cpus()).
  [[nodiscard]] Errc update_all(const K& key, std::span<const V> values,
                                UpdateFlag flag = UpdateFlag::any) noexcept {
    if (values.size() != static_cast<std::size_t>(this->table_.ncpus()))
      return Errc::invalid;
    return this->table_.template update<sizeof(K)>(
        &key, values.data(), static_cast<std::uint64_t>(flag), detail::Side::user, sizeof(V));
  }

  // Deletes the entry and returns every CPU's value (out.size() must be possible_cpus()).
  [[nodiscard]] Errc lookup_and_erase(const K& key, std::span<V> out) noexcept {
    if (out.size() != static_cast<std::size_t>(this->table_.ncpus()))
      return Errc::invalid;
    return this->table_.template erase<sizeof(K)>(&key, out.data(), detail::Side::user, sizeof(V));
  }
};

}  // namespace xmaps
