// SPDX-License-Identifier: MIT
//
// Keys, values, hashes and pre-generated key streams for the hash-map benchmarks.
//
// Key sets are built from an index by a bijection (the murmur3 finalizers), so key(i) != key(j)
// for i != j without a dedup pass, and index ranges give disjoint sets:
//
//   [0, size)                       the keys the table is filled with (max_entries = size)
//   [size - kMaxThreads, size)        ... and then erased again, leaving one free slot per thread
//                                   for the insert+erase benchmark; [0, live) stay in the table
//   [size, size + L)                miss keys (never inserted)
//   [size + L + t * kInsertPool, …) thread t's keys for insert+erase pairs
//
// A KeyStreams<K> holds, per (key type, table size), the keys in the order the timed loops use
// them: L = max(size, kMinStream) lookups drawn uniformly at random (with replacement) from the
// fill set, so a 1M-entry table is touched all over and not just in a cache-sized subset.
// Everything here runs before timing starts.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <string_view>
#include <type_traits>
#include <vector>

namespace xmaps_bench {

// A 16-byte key, e.g. a flow tuple. No padding: maps that hash and compare bytes (xmaps, DPDK)
// see exactly the bytes operator== compares.
struct Key16 {
  std::uint64_t lo;
  std::uint64_t hi;
  friend bool operator==(const Key16&, const Key16&) = default;
  // libcds's MichaelKVList keeps each bucket's list ordered, so it needs a less-than.
  friend bool operator<(const Key16& a, const Key16& b) noexcept {
    return a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo;
  }
};
static_assert(sizeof(Key16) == 16 && std::has_unique_object_representations_v<Key16>);

// A 16-byte value, written whole by update().
struct Value16 {
  std::uint64_t a;
  std::uint64_t b;
};
static_assert(sizeof(Value16) == 16 && std::is_trivially_copyable_v<Value16>);

inline Value16 value_for(std::uint64_t i) noexcept {
  return Value16{i, ~i};
}

// Writes a value in place with two relaxed 8-byte stores. Used by the peers whose idiomatic
// update writes through a pointer to the stored value (DPDK's data pointer, libcds's find
// functor, as a BPF program writes through bpf_map_lookup_elem's pointer). Relaxed atomics make
// two threads updating the same key a benign race instead of undefined behaviour; nothing
// reads the value concurrently in the update benchmarks.
inline void store_value_relaxed(Value16& dst, const Value16& src) noexcept {
  std::atomic_ref<std::uint64_t>(dst.a).store(src.a, std::memory_order_relaxed);
  std::atomic_ref<std::uint64_t>(dst.b).store(src.b, std::memory_order_relaxed);
}

// murmur3's 32- and 64-bit finalizers: bijections, used to make distinct random-looking keys.
constexpr std::uint32_t fmix32(std::uint32_t h) noexcept {
  h ^= h >> 16;
  h *= 0x85ebca6bU;
  h ^= h >> 13;
  h *= 0xc2b2ae35U;
  h ^= h >> 16;
  return h;
}
constexpr std::uint64_t fmix64(std::uint64_t k) noexcept {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

// wyhash's 64x64->128 multiply-fold and its constants.
__extension__ using Uint128 = unsigned __int128;  // GCC/Clang extension; one MUL on x86-64
inline std::uint64_t mum(std::uint64_t a, std::uint64_t b) noexcept {
  const Uint128 r = static_cast<Uint128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}
inline constexpr std::uint64_t kWyP0 = 0xa0761d6478bd642fULL;
inline constexpr std::uint64_t kWyP1 = 0xe7037ed1a0b428dbULL;
inline constexpr std::uint64_t kWyP2 = 0x8ebc6af09c88c6e3ULL;

// The 16-byte key's hash for every peer that takes a hash functor (none has a default for a
// user struct): wyhash's final step for a 16-byte input, two multiply-folds.
struct Key16Hash {
  std::size_t operator()(const Key16& k) const noexcept {
    return mum(mum(k.lo ^ kWyP0, k.hi ^ kWyP1) ^ kWyP2, 16 ^ kWyP1);
  }
};

// A hash for peers that have no default at all (liburcu's rculfhash takes a hash value):
// Key16Hash for Key16, one multiply-fold for u32.
struct MixHash {
  std::size_t operator()(std::uint32_t k) const noexcept { return mum(k ^ kWyP0, kWyP1); }
  std::size_t operator()(const Key16& k) const noexcept { return Key16Hash{}(k); }
};

// The peers' default hash: std::hash<u32> (the identity in libstdc++; the keys are uniformly
// random, so identity-hashed tables see well-spread keys) or Key16Hash.
template <class K>
using DefaultHash = std::conditional_t<std::is_same_v<K, Key16>, Key16Hash, std::hash<K>>;

template <class K>
K make_key(std::uint64_t i) noexcept;
template <>
inline std::uint32_t make_key<std::uint32_t>(std::uint64_t i) noexcept {
  return fmix32(static_cast<std::uint32_t>(i) ^ 0x9e3779b9U);
}
template <>
inline Key16 make_key<Key16>(std::uint64_t i) noexcept {
  return Key16{fmix64(i + 0x9e3779b97f4a7c15ULL), fmix64(i ^ 0xd6e8feb86659fd93ULL)};
}

template <class K>
constexpr std::string_view key_name() noexcept {
  return std::is_same_v<K, Key16> ? "key16" : "u32";
}

// Keys each thread cycles through in the insert+erase benchmark (each is erased right after
// it is inserted, so the pool is reused).
inline constexpr std::size_t kInsertPool = 4096;
// Shortest lookup stream: long enough that the stream, not the table, decides the access order
// for small tables.
inline constexpr std::size_t kMinStream = 1 << 16;
// Most threads any benchmark runs with (this machine has 2 cores).
inline constexpr std::uint32_t kMaxThreads = 2;

// Each benchmark thread walks a stream of its own, drawn independently: with one shared stream
// (each thread starting at a different offset) the threads drift into lockstep on the same keys
// over a long run, and then every update of one waits on the other's bucket lock (measured:
// 64K-entry u32 updates, 2 threads, 3.5% of updates found the bucket locked by the other thread
// with a shared stream, 0.002% with independent ones; bench/RESULTS.md, "Runs").
template <class K>
struct KeyStreams {
  std::uint32_t size = 0;
  std::size_t len = 0;    // L: keys per thread's stream, a power of two
  std::size_t mask = 0;   // L - 1
  std::size_t live = 0;   // size - kMaxThreads: fill[0, live) stay in the table
  std::vector<K> fill;    // size keys, in insertion order; fill[live, size) erased after
  std::vector<K> hit;     // kMaxThreads streams of L keys drawn from fill[0, live) at random
  std::vector<K> miss;    // kMaxThreads streams of L distinct keys not in the table
  std::vector<K> insert;  // kMaxThreads * kInsertPool keys not in the table

  // n > kMaxThreads.
  explicit KeyStreams(std::uint32_t n) : size(n) {
    len = std::bit_ceil(std::max<std::size_t>(n, kMinStream));
    mask = len - 1;
    live = n - kMaxThreads;
    fill.reserve(n);
    for (std::uint64_t i = 0; i < n; ++i)
      fill.push_back(make_key<K>(i));
    std::mt19937_64 rng(0x5eed0000ULL + n);  // fixed seed: every peer sees the same order
    std::uniform_int_distribution<std::size_t> pick(0, live - 1);
    const std::size_t all = kMaxThreads * len;
    hit.reserve(all);
    for (std::size_t i = 0; i < all; ++i)
      hit.push_back(fill[pick(rng)]);
    miss.reserve(all);
    for (std::uint64_t i = 0; i < all; ++i)
      miss.push_back(make_key<K>(n + i));
    insert.reserve(kMaxThreads * kInsertPool);
    for (std::uint64_t i = 0; i < kMaxThreads * kInsertPool; ++i) {
      insert.push_back(make_key<K>(n + all + i));
    }
  }

  // Offset of thread t's stream in hit[] and miss[].
  [[nodiscard]] std::size_t base(int thread) const noexcept {
    return static_cast<std::size_t>(thread) % kMaxThreads * len;
  }
  [[nodiscard]] const K* hit_stream(int thread) const noexcept { return hit.data() + base(thread); }
  [[nodiscard]] const K* miss_stream(int thread) const noexcept {
    return miss.data() + base(thread);
  }
};

}  // namespace xmaps_bench
