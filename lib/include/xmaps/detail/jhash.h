// SPDX-License-Identifier: MIT
//
// Bob Jenkins' lookup3 hash in the form the Linux kernel uses (include/linux/jhash.h), so that
// xmaps hash maps place keys in the same buckets as the kernel's htab: the kernel hashes a key
// with jhash2() over 32-bit words when key_size % 4 == 0, else with jhash() over bytes, and
// takes hash & (n_buckets - 1). With the seed 0 (BPF_F_ZERO_SEED) bucket order, and so
// get_next_key order and batch contents, can be compared byte for byte with the kernel.
// Written from the published algorithm (lookup3.c, public domain).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace xmaps::detail {

inline constexpr std::uint32_t kJhashInit = 0xdeadbeef;  // lookup3's initial value

constexpr std::uint32_t rol32(std::uint32_t v, unsigned s) noexcept {
  return (v << s) | (v >> (32U - s));
}

// lookup3 mix(): reversibly mixes three 32-bit words.
[[gnu::always_inline]] constexpr void jhash_mix(std::uint32_t& a, std::uint32_t& b,
                                                std::uint32_t& c) noexcept {
  a -= c;
  a ^= rol32(c, 4);
  c += b;
  b -= a;
  b ^= rol32(a, 6);
  a += c;
  c -= b;
  c ^= rol32(b, 8);
  b += a;
  a -= c;
  a ^= rol32(c, 16);
  c += b;
  b -= a;
  b ^= rol32(a, 19);
  a += c;
  c -= b;
  c ^= rol32(b, 4);
  b += a;
}

// lookup3 final(): final avalanche of three words into c.
[[gnu::always_inline]] constexpr void jhash_final(std::uint32_t& a, std::uint32_t& b,
                                                  std::uint32_t& c) noexcept {
  c ^= b;
  c -= rol32(b, 14);
  a ^= c;
  a -= rol32(c, 11);
  b ^= a;
  b -= rol32(a, 25);
  c ^= b;
  c -= rol32(b, 16);
  a ^= c;
  a -= rol32(c, 4);
  b ^= a;
  b -= rol32(a, 14);
  c ^= b;
  c -= rol32(b, 24);
}

inline std::uint32_t load_u32(const unsigned char* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, 4);  // native order, as the kernel's __get_unaligned_cpu32
  return v;
}

// The kernel's jhash(): `length` bytes.
inline std::uint32_t jhash_bytes(const void* key, std::uint32_t length,
                                 std::uint32_t seed) noexcept {
  const auto* k = static_cast<const unsigned char*>(key);
  std::uint32_t a = kJhashInit + length + seed;
  std::uint32_t b = a;
  std::uint32_t c = a;
  while (length > 12) {
    a += load_u32(k);
    b += load_u32(k + 4);
    c += load_u32(k + 8);
    jhash_mix(a, b, c);
    length -= 12;
    k += 12;
  }
  if (length == 0)
    return c;
  // The tail, byte by byte, little end first into a, then b, then c.
  std::uint32_t tail[3] = {0, 0, 0};
  for (std::uint32_t i = 0; i < length; ++i) {
    tail[i / 4] += static_cast<std::uint32_t>(k[i]) << (8 * (i % 4));
  }
  a += tail[0];
  b += tail[1];
  c += tail[2];
  jhash_final(a, b, c);
  return c;
}

// The kernel's jhash2(): `words` 32-bit words (the caller's bytes, native order). Forced
// inline: for a compile-time size it unrolls to a few instructions, which GCC otherwise left
// as a call in hash_map_bench's large translation unit (key16 lookups; 1K hit, four
// alternating runs, medians: 16.7 ns with the call, 15.1 inlined).
template <std::uint32_t kWords = 0>
[[gnu::always_inline]] inline std::uint32_t jhash_words(const void* key, std::uint32_t words,
                                                        std::uint32_t seed) noexcept {
  if constexpr (kWords != 0)
    words = kWords;
  const auto* k = static_cast<const unsigned char*>(key);
  std::uint32_t a = kJhashInit + (words << 2) + seed;
  std::uint32_t b = a;
  std::uint32_t c = a;
  while (words > 3) {
    a += load_u32(k);
    b += load_u32(k + 4);
    c += load_u32(k + 8);
    jhash_mix(a, b, c);
    words -= 3;
    k += 12;
  }
  switch (words) {
    case 3: c += load_u32(k + 8); [[fallthrough]];
    case 2: b += load_u32(k + 4); [[fallthrough]];
    case 1:
      a += load_u32(k);
      jhash_final(a, b, c);
      break;
    default: break;
  }
  return c;
}

// htab_map_hash(): the hash the kernel's hash maps use for a key of `size` bytes.
// jhash_mix/final and this are forced inline: in a large translation unit GCC's unit-growth
// limit otherwise leaves jhash_final out of line on the update path (bench/RESULTS.md).
template <std::size_t KS = 0>
[[gnu::always_inline]] inline std::uint32_t htab_hash(const void* key, std::uint32_t size,
                                                      std::uint32_t seed) noexcept {
  if constexpr (KS != 0) {
    if constexpr (KS % 4 == 0) {
      return jhash_words<static_cast<std::uint32_t>(KS / 4)>(key, KS / 4, seed);
    } else {
      return jhash_bytes(key, static_cast<std::uint32_t>(KS), seed);
    }
  } else {
    return size % 4 == 0 ? jhash_words(key, size / 4, seed) : jhash_bytes(key, size, seed);
  }
}

}  // namespace xmaps::detail
