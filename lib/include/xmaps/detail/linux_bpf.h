// SPDX-License-Identifier: MIT
//
// <linux/bpf.h> for the BPF-C headers (xmaps/bpf.h, xmaps/bpf_helpers.h): the kernel's
// constants (map types, update flags, BPF_F_*, enum xdp_action, struct bpf_cpumap_val), with
// its struct xdp_md replaced by one whose data / data_end / data_meta can hold native
// pointers (the kernel's are __u32 offsets the verifier rewrites), so that BPF-C's
// `(void *)(long)ctx->data` works natively. Include the xmaps headers instead of
// <linux/bpf.h>, not after it (two definitions of struct xdp_md would clash).
#pragma once

#include <cstdint>

#define xdp_md xmaps_kernel_xdp_md
#include <linux/bpf.h>
#undef xdp_md

struct xdp_md {
  std::uintptr_t data;
  std::uintptr_t data_end;
  std::uintptr_t data_meta;
  __u32 ingress_ifindex;
  __u32 rx_queue_index;
  __u32 egress_ifindex;
};
