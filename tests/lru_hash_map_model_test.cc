// SPDX-License-Identifier: MIT
//
// lru_hash_map_test.cc on a modelled 4-CPU machine: the same scenarios, with every size that
// depends on the CPU count (the selftest's __map_size(), target_free, NO_COMMON_LRU shares)
// computed for 4 possible CPUs. set_possible_cpus(4) runs in a global test environment, before
// any map exists; each process fixes its CPU count once, hence a second executable.
#define XMAPS_LRU_TEST_CPUS 4    // NOLINT(cppcoreguidelines-macro-usage): read by the included file
#include "lru_hash_map_test.cc"  // NOLINT(bugprone-suspicious-include): the same suite, 4 CPUs
