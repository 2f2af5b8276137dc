// SPDX-License-Identifier: MIT
//
// xmaps/map.h: the byte-level Map from create_map(), with the user-side (bpf(2) syscall)
// semantics: the kernel's create rules (kernel-notes §1.1 and §6 "Create"), argument and access
// checks in the kernel's order, the per-CPU buffer layout, the test_maps.c hash scenarios and
// the map_tests/htab_map_batch_ops.c batch scenario, and the datapath (program-side) calls.
// Expected values were checked against the running kernel (6.18) where kernel-notes is silent.
#include "xmaps/map.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "xmaps/cpu.h"
#include "xmaps/cpumap.h"
#include "xmaps/errc.h"

namespace xmaps {
// Failure messages name the error rather than print a number.
void PrintTo(Errc e, std::ostream* os) {
  *os << to_string(e);
}
}  // namespace xmaps

namespace {

using xmaps::BatchArgs;
using xmaps::CpuBinding;
using xmaps::Errc;
using xmaps::Map;
using xmaps::MapSpec;
using xmaps::MapType;
namespace mf = xmaps::map_flag;

constexpr std::uint64_t kAny = 0;
constexpr std::uint64_t kNoExist = 1;
constexpr std::uint64_t kExist = 2;
constexpr std::uint64_t kLock = xmaps::kElemFlagLock;

std::size_t ncpus() {
  return static_cast<std::size_t>(xmaps::possible_cpus());
}
std::size_t round8(std::size_t n) {
  return (n + 7) / 8 * 8;
}

MapSpec spec_of(MapType type, std::uint32_t key_size, std::uint32_t value_size,
                std::uint32_t max_entries, std::uint32_t flags = 0, int numa_node = -1) {
  return MapSpec{.type = type,
                 .key_size = key_size,
                 .value_size = value_size,
                 .max_entries = max_entries,
                 .flags = flags,
                 .numa_node = numa_node};
}

std::unique_ptr<Map> make_map(MapType type, std::uint32_t key_size, std::uint32_t value_size,
                              std::uint32_t max_entries, std::uint32_t flags = 0) {
  Errc err = Errc::invalid;
  auto map = xmaps::create_map(spec_of(type, key_size, value_size, max_entries, flags), &err);
  EXPECT_EQ(err, Errc::ok);
  return map;
}

// validate() and create_map() agree on `expected`; create_map() gives a map iff ok.
void expect_create(const MapSpec& s, Errc expected) {
  SCOPED_TRACE("type " + std::to_string(static_cast<int>(s.type)) + " key " +
               std::to_string(s.key_size) + " value " + std::to_string(s.value_size) + " max " +
               std::to_string(s.max_entries) + " flags " + std::to_string(s.flags) + " numa " +
               std::to_string(s.numa_node));
  EXPECT_EQ(xmaps::validate(s), expected);
  Errc err = Errc::ok;
  const auto map = xmaps::create_map(s, &err);
  EXPECT_EQ(err, expected);
  EXPECT_EQ(map != nullptr, expected == Errc::ok);
}

const MapType kHashTypes[] = {MapType::hash, MapType::percpu_hash};
const MapType kArrayTypes[] = {MapType::array, MapType::percpu_array};
const MapType kAllTypes[] = {MapType::hash, MapType::percpu_hash, MapType::array,
                             MapType::percpu_array};

bool is_array(MapType t) {
  return t == MapType::array || t == MapType::percpu_array;
}
std::uint32_t key_size_for(MapType t) {
  return is_array(t) ? 4 : 8;
}

// ---- create rules ------------------------------------------------------------------------------

TEST(MapCreate, ZeroKeySizeValueSizeOrMaxEntriesIsInvalid) {
  for (const MapType t : kAllTypes) {
    const std::uint32_t ks = key_size_for(t);
    expect_create(spec_of(t, 0, 8, 4), Errc::invalid);
    expect_create(spec_of(t, ks, 0, 4), Errc::invalid);
    expect_create(spec_of(t, ks, 8, 0), Errc::invalid);
    expect_create(spec_of(t, ks, 8, 4), Errc::ok);
  }
}

TEST(MapCreate, ArrayKeySizeOtherThanFourIsInvalid) {
  for (const MapType t : kArrayTypes) {
    for (const std::uint32_t ks : {1U, 2U, 3U, 5U, 8U}) {
      expect_create(spec_of(t, ks, 8, 4), Errc::invalid);
    }
    expect_create(spec_of(t, 4, 8, 4), Errc::ok);
  }
}

TEST(MapCreate, HashTakesAnyKeySizeIncluding513) {
  for (const MapType t : kHashTypes) {
    for (const std::uint32_t ks : {1U, 3U, 4U, 12U, 513U})
      expect_create(spec_of(t, ks, 8, 4), Errc::ok);
  }
}

TEST(MapCreate, NoCommonLruOnHashIsInvalid) {
  for (const MapType t : kHashTypes)
    expect_create(spec_of(t, 8, 8, 4, mf::kNoCommonLru), Errc::invalid);
}

TEST(MapCreate, NoPreallocOnArrayIsInvalidAndOnHashIsAccepted) {
  for (const MapType t : kArrayTypes)
    expect_create(spec_of(t, 4, 8, 4, mf::kNoPrealloc), Errc::invalid);
  for (const MapType t : kHashTypes)
    expect_create(spec_of(t, 8, 8, 4, mf::kNoPrealloc), Errc::ok);
}

TEST(MapCreate, MmapableAndInnerMapAreForArrayOnly) {
  for (const std::uint32_t flag : {mf::kMmapable, mf::kInnerMap}) {
    expect_create(spec_of(MapType::hash, 8, 8, 4, flag), Errc::invalid);
    expect_create(spec_of(MapType::percpu_hash, 8, 8, 4, flag), Errc::invalid);
    expect_create(spec_of(MapType::percpu_array, 4, 8, 4, flag), Errc::invalid);
    expect_create(spec_of(MapType::array, 4, 8, 4, flag), Errc::ok);
  }
}

TEST(MapCreate, PreserveElemsIsInvalidOnHashAndArray) {
  for (const MapType t : kAllTypes) {
    expect_create(spec_of(t, key_size_for(t), 8, 4, mf::kPreserveElems), Errc::invalid);
  }
}

TEST(MapCreate, NumaNodeOnPerCpuTypesIsInvalid) {
  expect_create(spec_of(MapType::percpu_hash, 8, 8, 4, mf::kNumaNode, 0), Errc::invalid);
  expect_create(spec_of(MapType::percpu_array, 4, 8, 4, mf::kNumaNode, 0), Errc::invalid);
}

TEST(MapCreate, NumaNodeZeroOnHashAndArrayIsAccepted) {
  expect_create(spec_of(MapType::hash, 8, 8, 4, mf::kNumaNode, 0), Errc::ok);
  expect_create(spec_of(MapType::array, 4, 8, 4, mf::kNumaNode, 0), Errc::ok);
}

TEST(MapCreate, NumaNodeThatIsNotOnlineIsInvalid) {
  expect_create(spec_of(MapType::hash, 8, 8, 4, mf::kNumaNode, 4096), Errc::invalid);
  expect_create(spec_of(MapType::hash, 8, 8, 4, mf::kNumaNode, -2), Errc::invalid);
}

// The kernel reads numa_node only with BPF_F_NUMA_NODE, and -1 there is NUMA_NO_NODE: checked on
// 6.18, HASH, PERCPU_HASH, ARRAY and PERCPU_ARRAY with BPF_F_NUMA_NODE and numa_node
// 0xffffffff are all created. MapSpec documents -1 as "any node" too.
TEST(MapCreate, NumaNodeFlagWithNodeMinusOneMeansAnyNodeAndIsAcceptedAsOnTheKernel) {
  for (const MapType t : kAllTypes) {
    expect_create(spec_of(t, key_size_for(t), 8, 4, mf::kNumaNode, -1), Errc::ok);
  }
}

TEST(MapCreate, ZeroSeedOnArrayIsInvalidAndOnHashIsAccepted) {
  for (const MapType t : kArrayTypes)
    expect_create(spec_of(t, 4, 8, 4, mf::kZeroSeed), Errc::invalid);
  for (const MapType t : kHashTypes)
    expect_create(spec_of(t, 8, 8, 4, mf::kZeroSeed), Errc::ok);
}

TEST(MapCreate, RdonlyWithWronlyIsInvalidAndSoIsRdonlyProgWithWronlyProg) {
  for (const MapType t : kAllTypes) {
    const std::uint32_t ks = key_size_for(t);
    expect_create(spec_of(t, ks, 8, 4, mf::kRdonly | mf::kWronly), Errc::invalid);
    expect_create(spec_of(t, ks, 8, 4, mf::kRdonlyProg | mf::kWronlyProg), Errc::invalid);
    expect_create(spec_of(t, ks, 8, 4, mf::kRdonly), Errc::ok);
    expect_create(spec_of(t, ks, 8, 4, mf::kWronly), Errc::ok);
    expect_create(spec_of(t, ks, 8, 4, mf::kRdonlyProg), Errc::ok);
    expect_create(spec_of(t, ks, 8, 4, mf::kRdonly | mf::kWronlyProg), Errc::ok);
  }
}

TEST(MapCreate, UnknownFlagBitsAreInvalid) {
  for (const MapType t : kAllTypes) {
    for (const std::uint32_t bit : {1U << 5, 1U << 9, 1U << 20, 1U << 31}) {
      expect_create(spec_of(t, key_size_for(t), 8, 4, bit), Errc::invalid);
    }
  }
}

TEST(MapCreate, PerCpuValueSizeUpTo32768IsAcceptedAndAboveIsTooBig) {
  for (const MapType t : {MapType::percpu_hash, MapType::percpu_array}) {
    const std::uint32_t ks = key_size_for(t);
    expect_create(spec_of(t, ks, 32761, 1), Errc::ok);  // rounds up to exactly 32768
    expect_create(spec_of(t, ks, 32768, 1), Errc::ok);
    expect_create(spec_of(t, ks, 32769, 1), Errc::too_big);
  }
  expect_create(spec_of(MapType::percpu_hash, 8, 32769, 1, mf::kNoPrealloc), Errc::too_big);
  // Not a limit for maps that are not per-CPU.
  expect_create(spec_of(MapType::hash, 8, 32769, 1), Errc::ok);
  expect_create(spec_of(MapType::array, 4, 32769, 1), Errc::ok);
}

TEST(MapCreate, HashKeyPlusValueOfAboutKmallocMaxSizeIsTooBig) {
  expect_create(spec_of(MapType::hash, 4, 1U << 30, 4), Errc::too_big);
  expect_create(spec_of(MapType::hash, 4, 4U << 20, 4), Errc::too_big);
}

TEST(MapCreate, HashMaxEntriesAbove2To31IsTooBig) {
  expect_create(spec_of(MapType::hash, 4, 4, 0x80000001U), Errc::too_big);
  expect_create(spec_of(MapType::hash, 4, 4, 0xffffffffU), Errc::too_big);
}

TEST(MapCreate, LruWithNoPreallocIsNotSupported) {
  for (const MapType t : {MapType::lru_hash, MapType::lru_percpu_hash}) {
    expect_create(spec_of(t, 8, 8, 4, mf::kNoPrealloc), Errc::not_supported);
    // hashtab checks the flags before the sizes: a zero key size does not change the answer.
    expect_create(spec_of(t, 0, 8, 4, mf::kNoPrealloc), Errc::not_supported);
  }
}

TEST(MapCreate, FlagErrorsComeBeforeSizeErrorsForHash) {
  expect_create(spec_of(MapType::hash, 0, 8, 4, 1U << 20), Errc::invalid);
  expect_create(spec_of(MapType::hash, 8, 8, 0, mf::kNoCommonLru), Errc::invalid);
}

TEST(MapCreate, ErrorPointerIsOptional) {
  EXPECT_EQ(xmaps::create_map(spec_of(MapType::hash, 0, 8, 4)), nullptr);
  EXPECT_NE(xmaps::create_map(spec_of(MapType::hash, 8, 8, 4)), nullptr);
}

TEST(MapCreate, TheMapReportsItsSpecAndBufferSizes) {
  for (const MapType t : kAllTypes) {
    const bool percpu = t == MapType::percpu_hash || t == MapType::percpu_array;
    for (const std::uint32_t vs : {1U, 4U, 8U, 12U, 33U}) {
      const auto map = make_map(t, key_size_for(t), vs, 5, 0);
      ASSERT_NE(map, nullptr);
      EXPECT_EQ(map->spec().type, t);
      EXPECT_EQ(map->spec().key_size, key_size_for(t));
      EXPECT_EQ(map->spec().value_size, vs);
      EXPECT_EQ(map->max_entries(), 5U);
      EXPECT_EQ(map->value_buffer_size(), percpu ? ncpus() * round8(vs) : vs) << vs;
      EXPECT_EQ(map->batch_token_size(), 4U);
    }
  }
}

// ---- user-side argument checks -----------------------------------------------------------------

// A map of `type` holding key 1 (hash) or index 1 (array) with a non-zero value.
struct Populated {
  std::unique_ptr<Map> map;
  std::vector<unsigned char> key;
  std::vector<unsigned char> value;
};

Populated populated(MapType type, std::uint32_t flags = 0) {
  Populated p;
  p.map = make_map(type, key_size_for(type), 8, 4, flags);
  p.key.assign(key_size_for(type), 0);
  p.key[0] = 1;
  p.value.assign(p.map ? p.map->value_buffer_size() : 8, 0x5a);
  if (p.map) {
    // The program side is not limited by BPF_F_RDONLY / BPF_F_WRONLY.
    const unsigned char v[8] = {0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a};
    for (std::size_t c = 0; c < ncpus(); ++c) {
      CpuBinding bind(static_cast<int>(c));
      EXPECT_EQ(p.map->update_elem(p.key.data(), v, kAny), Errc::ok);
    }
  }
  return p;
}

TEST(MapUserOps, LookupWithNonZeroFlagsReturnsInvalid) {
  for (const MapType t : kAllTypes) {
    auto p = populated(t);
    ASSERT_NE(p.map, nullptr);
    std::vector<unsigned char> out(p.map->value_buffer_size());
    for (const std::uint64_t flags :
         std::initializer_list<std::uint64_t>{1, 2, kLock, 8, 1ULL << 32, ~0ULL}) {
      EXPECT_EQ(p.map->lookup(p.key.data(), out.data(), flags), Errc::invalid)
          << "type " << static_cast<int>(t) << " flags " << flags;
    }
    EXPECT_EQ(p.map->lookup(p.key.data(), out.data(), 0), Errc::ok);
    EXPECT_EQ(out, p.value);
  }
}

TEST(MapUserOps, UpdateWithFlagsOtherThanAnyNoExistExistReturnsInvalidAndChangesNothing) {
  for (const MapType t : kAllTypes) {
    auto p = populated(t);
    ASSERT_NE(p.map, nullptr);
    const std::vector<unsigned char> other(p.map->value_buffer_size(), 0x11);
    for (const std::uint64_t flags :
         std::initializer_list<std::uint64_t>{3, kLock, 5, 8, 16, 1ULL << 32, ~0ULL}) {
      EXPECT_EQ(p.map->update(p.key.data(), other.data(), flags), Errc::invalid)
          << "type " << static_cast<int>(t) << " flags " << flags;
    }
    std::vector<unsigned char> out(p.map->value_buffer_size());
    ASSERT_EQ(p.map->lookup(p.key.data(), out.data(), 0), Errc::ok);
    EXPECT_EQ(out, p.value);
  }
}

TEST(MapUserOps, HashLookupAndEraseWithNonZeroFlagsReturnsInvalidAndKeepsTheKey) {
  for (const MapType t : kHashTypes) {
    auto p = populated(t);
    ASSERT_NE(p.map, nullptr);
    std::vector<unsigned char> out(p.map->value_buffer_size());
    for (const std::uint64_t flags :
         std::initializer_list<std::uint64_t>{1, kLock, 8, 1ULL << 32}) {
      EXPECT_EQ(p.map->lookup_and_erase(p.key.data(), out.data(), flags), Errc::invalid) << flags;
    }
    EXPECT_EQ(p.map->lookup(p.key.data(), out.data(), 0), Errc::ok);
  }
}

TEST(MapUserOps, KeyedMapsGiveFaultForANullKeyOrValue) {
  for (const MapType t : kAllTypes) {
    auto p = populated(t);
    ASSERT_NE(p.map, nullptr);
    std::vector<unsigned char> buf(p.map->value_buffer_size());
    EXPECT_EQ(p.map->lookup(nullptr, buf.data(), 0), Errc::fault);
    EXPECT_EQ(p.map->lookup(p.key.data(), nullptr, 0), Errc::fault);
    EXPECT_EQ(p.map->update(nullptr, buf.data(), 0), Errc::fault);
    EXPECT_EQ(p.map->update(p.key.data(), nullptr, 0), Errc::fault);
    EXPECT_EQ(p.map->get_next_key(p.key.data(), nullptr), Errc::fault);
  }
  for (const MapType t : kHashTypes) {
    auto p = populated(t);
    ASSERT_NE(p.map, nullptr);
    std::vector<unsigned char> buf(p.map->value_buffer_size());
    EXPECT_EQ(p.map->erase(nullptr), Errc::fault);
    EXPECT_EQ(p.map->lookup_and_erase(nullptr, buf.data(), 0), Errc::fault);
  }
}

// ---- access flags ------------------------------------------------------------------------------

TEST(MapAccess, RdonlyMapRejectsUserWritesWithPermission) {
  for (const MapType t : kAllTypes) {
    SCOPED_TRACE("type " + std::to_string(static_cast<int>(t)));
    auto p = populated(t, mf::kRdonly);
    ASSERT_NE(p.map, nullptr);
    Map& m = *p.map;
    std::vector<unsigned char> buf(m.value_buffer_size());
    EXPECT_EQ(m.update(p.key.data(), buf.data(), kAny), Errc::permission);
    EXPECT_EQ(m.update(p.key.data(), buf.data(), 3), Errc::permission);  // before the flag check
    EXPECT_EQ(m.erase(p.key.data()), Errc::permission);
    EXPECT_EQ(m.lookup_and_erase(p.key.data(), buf.data(), 0), Errc::permission);
    // Reads work.
    ASSERT_EQ(m.lookup(p.key.data(), buf.data(), 0), Errc::ok);
    EXPECT_EQ(buf, p.value);
    std::vector<unsigned char> next(m.spec().key_size);
    EXPECT_EQ(m.get_next_key(nullptr, next.data()), Errc::ok);
    // Batches: only lookup_batch reads without writing.
    std::vector<unsigned char> keys(4 * m.spec().key_size);
    std::vector<unsigned char> values(4 * m.value_buffer_size());
    std::uint32_t token = 0;
    BatchArgs a;
    a.out_batch = &token;
    a.keys = keys.data();
    a.values = values.data();
    a.count = 4;
    const Errc looked = m.lookup_batch(a);
    EXPECT_TRUE(looked == Errc::ok || looked == Errc::not_found) << xmaps::to_string(looked);
    EXPECT_GE(a.count, 1U);
    a.count = 1;
    EXPECT_EQ(m.lookup_and_erase_batch(a), Errc::permission);
    a.count = 1;
    a.keys = p.key.data();
    a.values = p.value.data();
    EXPECT_EQ(m.update_batch(a), Errc::permission);
    EXPECT_EQ(m.erase_batch(a), Errc::permission);
  }
}

TEST(MapAccess, WronlyMapRejectsUserReadsWithPermission) {
  for (const MapType t : kAllTypes) {
    SCOPED_TRACE("type " + std::to_string(static_cast<int>(t)));
    auto p = populated(t, mf::kWronly);
    ASSERT_NE(p.map, nullptr);
    Map& m = *p.map;
    std::vector<unsigned char> buf(m.value_buffer_size());
    std::vector<unsigned char> next(m.spec().key_size);
    EXPECT_EQ(m.lookup(p.key.data(), buf.data(), 0), Errc::permission);
    EXPECT_EQ(m.get_next_key(nullptr, next.data()), Errc::permission);
    EXPECT_EQ(m.get_next_key(p.key.data(), next.data()), Errc::permission);
    EXPECT_EQ(m.lookup_and_erase(p.key.data(), buf.data(), 0), Errc::permission);
    std::vector<unsigned char> keys(4 * m.spec().key_size);
    std::vector<unsigned char> values(4 * m.value_buffer_size());
    std::uint32_t token = 0;
    BatchArgs a;
    a.out_batch = &token;
    a.keys = keys.data();
    a.values = values.data();
    a.count = 4;
    EXPECT_EQ(m.lookup_batch(a), Errc::permission);
    EXPECT_EQ(m.lookup_and_erase_batch(a), Errc::permission);
    // Writes work.
    EXPECT_EQ(m.update(p.key.data(), p.value.data(), kAny), Errc::ok);
    BatchArgs u;
    u.keys = p.key.data();
    u.values = p.value.data();
    u.count = 1;
    EXPECT_EQ(m.update_batch(u), Errc::ok);
    EXPECT_EQ(u.count, 1U);
    if (!is_array(t)) {
      EXPECT_EQ(m.erase(p.key.data()), Errc::ok);
      EXPECT_EQ(m.update(p.key.data(), p.value.data(), kAny), Errc::ok);
      u.count = 1;
      EXPECT_EQ(m.erase_batch(u), Errc::ok);
      EXPECT_EQ(u.count, 1U);
      EXPECT_EQ(m.lookup_elem(p.key.data()), nullptr);  // really gone
    } else {
      // Past the permission check, arrays still cannot delete.
      EXPECT_EQ(m.erase(p.key.data()), Errc::invalid);
      u.count = 1;
      EXPECT_EQ(m.erase_batch(u), Errc::not_supported);
    }
  }
}

TEST(MapAccess, LookupFlagsAreCheckedBeforeThePermission) {
  // On the kernel, WRONLY + lookup flags 1 gives EINVAL, not EPERM.
  for (const MapType t : kAllTypes) {
    auto p = populated(t, mf::kWronly);
    ASSERT_NE(p.map, nullptr);
    std::vector<unsigned char> buf(p.map->value_buffer_size());
    EXPECT_EQ(p.map->lookup(p.key.data(), buf.data(), 1), Errc::invalid);
    EXPECT_EQ(p.map->lookup_and_erase(p.key.data(), buf.data(), 1), Errc::invalid);
  }
}

// map_lookup_elem() rejects flags & ~BPF_F_LOCK, then checks FMODE_CAN_READ, and only then
// rejects BPF_F_LOCK on a map without a spin lock. Checked on 6.18: a WRONLY HASH or ARRAY
// with lookup flags BPF_F_LOCK gives EPERM (lookup_and_delete does the same, and xmaps matches
// the kernel there).
TEST(MapAccess, WronlyLookupWithTheLockFlagReturnsPermissionAsTheKernelDoes) {
  for (const MapType t : kAllTypes) {
    auto p = populated(t, mf::kWronly);
    ASSERT_NE(p.map, nullptr);
    std::vector<unsigned char> buf(p.map->value_buffer_size());
    EXPECT_EQ(p.map->lookup(p.key.data(), buf.data(), kLock), Errc::permission)
        << "type " << static_cast<int>(t);
    EXPECT_EQ(p.map->lookup_and_erase(p.key.data(), buf.data(), kLock), Errc::permission)
        << "type " << static_cast<int>(t);
  }
}

TEST(MapAccess, DatapathIsNotLimitedByUserAccessFlags) {
  for (const std::uint32_t flags : {mf::kRdonly, mf::kWronly}) {
    auto p = populated(MapType::hash, flags);
    ASSERT_NE(p.map, nullptr);
    const std::uint64_t v = 77;
    EXPECT_EQ(p.map->update_elem(p.key.data(), &v, kAny), Errc::ok);
    const auto* got = static_cast<const std::uint64_t*>(p.map->lookup_elem(p.key.data()));
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(*got, 77U);
    EXPECT_EQ(p.map->delete_elem(p.key.data()), Errc::ok);
  }
}

// ---- arrays ------------------------------------------------------------------------------------

TEST(MapArray, LookupAndEraseIsNotSupported) {
  for (const MapType t : kArrayTypes) {
    auto p = populated(t);
    ASSERT_NE(p.map, nullptr);
    std::vector<unsigned char> buf(p.map->value_buffer_size());
    EXPECT_EQ(p.map->lookup_and_erase(p.key.data(), buf.data(), 0), Errc::not_supported);
  }
}

TEST(MapArray, EraseIsInvalidOnBothSides) {
  for (const MapType t : kArrayTypes) {
    auto p = populated(t);
    ASSERT_NE(p.map, nullptr);
    EXPECT_EQ(p.map->erase(p.key.data()), Errc::invalid);
    EXPECT_EQ(p.map->delete_elem(p.key.data()), Errc::invalid);
    std::vector<unsigned char> buf(p.map->value_buffer_size());
    EXPECT_EQ(p.map->lookup(p.key.data(), buf.data(), 0), Errc::ok);  // still there
    EXPECT_EQ(buf, p.value);
  }
}

TEST(MapArray, EraseBatchAndLookupAndEraseBatchAreNotSupported) {
  for (const MapType t : kArrayTypes) {
    auto p = populated(t);
    ASSERT_NE(p.map, nullptr);
    BatchArgs a;
    a.keys = p.key.data();
    a.values = p.value.data();
    a.count = 1;
    EXPECT_EQ(p.map->erase_batch(a), Errc::not_supported);
    EXPECT_EQ(p.map->lookup_and_erase_batch(a), Errc::not_supported);
  }
}

TEST(MapArray, UserSideIndexChecksMatchTheKernel) {
  for (const MapType t : kArrayTypes) {
    const auto map = make_map(t, 4, 8, 4);
    ASSERT_NE(map, nullptr);
    std::vector<unsigned char> buf(map->value_buffer_size(), 1);
    const std::uint32_t past = 4;
    const std::uint32_t last = 3;
    const std::uint32_t first = 0;
    EXPECT_EQ(map->update(&past, buf.data(), kAny), Errc::too_big);
    EXPECT_EQ(map->update(&past, buf.data(), kNoExist), Errc::too_big);
    EXPECT_EQ(map->update(&past, buf.data(), 3), Errc::invalid);
    EXPECT_EQ(map->update(&first, buf.data(), kNoExist), Errc::exists);
    EXPECT_EQ(map->update(&first, buf.data(), kExist), Errc::ok);
    EXPECT_EQ(map->lookup(&past, buf.data(), 0), Errc::not_found);
    std::uint32_t next = 99;
    EXPECT_EQ(map->get_next_key(nullptr, &next), Errc::ok);
    EXPECT_EQ(next, 0U);
    EXPECT_EQ(map->get_next_key(&first, &next), Errc::ok);
    EXPECT_EQ(next, 1U);
    EXPECT_EQ(map->get_next_key(&last, &next), Errc::not_found);
    next = 99;
    EXPECT_EQ(map->get_next_key(&past, &next), Errc::ok);
    EXPECT_EQ(next, 0U);
  }
}

TEST(MapArray, ElementsStartZeroed) {
  for (const MapType t : kArrayTypes) {
    const auto map = make_map(t, 4, 12, 3);
    ASSERT_NE(map, nullptr);
    for (std::uint32_t i = 0; i < 3; ++i) {
      std::vector<unsigned char> buf(map->value_buffer_size(), 0xee);
      ASSERT_EQ(map->lookup(&i, buf.data(), 0), Errc::ok);
      EXPECT_EQ(buf, std::vector<unsigned char>(buf.size(), 0)) << i;
    }
  }
}

// ---- per-CPU buffer layout ---------------------------------------------------------------------

std::vector<unsigned char> pattern(std::size_t n, unsigned seed) {
  std::vector<unsigned char> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = static_cast<unsigned char>(seed + i * 7 + 1);
  return v;
}

TEST(MapPercpuLayout, PaddingBytesOfEachCpuSlotRoundTrip) {
  for (const MapType t : {MapType::percpu_hash, MapType::percpu_array}) {
    SCOPED_TRACE("type " + std::to_string(static_cast<int>(t)));
    const auto map = make_map(t, key_size_for(t), 12, 4);
    ASSERT_NE(map, nullptr);
    ASSERT_EQ(map->value_buffer_size(), ncpus() * 16);
    const std::vector<unsigned char> in = pattern(ncpus() * 16, 3);  // padding non-zero too
    std::vector<unsigned char> key(key_size_for(t), 0);
    key[0] = 2;
    ASSERT_EQ(map->update(key.data(), in.data(), kAny), Errc::ok);
    std::vector<unsigned char> out(ncpus() * 16 + 8, 0xcc);  // 8 guard bytes
    ASSERT_EQ(map->lookup(key.data(), out.data(), 0), Errc::ok);
    EXPECT_TRUE(std::equal(in.begin(), in.end(), out.begin()));
    for (std::size_t i = in.size(); i < out.size(); ++i)
      EXPECT_EQ(out[i], 0xcc) << "overrun";
    // The program side sees value_size bytes of its CPU's slot.
    for (std::size_t c = 0; c < ncpus(); ++c) {
      CpuBinding bind(static_cast<int>(c));
      const auto* mine = static_cast<const unsigned char*>(map->lookup_elem(key.data()));
      ASSERT_NE(mine, nullptr);
      EXPECT_EQ(std::memcmp(mine, in.data() + c * 16, 12), 0) << "cpu " << c;
      EXPECT_EQ(map->lookup_percpu_elem(key.data(), static_cast<std::uint32_t>(c)), mine);
    }
  }
}

TEST(MapPercpuLayout, LookupAndEraseReturnsEveryCpuSlotWithPadding) {
  const auto map = make_map(MapType::percpu_hash, 4, 12, 4);
  ASSERT_NE(map, nullptr);
  const std::vector<unsigned char> in = pattern(map->value_buffer_size(), 9);
  const std::uint32_t key = 7;
  ASSERT_EQ(map->update(&key, in.data(), kAny), Errc::ok);
  std::vector<unsigned char> out(map->value_buffer_size());
  ASSERT_EQ(map->lookup_and_erase(&key, out.data(), 0), Errc::ok);
  EXPECT_EQ(out, in);
  EXPECT_EQ(map->lookup(&key, out.data(), 0), Errc::not_found);
}

TEST(MapPercpuLayout, NonPerCpuLookupWritesExactlyValueSizeBytes) {
  for (const MapType t : {MapType::hash, MapType::array}) {
    const auto map = make_map(t, 4, 12, 4);
    ASSERT_NE(map, nullptr);
    ASSERT_EQ(map->value_buffer_size(), 12U);
    const std::vector<unsigned char> in = pattern(12, 5);
    const std::uint32_t key = 1;
    ASSERT_EQ(map->update(&key, in.data(), kAny), Errc::ok);
    std::vector<unsigned char> out(16, 0xcc);
    ASSERT_EQ(map->lookup(&key, out.data(), 0), Errc::ok);
    EXPECT_TRUE(std::equal(in.begin(), in.end(), out.begin()));
    for (std::size_t i = 12; i < 16; ++i)
      EXPECT_EQ(out[i], 0xcc) << "overrun at " << i;
  }
}

// ---- test_maps.c scenarios, run for map_flags 0 and BPF_F_NO_PREALLOC --------------------------

class TestMaps : public ::testing::TestWithParam<std::uint32_t> {};
INSTANTIATE_TEST_SUITE_P(Flags, TestMaps, ::testing::Values(0U, mf::kNoPrealloc),
                         [](const auto& param_info) {
                           return param_info.param == 0 ? std::string("Prealloc")
                                                        : std::string("NoPrealloc");
                         });

// test_hashmap: max 2, 8-byte keys and values.
TEST_P(TestMaps, HashmapScenario) {
  const auto map = make_map(MapType::hash, 8, 8, 2, GetParam());
  ASSERT_NE(map, nullptr);
  Map& m = *map;
  long long key = 1;
  long long value = 1234;
  long long next_key = 0;
  long long first_key = 0;
  // Insert key=1.
  ASSERT_EQ(m.update(&key, &value, kAny), Errc::ok);
  value = 0;
  // BPF_NOEXIST on an existing key.
  EXPECT_EQ(m.update(&key, &value, kNoExist), Errc::exists);
  // -1 is an invalid flag.
  EXPECT_EQ(m.update(&key, &value, ~0ULL), Errc::invalid);
  // key=1 can be found.
  ASSERT_EQ(m.lookup(&key, &value, 0), Errc::ok);
  EXPECT_EQ(value, 1234);
  // Insert key=2, then lookup_and_delete it.
  key = 2;
  value = 1234;
  ASSERT_EQ(m.update(&key, &value, kAny), Errc::ok);
  value = 0;
  ASSERT_EQ(m.lookup_and_erase(&key, &value, 0), Errc::ok);
  EXPECT_EQ(value, 1234);
  // key=2 is gone.
  EXPECT_EQ(m.lookup(&key, &value, 0), Errc::not_found);
  // BPF_EXIST on a missing key.
  EXPECT_EQ(m.update(&key, &value, kExist), Errc::not_found);
  // Insert key=2 again.
  ASSERT_EQ(m.update(&key, &value, kNoExist), Errc::ok);
  // The map is full: key=0 cannot be inserted.
  key = 0;
  EXPECT_EQ(m.update(&key, &value, kNoExist), Errc::too_big);
  // Existing elements can be updated though the map is full.
  key = 1;
  EXPECT_EQ(m.update(&key, &value, kExist), Errc::ok);
  key = 2;
  EXPECT_EQ(m.update(&key, &value, kAny), Errc::ok);
  key = 3;
  EXPECT_EQ(m.update(&key, &value, kNoExist), Errc::too_big);
  // key=0 does not exist.
  key = 0;
  EXPECT_EQ(m.erase(&key), Errc::not_found);
  // Iterate over two elements; a missing key (0) restarts at the first.
  ASSERT_EQ(m.get_next_key(nullptr, &first_key), Errc::ok);
  EXPECT_TRUE(first_key == 1 || first_key == 2) << first_key;
  ASSERT_EQ(m.get_next_key(&key, &next_key), Errc::ok);
  EXPECT_EQ(next_key, first_key);
  ASSERT_EQ(m.get_next_key(&next_key, &next_key), Errc::ok);
  EXPECT_TRUE(next_key == 1 || next_key == 2) << next_key;
  EXPECT_NE(next_key, first_key);
  EXPECT_EQ(m.get_next_key(&next_key, &next_key), Errc::not_found);
  // Delete both elements.
  key = 1;
  EXPECT_EQ(m.erase(&key), Errc::ok);
  key = 2;
  EXPECT_EQ(m.erase(&key), Errc::ok);
  EXPECT_EQ(m.erase(&key), Errc::not_found);
  // The map is empty.
  key = 0;
  EXPECT_EQ(m.get_next_key(nullptr, &next_key), Errc::not_found);
  EXPECT_EQ(m.get_next_key(&key, &next_key), Errc::not_found);
}

// test_hashmap_percpu: max 2, 8-byte keys, per-CPU long values i + 100.
TEST_P(TestMaps, HashmapPercpuScenario) {
  const std::size_t n = ncpus();
  const auto map = make_map(MapType::percpu_hash, 8, 8, 2, GetParam());
  ASSERT_NE(map, nullptr);
  Map& m = *map;
  ASSERT_EQ(m.value_buffer_size(), n * 8);
  std::vector<long> value(n);
  const auto fill = [&] {
    for (std::size_t i = 0; i < n; ++i)
      value[i] = static_cast<long>(i) + 100;
  };
  long long key = 1;
  long long next_key = 0;
  long long first_key = 0;
  unsigned expected_key_mask = 0;
  fill();
  // Insert key=1, then lookup_and_delete it and check CPU 0's value.
  ASSERT_EQ(m.update(&key, value.data(), kAny), Errc::ok);
  std::fill(value.begin(), value.end(), 0);
  ASSERT_EQ(m.lookup_and_erase(&key, value.data(), 0), Errc::ok);
  EXPECT_EQ(value[0], 100);
  fill();
  // Insert key=1, which must not exist.
  ASSERT_EQ(m.update(&key, value.data(), kNoExist), Errc::ok);
  expected_key_mask |= 1U << key;
  EXPECT_EQ(m.update(&key, value.data(), kNoExist), Errc::exists);
  EXPECT_EQ(m.update(&key, value.data(), ~0ULL), Errc::invalid);
  // key=1 can be found.
  value[0] = 1;
  ASSERT_EQ(m.lookup(&key, value.data(), 0), Errc::ok);
  EXPECT_EQ(value[0], 100);
  // key=2 is not found; BPF_EXIST on it fails.
  key = 2;
  EXPECT_EQ(m.lookup(&key, value.data(), 0), Errc::not_found);
  EXPECT_EQ(m.update(&key, value.data(), kExist), Errc::not_found);
  // Insert key=2.
  fill();
  ASSERT_EQ(m.update(&key, value.data(), kNoExist), Errc::ok);
  expected_key_mask |= 1U << key;
  // The map is full: key=0 cannot be inserted, and does not exist.
  key = 0;
  EXPECT_EQ(m.update(&key, value.data(), kNoExist), Errc::too_big);
  EXPECT_EQ(m.erase(&key), Errc::not_found);
  // Iterate over both elements starting from the missing key 0; every CPU's value is i + 100.
  ASSERT_EQ(m.get_next_key(nullptr, &first_key), Errc::ok);
  EXPECT_NE(expected_key_mask & (1U << first_key), 0U);
  bool first = true;
  int steps = 0;
  Errc err = Errc::ok;
  while ((err = m.get_next_key(&key, &next_key)) == Errc::ok) {
    ASSERT_LT(++steps, 3);
    if (first) {
      EXPECT_EQ(next_key, first_key);
      first = false;
    }
    ASSERT_TRUE(next_key == 1 || next_key == 2) << next_key;
    EXPECT_NE(expected_key_mask & (1U << next_key), 0U) << "key seen twice";
    expected_key_mask &= ~(1U << next_key);
    std::fill(value.begin(), value.end(), 0);
    ASSERT_EQ(m.lookup(&next_key, value.data(), 0), Errc::ok);
    for (std::size_t i = 0; i < n; ++i)
      EXPECT_EQ(value[i], static_cast<long>(i) + 100) << i;
    key = next_key;
  }
  EXPECT_EQ(err, Errc::not_found);
  EXPECT_EQ(expected_key_mask, 0U);
  // Update with BPF_EXIST.
  key = 1;
  EXPECT_EQ(m.update(&key, value.data(), kExist), Errc::ok);
  // Delete both elements.
  EXPECT_EQ(m.erase(&key), Errc::ok);
  key = 2;
  EXPECT_EQ(m.erase(&key), Errc::ok);
  EXPECT_EQ(m.erase(&key), Errc::not_found);
  key = 0;
  EXPECT_EQ(m.get_next_key(nullptr, &next_key), Errc::not_found);
  EXPECT_EQ(m.get_next_key(&key, &next_key), Errc::not_found);
}

// ---- htab_map_batch_ops.c, for HASH and PERCPU_HASH --------------------------------------------

class HtabBatch : public ::testing::TestWithParam<MapType> {
 protected:
  static constexpr std::uint32_t kMax = 10;

  void SetUp() override {
    map_ = make_map(GetParam(), sizeof(int), sizeof(int), kMax);
    ASSERT_NE(map_, nullptr);
    percpu_ = GetParam() == MapType::percpu_hash;
    vsize_ = map_->value_buffer_size();
    ASSERT_EQ(vsize_, percpu_ ? ncpus() * 8 : sizeof(int));
  }

  // The value of `key` on `cpu`, as map_batch_update() sets it.
  static int expected(int key, std::size_t cpu) { return key + 1 + static_cast<int>(cpu); }

  int value_at(const std::vector<unsigned char>& values, std::size_t i, std::size_t cpu) const {
    int v = 0;
    std::memcpy(&v, values.data() + i * vsize_ + (percpu_ ? cpu * 8 : 0), sizeof(v));
    return v;
  }

  // map_batch_update(): keys 1..max, value key + 1 (+ cpu), one update_batch.
  void fill() {
    std::vector<int> keys(kMax);
    std::vector<unsigned char> values(kMax * vsize_, 0);
    for (std::uint32_t i = 0; i < kMax; ++i) {
      keys[i] = static_cast<int>(i) + 1;
      for (std::size_t c = 0; c < (percpu_ ? ncpus() : 1); ++c) {
        const int v = keys[i] + 1 + static_cast<int>(c);
        std::memcpy(values.data() + i * vsize_ + (percpu_ ? c * 8 : 0), &v, sizeof(v));
      }
    }
    BatchArgs a;
    a.keys = keys.data();
    a.values = values.data();
    a.count = kMax;
    ASSERT_EQ(map_->update_batch(a), Errc::ok);
    ASSERT_EQ(a.count, kMax);
  }

  // map_batch_verify(), stricter: each key 1..max exactly once, with its values.
  void verify(const std::vector<int>& keys, const std::vector<unsigned char>& values) const {
    std::set<int> seen;
    for (std::uint32_t i = 0; i < kMax; ++i) {
      EXPECT_GE(keys[i], 1);
      EXPECT_LE(keys[i], static_cast<int>(kMax));
      EXPECT_TRUE(seen.insert(keys[i]).second) << "key " << keys[i] << " twice";
      for (std::size_t c = 0; c < (percpu_ ? ncpus() : 1); ++c) {
        EXPECT_EQ(value_at(values, i, c), expected(keys[i], c))
            << "key " << keys[i] << " cpu " << c;
      }
    }
    EXPECT_EQ(seen.size(), kMax);
  }

  void expect_empty() {
    int key = 0;
    EXPECT_EQ(map_->get_next_key(nullptr, &key), Errc::not_found);
  }

  // Calls lookup_batch (or lookup_and_erase_batch) in chunks of `step` until not_found.
  // Returns false if the first call of some chunk reported no_space (the step is skipped).
  bool walk(std::uint32_t step, bool do_delete, std::vector<int>& keys,
            std::vector<unsigned char>& values) {
    keys.assign(kMax + step, 0);
    values.assign((kMax + step) * vsize_, 0);
    std::uint32_t total = 0;
    std::uint32_t batch = 0;
    for (int calls = 0;; ++calls) {
      EXPECT_LE(calls, static_cast<int>(kMax) + 1) << "the walk does not end";
      if (calls > static_cast<int>(kMax) + 1)
        return false;
      BatchArgs a;
      a.in_batch = total != 0 ? &batch : nullptr;
      a.out_batch = &batch;
      a.keys = keys.data() + total;
      a.values = values.data() + total * vsize_;
      a.count = step;
      const Errc err = do_delete ? map_->lookup_and_erase_batch(a) : map_->lookup_batch(a);
      if (err == Errc::no_space) {
        EXPECT_EQ(a.count, 0U);
        return false;
      }
      EXPECT_TRUE(err == Errc::ok || err == Errc::not_found) << xmaps::to_string(err);
      EXPECT_LE(a.count, step);
      if (err == Errc::ok) {
        EXPECT_GT(a.count, 0U) << "ok without progress";
      }
      total += a.count;
      if (total > kMax) {
        ADD_FAILURE() << "more elements than the map holds";
        return false;
      }
      if (err != Errc::ok)
        break;
    }
    EXPECT_EQ(total, kMax);
    return true;
  }

  std::unique_ptr<Map> map_;
  bool percpu_ = false;
  std::size_t vsize_ = 0;
};

INSTANTIATE_TEST_SUITE_P(Types, HtabBatch, ::testing::Values(MapType::hash, MapType::percpu_hash),
                         [](const auto& param_info) {
                           return param_info.param == MapType::hash ? std::string("Hash")
                                                                    : std::string("PercpuHash");
                         });

TEST_P(HtabBatch, LookupAndDeleteBatchScenario) {
  std::vector<int> keys(kMax);
  std::vector<unsigned char> values(kMax * vsize_);
  std::uint32_t batch = 0;

  // test 1: lookup/delete an empty hash table: ENOENT, nothing copied.
  BatchArgs a;
  a.out_batch = &batch;
  a.keys = keys.data();
  a.values = values.data();
  a.count = kMax;
  EXPECT_EQ(map_->lookup_and_erase_batch(a), Errc::not_found);
  EXPECT_EQ(a.count, 0U);
  EXPECT_EQ(batch, 16U);  // walked past the last of roundup_pow_of_two(10) buckets

  fill();

  // test 2: count = 0 succeeds and does nothing.
  a.count = 0;
  EXPECT_EQ(map_->lookup_and_erase_batch(a), Errc::ok);
  EXPECT_EQ(a.count, 0U);

  // test 3: count = max_entries takes all 10, ending with ENOENT.
  a.count = kMax;
  EXPECT_EQ(map_->lookup_and_erase_batch(a), Errc::not_found);
  EXPECT_EQ(a.count, kMax);
  verify(keys, values);
  expect_empty();

  // test 4: lookup, delete, lookup-and-delete in chunks of every step.
  int total_success = 0;
  for (std::uint32_t step = 1; step < kMax; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    fill();
    if (!walk(step, /*do_delete=*/false, keys, values))
      continue;
    verify(keys, values);

    std::uint32_t total = 0;
    while (total < kMax) {
      BatchArgs d;
      d.keys = keys.data() + total;
      d.count = std::min(step, kMax - total);
      const std::uint32_t asked = d.count;
      ASSERT_EQ(map_->erase_batch(d), Errc::ok);
      ASSERT_EQ(d.count, asked);
      total += d.count;
    }
    expect_empty();

    fill();
    if (!walk(step, /*do_delete=*/true, keys, values))
      continue;
    verify(keys, values);
    expect_empty();
    ++total_success;
  }
  EXPECT_GT(total_success, 0);
}

TEST_P(HtabBatch, InBatchAtOrPastTheBucketCountReturnsNotFoundAndLeavesOutBatch) {
  fill();
  std::vector<int> keys(kMax);
  std::vector<unsigned char> values(kMax * vsize_);
  for (const std::uint32_t in : {16U, 17U, 0xffffffffU}) {  // n_buckets = roundup_pow_of_two(10)
    for (const bool del : {false, true}) {
      std::uint32_t out = 0xabcdU;
      BatchArgs a;
      a.in_batch = &in;
      a.out_batch = &out;
      a.keys = keys.data();
      a.values = values.data();
      a.count = kMax;
      EXPECT_EQ(del ? map_->lookup_and_erase_batch(a) : map_->lookup_batch(a), Errc::not_found);
      EXPECT_EQ(a.count, 0U);
      EXPECT_EQ(out, 0xabcdU);
    }
  }
  // Bucket 15 is valid: the walk starts there and ends at the last bucket.
  const std::uint32_t in = 15;
  std::uint32_t out = 0;
  BatchArgs a;
  a.in_batch = &in;
  a.out_batch = &out;
  a.keys = keys.data();
  a.values = values.data();
  a.count = kMax;
  EXPECT_EQ(map_->lookup_batch(a), Errc::not_found);
  EXPECT_EQ(out, 16U);
}

TEST_P(HtabBatch, ElemFlagsOtherThanZeroOrFlagsOtherThanZeroAreInvalid) {
  fill();
  std::vector<int> keys(kMax);
  std::vector<unsigned char> values(kMax * vsize_);
  std::uint32_t out = 0;
  for (const std::uint32_t count : {kMax, 0U}) {  // checked before count == 0 returns
    for (const bool del : {false, true}) {
      using FlagPair = std::pair<std::uint64_t, std::uint64_t>;
      for (const auto& [elem_flags, flags] :
           {FlagPair{kLock, 0}, FlagPair{1, 0}, FlagPair{kLock | 1, 0}, FlagPair{0, 1},
            FlagPair{0, kLock}}) {
        BatchArgs a;
        a.out_batch = &out;
        a.keys = keys.data();
        a.values = values.data();
        a.count = count;
        a.elem_flags = elem_flags;
        a.flags = flags;
        EXPECT_EQ(del ? map_->lookup_and_erase_batch(a) : map_->lookup_batch(a), Errc::invalid)
            << "elem_flags " << elem_flags << " flags " << flags << " count " << count;
      }
    }
  }
  // update_batch / delete_batch: elem_flags is checked; batch.flags is not (as on the kernel).
  int key = 1;
  BatchArgs u;
  u.keys = &key;
  u.values = values.data();
  u.count = 1;
  u.elem_flags = kLock;
  EXPECT_EQ(map_->update_batch(u), Errc::invalid);
  EXPECT_EQ(map_->erase_batch(u), Errc::invalid);
  u.elem_flags = 1;
  EXPECT_EQ(map_->update_batch(u), Errc::invalid);
  u.elem_flags = 0;
  u.flags = 1;
  u.count = 1;
  EXPECT_EQ(map_->update_batch(u), Errc::ok);
  EXPECT_EQ(u.count, 1U);
  // Everything is still there.
  std::uint32_t batch = 0;
  BatchArgs all;
  all.out_batch = &batch;
  all.keys = keys.data();
  all.values = values.data();
  all.count = kMax;
  EXPECT_EQ(map_->lookup_batch(all), Errc::not_found);
  EXPECT_EQ(all.count, kMax);
}

// A bucket is copied whole or not at all: with 2 buckets, find a key that shares key 1's bucket
// (no_space for count 1) and one that does not (a partial ok, then the rest).
TEST(MapHashBatch, ABucketThatDoesNotFitGivesNoSpaceFirstAndAPartialCountLater) {
  const auto map = make_map(MapType::hash, 4, 4, 2);
  ASSERT_NE(map, nullptr);
  const std::uint32_t one = 1;
  const std::uint32_t v = 42;
  ASSERT_EQ(map->update(&one, &v, kAny), Errc::ok);
  bool saw_no_space = false;
  bool saw_partial = false;
  for (std::uint32_t k = 2; k < 200 && !(saw_no_space && saw_partial); ++k) {
    ASSERT_EQ(map->update(&k, &v, kAny), Errc::ok);
    std::uint32_t keys[2] = {};
    std::uint32_t values[2] = {};
    std::uint32_t batch = 0xabcdU;
    BatchArgs a;
    a.out_batch = &batch;
    a.keys = keys;
    a.values = values;
    a.count = 1;
    const Errc err = map->lookup_batch(a);
    if (err == Errc::no_space) {  // both in one bucket
      saw_no_space = true;
      EXPECT_EQ(a.count, 0U);
      a.count = 2;
      a.in_batch = nullptr;
      EXPECT_EQ(map->lookup_batch(a), Errc::not_found);
      EXPECT_EQ(a.count, 2U);
      EXPECT_EQ(std::set<std::uint32_t>({keys[0], keys[1]}), std::set<std::uint32_t>({1, k}));
    } else {  // one per bucket: bucket 0 fits, bucket 1 does not fit what is left
      saw_partial = true;
      EXPECT_EQ(err, Errc::ok);
      EXPECT_EQ(a.count, 1U);
      EXPECT_EQ(batch, 1U);
      const std::uint32_t first = keys[0];
      a.in_batch = &batch;
      a.keys = keys + 1;
      a.values = values + 1;
      a.count = 1;
      EXPECT_EQ(map->lookup_batch(a), Errc::not_found);
      EXPECT_EQ(a.count, 1U);
      EXPECT_EQ(batch, 2U);
      EXPECT_EQ(std::set<std::uint32_t>({first, keys[1]}), std::set<std::uint32_t>({1, k}));
    }
    EXPECT_EQ(values[0], 42U);
    ASSERT_EQ(map->erase(&k), Errc::ok);
  }
  EXPECT_TRUE(saw_no_space);
  EXPECT_TRUE(saw_partial);
}

TEST(MapHashBatch, UpdateBatchStopsAtTheFirstErrorAndReportsTheCountProcessed) {
  for (const std::uint32_t flags : {0U, mf::kNoPrealloc}) {
    const auto map = make_map(MapType::hash, 4, 4, 2, flags);
    ASSERT_NE(map, nullptr);
    std::uint32_t keys[5] = {1, 2, 3, 4, 5};
    std::uint32_t values[5] = {10, 20, 30, 40, 50};
    BatchArgs a;
    a.keys = keys;
    a.values = values;
    a.count = 5;
    EXPECT_EQ(map->update_batch(a), Errc::too_big);  // full on the 3rd
    EXPECT_EQ(a.count, 2U);
    std::uint32_t v = 0;
    EXPECT_EQ(map->lookup(&keys[1], &v, 0), Errc::ok);
    EXPECT_EQ(v, 20U);
    EXPECT_EQ(map->lookup(&keys[2], &v, 0), Errc::not_found);

    // Replacing present keys in the full map works.
    a.count = 2;
    EXPECT_EQ(map->update_batch(a), Errc::ok);
    EXPECT_EQ(a.count, 2U);

    // delete_batch stops at the first missing key.
    std::uint32_t del[3] = {1, 9, 2};
    BatchArgs d;
    d.keys = del;
    d.count = 3;
    EXPECT_EQ(map->erase_batch(d), Errc::not_found);
    EXPECT_EQ(d.count, 1U);
    EXPECT_EQ(map->lookup(&del[0], &v, 0), Errc::not_found);
    EXPECT_EQ(map->lookup(&del[2], &v, 0), Errc::ok);

    // count 0 does nothing; keys missing with a count is a fault.
    d.count = 0;
    EXPECT_EQ(map->erase_batch(d), Errc::ok);
    BatchArgs none;
    none.count = 1;
    EXPECT_EQ(map->update_batch(none), Errc::fault);
  }
}

TEST(MapArrayBatch, UpdateBatchStopsAtTheFirstIndexOutOfRange) {
  const auto map = make_map(MapType::array, 4, 4, 4);
  ASSERT_NE(map, nullptr);
  std::uint32_t keys[4] = {0, 1, 7, 2};
  std::uint32_t values[4] = {10, 11, 17, 12};
  BatchArgs a;
  a.keys = keys;
  a.values = values;
  a.count = 4;
  EXPECT_EQ(map->update_batch(a), Errc::too_big);
  EXPECT_EQ(a.count, 2U);
  std::uint32_t v = 0;
  const std::uint32_t two = 2;
  ASSERT_EQ(map->lookup(&two, &v, 0), Errc::ok);
  EXPECT_EQ(v, 0U);  // not reached
}

class ArrayBatch : public ::testing::TestWithParam<MapType> {};
INSTANTIATE_TEST_SUITE_P(Types, ArrayBatch,
                         ::testing::Values(MapType::array, MapType::percpu_array),
                         [](const auto& param_info) {
                           return param_info.param == MapType::array ? std::string("Array")
                                                                     : std::string("PercpuArray");
                         });

// generic_map_lookup_batch: a get_next_key walk; the token is the last key returned.
TEST_P(ArrayBatch, LookupBatchWalksIndicesWithTheLastKeyAsTokenAndEndsWithNotFound) {
  const auto map = make_map(GetParam(), 4, 4, 5);
  ASSERT_NE(map, nullptr);
  const bool percpu = GetParam() == MapType::percpu_array;
  const std::size_t vsize = map->value_buffer_size();
  const auto value_of = [&](std::uint32_t i, std::size_t c) {
    return static_cast<int>(i * 10 + 1 + c);
  };
  for (std::uint32_t i = 0; i < 5; ++i) {
    std::vector<unsigned char> buf(vsize, 0);
    for (std::size_t c = 0; c < (percpu ? ncpus() : 1); ++c) {
      const int v = value_of(i, c);
      std::memcpy(buf.data() + (percpu ? c * 8 : 0), &v, sizeof(v));
    }
    ASSERT_EQ(map->update(&i, buf.data(), kAny), Errc::ok);
  }
  std::vector<std::uint32_t> keys(2);
  std::vector<unsigned char> values(2 * vsize);
  const auto check = [&](std::uint32_t n, std::uint32_t first_key) {
    for (std::uint32_t j = 0; j < n; ++j) {
      EXPECT_EQ(keys[j], first_key + j);
      for (std::size_t c = 0; c < (percpu ? ncpus() : 1); ++c) {
        int v = 0;
        std::memcpy(&v, values.data() + j * vsize + (percpu ? c * 8 : 0), sizeof(v));
        EXPECT_EQ(v, value_of(first_key + j, c)) << "key " << first_key + j << " cpu " << c;
      }
    }
  };
  std::uint32_t token = 0xabcdU;
  BatchArgs a;
  a.out_batch = &token;
  a.keys = keys.data();
  a.values = values.data();
  a.count = 2;
  ASSERT_EQ(map->lookup_batch(a), Errc::ok);
  EXPECT_EQ(a.count, 2U);
  EXPECT_EQ(token, 1U);
  check(2, 0);

  std::uint32_t in = token;
  a.in_batch = &in;
  a.count = 2;
  ASSERT_EQ(map->lookup_batch(a), Errc::ok);
  EXPECT_EQ(a.count, 2U);
  EXPECT_EQ(token, 3U);
  check(2, 2);

  in = token;
  a.count = 2;
  EXPECT_EQ(map->lookup_batch(a), Errc::not_found);
  EXPECT_EQ(a.count, 1U);
  EXPECT_EQ(token, 4U);
  check(1, 4);

  // From the last index: nothing copied, token untouched.
  in = 4;
  token = 0xabcdU;
  a.count = 2;
  EXPECT_EQ(map->lookup_batch(a), Errc::not_found);
  EXPECT_EQ(a.count, 0U);
  EXPECT_EQ(token, 0xabcdU);

  // From an index past the end the walk restarts at 0, as get_next_key does.
  in = 100;
  a.count = 2;
  ASSERT_EQ(map->lookup_batch(a), Errc::ok);
  EXPECT_EQ(a.count, 2U);
  EXPECT_EQ(token, 1U);
  check(2, 0);
}

TEST_P(ArrayBatch, LookupBatchChecksElemFlagsButIgnoresFlagsAsTheKernelDoes) {
  const auto map = make_map(GetParam(), 4, 4, 5);
  ASSERT_NE(map, nullptr);
  std::vector<std::uint32_t> keys(2);
  std::vector<unsigned char> values(2 * map->value_buffer_size());
  std::uint32_t token = 0;
  BatchArgs a;
  a.out_batch = &token;
  a.keys = keys.data();
  a.values = values.data();
  a.count = 2;
  a.elem_flags = kLock;
  EXPECT_EQ(map->lookup_batch(a), Errc::invalid);
  a.count = 0;
  EXPECT_EQ(map->lookup_batch(a), Errc::invalid);
  a.elem_flags = 0;
  a.flags = 1;
  a.count = 2;
  EXPECT_EQ(map->lookup_batch(a), Errc::ok);
  EXPECT_EQ(a.count, 2U);
  a.count = 0;
  EXPECT_EQ(map->lookup_batch(a), Errc::ok);
  EXPECT_EQ(a.count, 0U);
}

// ---- datapath (program-side) calls on per-CPU maps
// -----------------------------------------------

TEST(MapDatapath, PercpuHashUpdateElemWritesTheBoundCpuAndZeroesTheOthersForANewKey) {
  for (const std::uint32_t flags : {0U, mf::kNoPrealloc}) {
    const auto map = make_map(MapType::percpu_hash, 4, 8, 4, flags);
    ASSERT_NE(map, nullptr);
    const std::size_t n = ncpus();
    const std::uint32_t key = 3;
    const int last = static_cast<int>(n) - 1;
    {
      CpuBinding bind(last);
      const std::uint64_t v = 500;
      ASSERT_EQ(map->update_elem(&key, &v, kNoExist), Errc::ok);
      const auto* mine = static_cast<const std::uint64_t*>(map->lookup_elem(&key));
      ASSERT_NE(mine, nullptr);
      EXPECT_EQ(*mine, 500U);
      EXPECT_EQ(map->lookup_percpu_elem(&key, static_cast<std::uint32_t>(last)), mine);
    }
    std::vector<std::uint64_t> all(n, 0xdead);
    ASSERT_EQ(map->lookup(&key, all.data(), 0), Errc::ok);
    for (std::size_t c = 0; c < n; ++c) {
      EXPECT_EQ(all[c], static_cast<int>(c) == last ? 500U : 0U) << c;
      const auto* slot = static_cast<const std::uint64_t*>(
          map->lookup_percpu_elem(&key, static_cast<std::uint32_t>(c)));
      ASSERT_NE(slot, nullptr);
      EXPECT_EQ(*slot, all[c]);
    }
    // An existing key: in place, only the bound CPU's slot changes.
    {
      CpuBinding bind(0);
      const std::uint64_t v = 600;
      ASSERT_EQ(map->update_elem(&key, &v, kExist), Errc::ok);
    }
    ASSERT_EQ(map->lookup(&key, all.data(), 0), Errc::ok);
    EXPECT_EQ(all[0], 600U);
    if (n > 1) {
      EXPECT_EQ(all[n - 1], 500U);
    }
    // Flag checks as the user side's.
    CpuBinding bind(0);
    const std::uint64_t v = 1;
    const std::uint32_t missing = 9;
    EXPECT_EQ(map->update_elem(&key, &v, kNoExist), Errc::exists);
    EXPECT_EQ(map->update_elem(&missing, &v, kExist), Errc::not_found);
    EXPECT_EQ(map->update_elem(&key, &v, 3), Errc::invalid);
    EXPECT_EQ(map->lookup_elem(&missing), nullptr);
    EXPECT_EQ(map->lookup_percpu_elem(&missing, 0), nullptr);
    EXPECT_EQ(map->lookup_percpu_elem(&key, static_cast<std::uint32_t>(n)), nullptr);
    EXPECT_EQ(map->lookup_percpu_elem(&key, 0xffffffffU), nullptr);
    // delete_elem.
    EXPECT_EQ(map->delete_elem(&key), Errc::ok);
    EXPECT_EQ(map->lookup_elem(&key), nullptr);
    EXPECT_EQ(map->delete_elem(&key), Errc::not_found);
    EXPECT_EQ(map->lookup(&key, all.data(), 0), Errc::not_found);
  }
}

TEST(MapDatapath, PercpuHashNewKeyInARecycledElementStillZeroesTheOtherCpus) {
  const auto map = make_map(MapType::percpu_hash, 4, 8, 1);  // one element: always reused
  ASSERT_NE(map, nullptr);
  const std::size_t n = ncpus();
  const std::uint32_t key = 1;
  const std::vector<std::uint64_t> full(n, 0x7777);
  ASSERT_EQ(map->update(&key, full.data(), kAny), Errc::ok);
  ASSERT_EQ(map->erase(&key), Errc::ok);
  {
    CpuBinding bind(0);
    const std::uint64_t v = 5;
    ASSERT_EQ(map->update_elem(&key, &v, kAny), Errc::ok);
  }
  std::vector<std::uint64_t> all(n);
  ASSERT_EQ(map->lookup(&key, all.data(), 0), Errc::ok);
  EXPECT_EQ(all[0], 5U);
  for (std::size_t c = 1; c < n; ++c)
    EXPECT_EQ(all[c], 0U) << c;
}

TEST(MapDatapath, PercpuArrayUpdateElemWritesOnlyTheBoundCpusSlot) {
  const auto map = make_map(MapType::percpu_array, 4, 8, 4);
  ASSERT_NE(map, nullptr);
  const std::size_t n = ncpus();
  for (std::size_t c = 0; c < n; ++c) {
    CpuBinding bind(static_cast<int>(c));
    const std::uint32_t idx = 2;
    const std::uint64_t v = 100 + c;
    ASSERT_EQ(map->update_elem(&idx, &v, kAny), Errc::ok);
    const auto* mine = static_cast<const std::uint64_t*>(map->lookup_elem(&idx));
    ASSERT_NE(mine, nullptr);
    EXPECT_EQ(*mine, 100 + c);
    EXPECT_EQ(map->lookup_percpu_elem(&idx, static_cast<std::uint32_t>(c)), mine);
    std::vector<std::uint64_t> all(n);
    ASSERT_EQ(map->lookup(&idx, all.data(), 0), Errc::ok);
    for (std::size_t o = 0; o < n; ++o)
      EXPECT_EQ(all[o], o <= c ? 100 + o : 0U) << o;
  }
  CpuBinding bind(0);
  const std::uint32_t past = 4;
  const std::uint32_t idx = 0;
  const std::uint64_t v = 1;
  EXPECT_EQ(map->update_elem(&past, &v, kAny), Errc::too_big);
  EXPECT_EQ(map->update_elem(&idx, &v, kNoExist), Errc::exists);
  EXPECT_EQ(map->update_elem(&idx, &v, 3), Errc::invalid);
  EXPECT_EQ(map->lookup_elem(&past), nullptr);
  EXPECT_EQ(map->lookup_percpu_elem(&past, 0), nullptr);
  EXPECT_EQ(map->lookup_percpu_elem(&idx, static_cast<std::uint32_t>(n)), nullptr);
  EXPECT_EQ(map->delete_elem(&idx), Errc::invalid);
}

TEST(MapDatapath, LookupPercpuElemOnAMapThatIsNotPerCpuIsNull) {
  for (const MapType t : {MapType::hash, MapType::array}) {
    auto p = populated(t);
    ASSERT_NE(p.map, nullptr);
    EXPECT_NE(p.map->lookup_elem(p.key.data()), nullptr);
    EXPECT_EQ(p.map->lookup_percpu_elem(p.key.data(), 0), nullptr);
  }
}

TEST(MapDatapath, HashValueIsTheSameOnEveryCpu) {
  const auto map = make_map(MapType::hash, 4, 8, 4);
  ASSERT_NE(map, nullptr);
  const std::uint32_t key = 5;
  {
    CpuBinding bind(0);
    const std::uint64_t v = 99;
    ASSERT_EQ(map->update_elem(&key, &v, kAny), Errc::ok);
  }
  for (std::size_t c = 0; c < ncpus(); ++c) {
    CpuBinding bind(static_cast<int>(c));
    const auto* got = static_cast<const std::uint64_t*>(map->lookup_elem(&key));
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(*got, 99U);
  }
}

// ---- QUEUE / STACK (queue_stack_maps.c; the kernel itself: kernel_queue_stack_diff_test.cc) ----

MapSpec ring_spec(MapType t, std::uint32_t value_size = 4, std::uint32_t max = 3) {
  MapSpec s;
  s.type = t;
  s.key_size = 0;
  s.value_size = value_size;
  s.max_entries = max;
  return s;
}

TEST(MapQueueStack, CreateChecksAreTheKernels) {
  for (const MapType t : {MapType::queue, MapType::stack}) {
    EXPECT_EQ(xmaps::validate(ring_spec(t)), Errc::ok);
    MapSpec s = ring_spec(t);
    s.key_size = 4;  // test_queuemap: key_size 4 -> EINVAL
    EXPECT_EQ(xmaps::validate(s), Errc::invalid);
    s = ring_spec(t);
    s.flags = mf::kNoPrealloc;  // test_queuemap: NO_PREALLOC -> EINVAL
    EXPECT_EQ(xmaps::validate(s), Errc::invalid);
    s.flags = mf::kZeroSeed;
    EXPECT_EQ(xmaps::validate(s), Errc::invalid);
    EXPECT_EQ(xmaps::validate(ring_spec(t, 0)), Errc::invalid);
    EXPECT_EQ(xmaps::validate(ring_spec(t, 4, 0)), Errc::invalid);
    EXPECT_EQ(xmaps::validate(ring_spec(t, (4U << 20) + 1)), Errc::too_big);
    s = ring_spec(t);
    s.flags = mf::kRdonly | mf::kRdonlyProg;
    EXPECT_EQ(xmaps::validate(s), Errc::ok);
  }
}

TEST(MapQueueStack, CommandsMapToPushPopPeekWithNullKeys) {
  Errc err = Errc::ok;
  const auto q = xmaps::create_map(ring_spec(MapType::queue), &err);
  ASSERT_NE(q, nullptr) << static_cast<int>(err);
  const std::uint32_t a = 11;
  const std::uint32_t b = 22;
  std::uint32_t key = 0;
  EXPECT_EQ(q->update(&key, &a, 0), Errc::invalid) << "a key pointer on a keyless map";
  EXPECT_EQ(q->update(nullptr, nullptr, 0), Errc::fault);
  ASSERT_EQ(q->update(nullptr, &a, 0), Errc::ok);
  ASSERT_EQ(q->update(nullptr, &b, 0), Errc::ok);
  std::uint32_t v = 0;
  EXPECT_EQ(q->lookup(nullptr, &v, 0), Errc::ok);
  EXPECT_EQ(v, a);
  EXPECT_EQ(q->lookup(nullptr, nullptr, 0), Errc::fault);
  EXPECT_EQ(q->lookup(nullptr, &v, 1), Errc::invalid);
  EXPECT_EQ(q->lookup_and_erase(nullptr, &v, 0), Errc::ok);
  EXPECT_EQ(v, a);
  EXPECT_EQ(q->lookup_and_erase(nullptr, nullptr, 0), Errc::fault) << "pops b, copy-out fails";
  v = 0x5a5a5a5a;
  EXPECT_EQ(q->lookup_and_erase(nullptr, &v, 0), Errc::not_found);
  EXPECT_EQ(v, 0x5a5a5a5aU) << "bpf(2) copies nothing out on an error";
  EXPECT_EQ(q->erase(nullptr), Errc::invalid);
  EXPECT_EQ(q->get_next_key(nullptr, &v), Errc::invalid);
  BatchArgs ba;
  EXPECT_EQ(q->lookup_batch(ba), Errc::not_supported);
  EXPECT_EQ(q->update_batch(ba), Errc::not_supported);
  // The program side: push/pop/peek helpers; lookup/update/delete are not queue operations.
  EXPECT_EQ(q->push_elem(&a, 0), Errc::ok);
  EXPECT_EQ(q->peek_elem(&v), Errc::ok);
  EXPECT_EQ(v, a);
  EXPECT_EQ(q->pop_elem(&v), Errc::ok);
  v = 0x5a5a5a5a;
  EXPECT_EQ(q->pop_elem(&v), Errc::not_found);
  EXPECT_EQ(v, 0U) << "the helpers zero the value on an error";
  EXPECT_EQ(q->lookup_elem(nullptr), nullptr);
  EXPECT_EQ(q->update_elem(nullptr, &a, 0), Errc::invalid);
  EXPECT_EQ(q->delete_elem(nullptr), Errc::invalid);
}

TEST(MapCpumap, CreateChecksAndCommandsAreTheKernels) {
  MapSpec spec;
  spec.type = MapType::cpumap;
  spec.key_size = 4;
  spec.value_size = 8;
  spec.max_entries = 2;
  Errc err = Errc::ok;
  for (const auto& [k, v, flags] : {std::tuple{8U, 8U, 0U}, std::tuple{4U, 12U, 0U},
                                    std::tuple{4U, 8U, xmaps::map_flag::kNoPrealloc}}) {
    MapSpec bad = spec;
    bad.key_size = k;
    bad.value_size = v;
    bad.flags = flags;
    EXPECT_EQ(xmaps::create_map(bad, &err), nullptr);
    EXPECT_EQ(err, Errc::invalid);
  }
  MapSpec huge = spec;
  huge.max_entries = xmaps::CpuMap::kMaxEntries + 1;
  EXPECT_EQ(xmaps::create_map(huge, &err), nullptr);
  EXPECT_EQ(err, Errc::too_big);

  auto m = xmaps::create_map(spec, &err);
  ASSERT_NE(m, nullptr) << xmaps::to_string(err);
  ASSERT_NE(m->cpu_map(), nullptr);
  EXPECT_EQ(m->value_buffer_size(), 8U);
  const std::uint32_t key = 0;
  std::uint32_t val[2] = {192, 0};
  EXPECT_EQ(m->update(&key, val, 1), Errc::exists);  // NOEXIST, always
  ASSERT_EQ(m->update(&key, val, 0), Errc::ok);
  std::uint32_t out[2] = {7, 7};
  ASSERT_EQ(m->lookup(&key, out, 0), Errc::ok);
  EXPECT_EQ(out[0], 192U);
  EXPECT_EQ(out[1], 0U);  // no program
  val[1] = 5;             // a program fd: none exists here
  EXPECT_EQ(m->update(&key, val, 0), Errc::no_memory);
  std::uint32_t next = 0;
  const std::uint32_t last = 1;
  EXPECT_EQ(m->get_next_key(&last, &next), Errc::not_found);
  EXPECT_EQ(m->lookup_and_erase(&key, out, 0), Errc::not_supported);
  EXPECT_EQ(m->lookup_elem(&key), nullptr);  // programs only redirect into a CPUMAP
  EXPECT_EQ(m->erase(&key), Errc::ok);
  EXPECT_EQ(m->lookup(&key, out, 0), Errc::not_found);
}

TEST(MapQueueStack, OtherMapTypesHaveNoPushPopPeek) {
  MapSpec s;
  s.type = MapType::hash;
  s.key_size = 4;
  s.value_size = 4;
  s.max_entries = 2;
  const auto h = xmaps::create_map(s);
  ASSERT_NE(h, nullptr);
  std::uint32_t v = 1;
  EXPECT_EQ(h->push_elem(&v, 0), Errc::invalid);
  EXPECT_EQ(h->pop_elem(&v), Errc::invalid);
  EXPECT_EQ(h->peek_elem(&v), Errc::invalid);
}

TEST(MapQueueStack, StackPopsNewestFirstThroughTheMapInterface) {
  const auto st = xmaps::create_map(ring_spec(MapType::stack, 4, 2));
  ASSERT_NE(st, nullptr);
  for (const std::uint32_t x : {1U, 2U}) {
    ASSERT_EQ(st->update(nullptr, &x, 0), Errc::ok);
  }
  const std::uint32_t three = 3;
  EXPECT_EQ(st->update(nullptr, &three, 0), Errc::too_big);
  EXPECT_EQ(st->update(nullptr, &three, 2), Errc::ok);  // drops 1
  std::uint32_t v = 0;
  ASSERT_EQ(st->lookup_and_erase(nullptr, &v, 0), Errc::ok);
  EXPECT_EQ(v, 3U);
  ASSERT_EQ(st->lookup_and_erase(nullptr, &v, 0), Errc::ok);
  EXPECT_EQ(v, 2U);
  EXPECT_EQ(st->lookup_and_erase(nullptr, &v, 0), Errc::not_found);
}

}  // namespace
