// SPDX-License-Identifier: MIT
//
// The program-side helpers of xmaps/bpf_helpers.h as a BPF-C program file uses them, and what
// they do with a definition the kernel would refuse to load: such a map fails at first use,
// every helper returning NULL or the negative errno of the map's creation (the kernel's
// BPF_MAP_CREATE errno, compared with the running kernel where bpf() is permitted), and
// bpf_map__fd() returning that errno too.
#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>
#include <xmaps/bpf.h>
#include <xmaps/bpf_helpers.h>

#include <gtest/gtest.h>

#include "support/kernel_map.h"

// NOLINTBEGIN: BPF-C map definitions, as a program file writes them
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"  // __uint(max_entries, 0) is a zero-length array
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 0);
  __type(key, __u32);
  __type(value, __u64);
} no_entries SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_QUEUE);
  __uint(max_entries, 0);
  __type(value, __u32);
} no_entries_queue SEC(".maps");
#pragma GCC diagnostic pop

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 8);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, __u64);
} lru_no_prealloc SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4);
  __type(key, __u32);
  __uint(value_size, 1 << 23);
} huge_values SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u64);
} resized_to_zero SEC(".maps");
// NOLINTEND

namespace {

constexpr long kEnotsupp = 524;  // ENOTSUPP: kernel-internal, not in <errno.h>

// BPF_MAP_CREATE's errno for `spec` on the running kernel, or -1 (and *why) if bpf() is not
// permitted here.
int kernel_create_errno(const xmaps::MapSpec& spec, std::string* why) {
  if (!xmaps::testing::bpf_available(why))
    return -1;
  int err = 0;
  const auto map = xmaps::testing::KernelMap::create(spec, &err);
  return err;
}

xmaps::MapSpec spec(xmaps::MapType type, std::uint32_t key_size, std::uint32_t value_size,
                    std::uint32_t max_entries, std::uint32_t flags = 0) {
  xmaps::MapSpec s;
  s.type = type;
  s.key_size = key_size;
  s.value_size = value_size;
  s.max_entries = max_entries;
  s.flags = flags;
  return s;
}

// Every helper on a definition that cannot be made gives NULL or -expected, every time, and
// bpf_map__fd() gives -expected with errno set.
template <class Def>
void expect_fails_with(Def* def, long expected) {
  const __u32 key = 0;
  std::vector<unsigned char> value(1 << 23);  // as large as any value here: nothing is read
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE("call " + std::to_string(round + 1));
    EXPECT_EQ(static_cast<void*>(bpf_map_lookup_elem(def, &key)), nullptr);
    EXPECT_EQ(static_cast<void*>(bpf_map_lookup_percpu_elem(def, &key, 0)), nullptr);
    EXPECT_EQ(bpf_map_update_elem(def, &key, value.data(), BPF_ANY), -expected);
    EXPECT_EQ(bpf_map_delete_elem(def, &key), -expected);
    errno = 0;
    EXPECT_EQ(bpf_map__fd(xmaps::bpf_map_of(def)), -expected);
    EXPECT_EQ(errno, expected);
  }
}

TEST(BpfCFailedDefinition, ZeroMaxEntriesGivesNullAndEinval) {
  expect_fails_with(&no_entries, EINVAL);
  EXPECT_EQ(bpf_map__max_entries(xmaps::bpf_map_of(&no_entries)), 0U);
  std::string why;
  const int kernel = kernel_create_errno(spec(xmaps::MapType::hash, 4, 8, 0), &why);
  if (kernel < 0)
    GTEST_SKIP() << why;
  EXPECT_EQ(kernel, EINVAL);
}

TEST(BpfCFailedDefinition, ZeroMaxEntriesQueuePushPopPeekGiveEinval) {
  __u32 v = 1;
  EXPECT_EQ(bpf_map_push_elem(&no_entries_queue, &v, BPF_ANY), -EINVAL);
  EXPECT_EQ(bpf_map_pop_elem(&no_entries_queue, &v), -EINVAL);
  EXPECT_EQ(bpf_map_peek_elem(&no_entries_queue, &v), -EINVAL);
  errno = 0;
  EXPECT_EQ(bpf_map__fd(xmaps::bpf_map_of(&no_entries_queue)), -EINVAL);
  EXPECT_EQ(errno, EINVAL);
  std::string why;
  const int kernel = kernel_create_errno(spec(xmaps::MapType::queue, 0, 4, 0), &why);
  if (kernel < 0)
    GTEST_SKIP() << why;
  EXPECT_EQ(kernel, EINVAL);
}

// Not EINVAL for everything: the helpers pass the creation's own errno through.
TEST(BpfCFailedDefinition, LruWithoutPreallocationGivesEnotsupp) {
  expect_fails_with(&lru_no_prealloc, kEnotsupp);
  std::string why;
  const int kernel = kernel_create_errno(
      spec(xmaps::MapType::lru_hash, 4, 8, 8, xmaps::map_flag::kNoPrealloc), &why);
  if (kernel < 0)
    GTEST_SKIP() << why;
  EXPECT_EQ(kernel, kEnotsupp);
}

TEST(BpfCFailedDefinition, ValueTooLargeGivesE2big) {
  expect_fails_with(&huge_values, E2BIG);
  std::string why;
  const int kernel = kernel_create_errno(spec(xmaps::MapType::hash, 4, 1U << 23, 4), &why);
  if (kernel < 0)
    GTEST_SKIP() << why;
  EXPECT_EQ(kernel, E2BIG);
}

// libbpf's way to a zero-entry map: bpf_map__set_max_entries(map, 0) before the load.
TEST(BpfCFailedDefinition, MaxEntriesSetToZeroBeforeFirstUseGivesEinval) {
  ASSERT_EQ(bpf_map__set_max_entries(xmaps::bpf_map_of(&resized_to_zero), 0), 0);
  expect_fails_with(&resized_to_zero, EINVAL);
  EXPECT_EQ(bpf_map__max_entries(xmaps::bpf_map_of(&resized_to_zero)), 0U);
  // As libbpf after a failed load (the object counts as loaded, successfully or not): no
  // second attempt.
  errno = 0;
  EXPECT_EQ(bpf_map__set_max_entries(xmaps::bpf_map_of(&resized_to_zero), 4), -EBUSY);
  EXPECT_EQ(errno, EBUSY);
  expect_fails_with(&resized_to_zero, EINVAL);
}

}  // namespace
