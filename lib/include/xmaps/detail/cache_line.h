// SPDX-License-Identifier: MIT
//
// Cache-line size and padding helpers. 64 bytes on x86-64 and most arm64 parts. folly uses 128
// on x86 because the adjacent-line prefetcher pulls pairs of lines; a benchmark decides before
// we follow. std::hardware_destructive_interference_size is avoided on purpose: GCC 12 warns
// about it (-Winterference-size) and clang-tidy 14 on libstdc++ 12 does not know it.
#pragma once

#include <cstddef>

namespace xmaps::detail {

inline constexpr std::size_t kCacheLine = 64;

// A T alone on its cache line(s), so writers of neighbouring objects never false-share with it.
template <class T>
struct alignas(kCacheLine) CacheAligned {
  T value{};
};

constexpr std::size_t round_up(std::size_t n, std::size_t to) noexcept {
  return (n + to - 1) / to * to;
}

}  // namespace xmaps::detail
