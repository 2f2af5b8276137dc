// SPDX-License-Identifier: MIT
//
// The values of <linux/bpf.h> that the BPF-C headers need, as X-macro tables: each table calls
// X(name, value) once per constant. linux_bpf.h makes its fallback definitions from them when
// <linux/bpf.h> is missing; tests/bpf_c/linux_bpf_values_check.cc checks every entry against the
// header where it is present, so the two cannot drift apart. The values are the kernel's UAPI
// (fixed for good once released); the map types are those of the Linux 6.1 header, in order.
#pragma once

// enum bpf_map_type.
#define XMAPS_LINUX_BPF_MAP_TYPES(X)        \
  X(BPF_MAP_TYPE_UNSPEC, 0)                 \
  X(BPF_MAP_TYPE_HASH, 1)                   \
  X(BPF_MAP_TYPE_ARRAY, 2)                  \
  X(BPF_MAP_TYPE_PROG_ARRAY, 3)             \
  X(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4)       \
  X(BPF_MAP_TYPE_PERCPU_HASH, 5)            \
  X(BPF_MAP_TYPE_PERCPU_ARRAY, 6)           \
  X(BPF_MAP_TYPE_STACK_TRACE, 7)            \
  X(BPF_MAP_TYPE_CGROUP_ARRAY, 8)           \
  X(BPF_MAP_TYPE_LRU_HASH, 9)               \
  X(BPF_MAP_TYPE_LRU_PERCPU_HASH, 10)       \
  X(BPF_MAP_TYPE_LPM_TRIE, 11)              \
  X(BPF_MAP_TYPE_ARRAY_OF_MAPS, 12)         \
  X(BPF_MAP_TYPE_HASH_OF_MAPS, 13)          \
  X(BPF_MAP_TYPE_DEVMAP, 14)                \
  X(BPF_MAP_TYPE_SOCKMAP, 15)               \
  X(BPF_MAP_TYPE_CPUMAP, 16)                \
  X(BPF_MAP_TYPE_XSKMAP, 17)                \
  X(BPF_MAP_TYPE_SOCKHASH, 18)              \
  X(BPF_MAP_TYPE_CGROUP_STORAGE, 19)        \
  X(BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, 20)   \
  X(BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE, 21) \
  X(BPF_MAP_TYPE_QUEUE, 22)                 \
  X(BPF_MAP_TYPE_STACK, 23)                 \
  X(BPF_MAP_TYPE_SK_STORAGE, 24)            \
  X(BPF_MAP_TYPE_DEVMAP_HASH, 25)           \
  X(BPF_MAP_TYPE_STRUCT_OPS, 26)            \
  X(BPF_MAP_TYPE_RINGBUF, 27)               \
  X(BPF_MAP_TYPE_INODE_STORAGE, 28)         \
  X(BPF_MAP_TYPE_TASK_STORAGE, 29)          \
  X(BPF_MAP_TYPE_BLOOM_FILTER, 30)          \
  X(BPF_MAP_TYPE_USER_RINGBUF, 31)

// The element flags of BPF_MAP_{LOOKUP,UPDATE}_ELEM and the batch calls.
#define XMAPS_LINUX_BPF_ELEM_FLAGS(X) \
  X(BPF_ANY, 0)                       \
  X(BPF_NOEXIST, 1)                   \
  X(BPF_EXIST, 2)                     \
  X(BPF_F_LOCK, 4)

// The BPF_MAP_CREATE flags.
#define XMAPS_LINUX_BPF_MAP_FLAGS(X) \
  X(BPF_F_NO_PREALLOC, 1U << 0)      \
  X(BPF_F_NO_COMMON_LRU, 1U << 1)    \
  X(BPF_F_NUMA_NODE, 1U << 2)        \
  X(BPF_F_RDONLY, 1U << 3)           \
  X(BPF_F_WRONLY, 1U << 4)           \
  X(BPF_F_STACK_BUILD_ID, 1U << 5)   \
  X(BPF_F_ZERO_SEED, 1U << 6)        \
  X(BPF_F_RDONLY_PROG, 1U << 7)      \
  X(BPF_F_WRONLY_PROG, 1U << 8)      \
  X(BPF_F_CLONE, 1U << 9)            \
  X(BPF_F_MMAPABLE, 1U << 10)        \
  X(BPF_F_PRESERVE_ELEMS, 1U << 11)  \
  X(BPF_F_INNER_MAP, 1U << 12)

// enum xdp_action.
#define XMAPS_LINUX_BPF_XDP_ACTIONS(X) \
  X(XDP_ABORTED, 0)                    \
  X(XDP_DROP, 1)                       \
  X(XDP_PASS, 2)                       \
  X(XDP_TX, 3)                         \
  X(XDP_REDIRECT, 4)

// struct bpf_cpumap_val's layout: {__u32 qsize; union {int fd; __u32 id;} bpf_prog;}.
#define XMAPS_LINUX_BPF_CPUMAP_VAL_SIZE 8
#define XMAPS_LINUX_BPF_CPUMAP_VAL_PROG_OFFSET 4
