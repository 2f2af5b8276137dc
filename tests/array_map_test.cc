// SPDX-License-Identifier: MIT
//
// xmaps/array_map.h: ArrayMap<V> and PercpuArrayMap<V>, the typed BPF_MAP_TYPE_ARRAY and
// BPF_MAP_TYPE_PERCPU_ARRAY (kernel/bpf/arraymap.c semantics). The contract shared by both
// types runs, typed, over both maps and over value sizes that are and are not multiples of 8;
// the per-CPU behaviour is tested with CpuBinding so it does not depend on the scheduler.
#include "xmaps/array_map.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include "xmaps/cpu.h"
#include "xmaps/errc.h"

namespace {

using xmaps::ArrayMap;
using xmaps::CpuBinding;
using xmaps::Errc;
using xmaps::PercpuArrayMap;
using xmaps::UpdateFlag;

// 12 bytes: not a multiple of 8, so the map pads each slot to 16.
struct Value12 {
  std::uint32_t a = 0;
  std::uint32_t b = 0;
  std::uint32_t c = 0;
  friend bool operator==(const Value12&, const Value12&) = default;
};
static_assert(sizeof(Value12) == 12);

// 32 bytes, four words.
struct Value32 {
  std::array<std::uint64_t, 4> w{};
  friend bool operator==(const Value32&, const Value32&) = default;
};
static_assert(sizeof(Value32) == 32);

template <class V>
V make_value(std::uint32_t n);
template <>
std::uint64_t make_value<std::uint64_t>(std::uint32_t n) {
  return 0x1000000000ULL + n;
}
template <>
std::uint8_t make_value<std::uint8_t>(std::uint32_t n) {
  return static_cast<std::uint8_t>(n * 7 + 1);
}
template <>
Value12 make_value<Value12>(std::uint32_t n) {
  return Value12{n + 1, n * 3 + 2, ~n};
}
template <>
Value32 make_value<Value32>(std::uint32_t n) {
  return Value32{{n + 1, n + 2, n + 3, ~std::uint64_t{n}}};
}

template <class V>
bool is_zero(const V& v) {
  const auto* p = reinterpret_cast<const unsigned char*>(&v);
  for (std::size_t i = 0; i < sizeof(V); ++i) {
    if (p[i] != 0)
      return false;
  }
  return true;
}

// ---- the contract of both array types ----------------------------------------------------------

template <class M>
class ArrayContract : public ::testing::Test {
 protected:
  using MapT = M;
  using ValueT = std::remove_cvref_t<decltype(*std::declval<M&>().lookup(0))>;
  static constexpr std::uint32_t kMax = 8;
  // Pin the thread so per-CPU maps act on one known slot.
  CpuBinding bind_{0};
  M map_{kMax};
};

using ArrayTypes = ::testing::Types<ArrayMap<std::uint64_t>, ArrayMap<Value12>, ArrayMap<Value32>,
                                    ArrayMap<std::uint8_t>, PercpuArrayMap<std::uint64_t>,
                                    PercpuArrayMap<Value12>, PercpuArrayMap<Value32>>;
TYPED_TEST_SUITE(ArrayContract, ArrayTypes);

TYPED_TEST(ArrayContract, EveryElementIsZeroFilledAtStart) {
  for (std::uint32_t i = 0; i < this->kMax; ++i) {
    auto* p = this->map_.lookup(i);
    ASSERT_NE(p, nullptr) << i;
    EXPECT_TRUE(is_zero(*p)) << i;
    const auto copy = this->map_.lookup_copy(i);
    ASSERT_TRUE(copy.has_value()) << i;
    EXPECT_TRUE(is_zero(*copy)) << i;
  }
}

TYPED_TEST(ArrayContract, MaxEntriesIsWhatWasAskedFor) {
  EXPECT_EQ(this->map_.max_entries(), this->kMax);
}

TYPED_TEST(ArrayContract, UpdateThenLookupAndLookupCopyReturnTheValue) {
  using V = typename TestFixture::ValueT;
  for (std::uint32_t i = 0; i < this->kMax; ++i) {
    ASSERT_EQ(this->map_.update(i, make_value<V>(i)), Errc::ok) << i;
  }
  for (std::uint32_t i = 0; i < this->kMax; ++i) {
    auto* p = this->map_.lookup(i);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, make_value<V>(i)) << i;
    EXPECT_EQ(this->map_.lookup_copy(i), std::optional<V>(make_value<V>(i))) << i;
  }
}

TYPED_TEST(ArrayContract, UpdateReplacesTheValueInPlace) {
  using V = typename TestFixture::ValueT;
  auto* before = this->map_.lookup(3);
  ASSERT_EQ(this->map_.update(3, make_value<V>(1)), Errc::ok);
  ASSERT_EQ(this->map_.update(3, make_value<V>(2)), Errc::ok);
  EXPECT_EQ(this->map_.lookup(3), before);  // elements never move
  EXPECT_EQ(*before, make_value<V>(2));
  EXPECT_TRUE(is_zero(*this->map_.lookup(2)));
  EXPECT_TRUE(is_zero(*this->map_.lookup(4)));
}

TYPED_TEST(ArrayContract, WritesThroughTheLookupPointerAreSeenByLookupCopy) {
  using V = typename TestFixture::ValueT;
  *this->map_.lookup(5) = make_value<V>(55);
  EXPECT_EQ(this->map_.lookup_copy(5), std::optional<V>(make_value<V>(55)));
}

TYPED_TEST(ArrayContract, UpdateOutOfRangeReturnsTooBig) {
  using V = typename TestFixture::ValueT;
  EXPECT_EQ(this->map_.update(this->kMax, make_value<V>(1)), Errc::too_big);
  EXPECT_EQ(this->map_.update(0xffffffffU, make_value<V>(1)), Errc::too_big);
  EXPECT_EQ(this->map_.update(this->kMax, make_value<V>(1), UpdateFlag::exist), Errc::too_big);
}

TYPED_TEST(ArrayContract, UpdateOutOfRangeWithNoExistReturnsTooBigBecauseRangeIsCheckedFirst) {
  using V = typename TestFixture::ValueT;
  EXPECT_EQ(this->map_.update(this->kMax, make_value<V>(1), UpdateFlag::no_exist), Errc::too_big);
}

TYPED_TEST(ArrayContract, LookupOutOfRangeReturnsNullptrAndNullopt) {
  EXPECT_EQ(this->map_.lookup(this->kMax), nullptr);
  EXPECT_EQ(this->map_.lookup(0xffffffffU), nullptr);
  EXPECT_FALSE(this->map_.lookup_copy(this->kMax).has_value());
  EXPECT_FALSE(this->map_.lookup_copy(0xffffffffU).has_value());
}

TYPED_TEST(ArrayContract, UpdateNoExistReturnsExistsBecauseEveryElementExists) {
  using V = typename TestFixture::ValueT;
  EXPECT_EQ(this->map_.update(0, make_value<V>(1), UpdateFlag::no_exist), Errc::exists);
  EXPECT_TRUE(is_zero(*this->map_.lookup(0)));  // and nothing was written
}

TYPED_TEST(ArrayContract, UpdateExistSucceedsOnANeverWrittenElement) {
  using V = typename TestFixture::ValueT;
  EXPECT_EQ(this->map_.update(1, make_value<V>(9), UpdateFlag::exist), Errc::ok);
  EXPECT_EQ(*this->map_.lookup(1), make_value<V>(9));
}

TYPED_TEST(ArrayContract, UpdateWithAnInvalidFlagReturnsInvalidAndWritesNothing) {
  using V = typename TestFixture::ValueT;
  EXPECT_EQ(this->map_.update(0, make_value<V>(1), static_cast<UpdateFlag>(3)), Errc::invalid);
  EXPECT_EQ(this->map_.update(0, make_value<V>(1), static_cast<UpdateFlag>(4)), Errc::invalid);
  EXPECT_EQ(this->map_.update(0, make_value<V>(1), static_cast<UpdateFlag>(1ULL << 32)),
            Errc::invalid);
  EXPECT_TRUE(is_zero(*this->map_.lookup(0)));
}

TYPED_TEST(ArrayContract, UpdateWithAnInvalidFlagOutOfRangeReturnsInvalidBecauseFlagsAreFirst) {
  using V = typename TestFixture::ValueT;
  EXPECT_EQ(this->map_.update(this->kMax, make_value<V>(1), static_cast<UpdateFlag>(3)),
            Errc::invalid);
}

TYPED_TEST(ArrayContract, GetNextKeyFromNullptrIsZero) {
  std::uint32_t next = 99;
  ASSERT_EQ(this->map_.get_next_key(nullptr, next), Errc::ok);
  EXPECT_EQ(next, 0U);
}

TYPED_TEST(ArrayContract, GetNextKeyWalksEveryIndexInOrderThenReturnsNotFound) {
  std::vector<std::uint32_t> seen;
  std::uint32_t key = 0;
  ASSERT_EQ(this->map_.get_next_key(nullptr, key), Errc::ok);
  seen.push_back(key);
  std::uint32_t next = 0;
  while (this->map_.get_next_key(&key, next) == Errc::ok) {
    seen.push_back(next);
    key = next;
    ASSERT_LE(seen.size(), this->kMax);
  }
  ASSERT_EQ(seen.size(), this->kMax);
  for (std::uint32_t i = 0; i < this->kMax; ++i)
    EXPECT_EQ(seen[i], i);
}

TYPED_TEST(ArrayContract, GetNextKeyFromTheLastIndexReturnsNotFound) {
  const std::uint32_t last = this->kMax - 1;
  std::uint32_t next = 1234;
  EXPECT_EQ(this->map_.get_next_key(&last, next), Errc::not_found);
}

TYPED_TEST(ArrayContract, GetNextKeyFromAnIndexAtOrPastTheEndRestartsAtZero) {
  for (const std::uint32_t from : {this->kMax, this->kMax + 1, 0xffffffffU}) {
    std::uint32_t next = 99;
    ASSERT_EQ(this->map_.get_next_key(&from, next), Errc::ok) << from;
    EXPECT_EQ(next, 0U) << from;
  }
}

TYPED_TEST(ArrayContract, ConstructorRejectsZeroMaxEntries) {
  using Map = typename TestFixture::MapT;
  EXPECT_THROW(Map(0), std::invalid_argument);
}

TYPED_TEST(ArrayContract, ConstructorRejectsFlagsArraysDoNotTake) {
  using Map = typename TestFixture::MapT;
  namespace f = xmaps::map_flag;
  for (const std::uint32_t flags : {f::kNoPrealloc, f::kNoCommonLru, f::kZeroSeed, f::kRdonly,
                                    f::kWronly, f::kPreserveElems, 1U << 20, 0xffffffffU}) {
    EXPECT_THROW(Map(4, flags), std::invalid_argument) << "flags " << flags;
  }
}

TYPED_TEST(ArrayContract, OneElementMapHasOnlyIndexZero) {
  using Map = typename TestFixture::MapT;
  using V = typename TestFixture::ValueT;
  Map one(1);
  EXPECT_EQ(one.update(0, make_value<V>(7)), Errc::ok);
  EXPECT_EQ(one.update(1, make_value<V>(7)), Errc::too_big);
  std::uint32_t next = 5;
  const std::uint32_t zero = 0;
  EXPECT_EQ(one.get_next_key(nullptr, next), Errc::ok);
  EXPECT_EQ(next, 0U);
  EXPECT_EQ(one.get_next_key(&zero, next), Errc::not_found);
}

// ---- ArrayMap-only ---------------------------------------------------------------------------

TEST(ArrayMap, ConstructorAcceptsNumaNodeAndMmapable) {
  EXPECT_NO_THROW(ArrayMap<std::uint64_t>(4, xmaps::map_flag::kNumaNode));
  EXPECT_NO_THROW(ArrayMap<std::uint64_t>(4, xmaps::map_flag::kMmapable));
  EXPECT_NO_THROW(
      ArrayMap<std::uint64_t>(4, xmaps::map_flag::kNumaNode | xmaps::map_flag::kMmapable));
}

TEST(ArrayMap, ValueIsTheSameOnEveryCpu) {
  ArrayMap<std::uint64_t> map(2);
  {
    CpuBinding bind(0);
    ASSERT_EQ(map.update(1, 42), Errc::ok);
  }
  for (int c = 0; c < xmaps::possible_cpus(); ++c) {
    CpuBinding bind(c);
    EXPECT_EQ(map.lookup_copy(1), std::optional<std::uint64_t>(42)) << c;
  }
}

// ---- PercpuArrayMap --------------------------------------------------------------------------

TEST(PercpuArrayMap, ConstructorRejectsNumaNodeAndMmapable) {
  EXPECT_THROW(PercpuArrayMap<std::uint64_t>(4, xmaps::map_flag::kNumaNode), std::invalid_argument);
  EXPECT_THROW(PercpuArrayMap<std::uint64_t>(4, xmaps::map_flag::kMmapable), std::invalid_argument);
}

TEST(PercpuArrayMap, UpdateOnABoundCpuWritesOnlyThatCpusSlot) {
  const int ncpus = xmaps::possible_cpus();
  for (int c = 0; c < ncpus; ++c) {
    PercpuArrayMap<Value12> map(4);
    {
      CpuBinding bind(c);
      ASSERT_EQ(map.update(2, make_value<Value12>(100)), Errc::ok);
      EXPECT_EQ(*map.lookup(2), make_value<Value12>(100));
      EXPECT_EQ(map.lookup_copy(2), std::optional<Value12>(make_value<Value12>(100)));
    }
    for (int other = 0; other < ncpus; ++other) {
      const Value12* p = map.lookup_percpu(2, static_cast<std::uint32_t>(other));
      ASSERT_NE(p, nullptr);
      if (other == c) {
        EXPECT_EQ(*p, make_value<Value12>(100)) << "cpu " << other;
      } else {
        EXPECT_TRUE(is_zero(*p)) << "cpu " << other << " written by cpu " << c;
      }
      CpuBinding bind(other);
      EXPECT_EQ(map.lookup(2), p) << "lookup on cpu " << other << " is that cpu's slot";
    }
    for (std::uint32_t i : {0U, 1U, 3U}) {
      for (int other = 0; other < ncpus; ++other) {
        EXPECT_TRUE(is_zero(*map.lookup_percpu(i, static_cast<std::uint32_t>(other))));
      }
    }
  }
}

TEST(PercpuArrayMap, EachCpuKeepsItsOwnValue) {
  const int ncpus = xmaps::possible_cpus();
  PercpuArrayMap<std::uint64_t> map(3);
  for (int c = 0; c < ncpus; ++c) {
    CpuBinding bind(c);
    ASSERT_EQ(map.update(1, 1000 + static_cast<std::uint64_t>(c)), Errc::ok);
  }
  for (int c = 0; c < ncpus; ++c) {
    CpuBinding bind(c);
    EXPECT_EQ(map.lookup_copy(1), std::optional<std::uint64_t>(1000 + c));
    EXPECT_EQ(*map.lookup_percpu(1, static_cast<std::uint32_t>(c)), 1000U + c);
  }
}

TEST(PercpuArrayMap, LookupPercpuGivesASlotForEveryCpuAndNullptrPastPossibleCpus) {
  const auto ncpus = static_cast<std::uint32_t>(xmaps::possible_cpus());
  PercpuArrayMap<std::uint64_t> map(4);
  std::vector<std::uint64_t*> slots;
  for (std::uint32_t c = 0; c < ncpus; ++c) {
    std::uint64_t* p = map.lookup_percpu(0, c);
    ASSERT_NE(p, nullptr) << c;
    for (std::uint64_t* q : slots)
      EXPECT_NE(p, q) << "cpus share a slot";
    slots.push_back(p);
  }
  EXPECT_EQ(map.lookup_percpu(0, ncpus), nullptr);
  EXPECT_EQ(map.lookup_percpu(0, ncpus + 1), nullptr);
  EXPECT_EQ(map.lookup_percpu(0, 0xffffffffU), nullptr);
  EXPECT_EQ(map.lookup_percpu(4, 0), nullptr);  // index out of range
}

TEST(PercpuArrayMap, UpdateAllThenLookupAllRoundTripsEveryCpusValue) {
  const auto ncpus = static_cast<std::size_t>(xmaps::possible_cpus());
  PercpuArrayMap<Value12> map(4);
  std::vector<Value12> in(ncpus);
  for (std::size_t c = 0; c < ncpus; ++c)
    in[c] = make_value<Value12>(static_cast<std::uint32_t>(c + 10));
  ASSERT_EQ(map.update_all(3, in), Errc::ok);

  std::vector<Value12> out(ncpus);
  ASSERT_EQ(map.lookup_all(3, out), Errc::ok);
  EXPECT_EQ(out, in);
  for (std::size_t c = 0; c < ncpus; ++c) {
    EXPECT_EQ(*map.lookup_percpu(3, static_cast<std::uint32_t>(c)), in[c]) << c;
    CpuBinding bind(static_cast<int>(c));
    EXPECT_EQ(map.lookup_copy(3), std::optional<Value12>(in[c])) << c;
  }
  std::vector<Value12> other(ncpus);
  ASSERT_EQ(map.lookup_all(2, other), Errc::ok);
  for (const Value12& v : other)
    EXPECT_TRUE(is_zero(v));
}

TEST(PercpuArrayMap, LookupAllSeesProgramSideUpdates) {
  const int ncpus = xmaps::possible_cpus();
  PercpuArrayMap<Value32> map(2);
  for (int c = 0; c < ncpus; ++c) {
    CpuBinding bind(c);
    ASSERT_EQ(map.update(0, make_value<Value32>(static_cast<std::uint32_t>(c))), Errc::ok);
  }
  std::vector<Value32> out(static_cast<std::size_t>(ncpus));
  ASSERT_EQ(map.lookup_all(0, out), Errc::ok);
  for (int c = 0; c < ncpus; ++c) {
    EXPECT_EQ(out[static_cast<std::size_t>(c)], make_value<Value32>(static_cast<std::uint32_t>(c)));
  }
}

TEST(PercpuArrayMap, UpdateAllAndLookupAllWithTheWrongSpanSizeReturnInvalid) {
  const auto ncpus = static_cast<std::size_t>(xmaps::possible_cpus());
  PercpuArrayMap<Value12> map(4);
  for (const std::size_t n : {std::size_t{0}, ncpus - 1, ncpus + 1, 2 * ncpus + 3}) {
    if (n == ncpus)
      continue;  // ncpus - 1 == 0 on a 1-CPU machine, never ncpus
    std::vector<Value12> buf(n, make_value<Value12>(1));
    EXPECT_EQ(map.update_all(0, buf), Errc::invalid) << n;
    EXPECT_EQ(map.lookup_all(0, buf), Errc::invalid) << n;
  }
  std::vector<Value12> out(ncpus);
  ASSERT_EQ(map.lookup_all(0, out), Errc::ok);
  for (const Value12& v : out)
    EXPECT_TRUE(is_zero(v)) << "a rejected update wrote";
}

TEST(PercpuArrayMap, UpdateAllChecksFlagsAndRangeAsUpdate) {
  const auto ncpus = static_cast<std::size_t>(xmaps::possible_cpus());
  PercpuArrayMap<std::uint64_t> map(4);
  const std::vector<std::uint64_t> values(ncpus, 5);
  EXPECT_EQ(map.update_all(4, values), Errc::too_big);
  EXPECT_EQ(map.update_all(0, values, UpdateFlag::no_exist), Errc::exists);
  EXPECT_EQ(map.update_all(0, values, static_cast<UpdateFlag>(3)), Errc::invalid);
  EXPECT_EQ(map.update_all(0, values, UpdateFlag::exist), Errc::ok);
  std::vector<std::uint64_t> out(ncpus);
  EXPECT_EQ(map.lookup_all(4, out), Errc::not_found);
  ASSERT_EQ(map.lookup_all(0, out), Errc::ok);
  EXPECT_EQ(out, values);
}

TEST(PercpuArrayMap, ProgramSideUpdateAfterUpdateAllChangesOnlyTheCurrentCpu) {
  const auto ncpus = static_cast<std::size_t>(xmaps::possible_cpus());
  PercpuArrayMap<std::uint64_t> map(1);
  std::vector<std::uint64_t> values(ncpus);
  for (std::size_t c = 0; c < ncpus; ++c)
    values[c] = 7 + c;
  ASSERT_EQ(map.update_all(0, values), Errc::ok);
  const int last = static_cast<int>(ncpus) - 1;
  {
    CpuBinding bind(last);
    ASSERT_EQ(map.update(0, 999), Errc::ok);
  }
  values[static_cast<std::size_t>(last)] = 999;
  std::vector<std::uint64_t> out(ncpus);
  ASSERT_EQ(map.lookup_all(0, out), Errc::ok);
  EXPECT_EQ(out, values);
}

}  // namespace
