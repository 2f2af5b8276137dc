// SPDX-License-Identifier: MIT
//
// The code examples of ../shared/spec/ (tests/bpf_c/*.inc: the LRU packet_stats program and
// its user-side walk, the round-robin CPUMAP redirect program and set_max_cpu_entries, the
// queue definition and create_queue), compiled unchanged against xmaps/bpf_helpers.h and
// xmaps/bpf.h, and checked to behave as the documents say.
//
// The examples are C: in C++ they narrow an int into a __u64 in a brace initializer and shadow
// a global with a parameter, so this file is built with -Wno-narrowing -Wno-shadow
// (tests/CMakeLists.txt); nothing else about them is changed.
//
// Expectations that depend on the CPU count are computed from it: this file also runs as
// bpf_c_spec_examples_model_test, with 13 modelled CPUs (XMAPS_SPEC_TEST_CPUS).
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>
#include <vector>
#include <xmaps/bpf.h>
#include <xmaps/bpf_helpers.h>
#include <xmaps/cpumap.h>
#include <xmaps/frame_pool.h>
#include <xmaps/redirect.h>

#include <gtest/gtest.h>

// NOLINTBEGIN: the examples, as the documents write them
#include "bpf_c/spec_cpumap_round_robin.inc"
#include "bpf_c/spec_lru_packet_stats.inc"
#include "bpf_c/spec_queue.inc"
// NOLINTEND

#ifndef XMAPS_SPEC_TEST_CPUS
#define XMAPS_SPEC_TEST_CPUS 0  // NOLINT(cppcoreguidelines-macro-usage): 0 = the machine's CPUs
#endif

namespace {

// Fixes the possible-CPU count before any map exists (only in the model executable,
// bpf_c_spec_examples_model_test.cc).
class PossibleCpus : public ::testing::Environment {
 public:
  void SetUp() override {
    if (XMAPS_SPEC_TEST_CPUS > 0)
      xmaps::set_possible_cpus(XMAPS_SPEC_TEST_CPUS);
  }
};
[[maybe_unused]] ::testing::Environment* const g_possible_cpus =
    ::testing::AddGlobalTestEnvironment(new PossibleCpus);

TEST(BpfCSpecExamples, UpdateStatsCountsPacketsAndBytesPerSourceInTheLruMap) {
  update_stats(0x0a000001, 100);  // a new key: created with NOEXIST
  update_stats(0x0a000001, 50);   // then counted with atomic adds through the lookup pointer
  update_stats(0x0a000002, 60);
  const int fd = bpf_map__fd(xmaps::bpf_map_of(&packet_stats));
  ASSERT_GE(fd, 0);
  struct key k = {.srcip = 0x0a000001};
  struct value v = {};
  ASSERT_EQ(bpf_map_lookup_elem(fd, &k, &v), 0);
  EXPECT_EQ(v.packets, 2U);
  EXPECT_EQ(v.bytes, 150U);
  k.srcip = 0x0a000002;
  ASSERT_EQ(bpf_map_lookup_elem(fd, &k, &v), 0);
  EXPECT_EQ(v.packets, 1U);
  EXPECT_EQ(v.bytes, 60U);

  // 32 entries at most: the LRU evicts instead of failing, as the kernel's.
  for (__u32 ip = 0; ip < 100; ++ip)
    update_stats(0xc0a80000 + ip, 64);
  walk_hash_elements(fd);  // terminates (the walk ends with -ENOENT)
  int keys = 0;
  struct key* cur = nullptr;
  struct key next = {};
  while (bpf_map_get_next_key(fd, cur, &next) == 0) {
    ++keys;
    cur = &next;
  }
  EXPECT_LE(keys, 32);
  EXPECT_GT(keys, 0);
  EXPECT_EQ(bpf_map_get_next_key(fd, cur, &next), -ENOENT);
  EXPECT_EQ(errno, ENOENT);
}

// The program sends frame j to CPU j % ncpus (its per-CPU iterator wraps at
// bpf_num_possible_cpus()), through cpus_available, which the example sizes for 12 CPUs: with
// more possible CPUs, indexes 12 and up find no entry there and the frame is aborted. The
// expected spread is computed from that for whatever CPU count this process has.
TEST(BpfCSpecExamples, RoundRobinProgramSpreadsFramesOverTheCpumap) {
  ASSERT_EQ(set_max_cpu_entries(xmaps::bpf_map_of(&cpu_map)), 0);
  const auto ncpus = static_cast<__u32>(libbpf_num_possible_cpus());
  if (XMAPS_SPEC_TEST_CPUS > 0) {
    EXPECT_EQ(ncpus, static_cast<__u32>(XMAPS_SPEC_TEST_CPUS));
  }
  EXPECT_EQ(bpf_map__max_entries(xmaps::bpf_map_of(&cpu_map)), ncpus);
  const int avail = bpf_map__fd(xmaps::bpf_map_of(&cpus_available));
  const int cpus = bpf_map__fd(xmaps::bpf_map_of(&cpu_map));
  ASSERT_GE(avail, 0);
  ASSERT_GE(cpus, 0);
  constexpr __u32 kAvailable = 12;  // cpus_available's max_entries in the example
  for (__u32 i = 0; i < ncpus; ++i) {
    EXPECT_EQ(bpf_map_update_elem(avail, &i, &i, BPF_ANY), i < kAvailable ? 0 : -E2BIG);
    struct bpf_cpumap_val val = {};
    val.qsize = 192;
    ASSERT_EQ(bpf_map_update_elem(cpus, &i, &val, BPF_ANY), 0);
  }
  EXPECT_EQ(bpf_map__set_max_entries(xmaps::bpf_map_of(&cpu_map), 4), -EBUSY);  // in use now

  xmaps::FramePool pool(256);
  const xmaps::XdpProgram prog = xmaps::xdp_program(xdp_redir_cpu_round_robin, "round robin");
  constexpr __u32 kFrames = 120;
  std::vector<std::uint64_t> expected(ncpus, 0);
  {
    const xmaps::CpuBinding on(0);  // the iterator is per CPU: this program runs as CPU 0
    xmaps::RedirectContext ctx;
    for (__u32 j = 0; j < kFrames; ++j) {
      xmaps::Frame* f = pool.alloc();
      ASSERT_NE(f, nullptr);
      f->len = 64;
      const __u32 dest = j % ncpus;
      const bool listed = dest < kAvailable;
      EXPECT_EQ(ctx.run(prog, f), listed ? xmaps::XdpAction::redirect : xmaps::XdpAction::aborted)
          << "frame " << j;
      if (listed)
        ++expected[dest];  // (run() recycles an aborted frame)
    }
    ctx.flush();
  }
  xmaps::CpuMap* engine = xmaps::bpf_map_object(&cpu_map)->cpu_map();
  ASSERT_NE(engine, nullptr);
  for (__u32 c = 0; c < ncpus; ++c) {
    // Round robin: CPU c gets kFrames / ncpus frames, one more if c < kFrames % ncpus.
    const std::uint64_t share =
        c < kAvailable ? kFrames / ncpus + (c < kFrames % ncpus ? 1 : 0) : 0;
    EXPECT_EQ(expected[c], share) << "cpu " << c;
    for (int spin = 0; engine->stats(c).processed < share && spin < 10000; ++spin)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    EXPECT_EQ(engine->stats(c).enqueued, share) << "cpu " << c;
    EXPECT_EQ(engine->stats(c).processed, share) << "cpu " << c;
  }
}

TEST(BpfCSpecExamples, CreateQueueGivesAKernelStyleQueue) {
  const int fd = create_queue();
  ASSERT_GE(fd, 0);
  for (__u32 v = 1; v <= 10; ++v)
    ASSERT_EQ(bpf_map_update_elem(fd, nullptr, &v, BPF_ANY), 0);
  __u32 v = 11;
  EXPECT_EQ(bpf_map_update_elem(fd, nullptr, &v, BPF_ANY), -E2BIG);
  EXPECT_EQ(errno, E2BIG);
  EXPECT_EQ(bpf_map_update_elem(fd, nullptr, &v, BPF_EXIST), 0);  // drops the oldest (1)
  __u32 out = 0;
  ASSERT_EQ(bpf_map_lookup_and_delete_elem(fd, nullptr, &out), 0);
  EXPECT_EQ(out, 2U);
  const __u32 key = 0;
  EXPECT_EQ(bpf_map_create(BPF_MAP_TYPE_QUEUE, "bad", sizeof(key), 4, 10, nullptr), -EINVAL);
  ASSERT_EQ(close(fd), 0);
  EXPECT_EQ(bpf_map_lookup_elem(fd, nullptr, &out), -EBADF);  // the handle is gone

  // The program-side definition: push / peek / pop.
  for (__u32 i = 0; i < 10; ++i)
    ASSERT_EQ(bpf_map_push_elem(&queue, &i, 0), 0);
  __u32 one = 99;
  EXPECT_EQ(bpf_map_push_elem(&queue, &one, 0), -E2BIG);
  ASSERT_EQ(bpf_map_peek_elem(&queue, &out), 0);
  EXPECT_EQ(out, 0U);
  ASSERT_EQ(bpf_map_pop_elem(&queue, &out), 0);
  EXPECT_EQ(out, 0U);
}

}  // namespace
