// SPDX-License-Identifier: MIT
//
// LruHashMap<K, V>        ~ BPF_MAP_TYPE_LRU_HASH
// LruPercpuHashMap<K, V>  ~ BPF_MAP_TYPE_LRU_PERCPU_HASH
//
// Preallocated hash maps that evict instead of failing when full, with the kernel's eviction
// order: the same sequence of operations on the same CPUs evicts the same keys as the kernel
// (kernel/bpf/hashtab.c over bpf_lru_list.c; the algorithm is in xmaps/detail/lru_list.h).
//
// Flags (constructor): map_flag::kNoCommonLru (one LRU per CPU: max_entries is rounded up to a
// multiple of possible_cpus() and split evenly, and a CPU evicts only entries it inserted),
// map_flag::kZeroSeed, map_flag::kNumaNode (LruHashMap with the common LRU only).
// map_flag::kNoPrealloc is rejected (the kernel's ENOTSUPP): LRU maps are preallocated.
//
// What users of LRU maps must know (all of it is the kernel's behaviour):
//   - Eviction is batched. The common LRU refills a CPU's local free list with up to
//     target_free = clamp(max_entries / possible_cpus / 2, 1, 128) nodes at a time, evicting
//     that many unreferenced entries when it has to; NO_COMMON_LRU evicts up to 4 at a time.
//   - update() takes a free node *before* it looks the key up, so updating a present key, and
//     even a failing update (no_exist on a present key, exist on a missing one), can evict; an
//     exist update can fail with Errc::not_found because its own eviction removed the key.
//     (LruPercpuHashMap with UpdateFlag::exist updates in place and takes no node.)
//   - Only datapath lookups protect an entry: lookup(), lookup_copy(), lookup_many() and
//     lookup_percpu() are what a BPF program's bpf_map_lookup_elem is, and set the entry's
//     reference bit. lookup_user(), lookup_all(), get_next_key() and the byte-level Map's user
//     commands are what bpf(2) from user space is: they never set it, so a map walk does not
//     disturb the eviction order.
//   - A new entry starts unreferenced: a key never looked up is the first victim.
//
// Errors: Errc::exists, Errc::not_found, Errc::invalid (flag value), Errc::busy (bucket lock
// re-entered by its holder, e.g. from the eviction callback), Errc::no_memory (no node could be
// found at all: only when every node is held by inserts in flight). Never Errc::too_big.
//
// Concurrency: every operation may run concurrently with every other. Lookups take no lock
// and write only the reference bit (once, when it is clear). Updates lock the LRU lists of
// their CPU (and, when refilling or evicting, the global list and victims' buckets), then
// their key's bucket. The CPU is current_cpu(): bind threads with CpuBinding to act as a CPU.
//
// Pointers from lookup() follow HashMap's rules (xmaps/hash_map.h): they point into a
// preallocated element that may be recycled for another key once the entry is deleted, or
// evicted; lookup_copy() returns a consistent copy.
//
// Memory per element beyond round_up(key, 8) + round_up(value, 8): 16 bytes of header, 8 for
// the reference bit (in the element, where lookups read), 12 of LRU node (in a dense array of
// nodes, which the list walks chase) and 8 to 16 of bucket: 44 to 52 bytes (the kernel's
// htab_elem with its bpf_lru_node is 48 + bucket).
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "xmaps/concepts.h"
#include "xmaps/cpu.h"
#include "xmaps/detail/hash_table.h"
#include "xmaps/errc.h"

namespace xmaps {

namespace detail {

inline HashConfig lru_hash_config(std::uint32_t key_size, std::uint32_t value_size,
                                  std::uint32_t max_entries, std::uint32_t flags, bool percpu) {
  if ((flags & map_flag::kNoPrealloc) != 0) {
    throw std::invalid_argument("xmaps: LRU hash maps are preallocated: kNoPrealloc not supported");
  }
  const bool percpu_lists = (flags & map_flag::kNoCommonLru) != 0;
  const std::uint32_t allowed = map_flag::kNoCommonLru | map_flag::kZeroSeed |
                                (percpu || percpu_lists ? 0U : map_flag::kNumaNode);
  if ((flags & ~allowed) != 0) {
    throw std::invalid_argument(
        "xmaps: LRU hash map flags may be kNoCommonLru, kZeroSeed (and kNumaNode with the "
        "common LRU, not per-CPU)");
  }
  if (max_entries == 0)
    throw std::invalid_argument("xmaps: LRU hash map max_entries must be > 0");
  HashConfig cfg;
  cfg.key_size = key_size;
  cfg.value_size = value_size;
  cfg.max_entries = max_entries;
  cfg.percpu = percpu;
  cfg.zero_seed = (flags & map_flag::kZeroSeed) != 0;
  cfg.lru = true;
  cfg.lru_percpu_lists = percpu_lists;
  return cfg;
}

// The operations LruHashMap and LruPercpuHashMap share. "Datapath" = as a BPF program on
// current_cpu() sees the map: the value (LRU_HASH) or the current CPU's slot (per-CPU).
template <class K, class V, bool kPercpu>
class TypedLru {
 public:
  TypedLru(std::uint32_t max_entries, std::uint32_t flags)
      : table_(lru_hash_config(sizeof(K), sizeof(V), max_entries, flags, kPercpu)) {}

  // Creates or replaces the entry (datapath side), evicting if the map needs room.
  [[nodiscard]] Errc update(const K& key, const V& value,
                            UpdateFlag flag = UpdateFlag::any) noexcept {
    return table_.template update<sizeof(K), sizeof(V)>(
        &key, &value, static_cast<std::uint64_t>(flag), Side::program);
  }

  // Datapath lookup: a pointer into the element, or nullptr; marks the entry referenced.
  // Lock-free.
  [[nodiscard]] V* lookup(const K& key) noexcept {
    const std::uint32_t i =
        table_.template find<sizeof(K)>(&key, table_.template hash_of<sizeof(K)>(&key));
    if (i == kNoElem)
      return nullptr;
    table_.mark_referenced(i);
    return static_cast<V*>(table_.value_ptr(i, kPercpu ? current_cpu() : 0));
  }

  // Datapath lookup returning a consistent copy; marks the entry referenced. Lock-free.
  [[nodiscard]] std::optional<V> lookup_copy(const K& key) noexcept {
    V out{};
    std::uint32_t i = kNoElem;
    if (table_.template copy_value<sizeof(K), sizeof(V)>(&key, &out, Side::program, 0, &i) !=
        Errc::ok) {
      return std::nullopt;
    }
    table_.mark_referenced(i);
    return out;
  }

  // Datapath lookups of keys.size() keys with overlapped cache misses; out[i] as lookup().
  // Only the first min(keys.size(), out.size()) keys are looked up (nothing is written past
  // out). Returns the number found. Lock-free.
  std::size_t lookup_many(std::span<const K> keys, std::span<V*> out) noexcept {
    keys = keys.first(std::min(keys.size(), out.size()));
    constexpr std::size_t kChunk = 64;
    std::uint32_t idx[kChunk];
    std::size_t hits = 0;
    const int cpu = kPercpu ? current_cpu() : 0;
    for (std::size_t base = 0; base < keys.size(); base += kChunk) {
      const std::size_t n = std::min(kChunk, keys.size() - base);
      table_.template find_many<sizeof(K)>(
          reinterpret_cast<const unsigned char*>(keys.data() + base), sizeof(K), n, idx);
      for (std::size_t j = 0; j < n; ++j) {
        if (idx[j] == kNoElem) {
          out[base + j] = nullptr;
          continue;
        }
        table_.mark_referenced(idx[j]);
        out[base + j] = static_cast<V*>(table_.value_ptr(idx[j], cpu));
        ++hits;
      }
    }
    return hits;
  }

  // Deletes the entry (not counted as an eviction). Errc::not_found if absent.
  [[nodiscard]] Errc erase(const K& key) noexcept {
    return table_.template erase<sizeof(K), sizeof(V)>(&key);
  }

  // Iteration in the kernel's order (see HashMap). Does not mark entries referenced.
  [[nodiscard]] Errc get_next_key(const K* key, K& next) const noexcept {
    return table_.template get_next_key<sizeof(K)>(key, &next);
  }

  // max_entries as the map has it (NO_COMMON_LRU: rounded up to a multiple of the CPUs).
  [[nodiscard]] std::uint32_t max_entries() const noexcept { return table_.config().max_entries; }
  // Entries now; exact when no update runs concurrently.
  [[nodiscard]] std::size_t approx_size() const noexcept { return table_.approx_size(); }
  // Longest bucket chain. Single-threaded use only.
  [[nodiscard]] std::uint32_t unsynchronized_longest_chain() const noexcept {
    return table_.unsynchronized_longest_chain();
  }
  // Self-check for tests: buckets whose chain or summary word is inconsistent (0 if healthy).
  // Single-threaded use only.
  [[nodiscard]] std::uint32_t unsynchronized_bad_buckets() const noexcept {
    return table_.unsynchronized_bad_buckets();
  }
  // False for NO_COMMON_LRU maps.
  [[nodiscard]] bool common_lru() const noexcept { return !table_.config().lru_percpu_lists; }

  // Eviction counters of `cpu` (the CPU whose updates did the work), or of all CPUs. Exact
  // when no update runs concurrently; readable at any time.
  [[nodiscard]] LruStats stats(int cpu) const noexcept { return table_.lru_stats(cpu); }
  [[nodiscard]] LruStats stats() const noexcept {
    LruStats sum;
    for (int c = 0; c < table_.ncpus(); ++c) {
      const LruStats s = table_.lru_stats(c);
      sum.evictions += s.evictions;
      sum.shrinks += s.shrinks;
      sum.forced_shrinks += s.forced_shrinks;
      sum.steals += s.steals;
    }
    return sum;
  }

  // NO_COMMON_LRU: how many entries CPU `cpu` can still insert before its next insert evicts
  // (its share of free nodes). std::nullopt for the common LRU (whose free nodes are shared and
  // refilled in batches) or a cpu outside [0, possible_cpus()).
  [[nodiscard]] std::optional<std::uint32_t> free_before_eviction(int cpu) const noexcept {
    if (common_lru() || cpu < 0 || cpu >= table_.ncpus())
      return std::nullopt;
    return table_.lru_percpu_free(cpu);
  }

 protected:
  HashTable table_;
};

}  // namespace detail

template <MapKey K, MapValue V>
class LruHashMap : public detail::TypedLru<K, V, false> {
 public:
  // Throws std::invalid_argument (max_entries 0, kNoPrealloc, bad flags), std::bad_alloc.
  explicit LruHashMap(std::uint32_t max_entries, std::uint32_t flags = 0)
      : detail::TypedLru<K, V, false>(max_entries, flags) {}
  ~LruHashMap() = default;
  LruHashMap(const LruHashMap&) = delete;
  LruHashMap& operator=(const LruHashMap&) = delete;
  LruHashMap(LruHashMap&&) = delete;
  LruHashMap& operator=(LruHashMap&&) = delete;

  // User-side lookup (bpf(2) BPF_MAP_LOOKUP_ELEM): a consistent copy; does NOT mark the entry
  // referenced. Lock-free.
  [[nodiscard]] std::optional<V> lookup_user(const K& key) const noexcept {
    V out{};
    if (this->table_.template copy_value<sizeof(K), sizeof(V)>(&key, &out, detail::Side::user) !=
        Errc::ok) {
      return std::nullopt;
    }
    return out;
  }

  // Deletes the entry and returns its value in `out`.
  [[nodiscard]] Errc lookup_and_erase(const K& key, V& out) noexcept {
    return this->table_.template erase<sizeof(K), sizeof(V)>(&key, &out, detail::Side::program);
  }

  // Calls fn(key, value) for every entry the map evicts to make room (not for erase() or a
  // replace). It runs inside the update that evicts, with the entry's bucket and the LRU lists
  // locked: keep it short, do not throw, and do not call into this map from it. Set it before the
  // map is shared between threads; an empty function removes it.
  void set_eviction_callback(std::function<void(const K&, const V&)> fn) {
    on_evict_ = std::move(fn);
    if (on_evict_) {
      this->table_.set_evict_callback(&LruHashMap::evicted, this);
    } else {
      this->table_.set_evict_callback(nullptr, nullptr);
    }
  }

 private:
  static void evicted(void* ctx, std::uint32_t i) {
    auto* self = static_cast<LruHashMap*>(ctx);
    K key;
    V value;
    std::memcpy(&key, self->table_.key_ptr(i), sizeof(K));
    std::memcpy(&value, self->table_.value_ptr(i, 0), sizeof(V));
    self->on_evict_(key, value);
  }

  std::function<void(const K&, const V&)> on_evict_;
};

template <MapKey K, MapValue V>
class LruPercpuHashMap : public detail::TypedLru<K, V, true> {
 public:
  // Throws std::invalid_argument (max_entries 0, kNoPrealloc, bad flags), std::bad_alloc.
  explicit LruPercpuHashMap(std::uint32_t max_entries, std::uint32_t flags = 0)
      : detail::TypedLru<K, V, true>(max_entries, flags) {}
  ~LruPercpuHashMap() = default;
  LruPercpuHashMap(const LruPercpuHashMap&) = delete;
  LruPercpuHashMap& operator=(const LruPercpuHashMap&) = delete;
  LruPercpuHashMap(LruPercpuHashMap&&) = delete;
  LruPercpuHashMap& operator=(LruPercpuHashMap&&) = delete;

  // bpf_map_lookup_percpu_elem: the slot of `cpu`, or nullptr (absent, or cpu >=
  // possible_cpus()); a datapath lookup, so it marks the entry referenced.
  [[nodiscard]] V* lookup_percpu(const K& key, std::uint32_t cpu) noexcept {
    if (cpu >= static_cast<std::uint32_t>(this->table_.ncpus()))
      return nullptr;
    const std::uint32_t i =
        this->table_.template find<sizeof(K)>(&key, this->table_.template hash_of<sizeof(K)>(&key));
    if (i == detail::kNoElem)
      return nullptr;
    this->table_.mark_referenced(i);
    return static_cast<V*>(this->table_.value_ptr(i, static_cast<int>(cpu)));
  }

  // User side: every CPU's value (out.size() must be possible_cpus()); consistent; does NOT
  // mark the entry referenced.
  [[nodiscard]] Errc lookup_all(const K& key, std::span<V> out) const noexcept {
    if (out.size() != static_cast<std::size_t>(this->table_.ncpus()))
      return Errc::invalid;
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

  // Calls fn(key, values) for every evicted entry; `values` gives each CPU's slot
  // (values(cpu)). Same rules as LruHashMap::set_eviction_callback.
  class Values {
   public:
    [[nodiscard]] const V& operator()(int cpu) const noexcept {
      return *static_cast<const V*>(table_->value_ptr(idx_, cpu));
    }
    [[nodiscard]] int cpus() const noexcept { return table_->ncpus(); }

   private:
    friend class LruPercpuHashMap;
    Values(const detail::HashTable* table, std::uint32_t idx) : table_(table), idx_(idx) {}
    const detail::HashTable* table_;
    std::uint32_t idx_;
  };
  void set_eviction_callback(std::function<void(const K&, const Values&)> fn) {
    on_evict_ = std::move(fn);
    if (on_evict_) {
      this->table_.set_evict_callback(&LruPercpuHashMap::evicted, this);
    } else {
      this->table_.set_evict_callback(nullptr, nullptr);
    }
  }

 private:
  static void evicted(void* ctx, std::uint32_t i) {
    auto* self = static_cast<LruPercpuHashMap*>(ctx);
    K key;
    std::memcpy(&key, self->table_.key_ptr(i), sizeof(K));
    self->on_evict_(key, Values(&self->table_, i));
  }

  std::function<void(const K&, const Values&)> on_evict_;
};

}  // namespace xmaps
