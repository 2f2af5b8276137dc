// SPDX-License-Identifier: MIT
//
// The replacement global operator new/delete behind support/alloc_counter.h. They live in a
// translation unit of their own: when GCC can inline the malloc() inside a replaced new into a
// caller that later frees through delete, it warns of a mismatched pair (-Wmismatched-new-delete)
// although the pair matches here.
#include "support/alloc_counter.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<std::uint64_t> g_allocations{0};
}  // namespace

std::uint64_t xmaps_test::allocation_count() noexcept {
  // Relaxed: a count compared before and after a region on one thread; it orders nothing.
  return g_allocations.load(std::memory_order_relaxed);
}

void* operator new(std::size_t n) {
  // Relaxed: a counter only.
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n))
    return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t /*n*/) noexcept {
  std::free(p);
}
