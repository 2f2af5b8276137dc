// SPDX-License-Identifier: MIT
//
// Queue<T> and Stack<T> (xmaps/queue_map.h, xmaps/stack_map.h): the kernel's sequential rules,
// as test_maps.c's test_queuemap / test_stackmap check them, as typed tests over both types,
// and the queue-only FIFO rules. Stack-only rules are in stack_map_test.cc; the byte-level map
// in map_test.cc; the kernel itself in kernel_queue_stack_diff_test.cc.
#include "xmaps/queue_map.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "xmaps/errc.h"
#include "xmaps/stack_map.h"

namespace {

using xmaps::Errc;
using xmaps::UpdateFlag;

struct Big {
  std::uint64_t a;
  std::uint32_t b;
  std::uint8_t c[13];
  bool operator==(const Big&) const = default;
};

template <class Ring>
class RingMaps : public ::testing::Test {};

template <class Ring>
constexpr bool kFifo = false;
template <class T>
constexpr bool kFifo<xmaps::Queue<T>> = true;

using RingTypes = ::testing::Types<xmaps::Queue<std::uint32_t>, xmaps::Stack<std::uint32_t>>;
TYPED_TEST_SUITE(RingMaps, RingTypes);

// Which of the pushed values (0..n-1 in push order) a full drain returns first.
template <class Ring>
std::vector<std::uint32_t> drain(Ring& r) {
  std::vector<std::uint32_t> out;
  std::uint32_t v = 0;
  while (r.pop(v) == Errc::ok)
    out.push_back(v);
  return out;
}

TYPED_TEST(RingMaps, ZeroEntriesIsRejected) {
  EXPECT_THROW(TypeParam(0), std::invalid_argument);
}

// test_queuemap / test_stackmap, MAP_SIZE 32: 32 pushes fit, the 33rd (flags 0) is E2BIG; peek
// sees the front (queue) / top (stack); 16 more with EXIST drop the 16 oldest; pops return
// vals[16..47] in queue order or vals[47..16] in stack order; then ENOENT.
TYPED_TEST(RingMaps, KernelSelftestScenario) {
  constexpr std::uint32_t kSize = 32;
  TypeParam r(kSize);
  std::array<std::uint32_t, kSize + kSize / 2> vals{};
  for (std::uint32_t i = 0; i < vals.size(); ++i)
    vals[i] = 0x1000 + i * 7;
  for (std::uint32_t i = 0; i < kSize; ++i)
    ASSERT_EQ(r.push(vals[i]), Errc::ok) << i;
  EXPECT_EQ(r.push(vals[0]), Errc::too_big);
  std::uint32_t v = 0;
  ASSERT_EQ(r.peek(v), Errc::ok);
  EXPECT_EQ(v, kFifo<TypeParam> ? vals[0] : vals[kSize - 1]);
  for (std::uint32_t i = kSize; i < vals.size(); ++i)
    ASSERT_EQ(r.push(vals[i], UpdateFlag::exist), Errc::ok) << i;
  EXPECT_EQ(r.dropped(), kSize / 2);
  EXPECT_EQ(r.size(), kSize);
  for (std::uint32_t i = kSize / 2; i < vals.size(); ++i) {
    ASSERT_EQ(r.pop(v), Errc::ok);
    const std::uint32_t want = kFifo<TypeParam> ? vals[i] : vals[vals.size() - 1 - (i - kSize / 2)];
    EXPECT_EQ(v, want) << i;
  }
  v = 77;
  EXPECT_EQ(r.pop(v), Errc::not_found);
  EXPECT_EQ(v, 0U) << "the kernel's helpers zero the value of a failed pop";
}

TYPED_TEST(RingMaps, FlagsOtherThanAnyAndExistAreInvalid) {
  TypeParam r(2);
  EXPECT_EQ(r.push(1, UpdateFlag::no_exist), Errc::invalid);
  EXPECT_EQ(r.push(1, static_cast<UpdateFlag>(3)), Errc::invalid);
  EXPECT_EQ(r.push(1, static_cast<UpdateFlag>(4)), Errc::invalid);
  EXPECT_EQ(r.push(1, static_cast<UpdateFlag>(1ULL << 40)), Errc::invalid);
  EXPECT_EQ(r.size(), 0U) << "an invalid push must not push";
  // NOEXIST is invalid even when full (checked first, as queue_stack_map_push_elem does).
  ASSERT_EQ(r.push(1), Errc::ok);
  ASSERT_EQ(r.push(2), Errc::ok);
  EXPECT_EQ(r.push(3, UpdateFlag::no_exist), Errc::invalid);
  EXPECT_EQ(r.dropped(), 0U);
}

TYPED_TEST(RingMaps, EmptyPeekAndPopAreNotFoundAndZeroTheOutput) {
  TypeParam r(4);
  std::uint32_t v = 0xdeadbeef;
  EXPECT_EQ(r.peek(v), Errc::not_found);
  EXPECT_EQ(v, 0U);
  v = 0xdeadbeef;
  EXPECT_EQ(r.pop(v), Errc::not_found);
  EXPECT_EQ(v, 0U);
  EXPECT_FALSE(r.pop().has_value());
  EXPECT_FALSE(r.peek().has_value());
}

TYPED_TEST(RingMaps, PeekDoesNotRemove) {
  TypeParam r(3);
  ASSERT_EQ(r.push(5), Errc::ok);
  EXPECT_EQ(r.peek(), 5U);
  EXPECT_EQ(r.peek(), 5U);
  EXPECT_EQ(r.size(), 1U);
  EXPECT_EQ(r.pop(), 5U);
  EXPECT_EQ(r.size(), 0U);
}

TYPED_TEST(RingMaps, CapacityIsExactlyMaxEntriesForEverySize) {
  for (const std::uint32_t n : {1U, 2U, 3U, 31U, 64U, 1000U}) {
    TypeParam r(n);
    EXPECT_EQ(r.capacity(), n);
    for (std::uint32_t i = 0; i < n; ++i)
      ASSERT_EQ(r.push(i), Errc::ok) << n << " " << i;
    EXPECT_EQ(r.push(n), Errc::too_big) << n;
    EXPECT_EQ(r.size(), n);
    EXPECT_EQ(drain(r).size(), n);
  }
}

// Wrapping: many rounds of partial fills and drains keep the order (the head/tail indices wrap
// at max_entries + 1).
TYPED_TEST(RingMaps, OrderSurvivesWrapAround) {
  TypeParam r(5);
  std::uint32_t next = 0;
  for (int round = 0; round < 50; ++round) {
    const std::uint32_t k = 1 + static_cast<std::uint32_t>(round % 5);
    std::vector<std::uint32_t> pushed;
    for (std::uint32_t i = 0; i < k; ++i) {
      ASSERT_EQ(r.push(next), Errc::ok);
      pushed.push_back(next++);
    }
    const std::vector<std::uint32_t> got = drain(r);
    if (!kFifo<TypeParam>)
      std::reverse(pushed.begin(), pushed.end());
    EXPECT_EQ(got, pushed) << "round " << round;
  }
}

// Overwrite on a full ring, many times over: exactly the last max_entries values remain, and
// every push beyond capacity is counted once.
TYPED_TEST(RingMaps, ExistKeepsTheLastMaxEntriesAndCountsEveryDrop) {
  TypeParam r(7);
  for (std::uint32_t i = 0; i < 100; ++i)
    ASSERT_EQ(r.push(i, UpdateFlag::exist), Errc::ok);
  EXPECT_EQ(r.dropped(), 93U);
  std::vector<std::uint32_t> want;
  for (std::uint32_t i = 93; i < 100; ++i)
    want.push_back(i);
  if (!kFifo<TypeParam>)
    std::reverse(want.begin(), want.end());
  EXPECT_EQ(drain(r), want);
}

TYPED_TEST(RingMaps, ExistOnANonFullRingDropsNothing) {
  TypeParam r(4);
  ASSERT_EQ(r.push(1, UpdateFlag::exist), Errc::ok);
  ASSERT_EQ(r.push(2, UpdateFlag::exist), Errc::ok);
  EXPECT_EQ(r.dropped(), 0U);
  EXPECT_EQ(r.size(), 2U);
}

TYPED_TEST(RingMaps, BulkPushStopsWhenFullUnlessExist) {
  TypeParam r(5);
  const std::vector<std::uint32_t> in = {10, 11, 12, 13, 14, 15, 16, 17};
  EXPECT_EQ(r.push_bulk(in), 5U);
  EXPECT_EQ(r.push_bulk(in), 0U);
  EXPECT_EQ(r.push_bulk(in, UpdateFlag::no_exist), 0U);
  EXPECT_EQ(r.push_bulk(in, UpdateFlag::exist), in.size());
  EXPECT_EQ(r.dropped(), in.size());
  std::vector<std::uint32_t> out(8, 0);
  EXPECT_EQ(r.pop_bulk(out), 5U);
  std::vector<std::uint32_t> want = {13, 14, 15, 16, 17};
  if (!kFifo<TypeParam>)
    std::reverse(want.begin(), want.end());
  EXPECT_EQ(std::vector<std::uint32_t>(out.begin(), out.begin() + 5), want);
  EXPECT_EQ(r.pop_bulk(out), 0U);
}

TYPED_TEST(RingMaps, BulkAndSinglePopAgree) {
  TypeParam a(16);
  TypeParam b(16);
  for (std::uint32_t i = 0; i < 12; ++i) {
    ASSERT_EQ(a.push(i), Errc::ok);
    ASSERT_EQ(b.push(i), Errc::ok);
  }
  std::vector<std::uint32_t> bulk(12);
  ASSERT_EQ(a.pop_bulk(bulk), 12U);
  EXPECT_EQ(bulk, drain(b));
}

// Values of odd sizes are copied whole.
TEST(QueueMap, OddSizedValuesRoundTrip) {
  xmaps::Queue<Big> q(3);
  const Big x{1, 2, {3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}};
  const Big y{9, 8, {7}};
  ASSERT_EQ(q.push(x), Errc::ok);
  ASSERT_EQ(q.push(y), Errc::ok);
  EXPECT_EQ(q.peek(), x);
  EXPECT_EQ(q.pop(), x);
  EXPECT_EQ(q.pop(), y);
}

TEST(QueueMap, ExistDropsTheFront) {
  xmaps::Queue<std::uint32_t> q(2);
  ASSERT_EQ(q.push(1), Errc::ok);
  ASSERT_EQ(q.push(2), Errc::ok);
  ASSERT_EQ(q.push(3, UpdateFlag::exist), Errc::ok);
  EXPECT_EQ(q.peek(), 2U);
  EXPECT_EQ(q.pop(), 2U);
  EXPECT_EQ(q.pop(), 3U);
}

TEST(QueueMap, OneEntryQueue) {
  xmaps::Queue<std::uint32_t> q(1);
  ASSERT_EQ(q.push(1), Errc::ok);
  EXPECT_EQ(q.push(2), Errc::too_big);
  ASSERT_EQ(q.push(3, UpdateFlag::exist), Errc::ok);
  EXPECT_EQ(q.pop(), 3U);
  EXPECT_FALSE(q.pop().has_value());
  EXPECT_EQ(q.dropped(), 1U);
}

}  // namespace
