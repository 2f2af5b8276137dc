// SPDX-License-Identifier: MIT
//
// The cost model (xmaps/sim/cost_model.h): defaults, the JSON round trip, the file errors
// (naming the file and the key), and a short calibrate() run on this machine.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <unistd.h>

#include <gtest/gtest.h>

#include "xmaps/sim/cost_model.h"

namespace {

using xmaps::sim::CostModel;
using xmaps::topology::DistanceClass;

constexpr DistanceClass kClasses[] = {
    DistanceClass::same_cpu,      DistanceClass::smt_sibling, DistanceClass::same_l2,
    DistanceClass::same_l3,       DistanceClass::same_numa,   DistanceClass::same_package,
    DistanceClass::cross_package,
};
constexpr const char* kPrograms[] = {"round-robin", "hash", "port", "drop", "custom"};

// Every per-step figure (all but transfer_ns and lru_ns_per_log2_entries) of a model.
std::vector<std::pair<std::string, double>> steps(const CostModel& m) {
  return {
      {"source_ns_per_frame", m.source_ns_per_frame},
      {"source_ns_per_byte", m.source_ns_per_byte},
      {"ingress_poll_ns", m.ingress_poll_ns},
      {"rx_dequeue_ns_per_frame", m.rx_dequeue_ns_per_frame},
      {"flush_ns_per_bulk", m.flush_ns_per_bulk},
      {"worker_dequeue_ns_per_frame", m.worker_dequeue_ns_per_frame},
      {"worker_idle_poll_ns", m.worker_idle_poll_ns},
      {"flow_hit_ns", m.flow_hit_ns},
      {"flow_insert_ns", m.flow_insert_ns},
      {"flow_evict_ns", m.flow_evict_ns},
      {"sink_ns_per_frame", m.sink_ns_per_frame},
  };
}

void expect_same(const CostModel& a, const CostModel& b) {
  EXPECT_EQ(a.origin, b.origin);
  const auto sa = steps(a);
  const auto sb = steps(b);
  for (std::size_t i = 0; i < sa.size(); ++i)
    EXPECT_DOUBLE_EQ(sa[i].second, sb[i].second) << sa[i].first;
  EXPECT_DOUBLE_EQ(a.lru_ns_per_log2_entries, b.lru_ns_per_log2_entries);
  EXPECT_EQ(a.first_program_ns, b.first_program_ns);
  EXPECT_EQ(a.transfer_ns, b.transfer_ns);
  EXPECT_EQ(a.return_ns, b.return_ns);
  EXPECT_EQ(a.idle_push_ns, b.idle_push_ns);
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("xmaps_cost_model_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

// The message of the std::invalid_argument `f` throws ("" if it throws nothing).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(CostModelDefaults, EveryFigureIsPositiveAndOrdered) {
  const CostModel m = xmaps::sim::default_cost_model();
  EXPECT_EQ(m.origin, "defaults");
  for (const auto& [name, ns] : steps(m)) {
    EXPECT_GT(ns, 0) << name;
    EXPECT_LT(ns, 10'000) << name;
  }
  EXPECT_GE(m.lru_ns_per_log2_entries, 0);  // a slope: 0 where table size does not matter
  for (const char* p : kPrograms) {
    ASSERT_EQ(m.first_program_ns.count(p), 1U) << p;
    EXPECT_GT(m.first_program_ns.at(p), 0) << p;
  }
  // Every class has a figure, and farther is never cheaper.
  double previous = -1;
  for (DistanceClass d : kClasses) {
    ASSERT_EQ(m.transfer_ns.count(d), 1U) << xmaps::topology::to_string(d);
    EXPECT_GE(m.transfer_ns.at(d), previous) << xmaps::topology::to_string(d);
    previous = m.transfer_ns.at(d);
  }
  EXPECT_EQ(m.transfer_ns.at(DistanceClass::same_cpu), 0);
  EXPECT_GT(m.transfer_ns.at(DistanceClass::cross_package),
            m.transfer_ns.at(DistanceClass::same_numa));
  for (const auto* table : {&m.return_ns, &m.idle_push_ns}) {
    previous = -1;
    for (DistanceClass d : kClasses) {
      ASSERT_EQ(table->count(d), 1U) << xmaps::topology::to_string(d);
      EXPECT_GE(table->at(d), previous) << xmaps::topology::to_string(d);
      previous = table->at(d);
    }
  }
  // The drop program does less than the redirecting ones; a miss costs more than a hit.
  EXPECT_LT(m.first_program_ns.at("drop"), m.first_program_ns.at("round-robin"));
  EXPECT_GT(m.flow_insert_ns, m.flow_hit_ns);
}

TEST(CostModelJson, RoundTripsEveryField) {
  CostModel m = xmaps::sim::default_cost_model();
  m.origin = "calibrated on test, today";
  m.source_ns_per_frame = 41.25;
  m.source_ns_per_byte = 0.0625;
  m.flush_ns_per_bulk = 123.5;
  m.lru_ns_per_log2_entries = 0.75;
  m.first_program_ns["hash"] = 17.5;
  m.transfer_ns[DistanceClass::cross_package] = 250;
  m.return_ns[DistanceClass::same_l3] = 33.5;
  m.idle_push_ns[DistanceClass::same_numa] = 77.25;
  const std::string text = xmaps::sim::cost_model_to_json(m);
  expect_same(xmaps::sim::cost_model_from_json(text), m);

  const std::string path = temp_path("roundtrip.json");
  xmaps::sim::save_cost_model(m, path);
  expect_same(xmaps::sim::load_cost_model(path), m);
  std::filesystem::remove(path);
}

TEST(CostModelJson, MissingKeysKeepTheirDefaults) {
  const CostModel d = xmaps::sim::default_cost_model();
  const CostModel m = xmaps::sim::cost_model_from_json(
      R"({"flow_hit_ns": 99, "first_program_ns": {"drop": 1}, "transfer_ns": {"same_numa": 7}})");
  EXPECT_EQ(m.flow_hit_ns, 99);
  EXPECT_EQ(m.flow_insert_ns, d.flow_insert_ns);
  EXPECT_EQ(m.first_program_ns.at("drop"), 1);
  EXPECT_EQ(m.first_program_ns.at("hash"), d.first_program_ns.at("hash"));
  EXPECT_EQ(m.transfer_ns.at(DistanceClass::same_numa), 7);
  EXPECT_EQ(m.transfer_ns.at(DistanceClass::cross_package),
            d.transfer_ns.at(DistanceClass::cross_package));
  expect_same(xmaps::sim::cost_model_from_json("{}"), d);

  const CostModel r = xmaps::sim::cost_model_from_json(R"({"return_ns": {"same_l3": 12}})");
  EXPECT_EQ(r.return_ns.at(DistanceClass::same_l3), 12);
  EXPECT_EQ(r.return_ns.at(DistanceClass::cross_package),
            d.return_ns.at(DistanceClass::cross_package));
  EXPECT_EQ(r.transfer_ns, d.transfer_ns);

  const CostModel p = xmaps::sim::cost_model_from_json(R"({"idle_push_ns": {"same_l3": 40}})");
  EXPECT_EQ(p.idle_push_ns.at(DistanceClass::same_l3), 40);
  EXPECT_EQ(p.idle_push_ns.at(DistanceClass::same_numa),
            d.idle_push_ns.at(DistanceClass::same_numa));
  EXPECT_EQ(p.return_ns, d.return_ns);
}

TEST(CostModelJson, ErrorsNameTheKey) {
  using xmaps::sim::cost_model_from_json;
  EXPECT_NE(error_of([] {
              (void)cost_model_from_json(R"({"flow_hits_ns": 1})");
            }).find("unknown key 'flow_hits_ns'"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              (void)cost_model_from_json(R"({"flow_hit_ns": -1})");
            }).find("'flow_hit_ns' must be a finite number >= 0"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              (void)cost_model_from_json(R"({"sink_ns_per_frame": "fast"})");
            }).find("'sink_ns_per_frame' must be a number"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              (void)cost_model_from_json(R"({"transfer_ns": {"next_door": 3}})");
            }).find("unknown distance class 'next_door'"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              (void)cost_model_from_json(R"({"first_program_ns": {"xdp": 3}})");
            }).find("unknown program 'xdp'"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              (void)cost_model_from_json(R"({"return_ns": {"next_door": 3}})");
            }).find("return_ns: unknown distance class 'next_door'"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              (void)cost_model_from_json(R"({"idle_push_ns": {"next_door": 3}})");
            }).find("idle_push_ns: unknown distance class 'next_door'"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              (void)cost_model_from_json(R"({"transfer_ns": 3})");
            }).find("'transfer_ns' must be an object"),
            std::string::npos);
  EXPECT_NE(error_of([] { (void)cost_model_from_json("[1, 2]"); }).find("JSON object"),
            std::string::npos);
  EXPECT_NE(
      error_of([] { (void)cost_model_from_json("{\"flow_hit_ns\": "); }).find("not valid JSON"),
      std::string::npos);
}

TEST(CostModelJson, FileErrorsNameTheFile) {
  const std::string missing = temp_path("does_not_exist.json");
  EXPECT_NE(
      error_of([&] { (void)xmaps::sim::load_cost_model(missing); }).find(missing + ": cannot open"),
      std::string::npos);
  const std::string bad = temp_path("bad.json");
  {
    std::ofstream out(bad);
    out << R"({"origin": "x", "bogus": 1})";
  }
  const std::string e = error_of([&] { (void)xmaps::sim::load_cost_model(bad); });
  EXPECT_NE(e.find(bad + ": "), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'bogus'"), std::string::npos) << e;
  std::filesystem::remove(bad);
  EXPECT_NE(error_of([] {
              xmaps::sim::save_cost_model({}, "/nonexistent-dir/x.json");
            }).find("/nonexistent-dir/x.json: cannot open"),
            std::string::npos);
}

TEST(CostModelJson, RefusesToWriteNonFiniteCosts) {
  CostModel m = xmaps::sim::default_cost_model();
  m.flow_evict_ns = std::nan("");
  EXPECT_NE(error_of([&] { (void)xmaps::sim::cost_model_to_json(m); }).find("'flow_evict_ns'"),
            std::string::npos);
}

}  // namespace

namespace {

TEST(Calibrate, ShortRunGivesPositiveFiniteFigures) {
  xmaps::sim::CalibrationOptions o;
  o.seconds_per_step = 0.01;
  o.lru_entries = 4096;
  const CostModel m = xmaps::sim::calibrate(o);
  EXPECT_NE(m.origin.find("calibrated on "), std::string::npos) << m.origin;
  for (const auto& [name, ns] : steps(m)) {
    EXPECT_TRUE(std::isfinite(ns)) << name;
    EXPECT_GT(ns, 0) << name;
    EXPECT_LT(ns, 1e6) << name;
  }
  EXPECT_TRUE(std::isfinite(m.lru_ns_per_log2_entries));
  EXPECT_GE(m.lru_ns_per_log2_entries, 0);
  for (const char* p : kPrograms) {
    ASSERT_EQ(m.first_program_ns.count(p), 1U) << p;
    EXPECT_TRUE(std::isfinite(m.first_program_ns.at(p))) << p;
    EXPECT_GT(m.first_program_ns.at(p), 0) << p;
  }
  for (DistanceClass d : kClasses) {
    ASSERT_EQ(m.transfer_ns.count(d), 1U) << xmaps::topology::to_string(d);
    EXPECT_TRUE(std::isfinite(m.transfer_ns.at(d)));
    EXPECT_GE(m.transfer_ns.at(d), 0);
    ASSERT_EQ(m.return_ns.count(d), 1U) << xmaps::topology::to_string(d);
    EXPECT_TRUE(std::isfinite(m.return_ns.at(d)));
    EXPECT_GE(m.return_ns.at(d), 0);
    ASSERT_EQ(m.idle_push_ns.count(d), 1U) << xmaps::topology::to_string(d);
    EXPECT_TRUE(std::isfinite(m.idle_push_ns.at(d)));
    EXPECT_GE(m.idle_push_ns.at(d), 0);
  }
  // With two CPUs to pin to, the in-context figures come from live runs on them.
  if (m.origin.find("measured on CPUs") != std::string::npos) {
    EXPECT_NE(m.origin.find("in-pipeline runs on CPUs"), std::string::npos) << m.origin;
  }
  // What calibrate() measured can be saved and read back.
  expect_same(xmaps::sim::cost_model_from_json(xmaps::sim::cost_model_to_json(m)), m);
  std::printf("%s", xmaps::sim::cost_model_to_json(m).c_str());
}

TEST(Calibrate, RejectsBadOptions) {
  xmaps::sim::CalibrationOptions o;
  o.seconds_per_step = 0;
  EXPECT_THROW((void)xmaps::sim::calibrate(o), std::invalid_argument);
  o.seconds_per_step = 0.01;
  o.lru_entries = 8;
  EXPECT_THROW((void)xmaps::sim::calibrate(o), std::invalid_argument);
}

}  // namespace
