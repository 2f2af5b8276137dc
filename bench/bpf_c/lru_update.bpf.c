/* SPDX-License-Identifier: MIT */
/*
 * LRU_HASH update loop: BENCH_LOOPS updates (BPF_ANY) of an LRU map of LRU_ENTRIES entries.
 *   lru_update_evicting  keys scattered over 4 x LRU_ENTRIES: most updates insert a new key
 *                        and the map evicts to make room (the eviction path)
 *   lru_update_resident  keys over LRU_ENTRIES / 2: every update replaces a present key
 * A failed update counts as an error.
 */
#include "bench_bpf.h"

#define LRU_ENTRIES 4096

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LRU_ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} bench_lru SEC(".maps");

BENCH_ERRORS_MAP;

static void count_error(void)
{
	__u32 zero = 0;
	__u64 *errors = (__u64 *)bpf_map_lookup_elem(&bench_errors, &zero);

	if (errors)
		*errors += 1;
}

static long lru_update_one(__u32 index, void *data)
{
	__u32 key = (index * 2654435761u) & *(__u32 *)data;
	__u64 value = index;

	if (bpf_map_update_elem(&bench_lru, &key, &value, BPF_ANY) != 0)
		count_error();
	return 0;
}

SEC("xdp")
int lru_update_evicting(struct xdp_md *ctx)
{
	__u32 key_mask = 4 * LRU_ENTRIES - 1;

	bpf_loop(BENCH_LOOPS, lru_update_one, &key_mask, 0);
	return XDP_PASS;
}

SEC("xdp")
int lru_update_resident(struct xdp_md *ctx)
{
	__u32 key_mask = LRU_ENTRIES / 2 - 1;

	bpf_loop(BENCH_LOOPS, lru_update_one, &key_mask, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
