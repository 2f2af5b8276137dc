/* SPDX-License-Identifier: MIT */
/*
 * The one include line of the benchmark programs in this directory. Each *.bpf.c here is
 * compiled twice from the same text: by clang's BPF target against libbpf's headers (and
 * loaded into the running kernel), and natively as C++ against xmaps (bench/bpf_c_bench.cc).
 * The sources keep to what both compilers accept: casts from void * are written out.
 */
#pragma once

#ifdef __bpf__
/* Order matters: linux/bpf.h brings the __u32/__u64 types that bpf_helpers.h uses. */
/* clang-format off */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
/* clang-format on */
#else
#include <xmaps/bpf_helpers.h>
#endif

/* Map operations per program run (bpf_loop iterations); the native harness uses the same. */
#define BENCH_LOOPS 65536

/*
 * Operations that fail are counted in the program's bench_errors[0], which the harness reads
 * after the runs (both sides must end with 0). A count kept in the program and tested there
 * would make the kernel's verifier, which walks a bpf_loop callback until its states repeat,
 * see a new state on every pass and give up.
 */
#define BENCH_ERRORS_MAP              \
  struct {                            \
    __uint(type, BPF_MAP_TYPE_ARRAY); \
    __uint(max_entries, 1);           \
    __type(key, __u32);               \
    __type(value, __u64);             \
  } bench_errors SEC(".maps")
