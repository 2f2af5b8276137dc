// SPDX-License-Identifier: MIT
//
// KernelMap: a kernel BPF map driven through the raw bpf(2) syscall (no libbpf), with the same
// byte-level calls as xmaps::Map, for the differential tests. Every call passes its arguments
// through unchanged (invalid flags, null pointers, out-of-range batch tokens included), so the
// kernel's own checks decide, and returns 0 or the kernel's positive errno.
//
// Batch calls take an xmaps::BatchArgs and write back `count` as the kernel left it in bpf_attr
// (also on error); out_batch, keys and values are written by the kernel directly.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <linux/bpf.h>
#include <string>
#include <sys/syscall.h>
#include <unistd.h>
#include <utility>

#include "xmaps/map.h"

namespace xmaps::testing {

// The kernel's num_possible_cpus(), as libbpf_num_possible_cpus() reads it.
inline int kernel_possible_cpus() {
  std::ifstream in("/sys/devices/system/cpu/possible");
  std::string list;
  if (!in || !std::getline(in, list))
    return 1;
  int highest = 0;
  std::size_t pos = 0;
  while (pos < list.size()) {
    std::size_t end = list.find(',', pos);
    if (end == std::string::npos)
      end = list.size();
    const std::string part = list.substr(pos, end - pos);
    const std::size_t dash = part.find('-');
    const int last = std::stoi(dash == std::string::npos ? part : part.substr(dash + 1));
    if (last > highest)
      highest = last;
    pos = end + 1;
  }
  return highest + 1;
}

inline bool is_percpu_type(std::uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

inline std::uint64_t to_user(const void* p) {
  return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(p));
}

// bpf(2): 0 on success (or the fd for BPF_MAP_CREATE), else the positive errno.
inline int sys_bpf(int cmd, union bpf_attr* attr, int* fd = nullptr) {
  const long rc = ::syscall(__NR_bpf, cmd, attr, sizeof(*attr));
  if (rc < 0)
    return errno;
  if (fd != nullptr)
    *fd = static_cast<int>(rc);
  return 0;
}

class KernelMap {
 public:
  KernelMap() = default;
  KernelMap(KernelMap&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)),
        spec_(other.spec_),
        value_buffer_size_(other.value_buffer_size_) {}
  KernelMap& operator=(KernelMap&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
      spec_ = other.spec_;
      value_buffer_size_ = other.value_buffer_size_;
    }
    return *this;
  }
  KernelMap(const KernelMap&) = delete;
  KernelMap& operator=(const KernelMap&) = delete;
  ~KernelMap() { reset(); }

  // BPF_MAP_CREATE. On failure the map is invalid (!valid()) and *err is the errno; else 0.
  // numa_node is passed as is (the kernel reads it only with BPF_F_NUMA_NODE).
  static KernelMap create(const xmaps::MapSpec& spec, int* err) {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.map_type = static_cast<std::uint32_t>(spec.type);
    attr.key_size = spec.key_size;
    attr.value_size = spec.value_size;
    attr.max_entries = spec.max_entries;
    attr.map_flags = spec.flags;
    attr.numa_node = static_cast<std::uint32_t>(spec.numa_node);
    KernelMap map;
    int fd = -1;
    const int rc = sys_bpf(BPF_MAP_CREATE, &attr, &fd);
    if (err != nullptr)
      *err = rc;
    if (rc != 0)
      return map;
    map.fd_ = fd;
    map.spec_ = spec;
    const std::size_t slot = (static_cast<std::size_t>(spec.value_size) + 7) / 8 * 8;
    map.value_buffer_size_ = is_percpu_type(attr.map_type)
                                 ? slot * static_cast<std::size_t>(kernel_possible_cpus())
                                 : spec.value_size;
    return map;
  }

  [[nodiscard]] bool valid() const { return fd_ >= 0; }
  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] const xmaps::MapSpec& spec() const { return spec_; }
  [[nodiscard]] std::size_t value_buffer_size() const { return value_buffer_size_; }

  int lookup(const void* key, void* value, std::uint64_t flags) const {
    return elem_op(BPF_MAP_LOOKUP_ELEM, key, value, flags);
  }
  int update(const void* key, const void* value, std::uint64_t flags) const {
    return elem_op(BPF_MAP_UPDATE_ELEM, key, value, flags);
  }
  int erase(const void* key) const { return elem_op(BPF_MAP_DELETE_ELEM, key, nullptr, 0); }
  int lookup_and_erase(const void* key, void* value, std::uint64_t flags) const {
    return elem_op(BPF_MAP_LOOKUP_AND_DELETE_ELEM, key, value, flags);
  }
  int get_next_key(const void* key, void* next_key) const {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.map_fd = static_cast<std::uint32_t>(fd_);
    attr.key = to_user(key);
    attr.next_key = to_user(next_key);
    return sys_bpf(BPF_MAP_GET_NEXT_KEY, &attr);
  }

  int lookup_batch(xmaps::BatchArgs& args) const { return batch_op(BPF_MAP_LOOKUP_BATCH, args); }
  int lookup_and_erase_batch(xmaps::BatchArgs& args) const {
    return batch_op(BPF_MAP_LOOKUP_AND_DELETE_BATCH, args);
  }
  int update_batch(xmaps::BatchArgs& args) const { return batch_op(BPF_MAP_UPDATE_BATCH, args); }
  int erase_batch(xmaps::BatchArgs& args) const { return batch_op(BPF_MAP_DELETE_BATCH, args); }

 private:
  void reset() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

  int elem_op(int cmd, const void* key, const void* value, std::uint64_t flags) const {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.map_fd = static_cast<std::uint32_t>(fd_);
    attr.key = to_user(key);
    attr.value = to_user(value);
    attr.flags = flags;
    return sys_bpf(cmd, &attr);
  }

  int batch_op(int cmd, xmaps::BatchArgs& args) const {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.batch.in_batch = to_user(args.in_batch);
    attr.batch.out_batch = to_user(args.out_batch);
    attr.batch.keys = to_user(args.keys);
    attr.batch.values = to_user(args.values);
    attr.batch.count = args.count;
    attr.batch.map_fd = static_cast<std::uint32_t>(fd_);
    attr.batch.elem_flags = args.elem_flags;
    attr.batch.flags = args.flags;
    const int rc = sys_bpf(cmd, &attr);
    args.count = attr.batch.count;
    return rc;
  }

  int fd_ = -1;
  xmaps::MapSpec spec_{};
  std::size_t value_buffer_size_ = 0;
};

// Whether bpf(BPF_MAP_CREATE) works here: creates and closes a 1-entry ARRAY. On failure *why
// says what failed and what to do.
inline bool bpf_available(std::string* why) {
  xmaps::MapSpec spec;
  spec.type = xmaps::MapType::array;
  spec.key_size = 4;
  spec.value_size = 4;
  spec.max_entries = 1;
  int err = 0;
  const KernelMap map = KernelMap::create(spec, &err);
  if (map.valid())
    return true;
  if (why != nullptr) {
    const char* name = err == EPERM    ? "EPERM"
                       : err == ENOSYS ? "ENOSYS"
                       : err == EACCES ? "EACCES"
                                       : nullptr;
    *why = std::string("bpf(BPF_MAP_CREATE) failed: ") +
           (name != nullptr ? name : std::to_string(err)) + " (" + std::strerror(err) +
           ") — run as root (or with CAP_BPF) on a kernel with bpf(2) to compare with the "
           "kernel";
  }
  return false;
}

// Names for failure messages.
inline std::string errno_name(int e) {
  switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case E2BIG: return "E2BIG";
    case ENOMEM: return "ENOMEM";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case EOVERFLOW: return "EOVERFLOW";
    case 524: return "ENOTSUPP";
    case EBADF: return "EBADF";
    default: return "errno " + std::to_string(e);
  }
}

inline std::string type_name(xmaps::MapType t) {
  switch (t) {
    case xmaps::MapType::hash: return "hash";
    case xmaps::MapType::array: return "array";
    case xmaps::MapType::percpu_hash: return "percpu_hash";
    case xmaps::MapType::percpu_array: return "percpu_array";
    case xmaps::MapType::lru_hash: return "lru_hash";
    case xmaps::MapType::lru_percpu_hash: return "lru_percpu_hash";
    case xmaps::MapType::cpumap: return "cpumap";
    case xmaps::MapType::queue: return "queue";
    case xmaps::MapType::stack: return "stack";
  }
  return "type" + std::to_string(static_cast<unsigned>(t));
}

}  // namespace xmaps::testing
