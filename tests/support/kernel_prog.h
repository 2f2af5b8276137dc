// SPDX-License-Identifier: MIT
//
// KernelLookupProg: the datapath (BPF-program) lookup of a kernel BPF map, for tests that compare
// xmaps' Map::lookup_elem with the kernel's bpf_map_lookup_elem helper. The syscall lookup
// (BPF_MAP_LOOKUP_ELEM) is not the same thing: on LRU maps only a program lookup sets the
// element's reference bit, and on per-CPU maps only a program sees one CPU's slot.
//
// The program is assembled here from raw instructions (no libbpf, no clang, no ELF) and loaded
// as BPF_PROG_TYPE_RAW_TRACEPOINT, whose BPF_PROG_TEST_RUN context is an array of up to 12 u64
// words that the caller fills. It is, in pseudo-C:
//
//   u64 key[W];                      // W = round_up(key_size, 8) / 8, at most 12
//   for (i = 0; i < W; i++) key[i] = ctx[i];
//   void* v = bpf_map_lookup_elem(&map, key);
//   if (!v) return 0;
//   return 0x80000000 | (*(u32*)v & 0x7fffffff);
//
// so a hit is told from a miss by bit 31 and carries 31 bits of the value's first u32 (the map's
// value_size must be >= 4, or the verifier rejects the program). run() executes it once with
// BPF_F_TEST_RUN_ON_CPU on a chosen CPU: the lookup happens on that CPU.
//
// Errors are negative errno values. A failed load keeps the verifier's log (log()), so a
// rejected program can be diagnosed. Keys larger than 96 bytes do not fit the context and are
// refused with -EINVAL (log() says so). Needs CAP_BPF + CAP_PERFMON (root) for the load.
#pragma once

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <linux/bpf.h>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#include "support/kernel_map.h"

namespace xmaps::testing {

// ---- a tiny BPF assembler ---------------------------------------------------------------------
namespace bpf_asm {

// Registers.
inline constexpr std::uint8_t r0 = 0;
inline constexpr std::uint8_t r1 = 1;
inline constexpr std::uint8_t r2 = 2;
inline constexpr std::uint8_t r3 = 3;
inline constexpr std::uint8_t r4 = 4;
inline constexpr std::uint8_t r6 = 6;
inline constexpr std::uint8_t r7 = 7;
inline constexpr std::uint8_t r8 = 8;
inline constexpr std::uint8_t r9 = 9;
inline constexpr std::uint8_t r10 = 10;  // frame pointer (read-only)

inline bpf_insn make(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off,
                     std::int32_t imm) {
  bpf_insn insn;
  std::memset(&insn, 0, sizeof(insn));
  insn.code = code;
  insn.dst_reg = dst & 0xf;
  insn.src_reg = src & 0xf;
  insn.off = off;
  insn.imm = imm;
  return insn;
}

// dst = src (64-bit)
inline bpf_insn mov64_reg(std::uint8_t dst, std::uint8_t src) {
  return make(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
}
// dst = imm (64-bit, imm sign-extended)
inline bpf_insn mov64_imm(std::uint8_t dst, std::int32_t imm) {
  return make(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
}
// dst += imm (64-bit)
inline bpf_insn add64_imm(std::uint8_t dst, std::int32_t imm) {
  return make(BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, imm);
}
// dst += src (64-bit)
inline bpf_insn add64_reg(std::uint8_t dst, std::uint8_t src) {
  return make(BPF_ALU64 | BPF_ADD | BPF_X, dst, src, 0, 0);
}
// dst &= src (64-bit)
inline bpf_insn and64_reg(std::uint8_t dst, std::uint8_t src) {
  return make(BPF_ALU64 | BPF_AND | BPF_X, dst, src, 0, 0);
}
// dst = (u32)dst & (u32)imm, upper half zeroed
inline bpf_insn and32_imm(std::uint8_t dst, std::uint32_t imm) {
  return make(BPF_ALU | BPF_AND | BPF_K, dst, 0, 0, static_cast<std::int32_t>(imm));
}
// dst = (u32)dst | (u32)imm, upper half zeroed
inline bpf_insn or32_imm(std::uint8_t dst, std::uint32_t imm) {
  return make(BPF_ALU | BPF_OR | BPF_K, dst, 0, 0, static_cast<std::int32_t>(imm));
}
// dst = *(size*)(src + off); size is BPF_B/BPF_H/BPF_W/BPF_DW
inline bpf_insn ldx(std::uint8_t size, std::uint8_t dst, std::uint8_t src, std::int16_t off) {
  return make(static_cast<std::uint8_t>(BPF_LDX | size | BPF_MEM), dst, src, off, 0);
}
// *(size*)(dst + off) = src
inline bpf_insn stx(std::uint8_t size, std::uint8_t dst, std::int16_t off, std::uint8_t src) {
  return make(static_cast<std::uint8_t>(BPF_STX | size | BPF_MEM), dst, src, off, 0);
}
// *(size*)(dst + off) = imm
inline bpf_insn st_imm(std::uint8_t size, std::uint8_t dst, std::int16_t off, std::int32_t imm) {
  return make(static_cast<std::uint8_t>(BPF_ST | size | BPF_MEM), dst, 0, off, imm);
}
// if dst == imm goto pc + 1 + off
inline bpf_insn jeq_imm(std::uint8_t dst, std::int32_t imm, std::int16_t off) {
  return make(BPF_JMP | BPF_JEQ | BPF_K, dst, 0, off, imm);
}
// if dst != imm goto pc + 1 + off
inline bpf_insn jne_imm(std::uint8_t dst, std::int32_t imm, std::int16_t off) {
  return make(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, imm);
}
// r0 = helper(r1, ..., r5)
inline bpf_insn call(std::int32_t helper) {
  return make(BPF_JMP | BPF_CALL, 0, 0, 0, helper);
}
inline bpf_insn exit_insn() {
  return make(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}
// dst = map (a 64-bit immediate over two slots; the verifier turns the fd into the map pointer)
inline void ld_map_fd(std::vector<bpf_insn>& prog, std::uint8_t dst, int map_fd) {
  prog.push_back(make(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, map_fd));
  prog.push_back(make(0, 0, 0, 0, 0));  // upper 32 bits of the immediate
}

}  // namespace bpf_asm

// ---- the lookup program -----------------------------------------------------------------------

class KernelLookupProg {
 public:
  static constexpr std::uint32_t kMaxKeySize = 96;  // 12 u64 words of raw_tp context
  static constexpr std::uint32_t kHit = 0x80000000U;

  // What the program returns for a lookup that gave `value` (nullptr = miss); for the xmaps side
  // of a comparison. `value` must point to at least 4 bytes.
  static std::uint32_t encode(const void* value) {
    if (value == nullptr)
      return 0;
    std::uint32_t first = 0;
    std::memcpy(&first, value, sizeof(first));
    return kHit | (first & 0x7fffffffU);
  }

  KernelLookupProg() = default;
  // Loads the program for the map `map_fd` (which must outlive nothing: the program holds its
  // own reference to the map). Check error() / valid() afterwards.
  KernelLookupProg(int map_fd, std::uint32_t key_size) { load(map_fd, key_size); }
  explicit KernelLookupProg(const KernelMap& map)
      : KernelLookupProg(map.fd(), map.spec().key_size) {}

  KernelLookupProg(KernelLookupProg&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)),
        key_size_(other.key_size_),
        error_(other.error_),
        log_(std::move(other.log_)) {}
  KernelLookupProg& operator=(KernelLookupProg&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
      key_size_ = other.key_size_;
      error_ = other.error_;
      log_ = std::move(other.log_);
    }
    return *this;
  }
  KernelLookupProg(const KernelLookupProg&) = delete;
  KernelLookupProg& operator=(const KernelLookupProg&) = delete;
  ~KernelLookupProg() { reset(); }

  [[nodiscard]] bool valid() const { return fd_ >= 0; }
  [[nodiscard]] int fd() const { return fd_; }
  // 0 after a successful load, else the negative errno of the load (or -EINVAL for an
  // unsupported key size).
  [[nodiscard]] int error() const { return error_; }
  // Why the load failed: the verifier's log, or a note for a refused key size. Empty on success.
  [[nodiscard]] const std::string& log() const { return log_; }

  // Runs the program once on `cpu` with `key` (key_size bytes) as the lookup key. On success
  // returns 0 and sets *retval (0 = miss, kHit | 31 bits = hit); else the negative errno
  // (-EBADF if not loaded, -ENXIO for an offline or out-of-range cpu, ...).
  int run(const void* key, int cpu, std::uint32_t* retval) const {
    if (fd_ < 0)
      return error_ != 0 ? error_ : -EBADF;
    if (key == nullptr || retval == nullptr || cpu < 0)
      return -EINVAL;
    std::array<std::uint64_t, kMaxKeySize / 8> ctx{};
    std::memcpy(ctx.data(), key, key_size_);
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.test.prog_fd = static_cast<std::uint32_t>(fd_);
    attr.test.ctx_in = to_user(ctx.data());
    attr.test.ctx_size_in = static_cast<std::uint32_t>(sizeof(ctx));
    attr.test.flags = BPF_F_TEST_RUN_ON_CPU;
    attr.test.cpu = static_cast<std::uint32_t>(cpu);
    const int rc = sys_bpf(BPF_PROG_TEST_RUN, &attr);
    if (rc != 0)
      return -rc;
    *retval = attr.test.retval;
    return 0;
  }

 private:
  void reset() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

  static std::vector<bpf_insn> assemble(int map_fd, std::uint32_t key_size) {
    using namespace bpf_asm;
    const int words = static_cast<int>((key_size + 7) / 8);
    const auto base = static_cast<std::int16_t>(-8 * words);  // key at r10 + base
    std::vector<bpf_insn> p;
    p.push_back(mov64_reg(r6, r1));  // r6 = ctx
    for (int i = 0; i < words; ++i) {
      p.push_back(ldx(BPF_DW, r0, r6, static_cast<std::int16_t>(8 * i)));
      p.push_back(stx(BPF_DW, r10, static_cast<std::int16_t>(base + 8 * i), r0));
    }
    ld_map_fd(p, r1, map_fd);
    p.push_back(mov64_reg(r2, r10));
    p.push_back(add64_imm(r2, base));
    p.push_back(call(BPF_FUNC_map_lookup_elem));
    p.push_back(jne_imm(r0, 0, 2));  // hit: skip the miss path
    p.push_back(mov64_imm(r0, 0));
    p.push_back(exit_insn());
    p.push_back(ldx(BPF_W, r0, r0, 0));  // first u32 of the value
    p.push_back(and32_imm(r0, 0x7fffffffU));
    p.push_back(or32_imm(r0, kHit));
    p.push_back(exit_insn());
    return p;
  }

  // BPF_PROG_LOAD: 0 or the positive errno; the log (if log_level != 0) goes to *log.
  static int prog_load(const std::vector<bpf_insn>& insns, std::uint32_t log_level,
                       std::string* log, int* fd) {
    static constexpr char kLicense[] = "GPL";
    std::vector<char> buf(log_level != 0 ? 1U << 20 : 0U);
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_RAW_TRACEPOINT;
    attr.insn_cnt = static_cast<std::uint32_t>(insns.size());
    attr.insns = to_user(insns.data());
    attr.license = to_user(kLicense);
    if (log_level != 0) {
      attr.log_level = log_level;
      attr.log_buf = to_user(buf.data());
      attr.log_size = static_cast<std::uint32_t>(buf.size());
    }
    std::memcpy(attr.prog_name, "xmaps_lookup", sizeof("xmaps_lookup"));
    const int rc = sys_bpf(BPF_PROG_LOAD, &attr, fd);
    if (log != nullptr && !buf.empty())
      *log = std::string(buf.data(), ::strnlen(buf.data(), buf.size()));
    return rc;
  }

  void load(int map_fd, std::uint32_t key_size) {
    key_size_ = key_size;
    if (key_size == 0 || key_size > kMaxKeySize) {
      error_ = -EINVAL;
      log_ = "KernelLookupProg: key_size " + std::to_string(key_size) +
             " unsupported (the raw_tp context carries 1.." + std::to_string(kMaxKeySize) +
             " key bytes)";
      return;
    }
    const std::vector<bpf_insn> insns = assemble(map_fd, key_size);
    int fd = -1;
    // Quietly first; on failure again with the verifier log, as the diagnosis.
    int rc = prog_load(insns, 0, nullptr, &fd);
    if (rc == 0) {
      fd_ = fd;
      error_ = 0;
      log_.clear();
      return;
    }
    error_ = -rc;
    std::string verifier;
    const int again = prog_load(insns, 1, &verifier, &fd);
    if (again == 0) {  // loads with a log but not without one: keep it, but say so
      ::close(fd);
    }
    log_ = "BPF_PROG_LOAD (raw_tracepoint, " + std::to_string(insns.size()) + " insns, key_size " +
           std::to_string(key_size) + ") failed: " + errno_name(rc) + " (" + std::strerror(rc) +
           ")" + (verifier.empty() ? std::string() : "\n" + verifier);
  }

  int fd_ = -1;
  std::uint32_t key_size_ = 0;
  int error_ = -EBADF;
  std::string log_ = "not loaded";
};

}  // namespace xmaps::testing
