// SPDX-License-Identifier: MIT
//
// End-to-end runs of the live pipeline (xmaps/sim/pipeline.h): every run must conserve frames
// exactly (generated = delivered + drops by reason, nothing in flight, the pool full again).
// Scenarios: the default one, small; the RSS-imbalance case (single destination, UDP hashed on
// the 2-tuple); a drop-all first program; a rate-limited run; the spec's BPF-C round-robin
// CPUMAP program as the first program, redirecting into its own cpu_map; a user second
// program; more threads than cores; pcap replay, including a truncated capture and a valid one
// of runts; the single-dst and syn-flood destination (dst) in the frames written.
//
// The binary models 8 possible CPUs (set before anything reads the count), so that 4 ingress
// + 4 worker CPUs can run on this 2-core machine: CPUs that do not exist here run unpinned.
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>
#include <xmaps/bpf.h>
#include <xmaps/bpf_helpers.h>

#include <gtest/gtest.h>

#include "xmaps/cpu.h"
#include "xmaps/sim/packet.h"
#include "xmaps/sim/pcap_io.h"
#include "xmaps/sim/pipeline.h"
#include "xmaps/sim/report.h"
#include "xmaps/sim/scenario.h"

// NOLINTBEGIN: the spec's example, as the document writes it
#include "bpf_c/spec_cpumap_round_robin.inc"
// NOLINTEND

// A second program written the BPF way (xmaps/bpf_helpers.h): counts every frame in an ARRAY
// map and drops every other one, and any frame too short for an Ethernet header.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} second_seen SEC(".maps");

SEC("xdp")
int count_and_drop_every_other(struct xdp_md* ctx) {
  const char* data = (const char*)(long)ctx->data;          // NOLINT: BPF-C style
  const char* data_end = (const char*)(long)ctx->data_end;  // NOLINT
  __u32 key = 0;
  __u64* seen = (__u64*)bpf_map_lookup_elem(&second_seen, &key);  // NOLINT
  if (!seen)
    return XDP_ABORTED;
  const __u64 before = __sync_fetch_and_add(seen, 1);
  if (data + 14 > data_end)
    return XDP_DROP;
  return (before & 1) ? XDP_DROP : XDP_PASS;
}

namespace {

constexpr int kModelCpus = 8;
const bool kModelled = [] {
  xmaps::set_possible_cpus(kModelCpus);
  return true;
}();

using xmaps::sim::RunResult;
using xmaps::sim::Scenario;

// A short run: a packet count, with a time cap so a sanitizer build cannot hang the suite.
Scenario small(std::uint64_t packets = 20000) {
  Scenario s;
  s.packets = packets;
  s.duration_s = 20;
  s.interval_ms = 10;
  s.pool_frames = 4096;
  return s;
}

void expect_conserved(const RunResult& r) {
  EXPECT_TRUE(r.conserved) << r.conservation;
  EXPECT_EQ(r.in_flight, 0U);
  EXPECT_EQ(r.pool_in_use, 0U) << "every frame recycled";
  EXPECT_EQ(r.generated, r.delivered + r.drops.total()) << r.conservation;
  EXPECT_EQ(r.latency.count(), r.delivered) << "every delivered frame timed";
  std::uint64_t queued = 0;
  for (const auto& q : r.queues)
    queued += q.frames;
  EXPECT_EQ(queued + r.drops.no_free_frame + r.drops.oversize, r.generated);
}

TEST(SimPipeline, DefaultScenarioSmallConservesEveryFrame) {
  ASSERT_TRUE(kModelled);
  const RunResult r = xmaps::sim::run_pipeline(small());
  expect_conserved(r);
  EXPECT_EQ(r.generated, 20000U);
  EXPECT_GT(r.delivered, 0U);
  EXPECT_GT(r.latency.percentile(50), 0U);
  EXPECT_GE(r.latency.max(), r.latency.percentile(99));
  ASSERT_FALSE(r.ingress.empty());
  ASSERT_FALSE(r.workers.empty());
  EXPECT_EQ(r.scenario.rss.queues, std::max<std::uint32_t>(2, r.scenario.ingress_cpus.size()));
  EXPECT_TRUE(r.have_flow_stats);
  EXPECT_EQ(r.flow_lookups, r.delivered);
  EXPECT_LE(r.flow_inserts, 1024U) << "1024 flows, 65536 entries: no flow inserted twice";
  EXPECT_EQ(r.flow_evictions, 0U);
  EXPECT_GT(r.flow_hit_ratio(), 0.5);
  const std::string summary = xmaps::sim::format_summary(r);
  EXPECT_NE(summary.find("conservation: generated 20000 = delivered"), std::string::npos)
      << summary;
  EXPECT_NE(summary.find("OK"), std::string::npos);
}

TEST(SimPipeline, SingleDestinationUdpOnTheTwoTupleLandsOnOneQueue) {
  Scenario s = small();
  s.traffic.mix = xmaps::sim::FlowMix::single_destination;
  s.traffic.flows = 1;  // one source too: one 2-tuple
  s.rss.queues = 4;
  s.ingress_cpus = {0, 1};
  s.worker_cpus = {2, 3};
  s.first_program = "hash";
  RunResult r = xmaps::sim::run_pipeline(s);
  expect_conserved(r);
  std::uint64_t top = 0;
  std::uint32_t busy_queues = 0;
  for (const auto& q : r.queues) {
    top = std::max(top, q.frames);
    busy_queues += q.frames != 0;
  }
  EXPECT_EQ(top, r.generated) << "every frame on one RX queue";
  EXPECT_EQ(busy_queues, 1U);
  const std::string summary = xmaps::sim::format_summary(r);
  EXPECT_NE(summary.find("busiest queue 100.0 % of frames"), std::string::npos) << summary;
  EXPECT_NE(summary.find("IMBALANCED"), std::string::npos) << summary;

  // Hashing UDP's ports too (many sources) spreads the same destination over the queues.
  s.traffic.flows = 256;
  s.rss.udp_4tuple = true;
  r = xmaps::sim::run_pipeline(s);
  expect_conserved(r);
  for (const auto& q : r.queues)
    EXPECT_GT(q.frames, r.generated / 8) << "queue " << q.queue;
}

TEST(SimPipeline, DropAllFirstProgramDropsEverythingCounted) {
  Scenario s = small(10000);
  s.first_program = "drop";
  const RunResult r = xmaps::sim::run_pipeline(s);
  expect_conserved(r);
  EXPECT_EQ(r.delivered, 0U);
  EXPECT_EQ(r.drops.first_program, r.generated);
  EXPECT_EQ(r.drops.total(), r.generated);
  for (const auto& w : r.workers)
    EXPECT_EQ(w.stats.enqueued, 0U);
}

TEST(SimPipeline, RateLimitedRunKeepsToTheRate) {
  Scenario s;
  s.rate_pps = 20000;
  s.burst = 256;
  s.duration_s = 0.25;
  s.interval_ms = 50;
  const RunResult r = xmaps::sim::run_pipeline(s);
  expect_conserved(r);
  // 0.25 s at 20 kpps is 5000 packets, + the first burst; never more. Fewer when the source
  // thread is descheduled for longer than a burst's worth of tokens (12.8 ms) on a loaded
  // machine (sanitizers, parallel builds): tokens beyond the burst are not saved.
  EXPECT_GE(r.generated, 1000U) << xmaps::sim::format_summary(r);
  EXPECT_LE(r.generated, static_cast<std::uint64_t>(r.wall_seconds * 20000) + 256U + 64U)
      << xmaps::sim::format_summary(r);
  EXPECT_EQ(r.drops.no_free_frame, 0U);
  EXPECT_FALSE(r.intervals.empty());
}

TEST(SimPipeline, SpecRoundRobinBpfCProgramRedirectsIntoItsOwnCpumap) {
  ASSERT_EQ(set_max_cpu_entries(xmaps::bpf_map_of(&cpu_map)), 0);
  const std::vector<int> workers = {2, 3};
  const int avail = bpf_map__fd(xmaps::bpf_map_of(&cpus_available));
  ASSERT_GE(avail, 0);
  for (__u32 i = 0; i < static_cast<__u32>(kModelCpus); ++i) {
    const __u32 cpu = static_cast<__u32>(workers[i % workers.size()]);
    ASSERT_EQ(bpf_map_update_elem(avail, &i, &cpu, BPF_ANY), 0);
  }
  // The program's cpu_map, reached through its definition: the map's CpuMap engine.
  xmaps::Map* m = xmaps::bpf_map_object(&cpu_map);
  ASSERT_NE(m, nullptr);
  xmaps::CpuMap* engine = m->cpu_map();
  ASSERT_NE(engine, nullptr);

  Scenario s = small(20000);
  s.ingress_cpus = {0, 1};
  s.worker_cpus = workers;
  xmaps::sim::PipelineHooks hooks;
  hooks.first_program = std::make_shared<xmaps::XdpProgram>(
      xmaps::xdp_program(xdp_redir_cpu_round_robin, "spec round robin"));
  hooks.cpu_map = engine;
  const RunResult r = xmaps::sim::run_pipeline(s, hooks);
  expect_conserved(r);
  ASSERT_EQ(r.workers.size(), 2U);
  // Round robin per ingress CPU over 8 slots alternating 2, 3: the split is even to within one
  // frame per ingress CPU.
  const auto a = r.workers[0].stats.enqueued + r.workers[0].stats.enqueue_drops;
  const auto b = r.workers[1].stats.enqueued + r.workers[1].stats.enqueue_drops;
  EXPECT_EQ(a + b, r.generated);
  EXPECT_LE(a > b ? a - b : b - a, 2U);
  EXPECT_EQ(r.delivered + r.drops.cpumap_enqueue, r.generated);
  // The pipeline's entries are gone again.
  xmaps::CpuMapValue v;
  EXPECT_EQ(engine->lookup(2, v), xmaps::Errc::not_found);
}

TEST(SimPipeline, MoreThreadsThanCoresDoesNotLivelock) {
  Scenario s = small(20000);
  s.ingress_cpus = {0, 1, 2, 3};
  s.worker_cpus = {4, 5, 6, 7};
  s.rss.queues = 4;
  s.rss.udp_4tuple = true;
  s.first_program = "hash";
  const RunResult r = xmaps::sim::run_pipeline(s);
  expect_conserved(r);
  EXPECT_EQ(r.generated, 20000U);
  EXPECT_EQ(r.ingress.size(), 4U);
  EXPECT_EQ(r.workers.size(), 4U);
  for (const auto& in : r.ingress)
    EXPECT_GT(in.frames, 0U) << "ingress CPU " << in.cpu;
  bool noted = false;
  for (const std::string& n : r.notes)
    noted = noted || n.find("unpinned") != std::string::npos;
  EXPECT_TRUE(noted) << "CPUs 2..7 do not exist here: their threads run unpinned, and say so";
}

// 20,000 frames from ingress CPUs 0 and 1 to workers 2 and 3.
Scenario two_to_two() {
  Scenario s = small(20000);
  s.ingress_cpus = {0, 1};
  s.worker_cpus = {2, 3};
  return s;
}

// A run whose second program saw `n` frames and dropped every other one of them (the second,
// fourth, ...): conserved, and nothing else dropped but what the CPUMAP rings refused.
void expect_every_other_dropped(const RunResult& r, std::uint64_t n) {
  expect_conserved(r);
  EXPECT_EQ(r.generated, 20000U);
  EXPECT_EQ(n, r.generated - r.drops.cpumap_enqueue) << "once per frame that reached a worker";
  EXPECT_GT(n, 0U);
  EXPECT_EQ(r.drops.second_program, n / 2);
  EXPECT_EQ(r.delivered, n - n / 2);
  EXPECT_EQ(r.drops.total(), r.drops.cpumap_enqueue + r.drops.second_program) << "no other drops";
}

TEST(SimPipeline, UserSecondProgramReplacesFlowAccounting) {
  // Drops every other frame it sees: one counter over both workers, so the number dropped is
  // exact whatever the interleaving.
  auto seen = std::make_shared<std::atomic<std::uint64_t>>(0);
  xmaps::sim::PipelineHooks hooks;
  hooks.second_program = std::make_shared<xmaps::XdpProgram>(
      [seen](xmaps::Frame&) {
        // Relaxed: a count; only its total is read, after the run has joined the workers.
        return seen->fetch_add(1, std::memory_order_relaxed) % 2 == 1 ? xmaps::XdpAction::drop
                                                                      : xmaps::XdpAction::pass;
      },
      "drop every other frame");
  const RunResult r = xmaps::sim::run_pipeline(two_to_two(), hooks);
  // Relaxed: the workers are joined (their entries erased) when run_pipeline returns.
  const std::uint64_t n = seen->load(std::memory_order_relaxed);
  expect_every_other_dropped(r, n);
  ASSERT_EQ(r.workers.size(), 2U);
  std::uint64_t dropped = 0, delivered = 0;
  for (const auto& w : r.workers) {
    EXPECT_EQ(w.stats.passed, w.delivered) << "worker " << w.cpu;
    dropped += w.stats.dropped;
    delivered += w.delivered;
  }
  EXPECT_EQ(dropped, n / 2);
  EXPECT_EQ(delivered, n - n / 2);
  EXPECT_FALSE(r.have_flow_stats) << "the user's program replaced flow accounting";
  const std::string summary = xmaps::sim::format_summary(r);
  EXPECT_NE(summary.find("second_program_drop"), std::string::npos) << summary;
  EXPECT_EQ(summary.find("flow accounting:"), std::string::npos) << summary;
}

// The same through a BPF-C function: a program is an ordinary function the pipeline's workers
// run as the CPUMAP entries' second program, its map a live xmaps map.
TEST(SimPipeline, BpfCSecondProgramRunsOnTheWorkers) {
  xmaps::sim::PipelineHooks hooks;
  hooks.second_program = std::make_shared<xmaps::XdpProgram>(
      xmaps::xdp_program(count_and_drop_every_other, "BPF-C count and drop every other"));
  const RunResult r = xmaps::sim::run_pipeline(two_to_two(), hooks);
  const int fd = bpf_map__fd(xmaps::bpf_map_of(&second_seen));
  ASSERT_GE(fd, 0);
  __u32 key = 0;
  __u64 n = 0;
  ASSERT_EQ(bpf_map_lookup_elem(fd, &key, &n), 0);
  expect_every_other_dropped(r, n);
  EXPECT_FALSE(r.have_flow_stats);
}

TEST(SimPipeline, ImpossibleCpuSetIsAClearError) {
  Scenario s = small();
  s.ingress_cpus = {999};
  try {
    (void)xmaps::sim::run_pipeline(s);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("CPU 999 does not exist"), std::string::npos) << e.what();
  }
}

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("xmaps_pipeline_" + std::to_string(::getpid()) + "_" + name);
}

TEST(SimPipeline, WrittenTrafficReplaysFromPcap) {
  const std::filesystem::path pcap = temp_path("out.pcap");
  Scenario s = small(3000);
  s.pcap_out = pcap.string();
  s.pcap_out_packets = 1000;
  s.traffic.ipv6_share = 0.5;
  s.traffic.vlan = true;
  RunResult r = xmaps::sim::run_pipeline(s);
  expect_conserved(r);
  EXPECT_EQ(r.pcap_written, 1000U);

  Scenario replay = small(0);
  replay.packets = 0;
  replay.pcap_in = pcap.string();
  replay.pcap_loop = false;
  r = xmaps::sim::run_pipeline(replay);
  expect_conserved(r);
  EXPECT_EQ(r.generated, 1000U) << "every packet of the capture once";
  EXPECT_EQ(r.rss_unparsed, 0U);

  // A truncated capture (the last record cut short) and garbage are refused with a message.
  const auto size = std::filesystem::file_size(pcap);
  std::filesystem::resize_file(pcap, size - 7);
  try {
    (void)xmaps::sim::run_pipeline(replay);
    ADD_FAILURE() << "a truncated capture was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("pcap-in"), std::string::npos) << e.what();
  }
  std::ofstream(pcap, std::ios::binary | std::ios::trunc) << "this is not a capture at all";
  try {
    (void)xmaps::sim::run_pipeline(replay);
    ADD_FAILURE() << "garbage was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("pcap-in"), std::string::npos) << e.what();
  }
  std::filesystem::remove(pcap);
}

TEST(SimPipeline, TruncatedFramesInACaptureAreRefusedUnlessAskedFor) {
  // 100 well-formed frames, then the first 10 and 30 bytes of one (shorter than an Ethernet
  // header; cut inside the IPv4 header), captured whole: a valid capture of runts, as a NIC
  // may deliver them. Bad input by default (refused before the run, naming the first); with
  // pcap_truncated_ok replayed as they are.
  const std::filesystem::path pcap = temp_path("runts.pcap");
  {
    xmaps::sim::PcapWriter w(pcap.string());
    xmaps::sim::PacketSpec spec;
    spec.flow.src_ip = xmaps::sim::ipv4(10, 0, 0, 1);
    spec.flow.dst_ip = xmaps::sim::ipv4(10, 0, 0, 2);
    unsigned char buf[128] = {};
    std::uint32_t len = 0;
    for (std::uint16_t i = 0; i < 100; ++i) {
      spec.flow.src_port = static_cast<std::uint16_t>(1000 + i);
      spec.flow.dst_port = 53;
      len = xmaps::sim::build_packet(spec, buf, sizeof buf);
      ASSERT_EQ(len, xmaps::sim::kMinFrame);
      w.write(buf, len, i);
    }
    w.write(buf, 10, 100);
    w.write(buf, 30, 101);
    w.close();
  }
  Scenario s = small(0);
  s.packets = 0;
  s.pcap_in = pcap.string();
  s.pcap_loop = false;
  try {
    (void)xmaps::sim::run_pipeline(s);
    ADD_FAILURE() << "a capture with truncated frames was accepted";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("pcap-in: " + pcap.string() + ": 2 of 102 frames are truncated"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("record 101, 10 bytes captured"), std::string::npos) << m;
    EXPECT_NE(m.find("--pcap-truncated-ok"), std::string::npos) << m;
  }
  s.pcap_truncated_ok = true;

  // round-robin does not parse: the runts go to the workers, flow accounting counts them
  // unparsed and passes them.
  RunResult r = xmaps::sim::run_pipeline(s);
  expect_conserved(r);
  EXPECT_EQ(r.generated, 102U);
  EXPECT_EQ(r.rss_unparsed, 2U) << "the NIC cannot hash them";
  EXPECT_EQ(r.pcap_truncated, 0U) << "short on the wire, not snapped by the capture";
  EXPECT_EQ(r.drops.parse_failure, 0U);
  EXPECT_EQ(r.flow_parse_failures, 2U);
  EXPECT_EQ(r.delivered + r.drops.cpumap_enqueue, 102U);
  std::string summary = xmaps::sim::format_summary(r);
  EXPECT_NE(summary.find("NIC: 2 frames did not parse"), std::string::npos) << summary;
  EXPECT_NE(summary.find(", 2 unparsed"), std::string::npos) << summary;

  // hash parses them, and drops both as parse failures.
  s.first_program = "hash";
  r = xmaps::sim::run_pipeline(s);
  expect_conserved(r);
  EXPECT_EQ(r.generated, 102U);
  EXPECT_EQ(r.rss_unparsed, 2U);
  EXPECT_EQ(r.drops.parse_failure, 2U);
  EXPECT_EQ(r.drops.first_program, 0U);
  EXPECT_EQ(r.flow_parse_failures, 0U);
  EXPECT_EQ(r.delivered + r.drops.cpumap_enqueue, 100U);
  summary = xmaps::sim::format_summary(r);
  EXPECT_NE(summary.find("parse_failure"), std::string::npos) << summary;
  std::filesystem::remove(pcap);
}

TEST(SimPipeline, GeneratedFramesCarryTheDstDestination) {
  struct Case {
    const char* mix;
    const char* dst;
    std::uint8_t ip_version;
    std::array<std::uint8_t, 16> ip;
    std::uint16_t port;
    std::uint8_t protocol;
  };
  const Case cases[] = {
      {"single-dst", "10.9.8.7:5353", 4, xmaps::sim::ipv4(10, 9, 8, 7), 5353, 17},
      {"syn-flood",
       "[fd00::42]:443",
       6,
       {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42},
       443,
       6},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.mix);
    const std::filesystem::path pcap = temp_path(std::string(c.mix) + ".pcap");
    Scenario s = small(2000);
    xmaps::sim::set_knob(s, "mix", c.mix);
    xmaps::sim::set_knob(s, "dst", c.dst);
    s.traffic.flows = 64;
    s.pcap_out = pcap.string();
    s.pcap_out_packets = 500;
    const RunResult r = xmaps::sim::run_pipeline(s);
    expect_conserved(r);
    EXPECT_NE(r.source.find(std::string(c.mix) + " to " + c.dst), std::string::npos) << r.source;
    EXPECT_NE(r.source.find(c.protocol == 6 ? ", tcp," : ", udp,"), std::string::npos) << r.source;
    const std::vector<xmaps::sim::PcapPacket> written = xmaps::sim::read_pcap(pcap.string());
    ASSERT_EQ(written.size(), 500U);
    std::set<std::array<std::uint8_t, 16>> sources;
    for (const xmaps::sim::PcapPacket& pkt : written) {
      xmaps::sim::ParsedPacket p;
      ASSERT_EQ(
          xmaps::sim::parse_packet(pkt.data.data(), static_cast<std::uint32_t>(pkt.data.size()), p),
          xmaps::sim::ParseStatus::ok);
      EXPECT_EQ(p.flow.ip_version, c.ip_version);
      EXPECT_EQ(p.flow.dst_ip, c.ip);
      EXPECT_EQ(p.flow.dst_port, c.port);
      EXPECT_EQ(p.flow.protocol, c.protocol);
      sources.insert(p.flow.src_ip);
    }
    EXPECT_GT(sources.size(), 1U) << "one destination, many sources";
    std::filesystem::remove(pcap);
  }
}

TEST(SimPipeline, JsonAndCsvCarryEveryMetric) {
  const RunResult r = xmaps::sim::run_pipeline(small(5000));
  expect_conserved(r);
  const std::string j = xmaps::sim::to_json(r);
  for (const char* key :
       {"\"config\"", "\"seed\"", "\"generated\"", "\"delivered\"", "\"drops\"", "\"rx_ring_full\"",
        "\"cpumap_enqueue_drop\"", "\"latency_ns\"", "\"p99.9\"", "\"cdf\"", "\"queues\"",
        "\"ingress\"", "\"workers\"", "\"cpus\"", "\"intervals\"", "\"flow_accounting\"",
        "\"conserved\": true"})
    EXPECT_NE(j.find(key), std::string::npos) << key;
  const std::string csv = xmaps::sim::to_csv(r);
  std::size_t lines = 0;
  for (char c : csv)
    lines += c == '\n';
  EXPECT_EQ(lines, r.intervals.size() + 1);
  EXPECT_EQ(csv.rfind("t_s,seconds,offered_pps,delivered_pps", 0), 0U);
}

}  // namespace
