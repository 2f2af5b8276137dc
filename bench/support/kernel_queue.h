// SPDX-License-Identifier: MIT
//
// The running kernel's BPF_MAP_TYPE_QUEUE / STACK as a peer of bench/queue_bench.cc, driven
// from a BPF program (the helpers bpf_map_push_elem / bpf_map_pop_elem), so the figure is the
// kernel's own datapath cost. One BPF_PROG_TEST_RUN runs a SCHED_CLS program `repeat` times;
// each run does kOpsPerRun operations in straight-line code and returns how many succeeded:
//   Op::push_pop    push(v, BPF_ANY) then pop: a pair (succeeded = pops that got a value)
//   Op::overwrite   push(v, BPF_EXIST) into a full map (succeeded = pushes that returned 0)
// u64 values, as the other peers. Needs root (CAP_BPF + CAP_NET_ADMIN).
#pragma once

#include <cstdint>
#include <linux/bpf.h>
#include <unistd.h>
#include <vector>

#include "support/kernel_bench_prog.h"

namespace xmaps_bench {

class KernelRing {
 public:
  enum class Op { push_pop, overwrite };
  static constexpr int kOpsPerRun = 64;

  // A QUEUE (or STACK) map of `max_entries` u64 values and the program for `op`; throws
  // std::runtime_error on failure. For Op::overwrite the map is filled first.
  KernelRing(bool queue, std::uint32_t max_entries, Op op) {
    map_ = kernel::make_map(queue ? BPF_MAP_TYPE_QUEUE : BPF_MAP_TYPE_STACK, 0, 8, max_entries, 0,
                            queue ? "QUEUE" : "STACK");
    if (op == Op::overwrite) {
      for (std::uint64_t i = 0; i < max_entries; ++i) {
        union bpf_attr attr;
        std::memset(&attr, 0, sizeof(attr));
        attr.map_fd = static_cast<std::uint32_t>(map_);
        attr.value = xmaps::testing::to_user(&i);
        kernel::check(xmaps::testing::sys_bpf(BPF_MAP_UPDATE_ELEM, &attr), "fill the map");
      }
    }
    prog_ = kernel::load_sched_cls(assemble(op), "xmaps_q_bench");
  }
  KernelRing(const KernelRing&) = delete;
  KernelRing& operator=(const KernelRing&) = delete;
  ~KernelRing() {
    for (const int fd : {prog_, map_}) {
      if (fd >= 0)
        ::close(fd);
    }
  }

  // Runs the program `repeat` times on the calling CPU; returns the last run's count of
  // operations that succeeded (kOpsPerRun when every one did).
  [[nodiscard]] std::uint32_t run(std::uint32_t repeat) const {
    return kernel::test_run(prog_, repeat);
  }

 private:
  // Stack: r10-8 the value pushed, r10-16 the value popped. r9 counts successes.
  [[nodiscard]] std::vector<bpf_insn> assemble(Op op) const {
    using namespace xmaps::testing::bpf_asm;
    std::vector<bpf_insn> p;
    p.push_back(mov64_imm(r9, 0));
    p.push_back(st_imm(BPF_DW, r10, -8, 0x1234));
    for (int k = 0; k < kOpsPerRun; ++k) {
      ld_map_fd(p, r1, map_);
      p.push_back(mov64_reg(r2, r10));
      p.push_back(add64_imm(r2, -8));
      p.push_back(mov64_imm(r3, op == Op::overwrite ? BPF_EXIST : BPF_ANY));
      p.push_back(call(BPF_FUNC_map_push_elem));
      if (op == Op::push_pop) {
        ld_map_fd(p, r1, map_);
        p.push_back(mov64_reg(r2, r10));
        p.push_back(add64_imm(r2, -16));
        p.push_back(call(BPF_FUNC_map_pop_elem));
      }
      p.push_back(jne_imm(r0, 0, 1));
      p.push_back(add64_imm(r9, 1));
    }
    p.push_back(mov64_reg(r0, r9));
    p.push_back(exit_insn());
    return p;
  }

  int map_ = -1;
  int prog_ = -1;
};

}  // namespace xmaps_bench
