// SPDX-License-Identifier: MIT
//
// The running kernel's CPUMAP as a benchmark peer, in the conditions of the anchor (a
// live-frames test run): an XDP program on the calling CPU redirects every frame with
// bpf_redirect_map(cpumap, remote, 0); the CPUMAP entry of `remote` (qsize as given) runs a
// second program (BPF_XDP_CPUMAP) that counts the frame in an ARRAY (atomic add) and drops
// it. BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES sends `repeat` real frames through the
// redirect path, `batch` per NAPI-like poll (the kernel's own flush point).
//
// Needs root (CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON); the constructor throws std::runtime_error
// with the failing call and errno otherwise.
#pragma once

#include <cstdint>
#include <cstring>
#include <linux/bpf.h>
#include <unistd.h>
#include <vector>

#include "support/kernel_bench_prog.h"

namespace xmaps_bench {

class KernelCpumap {
 public:
  KernelCpumap(std::uint32_t remote_cpu, std::uint32_t qsize) : remote_(remote_cpu) {
    try {
      build(qsize);
    } catch (...) {
      close_all();
      throw;
    }
  }
  ~KernelCpumap() { close_all(); }
  KernelCpumap(const KernelCpumap&) = delete;
  KernelCpumap& operator=(const KernelCpumap&) = delete;
  KernelCpumap(KernelCpumap&&) = delete;
  KernelCpumap& operator=(KernelCpumap&&) = delete;

  // `repeat` live 64-byte frames through the redirect, `batch` per poll, on the calling CPU.
  void run(std::uint32_t repeat, std::uint32_t batch) {
    unsigned char packet[64] = {};
    packet[12] = 0x08;  // IPv4 ethertype
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.test.prog_fd = static_cast<std::uint32_t>(ingress_prog_);
    attr.test.data_in = xmaps::testing::to_user(packet);
    attr.test.data_size_in = sizeof(packet);
    attr.test.repeat = repeat;
    attr.test.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
    attr.test.batch_size = batch;
    kernel::check(xmaps::testing::sys_bpf(BPF_PROG_TEST_RUN, &attr),
                  "BPF_PROG_TEST_RUN (live frames)");
  }

  // Frames the second program has counted so far.
  [[nodiscard]] std::uint64_t delivered() const {
    std::uint32_t key = 0;
    std::uint64_t value = 0;
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.map_fd = static_cast<std::uint32_t>(counter_);
    attr.key = xmaps::testing::to_user(&key);
    attr.value = xmaps::testing::to_user(&value);
    kernel::check(xmaps::testing::sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr), "BPF_MAP_LOOKUP_ELEM");
    return value;
  }

 private:
  void close_all() noexcept {
    for (int* fd : {&ingress_prog_, &remote_prog_, &cpumap_, &counter_}) {
      if (*fd >= 0)
        ::close(*fd);
      *fd = -1;
    }
  }

  void build(std::uint32_t qsize) {
    namespace a = xmaps::testing::bpf_asm;
    counter_ = kernel::make_map(BPF_MAP_TYPE_ARRAY, 4, 8, 1, 0, "counter");
    cpumap_ =
        kernel::make_map(BPF_MAP_TYPE_CPUMAP, 4, sizeof(bpf_cpumap_val), remote_ + 1, 0, "cpumap");
    // Second program: counter[0] += 1 (atomic); return XDP_DROP.
    std::vector<bpf_insn> remote;
    remote.push_back(a::st_imm(BPF_W, a::r10, -4, 0));
    remote.push_back(a::mov64_reg(a::r2, a::r10));
    remote.push_back(a::add64_imm(a::r2, -4));
    a::ld_map_fd(remote, a::r1, counter_);
    remote.push_back(a::call(BPF_FUNC_map_lookup_elem));
    remote.push_back(a::jeq_imm(a::r0, 0, 2));
    remote.push_back(a::mov64_imm(a::r1, 1));
    remote.push_back(a::make(BPF_STX | BPF_DW | BPF_ATOMIC, a::r0, a::r1, 0, BPF_ADD));
    remote.push_back(a::mov64_imm(a::r0, XDP_DROP));
    remote.push_back(a::exit_insn());
    remote_prog_ = kernel::load_prog(BPF_PROG_TYPE_XDP, BPF_XDP_CPUMAP, remote, "xmaps_cpu_drop");
    // First program: return bpf_redirect_map(cpumap, remote, 0).
    std::vector<bpf_insn> first;
    a::ld_map_fd(first, a::r1, cpumap_);
    first.push_back(a::mov64_imm(a::r2, static_cast<std::int32_t>(remote_)));
    first.push_back(a::mov64_imm(a::r3, 0));
    first.push_back(a::call(BPF_FUNC_redirect_map));
    first.push_back(a::exit_insn());
    ingress_prog_ = kernel::load_prog(BPF_PROG_TYPE_XDP, 0, first, "xmaps_redir_cpu");
    bpf_cpumap_val val;
    std::memset(&val, 0, sizeof(val));
    val.qsize = qsize;
    val.bpf_prog.fd = remote_prog_;
    update_entry(&val);
  }

  void update_entry(const bpf_cpumap_val* val) {
    const std::uint32_t key = remote_;
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.map_fd = static_cast<std::uint32_t>(cpumap_);
    attr.key = xmaps::testing::to_user(&key);
    attr.value = xmaps::testing::to_user(val);
    kernel::check(xmaps::testing::sys_bpf(BPF_MAP_UPDATE_ELEM, &attr),
                  "BPF_MAP_UPDATE_ELEM (cpumap entry)");
  }

  std::uint32_t remote_;
  int counter_ = -1;
  int cpumap_ = -1;
  int remote_prog_ = -1;
  int ingress_prog_ = -1;
};

}  // namespace xmaps_bench
