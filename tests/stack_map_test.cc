// SPDX-License-Identifier: MIT
//
// Stack<T> (xmaps/stack_map.h): the rules only a stack has. The rules both ring maps share are
// the typed tests of queue_map_test.cc.
#include "xmaps/stack_map.h"

#include <cstdint>

#include <gtest/gtest.h>

#include "xmaps/errc.h"

namespace {

using xmaps::Errc;
using xmaps::UpdateFlag;

TEST(StackMap, NewestFirst) {
  xmaps::Stack<std::uint32_t> s(3);
  ASSERT_EQ(s.push(1), Errc::ok);
  ASSERT_EQ(s.push(2), Errc::ok);
  EXPECT_EQ(s.peek(), 2U);
  EXPECT_EQ(s.pop(), 2U);
  ASSERT_EQ(s.push(3), Errc::ok);
  EXPECT_EQ(s.pop(), 3U);
  EXPECT_EQ(s.pop(), 1U);
}

// EXIST on a full stack drops the *bottom* (the oldest), not the top: pops still return the
// newest first (observed on the kernel: kernel-notes.md section 6).
TEST(StackMap, ExistDropsTheBottom) {
  xmaps::Stack<std::uint32_t> s(3);
  for (std::uint32_t i = 1; i <= 3; ++i)
    ASSERT_EQ(s.push(i), Errc::ok);
  ASSERT_EQ(s.push(4, UpdateFlag::exist), Errc::ok);
  EXPECT_EQ(s.dropped(), 1U);
  EXPECT_EQ(s.pop(), 4U);
  EXPECT_EQ(s.pop(), 3U);
  EXPECT_EQ(s.pop(), 2U);
  EXPECT_FALSE(s.pop().has_value()) << "1 was the bottom: dropped";
}

// Pops between overwrites: the bottom moves up past dropped elements, the top stays newest.
TEST(StackMap, PopsAndOverwritesInterleaved) {
  xmaps::Stack<std::uint32_t> s(2);
  ASSERT_EQ(s.push(1), Errc::ok);
  ASSERT_EQ(s.push(2), Errc::ok);
  ASSERT_EQ(s.push(3, UpdateFlag::exist), Errc::ok);  // drops 1: {2, 3}
  EXPECT_EQ(s.pop(), 3U);                             // {2}
  ASSERT_EQ(s.push(4), Errc::ok);                     // {2, 4}
  ASSERT_EQ(s.push(5, UpdateFlag::exist), Errc::ok);  // drops 2: {4, 5}
  EXPECT_EQ(s.pop(), 5U);
  EXPECT_EQ(s.pop(), 4U);
  EXPECT_FALSE(s.pop().has_value());
  EXPECT_EQ(s.dropped(), 2U);
}

}  // namespace
