// SPDX-License-Identifier: MIT
//
// libbpf's own low-level map calls (<bpf/bpf.h>) on the running kernel, for tests that compare
// xmaps/bpf.h's functions of the same names with them. Those tests include xmaps/bpf.h, whose
// declarations have libbpf's names, so libbpf's headers stay in libbpf_calls.cc and the option
// structs cross as raw pointers: xmaps' structs have libbpf 1.1's layout, which both sides
// check against XMAPS_LIBBPF_*_OPTS_LAYOUT (libbpf_calls.cc with libbpf's structs, the test
// with xmaps').
#pragma once

#include <cstdint>
#include <string>

// (field, offset) of struct bpf_map_create_opts and struct bpf_map_batch_opts in libbpf 1.1.
#define XMAPS_LIBBPF_MAP_CREATE_OPTS_LAYOUT(X) \
  X(sz, 0)                                     \
  X(btf_fd, 8)                                 \
  X(btf_key_type_id, 12)                       \
  X(btf_value_type_id, 16)                     \
  X(btf_vmlinux_value_type_id, 20)             \
  X(inner_map_fd, 24)                          \
  X(map_flags, 28)                             \
  X(map_extra, 32)                             \
  X(numa_node, 40)                             \
  X(map_ifindex, 44)
#define XMAPS_LIBBPF_MAP_CREATE_OPTS_SIZE 48
#define XMAPS_LIBBPF_BATCH_OPTS_LAYOUT(X) X(sz, 0) X(elem_flags, 8) X(flags, 16)
#define XMAPS_LIBBPF_BATCH_OPTS_SIZE 24

// Static asserts that the struct bpf_map_create_opts and struct bpf_map_batch_opts in scope
// (libbpf's in libbpf_calls.cc, xmaps' in the tests) have the layout above.
#define XMAPS_LIBBPF_OPTS_OFFSET_IS(type, field, offset) \
  static_assert(offsetof(struct type, field) == (offset), #type "." #field);
#define XMAPS_CREATE_OPTS_OFFSET_IS(field, offset) \
  XMAPS_LIBBPF_OPTS_OFFSET_IS(bpf_map_create_opts, field, offset)
#define XMAPS_BATCH_OPTS_OFFSET_IS(field, offset) \
  XMAPS_LIBBPF_OPTS_OFFSET_IS(bpf_map_batch_opts, field, offset)
#define XMAPS_CHECK_LIBBPF_OPTS_LAYOUT()                                                  \
  XMAPS_LIBBPF_MAP_CREATE_OPTS_LAYOUT(XMAPS_CREATE_OPTS_OFFSET_IS)                        \
  static_assert(sizeof(struct bpf_map_create_opts) == XMAPS_LIBBPF_MAP_CREATE_OPTS_SIZE); \
  XMAPS_LIBBPF_BATCH_OPTS_LAYOUT(XMAPS_BATCH_OPTS_OFFSET_IS)                              \
  static_assert(sizeof(struct bpf_map_batch_opts) == XMAPS_LIBBPF_BATCH_OPTS_SIZE)

namespace xmaps::testing::libbpf {

// Whether this binary was built with libbpf; if not, *why says so.
[[nodiscard]] bool available(std::string* why);

// What a call returned, and errno right after it (0 when it succeeded).
struct Result {
  int rc = 0;
  int err = 0;
};

// libbpf's functions of these names; `opts` points to a struct bpf_map_create_opts /
// bpf_map_batch_opts (or to a larger buffer starting with one), or is nullptr.
Result map_create(std::uint32_t type, const char* name, std::uint32_t key_size,
                  std::uint32_t value_size, std::uint32_t max_entries, const void* opts);
Result map_update_elem(int fd, const void* key, const void* value, std::uint64_t flags);
Result map_lookup_elem_flags(int fd, const void* key, void* value, std::uint64_t flags);
Result map_delete_elem(int fd, const void* key);
Result map_get_next_key(int fd, const void* key, void* next_key);
Result map_lookup_and_delete_elem(int fd, const void* key, void* value);
Result map_lookup_batch(int fd, void* in_batch, void* out_batch, void* keys, void* values,
                        std::uint32_t* count, const void* opts);
Result map_lookup_and_delete_batch(int fd, void* in_batch, void* out_batch, void* keys,
                                   void* values, std::uint32_t* count, const void* opts);
Result map_update_batch(int fd, const void* keys, const void* values, std::uint32_t* count,
                        const void* opts);
Result map_delete_batch(int fd, const void* keys, std::uint32_t* count, const void* opts);

}  // namespace xmaps::testing::libbpf
