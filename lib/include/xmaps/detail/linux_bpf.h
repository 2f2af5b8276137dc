// SPDX-License-Identifier: MIT
//
// <linux/bpf.h> for the BPF-C headers (xmaps/bpf.h, xmaps/bpf_helpers.h): the kernel's
// constants (map types, update flags, BPF_F_*, enum xdp_action, struct bpf_cpumap_val), with
// its struct xdp_md replaced by one whose data / data_end / data_meta can hold native
// pointers (the kernel's are __u32 offsets the verifier rewrites), so that BPF-C's
// `(void *)(long)ctx->data` works natively. Include the xmaps headers instead of
// <linux/bpf.h>, not after it (two definitions of struct xdp_md would clash).
//
// Where <linux/bpf.h> is missing (or XMAPS_NO_LINUX_BPF_H is defined, to test this path), the
// same names are defined here with the kernel's values (xmaps/detail/linux_bpf_values.h, whose
// every entry a test checks against the header) and the kernel's types: __u64 is
// `unsigned long long` as in <asm-generic/int-ll64.h>, so that the functions of xmaps/bpf.h
// have one signature whichever path a translation unit took. Only what xmaps' BPF-C API uses is
// defined then: the map types, the element and map-creation flags, the XDP actions, struct
// bpf_cpumap_val and the __u8 ... __s64 / __be16 ... __be64 types. XMAPS_LINUX_BPF_FALLBACK is
// 1 on that path and 0 with the header.
#pragma once

#include <cstddef>
#include <cstdint>

#if !defined(XMAPS_NO_LINUX_BPF_H) && __has_include(<linux/bpf.h>)

#define XMAPS_LINUX_BPF_FALLBACK 0
#define xdp_md xmaps_kernel_xdp_md
#include <linux/bpf.h>
#undef xdp_md

#else

#define XMAPS_LINUX_BPF_FALLBACK 1
#include "xmaps/detail/linux_bpf_values.h"

// NOLINTBEGIN: the kernel's UAPI names, spelled as <linux/types.h> and <linux/bpf.h> do
typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u64 __be64;

#define XMAPS_LINUX_BPF_ENUMERATOR(name, value) name = (value),
enum bpf_map_type { XMAPS_LINUX_BPF_MAP_TYPES(XMAPS_LINUX_BPF_ENUMERATOR) };
enum { XMAPS_LINUX_BPF_ELEM_FLAGS(XMAPS_LINUX_BPF_ENUMERATOR) };
enum { XMAPS_LINUX_BPF_MAP_FLAGS(XMAPS_LINUX_BPF_ENUMERATOR) };
enum xdp_action { XMAPS_LINUX_BPF_XDP_ACTIONS(XMAPS_LINUX_BPF_ENUMERATOR) };
#undef XMAPS_LINUX_BPF_ENUMERATOR

struct bpf_cpumap_val {
  __u32 qsize;  // the entry's ring size
  union {
    int fd;    // a program's descriptor, on update
    __u32 id;  // that program's id, on lookup
  } bpf_prog;
};
// NOLINTEND
static_assert(sizeof(bpf_cpumap_val) == XMAPS_LINUX_BPF_CPUMAP_VAL_SIZE &&
                  offsetof(bpf_cpumap_val, bpf_prog) == XMAPS_LINUX_BPF_CPUMAP_VAL_PROG_OFFSET,
              "xmaps: struct bpf_cpumap_val must have the kernel's layout");

#endif

struct xdp_md {
  std::uintptr_t data;
  std::uintptr_t data_end;
  std::uintptr_t data_meta;
  __u32 ingress_ifindex;
  __u32 rx_queue_index;
  __u32 egress_ifindex;
};
