// SPDX-License-Identifier: MIT
//
// User side of BPF-C compatibility: libbpf's low-level map API (tools/lib/bpf/bpf.h) with the
// same names, signatures and return conventions, over xmaps maps, so user-space tools written
// against libbpf compile and run unchanged (only the include line differs).
//
//   int fd = bpf_map_create(BPF_MAP_TYPE_QUEUE, "sample_queue", 0, sizeof(__u32), 10, NULL);
//   __u32 v = 7;
//   bpf_map_update_elem(fd, NULL, &v, BPF_ANY);
//   close(fd);
//
// Conventions (libbpf 1.x): every call returns 0 (or an fd) on success and a negative errno on
// failure, and also sets errno. The constants (BPF_MAP_TYPE_*, BPF_ANY / BPF_NOEXIST /
// BPF_EXIST, BPF_F_*) are <linux/bpf.h>'s, so their values are the kernel's (without that
// header, xmaps/detail/linux_bpf.h defines them with the same values).
//
// File descriptors are real descriptors (each map holds one, from eventfd(2)); close(2) ends
// the handle: later calls with that number fail with EBADF, even if the number is reused by
// something else (the table checks the descriptor's inode). The map itself lives while a
// handle or a program-side definition refers to it.
//
// Maps defined in a program file (xmaps/bpf_helpers.h) are reached with xmaps::bpf_map_of(&def),
// which gives libbpf's `struct bpf_map *` for bpf_map__set_max_entries() (before first use) and
// bpf_map__fd(). Native programs get descriptors from xmaps::bpf_program_fd(), for CPUMAP
// values.
//
// Thread safety: every call may run concurrently with every other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "xmaps/detail/linux_bpf.h"  // the constants, as <linux/bpf.h> has them

// libbpf's options structs (libbpf 1.1's fields, in its order), checked as libbpf checks them:
// `sz` below sizeof(size_t) (0 included: set it, as LIBBPF_OPTS does) is EINVAL; fields past
// `sz` read as 0 (an older caller's smaller struct); bytes past xmaps' struct up to `sz` must be
// zero (a newer caller's unset fields), else EINVAL.
//
// bpf_map_create(): map_flags, numa_node (with BPF_F_NUMA_NODE) and the name are used; the name
// is checked as the kernel checks its first 15 bytes (letters, digits, '_', '.'; else EINVAL,
// after the map's own checks). xmaps has no BTF, map-in-map, bloom filter or offload, so: a BTF
// key or value type id is EBADF for a btf_fd that is not open and EINVAL otherwise (the kernel
// takes a real BTF object there); btf_vmlinux_value_type_id, a key type without a value type,
// map_extra and map_ifindex are EINVAL (for map_ifindex of an existing device the kernel says
// EOPNOTSUPP or EINVAL, depending on the device); btf_fd alone and inner_map_fd are ignored on
// the types xmaps has, as the kernel ignores them there.
//
// The batch calls: NULL `count` is EFAULT (libbpf itself would dereference it).
//
// Every field defaults to 0, so that LIBBPF_OPTS(..., .map_flags = F) names only what it sets
// without -Wmissing-field-initializers (C++ designated initializers).
struct bpf_map_create_opts {
  std::size_t sz = 0;
  __u32 btf_fd = 0;
  __u32 btf_key_type_id = 0;
  __u32 btf_value_type_id = 0;
  __u32 btf_vmlinux_value_type_id = 0;
  __u32 inner_map_fd = 0;
  __u32 map_flags = 0;
  __u64 map_extra = 0;
  __u32 numa_node = 0;
  __u32 map_ifindex = 0;
};

struct bpf_map_batch_opts {
  std::size_t sz = 0;
  __u64 elem_flags = 0;
  __u64 flags = 0;
};

// LIBBPF_OPTS(type, name, .field = value, ...): a zeroed options struct with sz set (the
// fields in declaration order, as C++ wants designated initializers).
#ifndef LIBBPF_OPTS
#define LIBBPF_OPTS(TYPE, NAME, ...) \
  struct TYPE NAME = {.sz = sizeof(struct TYPE) __VA_OPT__(, ) __VA_ARGS__}
#endif

// libbpf's handle for a map defined in a program file; opaque.
struct bpf_map;

int bpf_map_create(enum bpf_map_type map_type, const char* map_name, __u32 key_size,
                   __u32 value_size, __u32 max_entries, const struct bpf_map_create_opts* opts);
int bpf_map_update_elem(int fd, const void* key, const void* value, __u64 flags);
int bpf_map_lookup_elem(int fd, const void* key, void* value);
int bpf_map_lookup_elem_flags(int fd, const void* key, void* value, __u64 flags);
int bpf_map_lookup_and_delete_elem(int fd, const void* key, void* value);
int bpf_map_lookup_and_delete_elem_flags(int fd, const void* key, void* value, __u64 flags);
int bpf_map_delete_elem(int fd, const void* key);
int bpf_map_get_next_key(int fd, const void* key, void* next_key);
int bpf_map_lookup_batch(int fd, void* in_batch, void* out_batch, void* keys, void* values,
                         __u32* count, const struct bpf_map_batch_opts* opts);
int bpf_map_lookup_and_delete_batch(int fd, void* in_batch, void* out_batch, void* keys,
                                    void* values, __u32* count,
                                    const struct bpf_map_batch_opts* opts);
int bpf_map_update_batch(int fd, const void* keys, const void* values, __u32* count,
                         const struct bpf_map_batch_opts* opts);
int bpf_map_delete_batch(int fd, const void* keys, __u32* count,
                         const struct bpf_map_batch_opts* opts);
int libbpf_num_possible_cpus(void);

// Maps of a program file: before first use, max_entries can be changed (-EBUSY after, and
// after a first use that failed to make the map: libbpf's object counts as loaded then).
int bpf_map__set_max_entries(struct bpf_map* map, __u32 max_entries);
__u32 bpf_map__max_entries(const struct bpf_map* map);
// The map's fd (the map is created now if it was not yet); negative errno if it cannot be.
int bpf_map__fd(const struct bpf_map* map);

namespace xmaps {
class XdpProgram;
// A descriptor for a native program, as libbpf's bpf_program__fd() gives one for a loaded
// program: what a CPUMAP value's bpf_prog.fd takes, so that the entry runs `program` as its
// second program (and a lookup reports program->id()). close() ends the handle; entries made
// with it keep the program. -EINVAL for nullptr; negative errno if no descriptor can be made.
// For a BPF-C function: bpf_program_fd(std::make_shared<const XdpProgram>(xdp_program(fn))).
int bpf_program_fd(std::shared_ptr<const XdpProgram> program);
}  // namespace xmaps
