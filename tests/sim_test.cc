// SPDX-License-Identifier: MIT
// The xmaps-sim demo: every packet counted exactly once, the kernel's error vocabulary, and
// the same seed sending the same traffic.
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "xmaps/sim/demo.h"

namespace {

using xmaps::sim::DemoOptions;
using xmaps::sim::DemoReport;
using xmaps::sim::format_report;
using xmaps::sim::run_demo;

std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const std::string& line : lines) {
    s += line + "\n";
  }
  return s;
}

TEST(SimDemo, DefaultRunCountsEveryPacketOnceAndPassesEveryCheck) {
  const DemoReport r = run_demo(DemoOptions{});
  EXPECT_TRUE(r.failures().empty()) << joined(r.failures());
  EXPECT_EQ(r.packets, 2U * 2000U);
  EXPECT_GT(r.dropped, 0U) << "flow space > capacity should fill the table";
  EXPECT_EQ(r.inserted, 1024U);
  EXPECT_EQ(r.table_packets + r.dropped, r.packets);
  EXPECT_GE(r.checks.size(), 10U);
}

TEST(SimDemo, MoreThreadsThanCpusShareSlotsWithoutLosingCounts) {
  DemoOptions o;
  o.seed = 42;
  o.threads = 8;
  o.packets_per_thread = 1500;
  const DemoReport r = run_demo(o);
  EXPECT_TRUE(r.failures().empty()) << joined(r.failures());
  EXPECT_EQ(r.packets, 8U * 1500U);
}

TEST(SimDemo, TableLargerThanFlowSpaceDropsNothing) {
  DemoOptions o;
  o.flow_space = 100;
  o.flow_capacity = 256;
  const DemoReport r = run_demo(o);
  EXPECT_TRUE(r.failures().empty()) << joined(r.failures());
  EXPECT_EQ(r.dropped, 0U);
  EXPECT_EQ(r.inserted, 100U);
  EXPECT_EQ(r.walked_keys, 100U);
  EXPECT_EQ(r.filled_to, 256U);
}

TEST(SimDemo, SameSeedSendsTheSameTraffic) {
  DemoOptions o;
  o.seed = 7;
  o.threads = 3;
  const DemoReport a = run_demo(o);
  const DemoReport b = run_demo(o);
  EXPECT_EQ(a.packets, b.packets);
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_EQ(a.port_bytes, b.port_bytes);
  o.seed = 8;
  EXPECT_NE(run_demo(o).bytes, a.bytes);
}

TEST(SimDemo, OneThreadIsFullyDeterministic) {
  DemoOptions o;
  o.seed = 11;
  o.threads = 1;
  const DemoReport a = run_demo(o);
  const DemoReport b = run_demo(o);
  EXPECT_TRUE(a.failures().empty()) << joined(a.failures());
  EXPECT_EQ(a.hits, b.hits);
  EXPECT_EQ(a.misses, b.misses);
  EXPECT_EQ(a.inserted, b.inserted);
  EXPECT_EQ(a.dropped, b.dropped);
  EXPECT_EQ(a.table_bytes, b.table_bytes);
  EXPECT_EQ(a.insert_races, 0U);
}

TEST(SimDemo, FailuresReportsATamperedCount) {
  DemoReport r = run_demo(DemoOptions{});
  ASSERT_TRUE(r.failures().empty());
  ++r.dropped;
  EXPECT_FALSE(r.failures().empty());
  EXPECT_NE(format_report(r).find("FAILED"), std::string::npos);
}

TEST(SimDemo, ReportEndsWithTheVerdict) {
  const std::string text = format_report(run_demo(DemoOptions{}));
  EXPECT_NE(text.find("all checks passed"), std::string::npos) << text;
  EXPECT_NE(text.find("E2BIG"), std::string::npos) << text;
  EXPECT_NE(text.find("EEXIST"), std::string::npos) << text;
  EXPECT_NE(text.find("ENOENT"), std::string::npos) << text;
}

TEST(SimDemo, OptionsOutOfRangeThrow) {
  DemoOptions o;
  o.threads = 0;
  EXPECT_THROW((void)run_demo(o), std::invalid_argument);
  o.threads = 2;
  o.flow_capacity = 0;
  EXPECT_THROW((void)run_demo(o), std::invalid_argument);
}

}  // namespace
