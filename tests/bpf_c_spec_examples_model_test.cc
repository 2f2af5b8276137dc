// SPDX-License-Identifier: MIT
//
// bpf_c_spec_examples_test.cc on a modelled 13-CPU machine: 120 frames do not divide evenly
// over 13 CPUs, and the round-robin example's cpus_available (12 entries) has no entry for the
// 13th CPU, whose frames the program aborts. set_possible_cpus(13) runs in a global test
// environment, before any map exists; each process fixes its CPU count once, hence a second
// executable.
#define XMAPS_SPEC_TEST_CPUS 13  // NOLINT(cppcoreguidelines-macro-usage): read by the included file
#include "bpf_c_spec_examples_test.cc"  // NOLINT(bugprone-suspicious-include): the same suite
