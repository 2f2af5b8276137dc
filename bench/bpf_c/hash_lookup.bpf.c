/* SPDX-License-Identifier: MIT */
/*
 * HASH lookup loop: BENCH_LOOPS lookups of keys scattered over a full map of HASH_KEYS
 * entries (a multiplicative hash of the loop index), summing the values found; a key not
 * found counts as an error.
 */
#include "bench_bpf.h"

#define HASH_KEYS 4096 /* a power of two: keys are index-hash & (HASH_KEYS - 1) */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HASH_KEYS);
	__type(key, __u32);
	__type(value, __u64);
} bench_hash SEC(".maps");

BENCH_ERRORS_MAP;

static void count_error(void)
{
	__u32 zero = 0;
	__u64 *errors = (__u64 *)bpf_map_lookup_elem(&bench_errors, &zero);

	if (errors)
		*errors += 1;
}

static long hash_lookup_one(__u32 index, void *data)
{
	__u64 *sum = (__u64 *)data;
	__u32 key = (index * 2654435761u) & (HASH_KEYS - 1);
	__u64 *value = (__u64 *)bpf_map_lookup_elem(&bench_hash, &key);

	if (value)
		*sum += *value;
	else
		count_error();
	return 0;
}

SEC("xdp")
int hash_lookup_loop(struct xdp_md *ctx)
{
	__u64 sum = 0;

	bpf_loop(BENCH_LOOPS, hash_lookup_one, &sum, 0);
	return sum != 0 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
