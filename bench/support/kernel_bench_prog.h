// SPDX-License-Identifier: MIT
//
// What the kernel peers of the benchmarks share (support/kernel_hash.h, support/kernel_queue.h):
// creating a map, loading a SCHED_CLS program assembled with tests/support/kernel_prog.h's
// bpf_asm, and running it with BPF_PROG_TEST_RUN on the calling CPU. Every failure throws
// std::runtime_error naming the call and the errno (and the verifier's log for a load).
#pragma once

#include <cstdint>
#include <cstring>
#include <linux/bpf.h>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/kernel_map.h"
#include "support/kernel_prog.h"

namespace xmaps_bench::kernel {

inline void check(int rc, const std::string& what) {
  if (rc != 0) {
    throw std::runtime_error("kernel: " + what + " failed: " + xmaps::testing::errno_name(rc) +
                             " (" + std::strerror(rc) + ")");
  }
}

// BPF_MAP_CREATE; returns the fd.
inline int make_map(std::uint32_t type, std::uint32_t key_size, std::uint32_t value_size,
                    std::uint32_t max_entries, std::uint32_t flags, const char* what) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.map_type = type;
  attr.key_size = key_size;
  attr.value_size = value_size;
  attr.max_entries = max_entries;
  attr.map_flags = flags;
  int fd = -1;
  check(xmaps::testing::sys_bpf(BPF_MAP_CREATE, &attr, &fd),
        std::string("BPF_MAP_CREATE (") + what + ", " + std::to_string(max_entries) + ")");
  return fd;
}

// BPF_PROG_LOAD of a program of `type` (and `attach`, the expected attach type); returns the
// fd. On failure loads again with the verifier's log, for the exception's message.
inline int load_prog(std::uint32_t type, std::uint32_t attach, const std::vector<bpf_insn>& insns,
                     const char* name) {
  static constexpr char kLicense[] = "GPL";
  std::vector<char> log(std::size_t{1} << 20);
  for (const std::uint32_t level : {0U, 1U}) {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.prog_type = type;
    attr.expected_attach_type = attach;
    attr.insn_cnt = static_cast<std::uint32_t>(insns.size());
    attr.insns = xmaps::testing::to_user(insns.data());
    attr.license = xmaps::testing::to_user(kLicense);
    if (level != 0) {
      attr.log_level = level;
      attr.log_buf = xmaps::testing::to_user(log.data());
      attr.log_size = static_cast<std::uint32_t>(log.size());
    }
    std::strncpy(attr.prog_name, name, sizeof(attr.prog_name) - 1);
    int fd = -1;
    const int rc = xmaps::testing::sys_bpf(BPF_PROG_LOAD, &attr, &fd);
    if (rc == 0 && level == 0)
      return fd;
    if (rc == 0)
      ::close(fd);
    if (level != 0) {
      throw std::runtime_error(
          "kernel: BPF_PROG_LOAD (" + std::to_string(insns.size()) + " insns) failed: " +
          (rc == 0 ? std::string("only with a verifier log") : xmaps::testing::errno_name(rc)) +
          "\n" + std::string(log.data(), ::strnlen(log.data(), log.size())));
    }
  }
  return -1;
}

// BPF_PROG_LOAD of a SCHED_CLS program (the benchmarks' map drivers).
inline int load_sched_cls(const std::vector<bpf_insn>& insns, const char* name) {
  return load_prog(BPF_PROG_TYPE_SCHED_CLS, 0, insns, name);
}

// Runs the program `repeat` times on the calling CPU over a zeroed 64-byte frame; returns the
// last run's return value.
inline std::uint32_t test_run(int prog_fd, std::uint32_t repeat) {
  unsigned char packet[64] = {};
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.test.prog_fd = static_cast<std::uint32_t>(prog_fd);
  attr.test.data_in = xmaps::testing::to_user(packet);
  attr.test.data_size_in = sizeof(packet);
  attr.test.repeat = repeat;
  check(xmaps::testing::sys_bpf(BPF_PROG_TEST_RUN, &attr), "BPF_PROG_TEST_RUN");
  return attr.test.retval;
}

}  // namespace xmaps_bench::kernel
