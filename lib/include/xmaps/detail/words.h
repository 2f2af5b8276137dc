// SPDX-License-Identifier: MIT
//
// Word-at-a-time copies for data that readers access without a lock while a writer may be
// rewriting it (seqlock-protected keys and values of recycled elements).
//
// Every shared word is accessed through std::atomic_ref<std::uint64_t>, so concurrent access is
// defined behaviour and ThreadSanitizer sees it. The orders implement a seqlock without a
// standalone fence (TSan cannot check fences, see style.md):
//   writer:  seq = odd (relaxed) ; each word stored with release ; seq = even (release)
//   reader:  s1 = seq (acquire) ; each word loaded with acquire ; s2 = seq (relaxed) ; s1 == s2
// A reader that sees any word of a rewrite synchronizes with that word's release store and so
// also sees the odd seq (or later), making s2 != s1; a reader that sees the final even seq sees
// every word. On x86-64 both release stores and acquire loads are plain moves: the cost is only
// that the compiler keeps word accesses in order.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace xmaps::detail {

inline std::uint64_t load_word(const std::uint64_t* p) noexcept {
  // Acquire: keeps the reader's final seq check after this load (see the header comment).
  return std::atomic_ref<std::uint64_t>(*const_cast<std::uint64_t*>(p))
      .load(std::memory_order_acquire);
}

inline void store_word(std::uint64_t* p, std::uint64_t v) noexcept {
  // Release: keeps the writer's odd seq store before this store (see the header comment).
  std::atomic_ref<std::uint64_t>(*p).store(v, std::memory_order_release);
}

// Reads `n` bytes (unaligned source allowed) as the zero-padded word `i`.
inline std::uint64_t word_from_bytes(const void* src, std::size_t n, std::size_t i) noexcept {
  std::uint64_t w = 0;
  const std::size_t off = i * 8;
  const std::size_t len = n - off < 8 ? n - off : 8;
  std::memcpy(&w, static_cast<const unsigned char*>(src) + off, len);
  return w;
}

// Stores `n` bytes from `src` into the word array `dst` (round_up(n, 8) bytes), zero-padding the
// last word. KS > 0 makes the size a compile-time constant.
template <std::size_t KS = 0>
inline void store_bytes(std::uint64_t* dst, const void* src, std::size_t n) noexcept {
  if constexpr (KS != 0)
    n = KS;
  const std::size_t words = (n + 7) / 8;
  for (std::size_t i = 0; i < words; ++i)
    store_word(dst + i, word_from_bytes(src, n, i));
}

inline void zero_words(std::uint64_t* dst, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n / 8; ++i)
    store_word(dst + i, 0);
}

// Copies `n` bytes out of the word array `src` (n need not be a multiple of 8).
template <std::size_t KS = 0>
inline void load_bytes(void* dst, const std::uint64_t* src, std::size_t n) noexcept {
  if constexpr (KS != 0)
    n = KS;
  auto* out = static_cast<unsigned char*>(dst);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const std::uint64_t w = load_word(src + i / 8);
    std::memcpy(out + i, &w, 8);
  }
  if (i < n) {
    const std::uint64_t w = load_word(src + i / 8);
    std::memcpy(out + i, &w, n - i);
  }
}

// True if the stored zero-padded words equal the `n` caller bytes at `key`.
template <std::size_t KS = 0>
inline bool equal_bytes(const std::uint64_t* stored, const void* key, std::size_t n) noexcept {
  if constexpr (KS != 0)
    n = KS;
  const std::size_t words = (n + 7) / 8;
  for (std::size_t i = 0; i < words; ++i) {
    if (load_word(stored + i) != word_from_bytes(key, n, i))
      return false;
  }
  return true;
}

}  // namespace xmaps::detail
