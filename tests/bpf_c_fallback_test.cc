// SPDX-License-Identifier: MIT
//
// The BPF-C headers on a system without <linux/bpf.h>: this file is compiled with
// XMAPS_NO_LINUX_BPF_H (tests/CMakeLists.txt), so xmaps/detail/linux_bpf.h takes its fallback
// path and defines the constants and types itself. A program and a tool written against
// xmaps/bpf_helpers.h and xmaps/bpf.h compile, link against the library (built with the
// header: the signatures must be the same) and run; and every fallback constant equals the
// header's, as bpf_c/linux_bpf_values_check.cc (linked in, built with the header) reports it.
#include <cerrno>
#include <string>
#include <type_traits>
#include <unistd.h>
#include <utility>
#include <vector>
#include <xmaps/bpf.h>
#include <xmaps/bpf_helpers.h>
#include <xmaps/frame_pool.h>

#include <gtest/gtest.h>

#ifdef __LINUX_BPF_H__
#error "<linux/bpf.h> was included: this test must take the fallback path"
#endif
static_assert(XMAPS_LINUX_BPF_FALLBACK == 1, "XMAPS_NO_LINUX_BPF_H must select the fallback");
static_assert(std::is_same_v<__u64, unsigned long long> && std::is_same_v<__u32, unsigned int>);

namespace xmaps::testing {
std::vector<std::pair<std::string, long long>> header_values();  // linux_bpf_values_check.cc
}  // namespace xmaps::testing

// NOLINTBEGIN: BPF-C, as a program file writes it
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u64);
} fallback_hash SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_STACK);
  __uint(max_entries, 4);
  __type(value, __u32);
} fallback_stack SEC(".maps");

SEC("xdp")
int xdp_count_and_tx(struct xdp_md* ctx) {
  __u32 key = ctx->rx_queue_index;
  __u64 one = 1;
  __u64* count = bpf_map_lookup_elem(&fallback_hash, &key);

  if (count) {
    __sync_fetch_and_add(count, 1);
    return XDP_TX;
  }
  if (bpf_map_update_elem(&fallback_hash, &key, &one, BPF_NOEXIST) != 0)
    return XDP_ABORTED;
  return XDP_PASS;
}
// NOLINTEND

namespace {

TEST(BpfCFallback, EveryConstantEqualsTheHeaders) {
  std::vector<std::pair<std::string, long long>> fallback;
#define XMAPS_FALLBACK_VALUE(name, value) \
  fallback.emplace_back(#name, static_cast<long long>(name));
  XMAPS_LINUX_BPF_MAP_TYPES(XMAPS_FALLBACK_VALUE)
  XMAPS_LINUX_BPF_ELEM_FLAGS(XMAPS_FALLBACK_VALUE)
  XMAPS_LINUX_BPF_MAP_FLAGS(XMAPS_FALLBACK_VALUE)
  XMAPS_LINUX_BPF_XDP_ACTIONS(XMAPS_FALLBACK_VALUE)
#undef XMAPS_FALLBACK_VALUE
  const auto header = xmaps::testing::header_values();
  ASSERT_EQ(fallback.size(), header.size());
  EXPECT_EQ(fallback.size(), 32U + 4U + 13U + 5U);  // map types, element flags, map flags, XDP
  for (std::size_t i = 0; i < fallback.size(); ++i)
    EXPECT_EQ(fallback[i], header[i]);
  EXPECT_EQ(sizeof(struct bpf_cpumap_val), 8U);
}

TEST(BpfCFallback, AProgramFileRunsOnItsMaps) {
  xmaps::FramePool pool(4);
  xmaps::Frame* f = pool.alloc();
  ASSERT_NE(f, nullptr);
  f->len = 60;
  f->rx_queue = 2;
  const xmaps::XdpProgram prog = xmaps::xdp_program(xdp_count_and_tx);
  EXPECT_EQ(prog.run(*f), xmaps::XdpAction::pass);  // key 2 created
  EXPECT_EQ(prog.run(*f), xmaps::XdpAction::tx);    // then counted
  const __u32 key = 2;
  const __u64* count = bpf_map_lookup_elem(&fallback_hash, &key);
  ASSERT_NE(count, nullptr);
  EXPECT_EQ(*count, 2U);
  const __u64 v = 9;
  EXPECT_EQ(bpf_map_update_elem(&fallback_hash, &key, &v, BPF_NOEXIST), -EEXIST);
  const __u32 other = 3;
  EXPECT_EQ(bpf_map_update_elem(&fallback_hash, &other, &v, BPF_EXIST), -ENOENT);

  // BPF_MAP_TYPE_STACK reached a stack: last in, first out.
  for (__u32 i = 1; i <= 3; ++i)
    ASSERT_EQ(bpf_map_push_elem(&fallback_stack, &i, BPF_ANY), 0);
  __u32 top = 0;
  ASSERT_EQ(bpf_map_pop_elem(&fallback_stack, &top), 0);
  EXPECT_EQ(top, 3U);
}

TEST(BpfCFallback, TheUserSideApiLinksAndRuns) {
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
  const int fd =
      bpf_map_create(BPF_MAP_TYPE_HASH, "fallback", sizeof(__u32), sizeof(__u64), 8, &opts);
  ASSERT_GE(fd, 0);
  const __u32 key = 1;
  __u64 value = 41;
  ASSERT_EQ(bpf_map_update_elem(fd, &key, &value, BPF_NOEXIST), 0);
  EXPECT_EQ(bpf_map_update_elem(fd, &key, &value, BPF_NOEXIST), -EEXIST);
  EXPECT_EQ(errno, EEXIST);
  value = 0;
  ASSERT_EQ(bpf_map_lookup_elem_flags(fd, &key, &value, 0), 0);
  EXPECT_EQ(value, 41U);
  EXPECT_EQ(bpf_map_lookup_elem_flags(fd, &key, &value, BPF_F_LOCK), -EINVAL);
  const LIBBPF_OPTS(bpf_map_create_opts, lru_opts, .map_flags = BPF_F_NO_PREALLOC);
  EXPECT_EQ(bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "lru", 4, 8, 8, &lru_opts), -524);  // ENOTSUPP
  EXPECT_EQ(close(fd), 0);
}

}  // namespace
