// SPDX-License-Identifier: MIT
//
// Counts every allocation the test binary makes through the global operator new, so a test can
// check that a hot path allocates nothing. Linking tests/support/alloc_counter.cc replaces the
// global new/delete (malloc/free underneath); a test that calls allocation_count() pulls it in.
#pragma once

#include <cstdint>

namespace xmaps_test {

// Allocations through the global operator new so far, in all threads.
std::uint64_t allocation_count() noexcept;

}  // namespace xmaps_test
