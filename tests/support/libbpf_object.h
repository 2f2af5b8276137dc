// SPDX-License-Identifier: MIT
//
// A BPF object file (clang -target bpf) loaded into the running kernel with libbpf, for the
// BPF-C programs that also run natively against xmaps (bench/bpf_c_bench.cc,
// tests/bpf_c_programs_test.cc). This header names nothing of libbpf's: those translation
// units include xmaps/bpf.h,
// whose functions have libbpf's names, so libbpf's headers stay in libbpf_object.cc.
//
// Every failure throws std::runtime_error naming the call, the object and the errno (a load
// failure also carries libbpf's messages, the verifier's log among them).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace xmaps::testing {

// Whether this binary can load BPF objects at all (built with libbpf and clang's BPF target);
// if not, why not.
[[nodiscard]] bool libbpf_available(std::string& why_not);

struct KernelRun {
  std::uint32_t retval = 0;       // the program's return value (last repetition)
  std::uint32_t duration_ns = 0;  // the kernel's average time per repetition
};

class KernelObject {
 public:
  // Opens and loads `path` (programs and maps as its sections declare them).
  explicit KernelObject(const std::string& path);
  ~KernelObject();
  KernelObject(const KernelObject&) = delete;
  KernelObject& operator=(const KernelObject&) = delete;

  [[nodiscard]] int map_fd(const char* map) const;
  [[nodiscard]] int prog_fd(const char* prog) const;
  void update(const char* map, const void* key, const void* value, std::uint64_t flags) const;
  void lookup(const char* map, const void* key, void* value) const;
  // False if the key is missing (ENOENT); throws for any other failure.
  [[nodiscard]] bool try_lookup(const char* map, const void* key, void* value) const;
  // A QUEUE / STACK pop (lookup-and-delete with no key); false when empty.
  [[nodiscard]] bool try_pop(const char* map, void* value) const;

  // BPF_PROG_TEST_RUN of XDP program `prog` on a 64-byte IPv4 frame, `repeat` times.
  KernelRun test_run(const char* prog, std::uint32_t repeat) const;
  // The same in live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES): `repeat` real frames through the
  // program's redirects, `batch` per poll.
  void test_run_live(const char* prog, std::uint32_t repeat, std::uint32_t batch) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xmaps::testing
