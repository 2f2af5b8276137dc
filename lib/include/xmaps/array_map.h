// SPDX-License-Identifier: MIT
//
// ArrayMap<V>        ~ BPF_MAP_TYPE_ARRAY
// PercpuArrayMap<V>  ~ BPF_MAP_TYPE_PERCPU_ARRAY
//
// Fixed arrays of max_entries zero-filled values indexed by a u32 key (kernel/bpf/arraymap.c):
// every element always exists, so update(no_exist) fails with Errc::exists, an index at or
// past max_entries fails update with Errc::too_big and lookup with nullptr / not_found, and
// elements cannot be deleted (Errc::invalid).
//
// Layout: values at round_up(value_size, 8) stride; per-CPU maps keep one such array per CPU
// (CPU-major, so CPUs never false-share a value). One 32-bit seq per element, kept apart from
// the values so the value layout stays the kernel's.
//
// Concurrency: every operation may run concurrently. lookup() is a bounds check and pointer
// arithmetic (no lock, no shared write). update() and lookup_copy() use the element's seq as a
// per-element seqlock whose odd state also excludes other writers, so a copy is never torn and
// no global lock exists. The pointer lookup() returns stays valid for the map's lifetime; plain
// writes through it race with update() and lookup_copy() (use atomics, as BPF programs do).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <type_traits>

#include "xmaps/concepts.h"
#include "xmaps/cpu.h"
#include "xmaps/detail/cache_line.h"
#include "xmaps/detail/region.h"
#include "xmaps/detail/spinlock.h"
#include "xmaps/detail/words.h"
#include "xmaps/errc.h"

namespace xmaps {

namespace detail {

struct ArrayConfig {
  std::uint32_t value_size = 0;
  std::uint32_t max_entries = 0;
  bool percpu = false;
};

enum class ArraySide { program, user };

class ArrayTable {
 public:
  // Throws std::invalid_argument for zero sizes, std::bad_alloc.
  explicit ArrayTable(const ArrayConfig& cfg)
      : cfg_(cfg), ncpus_(cfg.percpu ? possible_cpus() : 1), vslot_(round_up(cfg.value_size, 8)) {
    if (cfg.value_size == 0 || cfg.max_entries == 0) {
      throw std::invalid_argument("xmaps: array value_size and max_entries must be > 0");
    }
    values_ = Region(
        static_cast<std::size_t>(cfg.max_entries) * vslot_ * static_cast<std::size_t>(ncpus_),
        /*commit=*/true);
    seqs_ = std::make_unique<std::atomic<std::uint32_t>[]>(cfg.max_entries);
  }

  [[nodiscard]] const ArrayConfig& config() const noexcept { return cfg_; }
  [[nodiscard]] int ncpus() const noexcept { return ncpus_; }
  [[nodiscard]] std::size_t user_value_size() const noexcept {
    return cfg_.percpu ? vslot_ * static_cast<std::size_t>(ncpus_) : cfg_.value_size;
  }

  // Value slot of `index` for `cpu` (0 for non-per-CPU maps), or nullptr if out of range.
  [[nodiscard]] void* slot(std::uint32_t index, int cpu) const noexcept {
    if (index >= cfg_.max_entries)
      return nullptr;
    return values_.data() + (static_cast<std::size_t>(cpu) * cfg_.max_entries + index) * vslot_;
  }

  // `stride` (user side of per-CPU maps): bytes per CPU in `value`; 0 = round_up(value_size, 8).
  template <std::size_t VS = 0>
  [[nodiscard]] Errc update(std::uint32_t index, const void* value, std::uint64_t flags,
                            ArraySide side, std::size_t stride = 0) noexcept {
    if (flags > static_cast<std::uint64_t>(UpdateFlag::exist))
      return Errc::invalid;
    if (index >= cfg_.max_entries)
      return Errc::too_big;
    if (flags == static_cast<std::uint64_t>(UpdateFlag::no_exist))
      return Errc::exists;
    std::atomic<std::uint32_t>& seq = seqs_[index];
    lock_seq(seq);
    if (cfg_.percpu && side == ArraySide::user) {
      if (stride == 0)
        stride = vslot_;
      const auto* src = static_cast<const unsigned char*>(value);
      for (int c = 0; c < ncpus_; ++c) {
        store_bytes(words(index, c), src + static_cast<std::size_t>(c) * stride, stride);
      }
    } else {
      store_bytes<VS>(words(index, cfg_.percpu ? current_cpu() : 0), value, cfg_.value_size);
    }
    // R3: pairs with A2 in copy(); even again: readers may use what they read.
    seq.store(seq.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    return Errc::ok;
  }

  // Consistent copy of the value (program side: current CPU's value_size bytes; user side of
  // per-CPU maps: every CPU at `stride`). Errc::not_found for an index out of range.
  template <std::size_t VS = 0>
  [[nodiscard]] Errc copy(std::uint32_t index, void* out, ArraySide side,
                          std::size_t stride = 0) const noexcept {
    if (index >= cfg_.max_entries)
      return Errc::not_found;
    const std::atomic<std::uint32_t>& seq = seqs_[index];
    for (;;) {
      // A2: pairs with R3 in update(); see words.h.
      const std::uint32_t s1 = seq.load(std::memory_order_acquire);
      if ((s1 & 1U) != 0) {
        spin_pause();
        continue;
      }
      if (cfg_.percpu && side == ArraySide::user) {
        if (stride == 0)
          stride = vslot_;
        auto* dst = static_cast<unsigned char*>(out);
        for (int c = 0; c < ncpus_; ++c) {
          load_bytes(dst + static_cast<std::size_t>(c) * stride, words(index, c), stride);
        }
      } else {
        load_bytes<VS>(out, words(index, cfg_.percpu ? current_cpu() : 0), cfg_.value_size);
      }
      // Relaxed: ordered after load_bytes' acquire loads (words.h).
      if (seq.load(std::memory_order_relaxed) == s1)
        return Errc::ok;
    }
  }

  // BPF_MAP_GET_NEXT_KEY: nullptr or an index past the end gives 0; the last gives not_found.
  [[nodiscard]] Errc get_next_key(const std::uint32_t* key, std::uint32_t* next) const noexcept {
    const std::uint32_t index = key == nullptr ? 0xffffffffU : *key;
    if (index >= cfg_.max_entries) {
      *next = 0;
      return Errc::ok;
    }
    if (index == cfg_.max_entries - 1)
      return Errc::not_found;
    *next = index + 1;
    return Errc::ok;
  }

 private:
  [[nodiscard]] std::uint64_t* words(std::uint32_t index, int cpu) const noexcept {
    return static_cast<std::uint64_t*>(slot(index, cpu));
  }

  // Makes seq odd: excludes other writers and tells readers to retry.
  static void lock_seq(std::atomic<std::uint32_t>& seq) noexcept {
    Backoff backoff;
    for (;;) {
      // Relaxed: a read to pick the CAS's expected value; the CAS orders.
      std::uint32_t s = seq.load(std::memory_order_relaxed);
      // Acquire: pairs with R3 of the previous writer (its words are visible before ours).
      // The words' own release stores keep this odd value ahead of them for readers (R2).
      if ((s & 1U) == 0 && seq.compare_exchange_weak(s, s + 1, std::memory_order_acquire,
                                                     std::memory_order_relaxed)) {
        return;
      }
      backoff.pause();
    }
  }

  ArrayConfig cfg_;
  int ncpus_;
  std::size_t vslot_;
  Region values_;
  // Per-element seqlock: written by writers (CAS to odd, store even), read by copy().
  std::unique_ptr<std::atomic<std::uint32_t>[]> seqs_;
};

inline ArrayConfig typed_array_config(std::uint32_t value_size, std::uint32_t max_entries,
                                      std::uint32_t flags, bool percpu) {
  const std::uint32_t allowed = percpu ? 0U : (map_flag::kNumaNode | map_flag::kMmapable);
  if ((flags & ~allowed) != 0) {
    throw std::invalid_argument("xmaps: array flags may be kNumaNode or kMmapable (ARRAY only)");
  }
  if (max_entries == 0)
    throw std::invalid_argument("xmaps: array max_entries must be > 0");
  return ArrayConfig{value_size, max_entries, percpu};
}

template <class V, bool kPercpu>
class TypedArray {
 public:
  TypedArray(std::uint32_t max_entries, std::uint32_t flags)
      : table_(typed_array_config(sizeof(V), max_entries, flags, kPercpu)) {}

  // Pointer to the value (current CPU's slot for per-CPU maps), nullptr if out of range.
  [[nodiscard]] V* lookup(std::uint32_t index) noexcept {
    return static_cast<V*>(table_.slot(index, kPercpu ? current_cpu() : 0));
  }

  // Sets the value (current CPU's slot for per-CPU maps). Errc::too_big out of range,
  // Errc::exists for UpdateFlag::no_exist.
  [[nodiscard]] Errc update(std::uint32_t index, const V& value,
                            UpdateFlag flag = UpdateFlag::any) noexcept {
    return table_.template update<sizeof(V)>(index, &value, static_cast<std::uint64_t>(flag),
                                             ArraySide::program);
  }

  // Consistent copy of the value (current CPU's slot for per-CPU maps).
  [[nodiscard]] std::optional<V> lookup_copy(std::uint32_t index) const noexcept {
    V out{};
    if (table_.template copy<sizeof(V)>(index, &out, ArraySide::program) != Errc::ok) {
      return std::nullopt;
    }
    return out;
  }

  [[nodiscard]] Errc get_next_key(const std::uint32_t* key, std::uint32_t& next) const noexcept {
    return table_.get_next_key(key, &next);
  }

  [[nodiscard]] std::uint32_t max_entries() const noexcept { return table_.config().max_entries; }

 protected:
  ArrayTable table_;
};

}  // namespace detail

template <MapValue V>
class ArrayMap : public detail::TypedArray<V, false> {
 public:
  // Throws std::invalid_argument (max_entries 0, bad flags), std::bad_alloc.
  explicit ArrayMap(std::uint32_t max_entries, std::uint32_t flags = 0)
      : detail::TypedArray<V, false>(max_entries, flags) {}
};

template <MapValue V>
class PercpuArrayMap : public detail::TypedArray<V, true> {
 public:
  // Throws std::invalid_argument (max_entries 0, flags), std::bad_alloc.
  explicit PercpuArrayMap(std::uint32_t max_entries, std::uint32_t flags = 0)
      : detail::TypedArray<V, true>(max_entries, flags) {}

  // bpf_map_lookup_percpu_elem: the slot of `cpu`; nullptr if out of range.
  [[nodiscard]] V* lookup_percpu(std::uint32_t index, std::uint32_t cpu) noexcept {
    if (cpu >= static_cast<std::uint32_t>(this->table_.ncpus()))
      return nullptr;
    return static_cast<V*>(this->table_.slot(index, static_cast<int>(cpu)));
  }

  // User side: every CPU's value (out.size() must be possible_cpus()).
  [[nodiscard]] Errc lookup_all(std::uint32_t index, std::span<V> out) const noexcept {
    if (out.size() != static_cast<std::size_t>(this->table_.ncpus()))
      return Errc::invalid;
    return this->table_.copy(index, out.data(), detail::ArraySide::user, sizeof(V));
  }

  // User side: sets every CPU's value (values.size() must be possible_cpus()).
  [[nodiscard]] Errc update_all(std::uint32_t index, std::span<const V> values,
                                UpdateFlag flag = UpdateFlag::any) noexcept {
    if (values.size() != static_cast<std::size_t>(this->table_.ncpus()))
      return Errc::invalid;
    return this->table_.update(index, values.data(), static_cast<std::uint64_t>(flag),
                               detail::ArraySide::user, sizeof(V));
  }
};

}  // namespace xmaps
