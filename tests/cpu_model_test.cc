// SPDX-License-Identifier: MIT
//
// Model mode: set_possible_cpus() in a fresh process, before any map exists, makes a 2-core box
// behave as a 128-CPU machine. This executable holds one case only, so the override always runs
// before anything else has fixed the count (CTest runs each case in its own process; running
// the executable directly runs just this one).
#include <cstdint>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "xmaps/array_map.h"
#include "xmaps/cpu.h"
#include "xmaps/errc.h"

namespace {

TEST(CpuModel, SetPossibleCpusBeforeFirstUseSizesPerCpuMapsFor128Cpus) {
  ASSERT_NO_THROW(xmaps::set_possible_cpus(128));
  EXPECT_EQ(xmaps::possible_cpus(), 128);
  EXPECT_NO_THROW(xmaps::set_possible_cpus(128));  // the same value again is fine
  EXPECT_THROW(xmaps::set_possible_cpus(2), std::logic_error);

  xmaps::PercpuArrayMap<std::uint64_t> map(4);
  EXPECT_NE(map.lookup_percpu(0, 0), nullptr);
  EXPECT_NE(map.lookup_percpu(0, 127), nullptr);
  EXPECT_EQ(map.lookup_percpu(0, 128), nullptr);

  {
    xmaps::CpuBinding bind(100);
    EXPECT_EQ(xmaps::current_cpu(), 100);
    ASSERT_EQ(map.update(0, 0xabcdU), xmaps::Errc::ok);
    ASSERT_NE(map.lookup(0), nullptr);
    EXPECT_EQ(*map.lookup(0), 0xabcdU);
  }
  EXPECT_EQ(*map.lookup_percpu(0, 100), 0xabcdU);
  EXPECT_EQ(*map.lookup_percpu(0, 99), 0U);
  EXPECT_EQ(*map.lookup_percpu(0, 101), 0U);
  EXPECT_THROW(xmaps::CpuBinding(128), std::out_of_range);
  EXPECT_NO_THROW(xmaps::CpuBinding(127));

  std::vector<std::uint64_t> all(128);
  ASSERT_EQ(map.lookup_all(0, all), xmaps::Errc::ok);
  for (std::size_t c = 0; c < all.size(); ++c)
    EXPECT_EQ(all[c], c == 100 ? 0xabcdU : 0U) << c;
  std::vector<std::uint64_t> two(2);
  EXPECT_EQ(map.lookup_all(0, two), xmaps::Errc::invalid);
}

}  // namespace
