// SPDX-License-Identifier: MIT
//
// xmaps/cpu.h: the possible-CPU count, the calling thread's CPU id and CpuBinding.
//
// CTest runs every case in its own process, but running the executable directly runs them all
// in one, so no case may depend on the possible-CPU count still being unfixed: each one fixes it
// (by calling possible_cpus()) before it tests set_possible_cpus(). The "fresh process" override
// is tested by cpu_model_test.
#include "xmaps/cpu.h"

#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace {

using xmaps::CpuBinding;
using xmaps::detail::cpu_count_from_list;

// An independent parser for the kernel's CPU list format ("0-3,8-11"): highest id + 1.
int highest_cpu_plus_one(const std::string& list) {
  int highest = -1;
  std::size_t pos = 0;
  while (pos <= list.size()) {
    std::size_t end = list.find(',', pos);
    if (end == std::string::npos)
      end = list.size();
    const std::string part = list.substr(pos, end - pos);
    const std::size_t dash = part.find('-');
    const int last = std::stoi(dash == std::string::npos ? part : part.substr(dash + 1));
    if (last > highest)
      highest = last;
    pos = end + 1;
  }
  return highest + 1;
}

TEST(PossibleCpus, IsAtLeastOne) {
  EXPECT_GE(xmaps::possible_cpus(), 1);
}

TEST(PossibleCpus, EqualsTheCountInSysDevicesSystemCpuPossible) {
  std::ifstream in("/sys/devices/system/cpu/possible");
  std::string line;
  if (!in || !std::getline(in, line)) {
    GTEST_SKIP() << "/sys/devices/system/cpu/possible is not readable here";
  }
  SCOPED_TRACE("possible = \"" + line + "\"");
  EXPECT_EQ(xmaps::possible_cpus(), highest_cpu_plus_one(line));
}

TEST(PossibleCpus, IsStableAcrossCallsAndThreads) {
  const int n = xmaps::possible_cpus();
  int seen_by_other_thread = 0;
  std::thread t([&] { seen_by_other_thread = xmaps::possible_cpus(); });
  t.join();
  EXPECT_EQ(seen_by_other_thread, n);
  EXPECT_EQ(xmaps::possible_cpus(), n);
}

TEST(CpuCountFromList, ParsesASingleCpu) {
  EXPECT_EQ(cpu_count_from_list("0"), 1);
}

TEST(CpuCountFromList, ParsesARange) {
  EXPECT_EQ(cpu_count_from_list("0-3"), 4);
}

TEST(CpuCountFromList, ParsesSeveralRangesAsHighestIdPlusOne) {
  EXPECT_EQ(cpu_count_from_list("0-3,8-11"), 12);
}

TEST(CpuCountFromList, ParsesACommaSeparatedList) {
  EXPECT_EQ(cpu_count_from_list("0,2,4"), 5);
}

TEST(CpuCountFromList, ParsesMultiDigitIds) {
  EXPECT_EQ(cpu_count_from_list("0-127"), 128);
}

TEST(CpuCountFromList, RejectsGarbageWithZero) {
  EXPECT_EQ(cpu_count_from_list(""), 0);
  EXPECT_EQ(cpu_count_from_list("abc"), 0);
  EXPECT_EQ(cpu_count_from_list(","), 0);
  EXPECT_EQ(cpu_count_from_list("-"), 0);
  EXPECT_EQ(cpu_count_from_list("0-"), 0);
  EXPECT_EQ(cpu_count_from_list("0,,2"), 0);
  EXPECT_EQ(cpu_count_from_list("x,1"), 0);
}

// The contract is "0 if malformed", but only the digits up to the first non-digit of each
// part's last number are read: a part with garbage around its number is accepted.
TEST(CpuCountFromList, RejectsGarbageAroundANumberWithZero) {
  EXPECT_EQ(cpu_count_from_list("1x"), 0);
  EXPECT_EQ(cpu_count_from_list("x-3"), 0);
  EXPECT_EQ(cpu_count_from_list("0-3x"), 0);
  EXPECT_EQ(cpu_count_from_list("0-3,abc-5"), 0);
}

TEST(CurrentCpu, IsInRangeWhenUnbound) {
  for (int i = 0; i < 100; ++i) {
    const int cpu = xmaps::current_cpu();
    EXPECT_GE(cpu, 0);
    EXPECT_LT(cpu, xmaps::possible_cpus());
  }
}

TEST(CurrentCpu, IsInRangeOnEveryThread) {
  for (int t = 0; t < 4; ++t) {
    int cpu = -1;
    std::thread th([&] { cpu = xmaps::current_cpu(); });
    th.join();
    EXPECT_GE(cpu, 0);
    EXPECT_LT(cpu, xmaps::possible_cpus());
  }
}

TEST(CpuBinding, BindsTheCallingThreadToEveryValidCpu) {
  for (int c = 0; c < xmaps::possible_cpus(); ++c) {
    CpuBinding bind(c);
    EXPECT_EQ(xmaps::current_cpu(), c);
  }
}

TEST(CpuBinding, NestsAndRestoresThePreviousBinding) {
  const int last = xmaps::possible_cpus() - 1;
  EXPECT_EQ(xmaps::detail::bound_cpu(), -1);
  {
    CpuBinding outer(0);
    EXPECT_EQ(xmaps::current_cpu(), 0);
    {
      CpuBinding inner(last);
      EXPECT_EQ(xmaps::current_cpu(), last);
      {
        CpuBinding innermost(0);
        EXPECT_EQ(xmaps::current_cpu(), 0);
      }
      EXPECT_EQ(xmaps::current_cpu(), last);
    }
    EXPECT_EQ(xmaps::current_cpu(), 0);
  }
  EXPECT_EQ(xmaps::detail::bound_cpu(), -1);
}

TEST(CpuBinding, IsPerThread) {
  const int last = xmaps::possible_cpus() - 1;
  CpuBinding bind(last);
  int other_binding = 0;
  std::thread t([&] { other_binding = xmaps::detail::bound_cpu(); });
  t.join();
  EXPECT_EQ(other_binding, -1);
  EXPECT_EQ(xmaps::current_cpu(), last);
}

TEST(CpuBinding, ThrowsOutOfRangeForMinusOne) {
  EXPECT_THROW(CpuBinding(-1), std::out_of_range);
}

TEST(CpuBinding, ThrowsOutOfRangeForPossibleCpus) {
  EXPECT_THROW(CpuBinding(xmaps::possible_cpus()), std::out_of_range);
}

TEST(CpuBinding, FailedBindingLeavesTheCurrentBindingInPlace) {
  CpuBinding bind(0);
  EXPECT_THROW(CpuBinding(xmaps::possible_cpus()), std::out_of_range);
  EXPECT_EQ(xmaps::current_cpu(), 0);
  EXPECT_EQ(xmaps::detail::bound_cpu(), 0);
}

TEST(SetPossibleCpus, AcceptsTheSameValueAfterTheCountIsFixed) {
  const int n = xmaps::possible_cpus();
  EXPECT_NO_THROW(xmaps::set_possible_cpus(n));
  EXPECT_EQ(xmaps::possible_cpus(), n);
}

TEST(SetPossibleCpus, ThrowsLogicErrorForADifferentValueAfterTheCountIsFixed) {
  const int n = xmaps::possible_cpus();
  // std::invalid_argument derives from std::logic_error: insist on the plain logic_error.
  const auto throws_plain_logic_error = [](int value) {
    try {
      xmaps::set_possible_cpus(value);
    } catch (const std::invalid_argument&) {
      return false;
    } catch (const std::logic_error&) {
      return true;
    }
    return false;
  };
  EXPECT_TRUE(throws_plain_logic_error(n + 1));
  if (n > 1) {
    EXPECT_TRUE(throws_plain_logic_error(n - 1));
  }
  EXPECT_EQ(xmaps::possible_cpus(), n);
}

TEST(SetPossibleCpus, ThrowsInvalidArgumentForZero) {
  EXPECT_THROW(xmaps::set_possible_cpus(0), std::invalid_argument);
}

TEST(SetPossibleCpus, ThrowsInvalidArgumentOutsideOneTo65536) {
  EXPECT_THROW(xmaps::set_possible_cpus(-1), std::invalid_argument);
  EXPECT_THROW(xmaps::set_possible_cpus((1 << 16) + 1), std::invalid_argument);
}

}  // namespace
