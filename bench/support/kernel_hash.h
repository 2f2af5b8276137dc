// SPDX-License-Identifier: MIT
//
// The running kernel's HASH or LRU_HASH map as a peer of bench/hash_map_bench.cc and
// bench/lru_bench.cc, driven the way an XDP or tc program drives it: from inside a BPF program,
// so the figure is the kernel's own datapath cost (bpf_map_update_elem / the inlined
// bpf_map_lookup_elem), not the syscall's.
//
// One BPF_PROG_TEST_RUN call runs a SCHED_CLS program `repeat` times; each run does kOpsPerRun
// operations (straight-line code, no loop for the verifier to bound), each one:
//
//   idx  = base + (cursor++ & mask)           // state: one PERCPU_ARRAY slot per CPU
//   key  = keys[idx]                           // an ARRAY of u32 keys filled from user space
//   Op::update: bpf_map_update_elem(&map, &key, &value, BPF_ANY) == 0 ? ok++ : 0
//   Op::lookup: v = bpf_map_lookup_elem(&map, &key); v ? (read 16 bytes, ok++) : 0
//
// so the kernel sees exactly the key streams the xmaps peers see (the same vectors, copied into
// the ARRAY), in the same order, with the per-thread cursors carried on between calls. Reading
// the key from an inlined ARRAY lookup stands for the xmaps loop's `keys[i & mask]` load.
//
// The state slot {cursor, base, mask, ok} is per CPU: each benchmark thread is pinned to its CPU,
// and BPF_PROG_TEST_RUN runs the program on the calling CPU, so CPU c's runs use slot c only.
// `ok` counts the operations that did what the case needs, for the benchmark's verification.
//
// Needs root (CAP_BPF + CAP_NET_ADMIN for SCHED_CLS); available() says why not otherwise.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <linux/bpf.h>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#include "support/kernel_bench_prog.h"

namespace xmaps_bench {

class KernelHash {
 public:
  enum class Op { update, lookup };
  static constexpr int kOpsPerRun = 64;
  // Per CPU state, as the program reads it (all u64).
  struct State {
    std::uint64_t cursor = 0;
    std::uint64_t base = 0;
    std::uint64_t mask = 0;
    std::uint64_t ok = 0;
  };

  // A `map_type` map (BPF_MAP_TYPE_HASH or LRU_HASH) of `max_entries` u32 -> 16-byte entries
  // with `map_flags` (e.g. BPF_F_NO_COMMON_LRU), a key ARRAY of `key_slots` entries and the
  // program for `op`. Throws std::runtime_error (with the errno, or the verifier's log).
  KernelHash(std::uint32_t map_type, std::uint32_t max_entries, std::uint32_t map_flags,
             std::uint32_t key_slots, Op op)
      : cpus_(xmaps::testing::kernel_possible_cpus()) {
    map_ = make_map(map_type, 4, 16, max_entries, map_flags,
                    map_type == BPF_MAP_TYPE_LRU_HASH ? "LRU_HASH" : "HASH");
    keys_ = make_map(BPF_MAP_TYPE_ARRAY, 4, 4, key_slots, 0, "key ARRAY");
    state_ = make_map(BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(State), 1, 0, "state PERCPU_ARRAY");
    load(op);
  }
  KernelHash(const KernelHash&) = delete;
  KernelHash& operator=(const KernelHash&) = delete;
  KernelHash(KernelHash&&) = delete;
  KernelHash& operator=(KernelHash&&) = delete;
  ~KernelHash() {
    for (const int fd : {prog_, state_, keys_, map_}) {
      if (fd >= 0)
        ::close(fd);
    }
  }

  // Whether this process can create and run BPF programs; `why` says what failed otherwise.
  static bool available(std::string* why) { return xmaps::testing::bpf_available(why); }

  // keys[first + i] = k[i] (BPF_MAP_UPDATE_BATCH, in chunks).
  void set_keys(std::uint32_t first, const std::vector<std::uint32_t>& k) {
    constexpr std::size_t kChunk = 1U << 14;
    std::vector<std::uint32_t> idx;
    for (std::size_t at = 0; at < k.size(); at += kChunk) {
      const std::size_t n = std::min(kChunk, k.size() - at);
      idx.resize(n);
      for (std::size_t i = 0; i < n; ++i)
        idx[i] = first + static_cast<std::uint32_t>(at + i);
      update_batch(keys_, idx.data(), k.data() + at, static_cast<std::uint32_t>(n), "key ARRAY");
    }
  }

  // From user space, as the calling thread's CPU: lru[k[i]] = 16 bytes of i for i < n, BPF_ANY
  // (one BPF_MAP_UPDATE_BATCH).
  void insert(const std::uint32_t* k, std::uint32_t n) {
    std::vector<std::uint64_t> values(std::size_t{2} * n);
    for (std::uint32_t i = 0; i < n; ++i)
      values[std::size_t{2} * i] = values[std::size_t{2} * i + 1] = i;
    update_batch(map_, k, values.data(), n, "the map");
  }

  // Whether `key` is in the LRU map (a syscall lookup: does not set the reference bit).
  [[nodiscard]] bool contains(std::uint32_t key) const {
    std::uint64_t v[2];
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.map_fd = static_cast<std::uint32_t>(map_);
    attr.key = xmaps::testing::to_user(&key);
    attr.value = xmaps::testing::to_user(v);
    return xmaps::testing::sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr) == 0;
  }

  // Every CPU's state slot (index = CPU).
  [[nodiscard]] std::vector<State> states() const {
    std::vector<State> s(static_cast<std::size_t>(cpus_));
    const std::uint32_t zero = 0;
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.map_fd = static_cast<std::uint32_t>(state_);
    attr.key = xmaps::testing::to_user(&zero);
    attr.value = xmaps::testing::to_user(s.data());
    check(xmaps::testing::sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr), "read the state PERCPU_ARRAY");
    return s;
  }
  void set_states(const std::vector<State>& s) {
    if (s.size() != static_cast<std::size_t>(cpus_))
      throw std::invalid_argument("KernelHash::set_states: one State per possible CPU");
    const std::uint32_t zero = 0;
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.map_fd = static_cast<std::uint32_t>(state_);
    attr.key = xmaps::testing::to_user(&zero);
    attr.value = xmaps::testing::to_user(s.data());
    attr.flags = BPF_ANY;
    check(xmaps::testing::sys_bpf(BPF_MAP_UPDATE_ELEM, &attr), "write the state PERCPU_ARRAY");
  }

  // Runs the program `repeat` times on the calling CPU (repeat x kOpsPerRun operations).
  void run(std::uint32_t repeat) const { kernel::test_run(prog_, repeat); }

  [[nodiscard]] int cpus() const noexcept { return cpus_; }

 private:
  static void check(int rc, const std::string& what) { kernel::check(rc, what); }
  static int make_map(std::uint32_t type, std::uint32_t key_size, std::uint32_t value_size,
                      std::uint32_t max_entries, std::uint32_t flags, const char* what) {
    return kernel::make_map(type, key_size, value_size, max_entries, flags, what);
  }

  static void update_batch(int fd, const void* keys, const void* values, std::uint32_t n,
                           const char* what) {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.batch.map_fd = static_cast<std::uint32_t>(fd);
    attr.batch.keys = xmaps::testing::to_user(keys);
    attr.batch.values = xmaps::testing::to_user(values);
    attr.batch.count = n;
    attr.batch.elem_flags = BPF_ANY;
    check(xmaps::testing::sys_bpf(BPF_MAP_UPDATE_BATCH, &attr),
          std::string("BPF_MAP_UPDATE_BATCH (") + what + ")");
    if (attr.batch.count != n)
      throw std::runtime_error(std::string("kernel: BPF_MAP_UPDATE_BATCH (") + what + ") took " +
                               std::to_string(attr.batch.count) + " of " + std::to_string(n));
  }

  // The program of the header comment. Stack: r10-8 u32 (state index 0, then the key index),
  // r10-16 u32 key, r10-32 16-byte value. r7 = the state slot, r8 = cursor, r9 = ok.
  [[nodiscard]] std::vector<bpf_insn> assemble(Op op) const {
    using namespace xmaps::testing::bpf_asm;
    std::vector<bpf_insn> p;
    p.push_back(st_imm(BPF_W, r10, -8, 0));
    ld_map_fd(p, r1, state_);
    p.push_back(mov64_reg(r2, r10));
    p.push_back(add64_imm(r2, -8));
    p.push_back(call(BPF_FUNC_map_lookup_elem));
    p.push_back(jne_imm(r0, 0, 2));
    p.push_back(mov64_imm(r0, 1));  // no state slot: cannot happen for index 0
    p.push_back(exit_insn());
    p.push_back(mov64_reg(r7, r0));
    p.push_back(ldx(BPF_DW, r8, r7, 0));
    p.push_back(mov64_imm(r9, 0));
    p.push_back(stx(BPF_DW, r10, -32, r8));  // the value written by updates
    p.push_back(stx(BPF_DW, r10, -24, r8));
    for (int k = 0; k < kOpsPerRun; ++k) {
      p.push_back(mov64_reg(r1, r8));
      p.push_back(ldx(BPF_DW, r2, r7, 16));  // mask
      p.push_back(and64_reg(r1, r2));
      p.push_back(ldx(BPF_DW, r2, r7, 8));  // base
      p.push_back(add64_reg(r1, r2));
      p.push_back(stx(BPF_W, r10, -8, r1));
      ld_map_fd(p, r1, keys_);
      p.push_back(mov64_reg(r2, r10));
      p.push_back(add64_imm(r2, -8));
      p.push_back(call(BPF_FUNC_map_lookup_elem));
      const std::size_t skip = p.size();
      p.push_back(jeq_imm(r0, 0, 0));  // patched: to the cursor increment
      p.push_back(ldx(BPF_W, r1, r0, 0));
      p.push_back(stx(BPF_W, r10, -16, r1));
      ld_map_fd(p, r1, map_);
      p.push_back(mov64_reg(r2, r10));
      p.push_back(add64_imm(r2, -16));
      if (op == Op::update) {
        p.push_back(mov64_reg(r3, r10));
        p.push_back(add64_imm(r3, -32));
        p.push_back(mov64_imm(r4, BPF_ANY));
        p.push_back(call(BPF_FUNC_map_update_elem));
        p.push_back(jne_imm(r0, 0, 1));
        p.push_back(add64_imm(r9, 1));
      } else {
        p.push_back(call(BPF_FUNC_map_lookup_elem));
        p.push_back(jeq_imm(r0, 0, 3));
        p.push_back(ldx(BPF_DW, r1, r0, 0));  // read the 16-byte value, as the xmaps loop does
        p.push_back(ldx(BPF_DW, r1, r0, 8));
        p.push_back(add64_imm(r9, 1));
      }
      p[skip].off = static_cast<std::int16_t>(p.size() - skip - 1);
      p.push_back(add64_imm(r8, 1));
    }
    p.push_back(stx(BPF_DW, r7, 0, r8));
    p.push_back(ldx(BPF_DW, r1, r7, 24));
    p.push_back(add64_reg(r1, r9));
    p.push_back(stx(BPF_DW, r7, 24, r1));
    p.push_back(mov64_imm(r0, 0));
    p.push_back(exit_insn());
    return p;
  }

  void load(Op op) { prog_ = kernel::load_sched_cls(assemble(op), "xmaps_hash_bench"); }

  int cpus_;
  int map_ = -1;
  int keys_ = -1;
  int state_ = -1;
  int prog_ = -1;
};

}  // namespace xmaps_bench
