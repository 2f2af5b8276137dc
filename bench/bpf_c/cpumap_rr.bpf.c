/* SPDX-License-Identifier: MIT */
/*
 * Round-robin CPUMAP redirect, the xdp_redirect_cpu pattern:
 *   cpumap_rr_redirect  (first program, on the ingress CPU) sends each frame to the next of
 *                       rr_count target CPUs listed in rr_targets, keeping its position in
 *                       a per-CPU counter, with bpf_redirect_map(&rr_cpu_map, cpu, 0)
 *   cpumap_count_drop   (second program, in every CPUMAP entry) counts the frame in
 *                       rr_delivered[0] with an atomic add and drops it
 * The harness fills rr_targets and rr_count[0], and gives each target's CPUMAP entry a qsize
 * and cpumap_count_drop.
 */
#include "bench_bpf.h"

#define RR_MAX_CPUS 64

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, RR_MAX_CPUS);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} rr_cpu_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RR_MAX_CPUS);
	__type(key, __u32);
	__type(value, __u32);
} rr_targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} rr_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} rr_position SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rr_delivered SEC(".maps");

SEC("xdp")
int cpumap_rr_redirect(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u32 *position = (__u32 *)bpf_map_lookup_elem(&rr_position, &zero);
	__u32 *count = (__u32 *)bpf_map_lookup_elem(&rr_count, &zero);
	__u32 slot;
	__u32 *cpu;

	if (!position || !count || *count == 0)
		return XDP_ABORTED;
	slot = *position < *count ? *position : 0;
	*position = slot + 1 < *count ? slot + 1 : 0;
	cpu = (__u32 *)bpf_map_lookup_elem(&rr_targets, &slot);
	if (!cpu)
		return XDP_ABORTED;
	return bpf_redirect_map(&rr_cpu_map, *cpu, 0);
}

SEC("xdp/cpumap")
int cpumap_count_drop(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *delivered = (__u64 *)bpf_map_lookup_elem(&rr_delivered, &zero);

	if (delivered)
		__sync_fetch_and_add(delivered, 1);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
