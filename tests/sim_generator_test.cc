// SPDX-License-Identifier: MIT
// xmaps/sim/generator.h: configuration errors, byte-identical frames for a seed (and different
// ones for another seed), valid frames of the table's flows in every mix, the mixes'
// statistics within tolerance, IMIX's exact 7:4:1, TCP sequence numbers, oversize frames, no
// allocation per frame, and the token-bucket Pacer on synthetic timestamps.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/alloc_counter.h"
#include "xmaps/frame_pool.h"
#include "xmaps/sim/generator.h"
#include "xmaps/sim/packet.h"

namespace {

using xmaps::Frame;
using xmaps::FramePool;
using xmaps::sim::FlowMix;
using xmaps::sim::FlowTuple;
using xmaps::sim::ParsedPacket;
using xmaps::sim::ParseStatus;
using xmaps::sim::SizeMix;
using xmaps::sim::TrafficConfig;
using xmaps::sim::TrafficGenerator;

// Generates `count` frames and returns their bytes.
std::vector<std::vector<unsigned char>> generate(const TrafficConfig& cfg, std::size_t count,
                                                 std::size_t batch = 64) {
  TrafficGenerator gen(cfg);
  FramePool pool(64);
  std::vector<std::vector<unsigned char>> out;
  out.reserve(count);
  Frame* frames[64];
  while (out.size() < count) {
    const std::size_t want = std::min<std::size_t>(batch, count - out.size());
    EXPECT_EQ(pool.alloc_bulk(frames, want), want);
    EXPECT_EQ(gen.fill(frames, want), want);
    for (std::size_t i = 0; i < want; ++i)
      out.emplace_back(frames[i]->data, frames[i]->data + frames[i]->len);
    pool.free_bulk(frames, want);
  }
  EXPECT_EQ(gen.generated(), count);
  EXPECT_EQ(gen.oversize(), 0U);
  return out;
}

ParsedPacket parse(const std::vector<unsigned char>& f) {
  ParsedPacket p;
  EXPECT_EQ(xmaps::sim::parse_packet(f.data(), static_cast<std::uint32_t>(f.size()), p),
            ParseStatus::ok);
  EXPECT_TRUE(xmaps::sim::checksums_valid(f.data(), static_cast<std::uint32_t>(f.size())));
  return p;
}

std::vector<TrafficConfig> every_mix() {
  std::vector<TrafficConfig> cfgs;
  for (FlowMix m : {FlowMix::uniform, FlowMix::zipf, FlowMix::elephants_mice, FlowMix::syn_flood,
                    FlowMix::single_destination}) {
    for (int variant = 0; variant < 3; ++variant) {
      TrafficConfig c;
      c.mix = m;
      c.seed = 99;
      c.flows = 300;
      if (variant == 1) {
        c.protocol = 6;
        c.ipv6_share = 0.5;
        c.vlan = true;
        c.vlan_id = 42;
        c.destination.ip_version = 6;
        c.destination.dst_ip[0] = 0x20;
        c.destination.dst_ip[1] = 0x01;
        c.frame_len = 128;
      } else if (variant == 2) {
        c.sizes = SizeMix::imix;
        c.ipv6_share = 0.3;
        c.protocol = 6;
      }
      cfgs.push_back(c);
    }
  }
  return cfgs;
}

std::string describe(const TrafficConfig& c) {
  return std::string(xmaps::sim::to_string(c.mix)) + " proto " + std::to_string(c.protocol) +
         " v6 " + std::to_string(c.ipv6_share) + (c.vlan ? " vlan" : "") +
         (c.sizes == SizeMix::imix ? " imix" : " len " + std::to_string(c.frame_len));
}

void expect_invalid(const TrafficConfig& c, const std::string& field) {
  try {
    TrafficGenerator gen(c);
    ADD_FAILURE() << "no exception for " << field;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
}

TEST(SimGenerator, RejectsBadConfig) {
  TrafficConfig c;
  EXPECT_NO_THROW(xmaps::sim::validate(c));
  c.flows = 0;
  expect_invalid(c, "flows");
  c.flows = (1U << 20) + 1;
  expect_invalid(c, "flows");
  c = {};
  c.mix = FlowMix::zipf;
  c.zipf_s = 0;
  expect_invalid(c, "zipf_s");
  c.zipf_s = std::nan("");
  expect_invalid(c, "zipf_s");
  c = {};
  c.mix = FlowMix::elephants_mice;
  c.elephants = 0;
  expect_invalid(c, "elephants");
  c.elephants = c.flows;
  expect_invalid(c, "elephants");
  c.elephants = 4;
  c.elephant_share = 1.0;
  expect_invalid(c, "elephant_share");
  c = {};
  c.protocol = 1;
  expect_invalid(c, "protocol");
  c = {};
  c.ipv6_share = 1.5;
  expect_invalid(c, "ipv6_share");
  c = {};
  c.vlan_id = 4096;
  expect_invalid(c, "vlan_id");
  c = {};
  c.frame_len = 59;
  expect_invalid(c, "frame_len");
  c.frame_len = xmaps::sim::kMaxFrame + 1;
  expect_invalid(c, "frame_len");
  c = {};
  c.mix = FlowMix::single_destination;
  c.destination.ip_version = 5;
  expect_invalid(c, "destination.ip_version");
  c = {};
  c.mix = static_cast<FlowMix>(77);
  expect_invalid(c, "mix");
  c = {};
  c.sizes = static_cast<SizeMix>(9);
  expect_invalid(c, "sizes");
  // Fields of other mixes are not checked: elephants > flows is fine for uniform.
  c = {};
  c.flows = 2;
  c.elephants = 10;
  EXPECT_NO_THROW(xmaps::sim::validate(c));
  // syn_flood ignores flows.
  c = {};
  c.mix = FlowMix::syn_flood;
  c.flows = 0;
  EXPECT_NO_THROW(xmaps::sim::validate(c));
}

TEST(SimGenerator, FlowMixNames) {
  for (FlowMix m : {FlowMix::uniform, FlowMix::zipf, FlowMix::elephants_mice, FlowMix::syn_flood,
                    FlowMix::single_destination}) {
    FlowMix back = FlowMix::uniform;
    ASSERT_TRUE(xmaps::sim::parse_flow_mix(xmaps::sim::to_string(m), back));
    EXPECT_EQ(back, m);
  }
  FlowMix m = FlowMix::zipf;
  EXPECT_TRUE(xmaps::sim::parse_flow_mix("single-dst", m));
  EXPECT_EQ(m, FlowMix::single_destination);
  EXPECT_FALSE(xmaps::sim::parse_flow_mix("Zipf", m));
  EXPECT_FALSE(xmaps::sim::parse_flow_mix("", m));
}

TEST(SimGenerator, SameSeedSameBytesOtherSeedOtherBytes) {
  for (TrafficConfig c : every_mix()) {
    SCOPED_TRACE(describe(c));
    const auto a = generate(c, 2000);
    const auto b = generate(c, 2000);
    EXPECT_EQ(a, b);
    EXPECT_EQ(a, generate(c, 2000, 7));  // however the caller batches
    EXPECT_EQ(a, generate(c, 2000, 1));
    c.seed = 100;
    const auto other = generate(c, 2000);
    EXPECT_NE(a, other);
  }
  TrafficConfig c;
  c.seed = 5;
  TrafficGenerator g1(c);
  c.seed = 6;
  TrafficGenerator g2(c);
  EXPECT_NE(g1.flows(), g2.flows());
}

TEST(SimGenerator, FramesAreValidAndBelongToTheFlowTable) {
  for (const TrafficConfig& c : every_mix()) {
    SCOPED_TRACE(describe(c));
    TrafficGenerator gen(c);
    EXPECT_EQ(gen.config().mix, c.mix);
    const std::vector<FlowTuple>& table = gen.flows();
    if (c.mix == FlowMix::syn_flood) {
      EXPECT_TRUE(table.empty());
    } else {
      ASSERT_EQ(table.size(), c.flows);
      std::set<std::vector<std::uint8_t>> distinct;
      for (const FlowTuple& f : table) {
        const auto* b = reinterpret_cast<const std::uint8_t*>(&f);
        distinct.emplace(b, b + sizeof f);
      }
      EXPECT_EQ(distinct.size(), table.size());
    }
    const auto frames = generate(c, 3000);
    std::set<std::uint32_t> syn_sources;
    for (const auto& f : frames) {
      const ParsedPacket p = parse(f);
      EXPECT_EQ(p.has_vlan, c.vlan);
      if (c.vlan) {
        EXPECT_EQ(p.vlan_id, c.vlan_id);
      }
      if (c.sizes == SizeMix::fixed) {
        EXPECT_EQ(f.size(), std::max<std::size_t>(c.frame_len,
                                                  p.l4_offset + (p.flow.protocol == 6 ? 20 : 8)));
      }
      if (c.mix == FlowMix::syn_flood) {
        EXPECT_EQ(p.flow.protocol, 6);
        EXPECT_EQ(p.tcp_flags, xmaps::sim::kTcpSyn);
        EXPECT_EQ(p.flow.dst_ip, c.destination.dst_ip);
        EXPECT_EQ(p.flow.dst_port, c.destination.dst_port);
        EXPECT_EQ(p.flow.ip_version, c.destination.ip_version);
        std::uint32_t key = 0;
        std::memcpy(&key, p.flow.src_ip.data() + (p.flow.ip_version == 6 ? 12 : 0), 4);
        syn_sources.insert(key ^ p.flow.src_port);
        continue;
      }
      FlowTuple t = p.flow;
      bool found = false;
      for (const FlowTuple& x : table)
        found = found || x == t;
      EXPECT_TRUE(found);
      EXPECT_EQ(p.flow.protocol, c.protocol);
      if (c.protocol == 6) {
        EXPECT_EQ(p.tcp_flags, xmaps::sim::kTcpAck);
      }
      if (c.mix == FlowMix::single_destination) {
        EXPECT_EQ(p.flow.dst_ip, c.destination.dst_ip);
        EXPECT_EQ(p.flow.dst_port, c.destination.dst_port);
      }
    }
    if (c.mix == FlowMix::syn_flood) {
      EXPECT_GT(syn_sources.size(), 2990U);  // a new source almost every packet
    }
  }
}

// fill_with_flows() writes what fill() writes, and names each frame's flow: the index of the
// table entry its bytes parse to (whatever its size or sequence number), or kNoFlow for a SYN
// flood, whose sources are new each packet. A caller caches per-flow results on that promise.
TEST(SimGenerator, FillWithFlowsNamesEachFramesTableEntry) {
  for (const TrafficConfig& c : every_mix()) {
    SCOPED_TRACE(describe(c));
    const auto plain = generate(c, 2000);
    TrafficGenerator gen(c);
    const bool syn = c.mix == FlowMix::syn_flood;
    EXPECT_EQ(gen.flow_count(), syn ? 0U : c.flows);
    FramePool pool(64);
    Frame* frames[64];
    std::uint32_t flows[64];
    std::set<std::uint32_t> seen;
    std::size_t done = 0;
    for (const std::size_t batch : {std::size_t{1}, std::size_t{7}, std::size_t{64}}) {
      for (int round = 0; round < 10 && done < plain.size(); ++round) {
        const std::size_t want = std::min(batch, plain.size() - done);
        ASSERT_EQ(pool.alloc_bulk(frames, want), want);
        ASSERT_EQ(gen.fill_with_flows(frames, want, flows), want);
        for (std::size_t i = 0; i < want; ++i, ++done) {
          const std::vector<unsigned char> bytes(frames[i]->data, frames[i]->data + frames[i]->len);
          EXPECT_EQ(bytes, plain[done]) << "frame " << done;
          if (syn) {
            EXPECT_EQ(flows[i], xmaps::sim::FrameSource::kNoFlow);
            continue;
          }
          ASSERT_LT(flows[i], gen.flows().size());
          EXPECT_EQ(parse(bytes).flow, gen.flows()[flows[i]]) << "frame " << done;
          seen.insert(flows[i]);
        }
        pool.free_bulk(frames, want);
      }
    }
    if (!syn) {
      EXPECT_GT(seen.size(), 10U);  // many flows named, not one index for all
    }
  }
}

TEST(SimGenerator, Ipv6ShareIsRoughlyHonoured) {
  TrafficConfig c;
  c.flows = 4000;
  c.ipv6_share = 0.25;
  TrafficGenerator gen(c);
  std::size_t v6 = 0;
  for (const FlowTuple& f : gen.flows())
    v6 += f.ip_version == 6 ? 1 : 0;
  EXPECT_NEAR(static_cast<double>(v6) / 4000.0, 0.25, 0.03);
}

std::map<FlowTuple, std::size_t, bool (*)(const FlowTuple&, const FlowTuple&)> counts_by_flow(
    const std::vector<std::vector<unsigned char>>& frames) {
  std::map<FlowTuple, std::size_t, bool (*)(const FlowTuple&, const FlowTuple&)> m(
      [](const FlowTuple& a, const FlowTuple& b) {
        return std::memcmp(&a, &b, sizeof(FlowTuple)) < 0;
      });
  for (const auto& f : frames)
    ++m[parse(f).flow];
  return m;
}

TEST(SimGenerator, UniformSpreadsEvenly) {
  TrafficConfig c;
  c.flows = 64;
  const auto frames = generate(c, 64 * 1000);
  const auto m = counts_by_flow(frames);
  ASSERT_EQ(m.size(), 64U);
  double chi2 = 0;
  for (const auto& [flow, n] : m)
    chi2 += (static_cast<double>(n) - 1000.0) * (static_cast<double>(n) - 1000.0) / 1000.0;
  EXPECT_LT(chi2, 120.0);  // 63 degrees of freedom: p < 1e-5 beyond this
}

TEST(SimGenerator, ZipfFollowsItsLaw) {
  TrafficConfig c;
  c.mix = FlowMix::zipf;
  c.flows = 100;
  c.zipf_s = 1.2;
  TrafficGenerator gen(c);
  const std::vector<FlowTuple> table = gen.flows();
  const auto frames = generate(c, 200000);
  const auto m = counts_by_flow(frames);
  double h = 0;
  for (int k = 1; k <= 100; ++k)
    h += std::pow(k, -1.2);
  for (int k : {1, 2, 3, 10, 50}) {
    const double expected = std::pow(k, -1.2) / h;
    const auto it = m.find(table[static_cast<std::size_t>(k - 1)]);
    ASSERT_NE(it, m.end());
    const double got = static_cast<double>(it->second) / 200000.0;
    EXPECT_NEAR(got, expected, 5 * std::sqrt(expected / 200000.0) + 1e-4) << "rank " << k;
  }
}

TEST(SimGenerator, ElephantsCarryTheirShare) {
  TrafficConfig c;
  c.mix = FlowMix::elephants_mice;
  c.flows = 1000;
  c.elephants = 4;
  c.elephant_share = 0.8;
  TrafficGenerator gen(c);
  const std::vector<FlowTuple> table = gen.flows();
  const auto m = counts_by_flow(generate(c, 100000));
  std::size_t elephant = 0;
  for (std::size_t k = 0; k < 4; ++k) {
    const auto it = m.find(table[k]);
    ASSERT_NE(it, m.end());
    elephant += it->second;
    EXPECT_NEAR(static_cast<double>(it->second) / 100000.0, 0.2, 0.01);
  }
  EXPECT_NEAR(static_cast<double>(elephant) / 100000.0, 0.8, 0.01);
  EXPECT_GT(m.size(), 900U);  // the mice are there too
}

TEST(SimGenerator, ImixIsExactlySevenFourOne) {
  TrafficConfig c;
  c.sizes = SizeMix::imix;
  const auto frames = generate(c, 1200);
  std::map<std::size_t, int> sizes;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    ++sizes[frames[i].size()];
    parse(frames[i]);
    if (i % 12 == 11) {
      EXPECT_EQ(sizes[60], 7 * static_cast<int>(i / 12 + 1));
      EXPECT_EQ(sizes[590], 4 * static_cast<int>(i / 12 + 1));
      EXPECT_EQ(sizes[1514], 1 * static_cast<int>(i / 12 + 1));
    }
  }
  EXPECT_EQ(sizes.size(), 3U);
  // Not a fixed pattern: the blocks differ.
  EXPECT_NE(std::vector<std::size_t>({frames[0].size(), frames[1].size(), frames[2].size(),
                                      frames[3].size(), frames[4].size(), frames[5].size(),
                                      frames[6].size(), frames[7].size()}),
            std::vector<std::size_t>({frames[12].size(), frames[13].size(), frames[14].size(),
                                      frames[15].size(), frames[16].size(), frames[17].size(),
                                      frames[18].size(), frames[19].size()}));
}

TEST(SimGenerator, TcpSequenceNumbersAdvanceByPayload) {
  TrafficConfig c;
  c.protocol = 6;
  c.flows = 3;
  c.sizes = SizeMix::imix;
  const auto frames = generate(c, 600);
  std::map<std::vector<unsigned char>, std::pair<std::uint32_t, std::uint32_t>> next;  // by ports
  for (const auto& f : frames) {
    const ParsedPacket p = parse(f);
    const unsigned char* tcp = f.data() + p.l4_offset;
    const std::uint32_t seq = static_cast<std::uint32_t>(tcp[4]) << 24 |
                              static_cast<std::uint32_t>(tcp[5]) << 16 |
                              static_cast<std::uint32_t>(tcp[6]) << 8 | tcp[7];
    const std::vector<unsigned char> key(tcp, tcp + 4);
    auto it = next.find(key);
    if (it != next.end()) {
      EXPECT_EQ(seq, it->second.first);
    }
    next[key] = {seq + (p.ip_payload_len - 20), 0};
  }
  EXPECT_EQ(next.size(), 3U);
}

TEST(SimGenerator, OversizeFramesAreCountedAndLeftUnwritten) {
  TrafficConfig c;
  c.frame_len = 1000;
  TrafficGenerator gen(c);
  FramePool small(8, 512, 256);  // 256 bytes of room
  Frame* frames[8];
  ASSERT_EQ(small.alloc_bulk(frames, 8), 8U);
  EXPECT_EQ(gen.fill(frames, 8), 0U);
  EXPECT_EQ(gen.oversize(), 1U);
  EXPECT_EQ(gen.generated(), 0U);
  EXPECT_EQ(frames[0]->len, 0U);

  // Room for the frame but less than the template slot: still exact bytes.
  c.frame_len = 60;
  TrafficGenerator a(c);
  TrafficGenerator b(c);
  FramePool tight(8, 256 + 60, 256);
  FramePool roomy(8);
  Frame* t[8];
  Frame* r[8];
  ASSERT_EQ(tight.alloc_bulk(t, 8), 8U);
  ASSERT_EQ(roomy.alloc_bulk(r, 8), 8U);
  EXPECT_EQ(a.fill(t, 8), 8U);
  EXPECT_EQ(b.fill(r, 8), 8U);
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(t[i]->len, 60U);
    EXPECT_EQ(std::memcmp(t[i]->data, r[i]->data, 60), 0);
  }
  small.free_bulk(frames, 8);
  tight.free_bulk(t, 8);
  roomy.free_bulk(r, 8);
}

TEST(SimGenerator, FillAllocatesNothing) {
  for (TrafficConfig c : every_mix()) {
    SCOPED_TRACE(describe(c));
    c.flows = 5000;
    const std::uint64_t before_ctor = xmaps_test::allocation_count();
    TrafficGenerator gen(c);
    EXPECT_GT(xmaps_test::allocation_count(),
              before_ctor);  // the counter works: construction allocates
    FramePool pool(64);
    Frame* frames[64];
    ASSERT_EQ(pool.alloc_bulk(frames, 64), 64U);
    const std::uint64_t before = xmaps_test::allocation_count();
    for (int round = 0; round < 100; ++round)
      EXPECT_EQ(gen.fill(frames, 64), 64U);
    EXPECT_EQ(xmaps_test::allocation_count(), before);
    pool.free_bulk(frames, 64);
  }
}

TEST(SimGenerator, MetadataOtherThanDataAndLenIsUntouched) {
  TrafficGenerator gen(TrafficConfig{});
  FramePool pool(4);
  Frame* f = pool.alloc();
  f->rx_queue = 3;
  f->stamp_ns = 77;
  f->user = 5;
  ASSERT_EQ(gen.fill(&f, 1), 1U);
  EXPECT_EQ(f->rx_queue, 3U);
  EXPECT_EQ(f->stamp_ns, 77U);
  EXPECT_EQ(f->user, 5U);
  EXPECT_EQ(f->len, 60U);
  pool.free(f);
}

// --- Pacer --------------------------------------------------------------------------------------

TEST(SimPacer, RejectsBadArguments) {
  EXPECT_THROW(xmaps::sim::Pacer(-1.0, 10), std::invalid_argument);
  EXPECT_THROW(xmaps::sim::Pacer(std::nan(""), 10), std::invalid_argument);
  EXPECT_THROW(xmaps::sim::Pacer(1e6, 0), std::invalid_argument);
}

TEST(SimPacer, UnlimitedAlwaysAllowsABurst) {
  xmaps::sim::Pacer p(0.0, 32);
  EXPECT_TRUE(p.unlimited());
  for (std::uint64_t t = 0; t < 5; ++t) {
    EXPECT_EQ(p.allowance(t), 32U);
    p.consume(32);
  }
}

TEST(SimPacer, TokensAccrueAtTheRateAndCapAtTheBurst) {
  xmaps::sim::Pacer p(1000.0, 10);  // one packet per millisecond
  EXPECT_FALSE(p.unlimited());
  const std::uint64_t t0 = 5'000'000'000ULL;
  EXPECT_EQ(p.allowance(t0), 10U);  // starts full
  p.consume(10);
  EXPECT_EQ(p.allowance(t0), 0U);
  EXPECT_EQ(p.allowance(t0 + 500'000), 0U);  // half a token
  EXPECT_EQ(p.allowance(t0 + 1'000'000), 1U);
  EXPECT_EQ(p.allowance(t0 + 3'500'000), 3U);
  p.consume(3);
  EXPECT_EQ(p.allowance(t0 + 4'000'000), 1U);       // the half token was kept
  EXPECT_EQ(p.allowance(t0 + 1'000'000'000), 10U);  // a long pause saves only a burst
  EXPECT_EQ(p.allowance(t0), 10U);                  // time going back neither adds nor removes
  p.consume(50);                                    // over-consuming just empties the bucket
  EXPECT_EQ(p.allowance(t0 + 1'000'000'000), 0U);

  // Over a simulated second, a greedy sender gets the rate plus the initial burst.
  xmaps::sim::Pacer q(20000.0, 64);
  std::uint64_t sent = 0;
  for (std::uint64_t t = 0; t <= 1'000'000'000ULL; t += 10'000) {
    const std::uint32_t a = q.allowance(t);
    q.consume(a);
    sent += a;
  }
  EXPECT_NEAR(static_cast<double>(sent), 20000.0 + 64.0, 2.0);
}

}  // namespace
