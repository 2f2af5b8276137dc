// SPDX-License-Identifier: MIT
//
// xmaps/sim/scenario.h: knobs (text forms, parse errors), validate()'s messages, the JSON echo
// and its round trip, config files (JSON, TOML where built).
#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <unistd.h>

#include <gtest/gtest.h>

#include "xmaps/cpu.h"
#include "xmaps/sim/scenario.h"

namespace {

using xmaps::sim::Scenario;

// Expects validate() (or the setter) to throw std::invalid_argument mentioning `needle`.
template <class Fn>
void expect_invalid(Fn fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no exception; expected one mentioning '" << needle << "'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << needle;
  }
}

std::string temp_file(const std::string& name, const std::string& text) {
  const std::filesystem::path p = std::filesystem::temp_directory_path() /
                                  ("xmaps_scenario_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(p, std::ios::binary) << text;
  return p.string();
}

TEST(SimScenario, DefaultsValidate) {
  const Scenario s;
  EXPECT_NO_THROW(xmaps::sim::validate(s));
  EXPECT_EQ(xmaps::sim::get_knob(s, "queues"), "auto");
  EXPECT_EQ(xmaps::sim::get_knob(s, "first-program"), "round-robin");
  EXPECT_EQ(xmaps::sim::get_knob(s, "rss-key"), "microsoft");
  EXPECT_EQ(xmaps::sim::get_knob(s, "size"), "60");
  EXPECT_EQ(s.batch, 64U);
}

TEST(SimScenario, KnobsParseTheirTextForms) {
  Scenario s;
  xmaps::sim::set_knob(s, "ingress-cpus", "0-2,5");
  EXPECT_EQ(s.ingress_cpus, (std::vector<int>{0, 1, 2, 5}));
  EXPECT_EQ(xmaps::sim::get_knob(s, "ingress-cpus"), "0-2,5");
  xmaps::sim::set_knob(s, "mix", "zipf");
  EXPECT_EQ(s.traffic.mix, xmaps::sim::FlowMix::zipf);
  xmaps::sim::set_knob(s, "size", "imix");
  EXPECT_EQ(s.traffic.sizes, xmaps::sim::SizeMix::imix);
  xmaps::sim::set_knob(s, "reta", "equal 2");
  EXPECT_EQ(s.reta_equal_n, 2U);
  EXPECT_EQ(xmaps::sim::get_knob(s, "reta"), "equal 2");
  xmaps::sim::set_knob(s, "udp-4tuple", "true");
  EXPECT_TRUE(s.rss.udp_4tuple);
  xmaps::sim::set_knob(s, "rate", "1.5e6");
  EXPECT_DOUBLE_EQ(s.rate_pps, 1.5e6);
  xmaps::sim::set_knob(s, "queues", "4");
  EXPECT_EQ(s.rss.queues, 4U);
  xmaps::sim::set_knob(s, "placement", "skip-smt");
  EXPECT_EQ(s.placement, xmaps::sim::Placement::skip_smt);
}

TEST(SimScenario, BadTextIsAClearError) {
  Scenario s;
  expect_invalid([&] { xmaps::sim::set_knob(s, "flows", "-5"); },
                 "flows: '-5' is not a non-negative integer");
  expect_invalid([&] { xmaps::sim::set_knob(s, "queues", "0"); }, "queues: '0'");
  expect_invalid([&] { xmaps::sim::set_knob(s, "rate", "fast"); }, "rate: 'fast' is not a number");
  expect_invalid([&] { xmaps::sim::set_knob(s, "mix", "bursty"); }, "mix: 'bursty'");
  expect_invalid([&] { xmaps::sim::set_knob(s, "vlan", "maybe"); }, "vlan: 'maybe'");
  expect_invalid([&] { xmaps::sim::set_knob(s, "ingress-cpus", "3-1"); }, "ingress-cpus");
  expect_invalid([&] { xmaps::sim::set_knob(s, "reta", "0,1,0"); }, "exactly 128 entries");
  expect_invalid([&] { xmaps::sim::set_knob(s, "rss-key", "zz"); }, "40 hex bytes");
  expect_invalid([&] { xmaps::sim::set_knob(s, "size", "0"); },
                 "size: '0' is not a frame size in 60 .. 9018 bytes (or imix)");
  expect_invalid([&] { xmaps::sim::set_knob(s, "size", "9019"); }, "size: '9019'");
  EXPECT_EQ(xmaps::sim::get_knob(s, "size"), "60") << "a rejected size leaves the old one";
  expect_invalid([&] { xmaps::sim::set_knob(s, "no-such-knob", "1"); },
                 "unknown setting 'no-such-knob'");
}

TEST(SimScenario, DstSetsTheSingleDestinationAndSynFloodTarget) {
  Scenario s;
  EXPECT_EQ(xmaps::sim::get_knob(s, "dst"), "192.168.0.1:4791");
  xmaps::sim::set_knob(s, "dst", "10.1.2.3:53");
  EXPECT_EQ(s.traffic.destination.ip_version, 4U);
  EXPECT_EQ(s.traffic.destination.dst_ip, xmaps::sim::ipv4(10, 1, 2, 3));
  EXPECT_EQ(s.traffic.destination.dst_port, 53U);
  EXPECT_EQ(xmaps::sim::get_knob(s, "dst"), "10.1.2.3:53");
  xmaps::sim::set_knob(s, "dst", " [fd00::7]:8080 ");
  EXPECT_EQ(s.traffic.destination.ip_version, 6U);
  const std::array<std::uint8_t, 16> fd00_7 = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
  EXPECT_EQ(s.traffic.destination.dst_ip, fd00_7);
  EXPECT_EQ(s.traffic.destination.dst_port, 8080U);
  EXPECT_EQ(xmaps::sim::get_knob(s, "dst"), "[fd00::7]:8080");
  EXPECT_NO_THROW(xmaps::sim::validate(s));

  // A rejected value names the knob and leaves the destination as it was.
  expect_invalid([&] { xmaps::sim::set_knob(s, "dst", "10.1.2.3"); },
                 "dst: '10.1.2.3' is not IP:PORT");
  expect_invalid([&] { xmaps::sim::set_knob(s, "dst", ""); }, "dst: '' is not IP:PORT");
  expect_invalid([&] { xmaps::sim::set_knob(s, "dst", "10.1.2:53"); },
                 "the IPv4 address a.b.c.d does not parse");
  expect_invalid([&] { xmaps::sim::set_knob(s, "dst", "host.example:53"); },
                 "the IPv4 address a.b.c.d does not parse");
  expect_invalid([&] { xmaps::sim::set_knob(s, "dst", "fd00::7:53"); },
                 "an IPv6 address goes in brackets");
  expect_invalid([&] { xmaps::sim::set_knob(s, "dst", "[fd00::zz]:53"); },
                 "the address does not parse");
  expect_invalid([&] { xmaps::sim::set_knob(s, "dst", "[10.1.2.3]:53"); },
                 "the address does not parse");
  expect_invalid([&] { xmaps::sim::set_knob(s, "dst", "[fd00::7]53"); }, "is not IP:PORT");
  expect_invalid([&] { xmaps::sim::set_knob(s, "dst", "10.1.2.3:0"); }, "a port 1..65535");
  expect_invalid([&] { xmaps::sim::set_knob(s, "dst", "10.1.2.3:65536"); }, "a port 1..65535");
  expect_invalid([&] { xmaps::sim::set_knob(s, "dst", "10.1.2.3:-1"); }, "a port 1..65535");
  expect_invalid([&] { xmaps::sim::set_knob(s, "dst", "10.1.2.3:"); }, "a port 1..65535");
  EXPECT_EQ(xmaps::sim::get_knob(s, "dst"), "[fd00::7]:8080");

  // As a config key (JSON; the TOML key is in LoadsATomlFile).
  Scenario j;
  xmaps::sim::apply_json(j, R"({"mix": "syn-flood", "dst": "172.16.0.9:443"})");
  EXPECT_EQ(j.traffic.mix, xmaps::sim::FlowMix::syn_flood);
  EXPECT_EQ(j.traffic.destination.dst_ip, xmaps::sim::ipv4(172, 16, 0, 9));
  EXPECT_EQ(j.traffic.destination.dst_port, 443U);
  expect_invalid([&] { xmaps::sim::apply_json(j, R"({"dst": "172.16.0.9"})"); }, "dst: ");
}

TEST(SimScenario, ValidateNamesTheField) {
  auto with = [](auto edit) {
    Scenario s;
    edit(s);
    return [s] { xmaps::sim::validate(s); };
  };
  expect_invalid(with([](Scenario& s) { s.rss.queues = 200; }), "queues must be 1..128");
  expect_invalid(with([](Scenario& s) { s.batch = 65; }), "batch must be 1..64");
  expect_invalid(with([](Scenario& s) { s.batch = 0; }), "batch must be 1..64");
  expect_invalid(with([](Scenario& s) { s.qsize = 0; }), "qsize must be 1..16384");
  expect_invalid(with([](Scenario& s) { s.qsize = 20000; }), "qsize must be 1..16384");
  expect_invalid(with([](Scenario& s) { s.rx_ring = 1000; }), "rx-ring must be a power of two");
  expect_invalid(with([](Scenario& s) { s.pool_frames = 0; }), "pool must hold");
  expect_invalid(with([](Scenario& s) { s.burst = 0; }), "burst must be at least 1");
  expect_invalid(with([](Scenario& s) { s.rate_pps = -1; }), "rate must be >= 0");
  expect_invalid(with([](Scenario& s) { s.duration_s = -1; }),
                 "duration must be 0..86400 seconds, got -1");
  expect_invalid(with([](Scenario& s) { s.frame_size = 100; }), "frame-size");
  expect_invalid(with([](Scenario& s) {
                   s.duration_s = 0;
                   s.packets = 0;
                 }),
                 "the run would not end");
  expect_invalid(with([](Scenario& s) { s.ingress_cpus = {0, 0}; }), "CPU 0 is listed twice");
  expect_invalid(with([](Scenario& s) { s.worker_cpus = {999}; }),
                 "worker-cpus: CPU 999 does not exist");
  expect_invalid(with([](Scenario& s) { s.first_program = "random"; }), "first-program");
  expect_invalid(with([](Scenario& s) { s.traffic.flows = 0; }), "traffic: ");
  expect_invalid(with([](Scenario& s) {
                   s.rss.queues = 2;
                   s.rss.reta.assign(128, 3);
                 }),
                 "reta: queue 3 >= queues (2)");
  expect_invalid(with([](Scenario& s) { s.traffic.frame_len = 4000; }), "does not fit a frame");
}

TEST(SimScenario, ModelledCpusAllowHigherIds) {
  Scenario s;
  s.model_cpus = 64;
  s.ingress_cpus = {0, 1, 2, 3};
  s.worker_cpus = {32, 63};
  EXPECT_NO_THROW(xmaps::sim::validate(s));
  s.worker_cpus = {64};
  expect_invalid([s] { xmaps::sim::validate(s); }, "CPU 64 does not exist: CPUs are 0..63");
}

TEST(SimScenario, JsonEchoRoundTrips) {
  Scenario s;
  xmaps::sim::set_knob(s, "mix", "elephants");
  xmaps::sim::set_knob(s, "worker-cpus", "1,3");
  xmaps::sim::set_knob(s, "zipf-s", "0.75");
  xmaps::sim::set_knob(s, "queues", "8");
  xmaps::sim::set_knob(s, "vlan", "true");
  const std::string j = xmaps::sim::scenario_to_json(s);
  EXPECT_NE(j.find("\"worker-cpus\": [\n    1,\n    3\n  ]"), std::string::npos) << j;
  Scenario back;
  xmaps::sim::apply_json(back, j);
  for (const auto& k : xmaps::sim::scenario_knobs())
    EXPECT_EQ(xmaps::sim::get_knob(back, k.name), xmaps::sim::get_knob(s, k.name)) << k.name;
}

TEST(SimScenario, LoadsAJsonFile) {
  const std::string path =
      temp_file("ok.json", R"({"mix": "single-dst", "queues": 4, "ingress-cpus": [0],
                              "udp-4tuple": true, "duration": 0.5, "seed": 42})");
  const Scenario s = xmaps::sim::load_scenario(path);
  EXPECT_EQ(s.traffic.mix, xmaps::sim::FlowMix::single_destination);
  EXPECT_EQ(s.rss.queues, 4U);
  EXPECT_EQ(s.ingress_cpus, std::vector<int>{0});
  EXPECT_TRUE(s.rss.udp_4tuple);
  EXPECT_DOUBLE_EQ(s.duration_s, 0.5);
  EXPECT_EQ(s.traffic.seed, 42U);
  std::remove(path.c_str());
}

TEST(SimScenario, BadConfigFilesNameTheFileAndTheProblem) {
  const std::string bad = temp_file("bad.json", R"({"queues": 4,)");
  expect_invalid([&] { (void)xmaps::sim::load_scenario(bad); }, bad + ": not valid JSON");
  const std::string unknown = temp_file("unknown.json", R"({"queuez": 4})");
  expect_invalid([&] { (void)xmaps::sim::load_scenario(unknown); }, "unknown setting 'queuez'");
  const std::string array = temp_file("array.json", R"([1, 2])");
  expect_invalid([&] { (void)xmaps::sim::load_scenario(array); }, "JSON object");
  const std::string wrong = temp_file("wrong.json", R"({"flows": -3})");
  expect_invalid([&] { (void)xmaps::sim::load_scenario(wrong); }, "flows: '-3'");
  expect_invalid([] { (void)xmaps::sim::load_scenario("/nonexistent/x.json"); },
                 "cannot open the config file");
  for (const std::string& p : {bad, unknown, array, wrong})
    std::remove(p.c_str());
}

TEST(SimScenario, LoadsATomlFile) {
  const std::string path = temp_file("ok.toml",
                                     "mix = \"zipf\"\nzipf-s = 1.3\nqueues = 4\n"
                                     "worker-cpus = [1]\nvlan = true\n"
                                     "dst = \"[2001:db8::1]:4791\"\n");
  try {
    const Scenario s = xmaps::sim::load_scenario(path);
    EXPECT_EQ(s.traffic.mix, xmaps::sim::FlowMix::zipf);
    EXPECT_DOUBLE_EQ(s.traffic.zipf_s, 1.3);
    EXPECT_EQ(s.rss.queues, 4U);
    EXPECT_EQ(s.worker_cpus, std::vector<int>{1});
    EXPECT_TRUE(s.traffic.vlan);
    EXPECT_EQ(s.traffic.destination.ip_version, 6U);
    EXPECT_EQ(xmaps::sim::get_knob(s, "dst"), "[2001:db8::1]:4791");
  } catch (const std::invalid_argument& e) {
    if (std::string(e.what()).find("TOML support was not built") != std::string::npos)
      GTEST_SKIP() << e.what();
    throw;
  }
  const std::string bad = temp_file("bad.toml", "queues = = 4\n");
  expect_invalid([&] { (void)xmaps::sim::load_scenario(bad); }, "not valid TOML");
  std::remove(path.c_str());
  std::remove(bad.c_str());
}

}  // namespace
