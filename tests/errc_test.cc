// SPDX-License-Identifier: MIT
//
// xmaps/errc.h: every value equals the kernel's (<errno.h>, <linux/bpf.h>), so differential
// tests can compare xmaps results with bpf(2) results directly.
#include "xmaps/errc.h"

#include <cerrno>
#include <linux/bpf.h>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace {

using xmaps::Errc;
using xmaps::MapType;
using xmaps::UpdateFlag;

constexpr int kKernelEnotsupp = 524;  // ENOTSUPP: kernel-internal, not in <errno.h>

const std::vector<Errc>& all_errcs() {
  static const std::vector<Errc> all = {
      Errc::ok,       Errc::permission,    Errc::not_found, Errc::too_big, Errc::no_memory,
      Errc::fault,    Errc::busy,          Errc::exists,    Errc::invalid, Errc::no_space,
      Errc::overflow, Errc::not_supported, Errc::no_device,
  };
  return all;
}

TEST(Errc, ValuesEqualTheKernelErrnoConstants) {
  EXPECT_EQ(static_cast<int>(Errc::ok), 0);
  EXPECT_EQ(static_cast<int>(Errc::not_found), ENOENT);
  EXPECT_EQ(static_cast<int>(Errc::exists), EEXIST);
  EXPECT_EQ(static_cast<int>(Errc::too_big), E2BIG);
  EXPECT_EQ(static_cast<int>(Errc::invalid), EINVAL);
  EXPECT_EQ(static_cast<int>(Errc::no_space), ENOSPC);
  EXPECT_EQ(static_cast<int>(Errc::permission), EPERM);
  EXPECT_EQ(static_cast<int>(Errc::busy), EBUSY);
  EXPECT_EQ(static_cast<int>(Errc::no_memory), ENOMEM);
  EXPECT_EQ(static_cast<int>(Errc::fault), EFAULT);
  EXPECT_EQ(static_cast<int>(Errc::overflow), EOVERFLOW);
  EXPECT_EQ(static_cast<int>(Errc::no_device), ENODEV);
  EXPECT_EQ(static_cast<int>(Errc::not_supported), kKernelEnotsupp);
}

TEST(Errc, ValuesAreDistinct) {
  std::set<int> seen;
  for (const Errc e : all_errcs()) {
    EXPECT_TRUE(seen.insert(static_cast<int>(e)).second) << static_cast<int>(e);
  }
}

TEST(Errc, ToStringGivesDistinctNonEmptyTextForEveryValue) {
  std::set<std::string> seen;
  for (const Errc e : all_errcs()) {
    const std::string_view text = xmaps::to_string(e);
    EXPECT_FALSE(text.empty()) << static_cast<int>(e);
    EXPECT_TRUE(seen.insert(std::string(text)).second) << "duplicate text: " << text;
  }
}

TEST(Errc, ToStringOfAnUnknownValueIsNonEmptyAndDiffersFromKnownOnes) {
  const std::string_view text = xmaps::to_string(static_cast<Errc>(12345));
  EXPECT_FALSE(text.empty());
  for (const Errc e : all_errcs())
    EXPECT_NE(text, xmaps::to_string(e));
}

TEST(Errc, ToStringIsUsableAtCompileTime) {
  static_assert(xmaps::to_string(Errc::ok) == "ok");
  static_assert(!xmaps::to_string(Errc::not_supported).empty());
}

TEST(UpdateFlag, ValuesEqualBpfAnyNoexistExist) {
  EXPECT_EQ(static_cast<std::uint64_t>(UpdateFlag::any), static_cast<std::uint64_t>(BPF_ANY));
  EXPECT_EQ(static_cast<std::uint64_t>(UpdateFlag::no_exist),
            static_cast<std::uint64_t>(BPF_NOEXIST));
  EXPECT_EQ(static_cast<std::uint64_t>(UpdateFlag::exist), static_cast<std::uint64_t>(BPF_EXIST));
}

TEST(UpdateFlag, ElemFlagLockEqualsBpfFLock) {
  EXPECT_EQ(xmaps::kElemFlagLock, static_cast<std::uint64_t>(BPF_F_LOCK));
}

TEST(MapType, ValuesEqualBpfMapTypeConstants) {
  EXPECT_EQ(static_cast<std::uint32_t>(MapType::hash),
            static_cast<std::uint32_t>(BPF_MAP_TYPE_HASH));
  EXPECT_EQ(static_cast<std::uint32_t>(MapType::array),
            static_cast<std::uint32_t>(BPF_MAP_TYPE_ARRAY));
  EXPECT_EQ(static_cast<std::uint32_t>(MapType::percpu_hash),
            static_cast<std::uint32_t>(BPF_MAP_TYPE_PERCPU_HASH));
  EXPECT_EQ(static_cast<std::uint32_t>(MapType::percpu_array),
            static_cast<std::uint32_t>(BPF_MAP_TYPE_PERCPU_ARRAY));
  EXPECT_EQ(static_cast<std::uint32_t>(MapType::lru_hash),
            static_cast<std::uint32_t>(BPF_MAP_TYPE_LRU_HASH));
  EXPECT_EQ(static_cast<std::uint32_t>(MapType::lru_percpu_hash),
            static_cast<std::uint32_t>(BPF_MAP_TYPE_LRU_PERCPU_HASH));
  EXPECT_EQ(static_cast<std::uint32_t>(MapType::cpumap),
            static_cast<std::uint32_t>(BPF_MAP_TYPE_CPUMAP));
  EXPECT_EQ(static_cast<std::uint32_t>(MapType::queue),
            static_cast<std::uint32_t>(BPF_MAP_TYPE_QUEUE));
  EXPECT_EQ(static_cast<std::uint32_t>(MapType::stack),
            static_cast<std::uint32_t>(BPF_MAP_TYPE_STACK));
}

TEST(MapFlag, ValuesEqualBpfFConstants) {
  namespace f = xmaps::map_flag;
  EXPECT_EQ(f::kNoPrealloc, static_cast<std::uint32_t>(BPF_F_NO_PREALLOC));
  EXPECT_EQ(f::kNoCommonLru, static_cast<std::uint32_t>(BPF_F_NO_COMMON_LRU));
  EXPECT_EQ(f::kNumaNode, static_cast<std::uint32_t>(BPF_F_NUMA_NODE));
  EXPECT_EQ(f::kRdonly, static_cast<std::uint32_t>(BPF_F_RDONLY));
  EXPECT_EQ(f::kWronly, static_cast<std::uint32_t>(BPF_F_WRONLY));
  EXPECT_EQ(f::kZeroSeed, static_cast<std::uint32_t>(BPF_F_ZERO_SEED));
  EXPECT_EQ(f::kRdonlyProg, static_cast<std::uint32_t>(BPF_F_RDONLY_PROG));
  EXPECT_EQ(f::kWronlyProg, static_cast<std::uint32_t>(BPF_F_WRONLY_PROG));
  EXPECT_EQ(f::kMmapable, static_cast<std::uint32_t>(BPF_F_MMAPABLE));
  EXPECT_EQ(f::kPreserveElems, static_cast<std::uint32_t>(BPF_F_PRESERVE_ELEMS));
  EXPECT_EQ(f::kInnerMap, static_cast<std::uint32_t>(BPF_F_INNER_MAP));
}

TEST(MapFlag, AccessMaskIsTheFourAccessBits) {
  namespace f = xmaps::map_flag;
  EXPECT_EQ(f::kAccessMask, static_cast<std::uint32_t>(BPF_F_RDONLY | BPF_F_WRONLY |
                                                       BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG));
}

}  // namespace
