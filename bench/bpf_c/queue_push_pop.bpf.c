/* SPDX-License-Identifier: MIT */
/*
 * QUEUE loops over a queue of QUEUE_SIZE values:
 *   queue_push_pop        BENCH_LOOPS times: push a value, pop it back (one pair per loop)
 *   queue_push_overwrite  BENCH_LOOPS pushes with BPF_EXIST into a full queue: each one
 *                         overwrites the oldest value (the harness fills the queue first)
 * A failed operation, or a pop that does not return the value pushed, counts as an error.
 */
#include "bench_bpf.h"

#define QUEUE_SIZE 1024

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, QUEUE_SIZE);
	__type(value, __u64);
} bench_queue SEC(".maps");

BENCH_ERRORS_MAP;

static void count_error(void)
{
	__u32 zero = 0;
	__u64 *errors = (__u64 *)bpf_map_lookup_elem(&bench_errors, &zero);

	if (errors)
		*errors += 1;
}

static long queue_pair_one(__u32 index, void *data)
{
	__u64 value = index;
	__u64 out = 0;

	if (bpf_map_push_elem(&bench_queue, &value, 0) != 0)
		count_error();
	if (bpf_map_pop_elem(&bench_queue, &out) != 0 || out != value)
		count_error();
	return 0;
}

static long queue_overwrite_one(__u32 index, void *data)
{
	__u64 value = index;

	if (bpf_map_push_elem(&bench_queue, &value, BPF_EXIST) != 0)
		count_error();
	return 0;
}

SEC("xdp")
int queue_push_pop(struct xdp_md *ctx)
{
	bpf_loop(BENCH_LOOPS, queue_pair_one, NULL, 0);
	return XDP_PASS;
}

SEC("xdp")
int queue_push_overwrite(struct xdp_md *ctx)
{
	bpf_loop(BENCH_LOOPS, queue_overwrite_one, NULL, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
