// SPDX-License-Identifier: MIT
#include "support/libbpf_calls.h"

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>

#ifdef XMAPS_HAVE_LIBBPF
// The kernel's struct xdp_md under another name: xmaps' own is the one the other translation
// units of the test define.
#define xdp_md xmaps_kernel_xdp_md
#include <bpf/bpf.h>
#undef xdp_md
#endif

namespace xmaps::testing::libbpf {

#ifdef XMAPS_HAVE_LIBBPF

XMAPS_CHECK_LIBBPF_OPTS_LAYOUT();

namespace {

Result result(int rc) {
  return {rc, rc < 0 ? errno : 0};
}

const bpf_map_create_opts* create_opts(const void* opts) {
  return static_cast<const bpf_map_create_opts*>(opts);
}
const bpf_map_batch_opts* batch_opts(const void* opts) {
  return static_cast<const bpf_map_batch_opts*>(opts);
}

}  // namespace

bool available(std::string* why) {
  if (why != nullptr)
    why->clear();
  return true;
}

Result map_create(std::uint32_t type, const char* name, std::uint32_t key_size,
                  std::uint32_t value_size, std::uint32_t max_entries, const void* opts) {
  errno = 0;
  return result(::bpf_map_create(static_cast<enum bpf_map_type>(type), name, key_size, value_size,
                                 max_entries, create_opts(opts)));
}

Result map_update_elem(int fd, const void* key, const void* value, std::uint64_t flags) {
  errno = 0;
  return result(::bpf_map_update_elem(fd, key, value, flags));
}

Result map_lookup_elem_flags(int fd, const void* key, void* value, std::uint64_t flags) {
  errno = 0;
  return result(::bpf_map_lookup_elem_flags(fd, key, value, flags));
}

Result map_delete_elem(int fd, const void* key) {
  errno = 0;
  return result(::bpf_map_delete_elem(fd, key));
}

Result map_get_next_key(int fd, const void* key, void* next_key) {
  errno = 0;
  return result(::bpf_map_get_next_key(fd, key, next_key));
}

Result map_lookup_and_delete_elem(int fd, const void* key, void* value) {
  errno = 0;
  return result(::bpf_map_lookup_and_delete_elem(fd, key, value));
}

Result map_lookup_batch(int fd, void* in_batch, void* out_batch, void* keys, void* values,
                        std::uint32_t* count, const void* opts) {
  errno = 0;
  return result(
      ::bpf_map_lookup_batch(fd, in_batch, out_batch, keys, values, count, batch_opts(opts)));
}

Result map_lookup_and_delete_batch(int fd, void* in_batch, void* out_batch, void* keys,
                                   void* values, std::uint32_t* count, const void* opts) {
  errno = 0;
  return result(::bpf_map_lookup_and_delete_batch(fd, in_batch, out_batch, keys, values, count,
                                                  batch_opts(opts)));
}

Result map_update_batch(int fd, const void* keys, const void* values, std::uint32_t* count,
                        const void* opts) {
  errno = 0;
  return result(::bpf_map_update_batch(fd, keys, values, count, batch_opts(opts)));
}

Result map_delete_batch(int fd, const void* keys, std::uint32_t* count, const void* opts) {
  errno = 0;
  return result(::bpf_map_delete_batch(fd, keys, count, batch_opts(opts)));
}

#else  // no libbpf: nothing to compare with

bool available(std::string* why) {
  if (why != nullptr)
    *why = "built without libbpf-dev (pkg-config libbpf): the comparison with libbpf is skipped";
  return false;
}

Result map_create(std::uint32_t, const char*, std::uint32_t, std::uint32_t, std::uint32_t,
                  const void*) {
  return {-ENOSYS, ENOSYS};
}
Result map_update_elem(int, const void*, const void*, std::uint64_t) {
  return {-ENOSYS, ENOSYS};
}
Result map_lookup_elem_flags(int, const void*, void*, std::uint64_t) {
  return {-ENOSYS, ENOSYS};
}
Result map_delete_elem(int, const void*) {
  return {-ENOSYS, ENOSYS};
}
Result map_get_next_key(int, const void*, void*) {
  return {-ENOSYS, ENOSYS};
}
Result map_lookup_and_delete_elem(int, const void*, void*) {
  return {-ENOSYS, ENOSYS};
}
Result map_lookup_batch(int, void*, void*, void*, void*, std::uint32_t*, const void*) {
  return {-ENOSYS, ENOSYS};
}
Result map_lookup_and_delete_batch(int, void*, void*, void*, void*, std::uint32_t*, const void*) {
  return {-ENOSYS, ENOSYS};
}
Result map_update_batch(int, const void*, const void*, std::uint32_t*, const void*) {
  return {-ENOSYS, ENOSYS};
}
Result map_delete_batch(int, const void*, std::uint32_t*, const void*) {
  return {-ENOSYS, ENOSYS};
}

#endif

}  // namespace xmaps::testing::libbpf
