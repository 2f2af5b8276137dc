// SPDX-License-Identifier: MIT
// The built-in programs (xmaps/sim/programs.h) on real frames through a real CpuMap with two
// entries: where each first program sends frames, what it drops and counts; flow accounting's
// exact per-flow counters, hit ratio and evictions; and a stress run with more ingress threads
// than cores (TSan clean).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <span>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/eventually.h"
#include "xmaps/cpumap.h"
#include "xmaps/frame_pool.h"
#include "xmaps/redirect.h"
#include "xmaps/sim/packet.h"
#include "xmaps/sim/programs.h"
#include "xmaps/sim/rss.h"

namespace {

using namespace std::chrono_literals;
using xmaps::CpuMap;
using xmaps::Errc;
using xmaps::Frame;
using xmaps::FramePool;
using xmaps::RedirectContext;
using xmaps::XdpAction;
using xmaps::XdpProgram;
using xmaps::sim::FirstProgram;
using xmaps::sim::FirstProgramCounters;
using xmaps::sim::FirstProgramStats;
using xmaps::sim::FlowAccounting;
using xmaps::sim::FlowTuple;
using xmaps::sim::make_first_program;
using xmaps::sim::PacketSpec;

template <class Pred>
bool eventually(Pred pred) {
  return xmaps::testing::eventually(pred, 20s);  // slower paths: a longer bound
}

FlowTuple flow(std::uint32_t i, std::uint8_t protocol = 17, std::uint8_t version = 4) {
  FlowTuple t;
  t.ip_version = version;
  t.protocol = protocol;
  t.src_ip = xmaps::sim::ipv4(10, static_cast<std::uint8_t>(i >> 16),
                              static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i));
  t.dst_ip = xmaps::sim::ipv4(192, 168, 0, 1);
  if (version == 6) {
    t.src_ip[0] = 0xfd;
    t.src_ip[15] = static_cast<std::uint8_t>(i);
    t.src_ip[14] = static_cast<std::uint8_t>(i >> 8);
    t.dst_ip[0] = 0xfd;
    t.dst_ip[15] = 1;
  }
  t.src_port = static_cast<std::uint16_t>(1024 + i);
  t.dst_port = static_cast<std::uint16_t>(80 + (i % 7));
  return t;
}

// Allocates a frame (waiting for one if every frame is out) and writes `spec` into it.
Frame* make_frame(FramePool& pool, const PacketSpec& spec, std::uint64_t user) {
  Frame* f = pool.alloc();
  while (f == nullptr) {
    std::this_thread::yield();
    f = pool.alloc();
  }
  f->len = xmaps::sim::build_packet(spec, f->data, f->tailroom());
  f->user = user;
  return f;
}

// Two CpuMap entries (keys 0 and 1) whose sink records (frame.user, cpu) of every frame.
class Bed {
 public:
  explicit Bed(std::shared_ptr<const XdpProgram> second = nullptr)
      : pool_(4096), map_(2, options()) {
    for (std::uint32_t k = 0; k < 2; ++k)
      EXPECT_EQ(map_.update(k, 4096, second), Errc::ok);
  }

  // Runs `prog` on one frame per spec (user = index) from one ingress thread acting as CPU 0;
  // returns the verdicts.
  std::vector<XdpAction> send(const XdpProgram& prog, const std::vector<PacketSpec>& specs) {
    std::vector<XdpAction> out;
    xmaps::CpuBinding bind(0);
    RedirectContext ctx;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      out.push_back(ctx.run(prog, make_frame(pool_, specs[i], i)));
      if (i % 64 == 63)
        ctx.flush();
    }
    ctx.flush();
    return out;
  }

  // Waits until `n` frames reached the sink and every frame is back in the pool.
  bool delivered(std::uint64_t n) {
    return eventually([&] {
             std::lock_guard lock(mu_);
             return seen_.size() == n;
           }) &&
           eventually([&] { return pool_.in_use() == 0; });
  }
  std::map<std::uint64_t, int> where() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  FramePool& pool() { return pool_; }
  CpuMap& map() { return map_; }

 private:
  CpuMap::Options options() {
    CpuMap::Options o;
    o.sink = [this](std::span<Frame* const> frames, int cpu) {
      std::lock_guard lock(mu_);
      for (Frame* f : frames)
        seen_[f->user] = cpu;
    };
    return o;
  }

  std::mutex mu_;
  std::map<std::uint64_t, int> seen_;  // frame.user -> CPU whose worker passed it
  FramePool pool_;                     // before the map: frames must outlive it
  CpuMap map_;
};

bool two_cpus() {
  return xmaps::possible_cpus() >= 2;
}

#define REQUIRE_TWO_CPUS()                                   \
  do {                                                       \
    if (!two_cpus())                                         \
      GTEST_SKIP() << "needs 2 possible CPUs for 2 entries"; \
  } while (0)

TEST(SimPrograms, NamesRoundTrip) {
  for (const FirstProgram p : {FirstProgram::round_robin, FirstProgram::flow_hash,
                               FirstProgram::l4_port, FirstProgram::drop_all}) {
    EXPECT_EQ(xmaps::sim::parse_first_program(xmaps::sim::to_string(p)), p);
    EXPECT_EQ(xmaps::sim::try_parse_first_program(xmaps::sim::to_string(p)), p);
  }
  EXPECT_EQ(xmaps::sim::to_string(FirstProgram::round_robin), "round-robin");
  EXPECT_EQ(xmaps::sim::to_string(FirstProgram::flow_hash), "hash");
  EXPECT_EQ(xmaps::sim::to_string(FirstProgram::l4_port), "port");
  EXPECT_EQ(xmaps::sim::to_string(FirstProgram::drop_all), "drop");
  EXPECT_EQ(xmaps::sim::try_parse_first_program("rr"), std::nullopt);
  EXPECT_THROW((void)xmaps::sim::parse_first_program("Hash"), std::invalid_argument);
  EXPECT_THROW((void)xmaps::sim::parse_first_program(""), std::invalid_argument);
}

TEST(SimPrograms, BadTargetsThrow) {
  CpuMap map(2);
  for (const FirstProgram p : {FirstProgram::round_robin, FirstProgram::flow_hash,
                               FirstProgram::l4_port, FirstProgram::drop_all}) {
    EXPECT_THROW((void)make_first_program(p, map, {}), std::invalid_argument);
    EXPECT_THROW((void)make_first_program(p, map, {0, 2}), std::invalid_argument);
    EXPECT_NE(make_first_program(p, map, {1, 0}), nullptr);
  }
}

TEST(SimPrograms, RoundRobinAlternatesEvenly) {
  REQUIRE_TWO_CPUS();
  Bed bed;
  auto c = std::make_shared<FirstProgramCounters>();
  const auto prog = make_first_program(FirstProgram::round_robin, bed.map(), {1, 0}, c);
  std::vector<PacketSpec> specs(200);
  for (std::size_t i = 0; i < specs.size(); ++i)
    specs[i].flow = flow(7);  // one flow: round-robin ignores it
  for (const XdpAction a : bed.send(*prog, specs))
    EXPECT_EQ(a, XdpAction::redirect);
  ASSERT_TRUE(bed.delivered(200));
  const auto where = bed.where();
  int on[2] = {0, 0};
  for (const auto& [user, cpu] : where) {
    EXPECT_EQ(cpu, user % 2 == 0 ? 1 : 0) << user;  // targets {1, 0} in order
    ++on[cpu];
  }
  EXPECT_EQ(on[0], 100);
  EXPECT_EQ(on[1], 100);
  const FirstProgramStats s = c->snapshot();
  EXPECT_EQ(s.frames, 200U);
  EXPECT_EQ(s.redirected, 200U);
  EXPECT_EQ(s.parse_failures(), 0U);
}

TEST(SimPrograms, PortProgramPicksByDestinationPort) {
  REQUIRE_TWO_CPUS();
  Bed bed;
  const auto prog = make_first_program(FirstProgram::l4_port, bed.map(), {0, 1});
  std::vector<PacketSpec> specs;
  for (std::uint32_t i = 0; i < 300; ++i) {
    PacketSpec s;
    s.flow = flow(i % 50, i % 3 == 0 ? 6 : 17, i % 5 == 0 ? 6 : 4);
    s.flow.dst_port = static_cast<std::uint16_t>(1000 + i * 7);
    s.vlan = i % 4 == 0;
    specs.push_back(s);
  }
  for (const XdpAction a : bed.send(*prog, specs))
    EXPECT_EQ(a, XdpAction::redirect);
  ASSERT_TRUE(bed.delivered(specs.size()));
  const auto where = bed.where();
  for (const auto& [user, cpu] : where)
    EXPECT_EQ(cpu, specs[user].flow.dst_port % 2) << user;
}

TEST(SimPrograms, HashProgramKeepsEachFlowOnOneTargetAndDiffersFromRss) {
  REQUIRE_TWO_CPUS();
  Bed bed;
  const auto prog = make_first_program(FirstProgram::flow_hash, bed.map(), {0, 1});
  constexpr std::uint32_t kFlows = 128;
  std::vector<PacketSpec> specs;
  for (std::uint32_t round = 0; round < 8; ++round) {
    for (std::uint32_t i = 0; i < kFlows; ++i) {
      PacketSpec s;
      s.flow = flow(i, i % 2 == 0 ? 6 : 17, i % 8 == 0 ? 6 : 4);
      s.frame_len = 60 + round * 100;
      specs.push_back(s);
    }
  }
  for (const XdpAction a : bed.send(*prog, specs))
    EXPECT_EQ(a, XdpAction::redirect);
  ASSERT_TRUE(bed.delivered(specs.size()));
  const auto where = bed.where();
  std::map<std::uint32_t, int> target_of;  // flow -> CPU
  for (const auto& [user, cpu] : where) {
    const auto f = static_cast<std::uint32_t>(user % kFlows);
    const auto [it, fresh] = target_of.emplace(f, cpu);
    EXPECT_EQ(it->second, cpu) << "flow " << f << " moved";
  }
  int on1 = 0;
  for (const auto& [f, cpu] : target_of)
    on1 += cpu;
  EXPECT_GT(on1, 32);
  EXPECT_LT(on1, 96);
  // The flows one RSS queue receives still spread over both targets.
  const xmaps::sim::Rss rss(xmaps::sim::RssConfig{.queues = 2, .udp_4tuple = true});
  std::set<int> from_queue0;
  for (const auto& [f, cpu] : target_of) {
    if (rss.queue_of(specs[f].flow) == 0)
      from_queue0.insert(cpu);
  }
  EXPECT_EQ(from_queue0.size(), 2U);
}

TEST(SimPrograms, DropAllDropsAndCounts) {
  REQUIRE_TWO_CPUS();
  Bed bed;
  auto c = std::make_shared<FirstProgramCounters>();
  const auto prog = make_first_program(FirstProgram::drop_all, bed.map(), {0, 1}, c);
  std::vector<PacketSpec> specs(100);
  for (const XdpAction a : bed.send(*prog, specs))
    EXPECT_EQ(a, XdpAction::drop);
  EXPECT_EQ(bed.pool().in_use(), 0U);  // recycled at once, on the ingress thread
  EXPECT_EQ(c->snapshot().frames, 100U);
  EXPECT_EQ(c->snapshot().dropped, 100U);
  EXPECT_EQ(c->snapshot().redirected, 0U);
  EXPECT_EQ(bed.map().totals().enqueued, 0U);
}

// Frames parse_packet rejects, and one it accepts without ports.
std::vector<Frame*> odd_frames(FramePool& pool) {
  std::vector<Frame*> out;
  PacketSpec udp;
  udp.flow = flow(3);
  // Truncated: an Ethernet header and half an IPv4 header.
  Frame* t = make_frame(pool, udp, 0);
  t->len = xmaps::sim::kEthHeader + 10;
  out.push_back(t);
  // Not IP: EtherType ARP.
  Frame* a = make_frame(pool, udp, 1);
  a->data[12] = 0x08;
  a->data[13] = 0x06;
  out.push_back(a);
  // Bad IPv4 header: IHL 4.
  Frame* b = make_frame(pool, udp, 2);
  b->data[xmaps::sim::kEthHeader] = 0x44;
  out.push_back(b);
  // A non-first fragment (offset 185 x 8): addresses only.
  Frame* g = make_frame(pool, udp, 3);
  g->data[xmaps::sim::kEthHeader + 6] = 0x00;
  g->data[xmaps::sim::kEthHeader + 7] = 0xb9;
  out.push_back(g);
  return out;
}

TEST(SimPrograms, MalformedFramesAreDroppedAndCountedByReason) {
  REQUIRE_TWO_CPUS();
  Bed bed;
  std::uint64_t expected_delivered = 0;
  for (const FirstProgram kind : {FirstProgram::flow_hash, FirstProgram::l4_port}) {
    SCOPED_TRACE(std::string(xmaps::sim::to_string(kind)));
    auto c = std::make_shared<FirstProgramCounters>();
    const auto prog = make_first_program(kind, bed.map(), {0, 1}, c);
    std::vector<XdpAction> acts;
    {
      xmaps::CpuBinding bind(0);
      RedirectContext ctx;
      for (Frame* f : odd_frames(bed.pool())) {
        f->user = 1000 * (expected_delivered + 1) + f->user;
        acts.push_back(ctx.run(*prog, f));
      }
      ctx.flush();
    }
    ASSERT_EQ(acts.size(), 4U);
    EXPECT_EQ(acts[0], XdpAction::drop);
    EXPECT_EQ(acts[1], XdpAction::drop);
    EXPECT_EQ(acts[2], XdpAction::drop);
    EXPECT_EQ(acts[3], XdpAction::redirect);  // the fragment goes on
    const FirstProgramStats s = c->snapshot();
    EXPECT_EQ(s.frames, 4U);
    EXPECT_EQ(s.truncated, 1U);
    EXPECT_EQ(s.not_ip, 1U);
    EXPECT_EQ(s.bad_ip_header, 1U);
    EXPECT_EQ(s.parse_failures(), 3U);
    EXPECT_EQ(s.no_ports, 1U);
    EXPECT_EQ(s.redirected, 1U);
    ++expected_delivered;
    ASSERT_TRUE(bed.delivered(expected_delivered));
  }
}

TEST(SimPrograms, RedirectToAMissingEntryIsAbortedAndCounted) {
  FramePool pool(64);
  CpuMap map(2);
  ASSERT_EQ(map.update(0, 64), Errc::ok);  // entry 1 stays empty
  auto c = std::make_shared<FirstProgramCounters>();
  const auto prog = make_first_program(FirstProgram::round_robin, map, {1}, c);
  {
    RedirectContext ctx;
    PacketSpec s;
    s.flow = flow(1);
    for (int i = 0; i < 5; ++i)
      EXPECT_EQ(ctx.run(*prog, make_frame(pool, s, 0)), XdpAction::aborted);
    ctx.flush();
  }
  EXPECT_EQ(c->snapshot().redirect_failed, 5U);
  EXPECT_EQ(c->snapshot().redirected, 0U);
  EXPECT_EQ(pool.in_use(), 0U);
}

TEST(SimPrograms, CountersAddUpOverProgramsSharingThem) {
  CpuMap map(1);
  ASSERT_EQ(map.update(0, 64), Errc::ok);
  auto c = std::make_shared<FirstProgramCounters>();
  const auto a = make_first_program(FirstProgram::drop_all, map, {0}, c);
  const auto b = make_first_program(FirstProgram::drop_all, map, {0}, c);
  FramePool pool(8);
  RedirectContext ctx;
  for (int i = 0; i < 3; ++i) {
    (void)ctx.run(*a, pool.alloc());
    (void)ctx.run(*b, pool.alloc());
  }
  ctx.flush();
  EXPECT_EQ(c->snapshot().dropped, 6U);
  EXPECT_NE(a->id(), b->id());
  EXPECT_EQ(a->name(), "xmaps-sim:drop");
}

// --- flow accounting ---------------------------------------------------------------------------

TEST(SimFlowAccounting, CountsPacketsAndBytesPerFlowExactly) {
  FramePool pool(16);
  FlowAccounting acct(1024);
  std::map<std::uint32_t, std::pair<std::uint64_t, std::uint64_t>> want;  // packets, bytes
  std::mt19937 rng(3);
  std::uint64_t frames = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::uint32_t f = rng() % 100;
    PacketSpec s;
    s.flow = flow(f, f % 2 == 0 ? 6 : 17, f % 10 == 0 ? 6 : 4);
    s.frame_len = 60 + rng() % 1400;
    Frame* fr = make_frame(pool, s, 0);
    ASSERT_EQ(acct.account(*fr), XdpAction::pass);
    want[f].first += 1;
    want[f].second += fr->len;
    ++frames;
    ASSERT_TRUE(fr->recycle());
  }
  for (const auto& [f, pb] : want) {
    const auto got = acct.flow(flow(f, f % 2 == 0 ? 6 : 17, f % 10 == 0 ? 6 : 4));
    ASSERT_TRUE(got.has_value()) << f;
    EXPECT_EQ(got->packets, pb.first) << f;
    EXPECT_EQ(got->bytes, pb.second) << f;
  }
  EXPECT_FALSE(acct.flow(flow(5000)).has_value());
  const auto s = acct.stats();
  EXPECT_EQ(s.frames, frames);
  EXPECT_EQ(s.lookups, frames);
  EXPECT_EQ(s.inserts, want.size());
  EXPECT_EQ(s.hits, frames - want.size());
  EXPECT_EQ(s.lost, 0U);
  EXPECT_EQ(s.evictions, 0U);
  EXPECT_EQ(s.parse_failures, 0U);
  EXPECT_DOUBLE_EQ(acct.hit_ratio(),
                   static_cast<double>(frames - want.size()) / static_cast<double>(frames));
  EXPECT_EQ(acct.table().approx_size(), want.size());
}

TEST(SimFlowAccounting, HitRatioZeroWhenEmptyAndParseFailuresPassed) {
  FramePool pool(8);
  FlowAccounting acct(64);
  EXPECT_EQ(acct.hit_ratio(), 0.0);
  std::size_t n = 0;
  for (Frame* f : odd_frames(pool)) {
    EXPECT_EQ(acct.account(*f), XdpAction::pass);
    ASSERT_TRUE(f->recycle());
    ++n;
  }
  const auto s = acct.stats();
  EXPECT_EQ(s.frames, n);
  EXPECT_EQ(s.parse_failures, 3U);
  EXPECT_EQ(s.inserts, 1U);  // the fragment, by addresses with ports 0
  FlowTuple frag = flow(3);
  frag.src_port = 0;
  frag.dst_port = 0;
  ASSERT_TRUE(acct.flow(frag).has_value());
  EXPECT_EQ(acct.flow(frag)->packets, 1U);
}

TEST(SimFlowAccounting, EvictsWhenFlowsExceedMaxEntriesAndKeepsHotFlows) {
  FramePool pool(8);
  constexpr std::uint32_t kMax = 256;
  FlowAccounting acct(kMax);
  PacketSpec hot;
  hot.flow = flow(999999);
  std::uint64_t hot_packets = 0;
  for (std::uint32_t i = 0; i < 4000; ++i) {
    PacketSpec cold;
    cold.flow = flow(i);
    Frame* f = make_frame(pool, cold, 0);
    (void)acct.account(*f);
    ASSERT_TRUE(f->recycle());
    Frame* h = make_frame(pool, hot, 0);
    (void)acct.account(*h);  // looked up every other frame: referenced, never the victim
    ASSERT_TRUE(h->recycle());
    ++hot_packets;
  }
  const auto s = acct.stats();
  EXPECT_GT(s.evictions, 4000U - kMax - 1);
  EXPECT_LE(acct.table().approx_size(), kMax);
  EXPECT_EQ(s.inserts, 4001U);
  EXPECT_EQ(s.lost, 0U);
  const auto h = acct.flow(hot.flow);
  ASSERT_TRUE(h.has_value()) << "the hot flow was evicted: lookups must set the reference bit";
  EXPECT_EQ(h->packets, hot_packets);
  EXPECT_FALSE(acct.flow(flow(0)).has_value());  // the oldest cold flow is gone
  EXPECT_LT(acct.hit_ratio(), 0.51);
  EXPECT_GT(acct.hit_ratio(), 0.49);
}

TEST(SimFlowAccounting, CountsFramesBehindACpuMap) {
  REQUIRE_TWO_CPUS();
  FlowAccounting acct(4096);
  Bed bed(acct.program());
  EXPECT_EQ(acct.program(), acct.program());
  const auto prog = make_first_program(FirstProgram::flow_hash, bed.map(), {0, 1});
  std::vector<PacketSpec> specs;
  for (std::uint32_t i = 0; i < 1000; ++i) {
    PacketSpec s;
    s.flow = flow(i % 37);
    s.frame_len = 100;
    specs.push_back(s);
  }
  (void)bed.send(*prog, specs);
  ASSERT_TRUE(bed.delivered(specs.size()));
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  for (std::uint32_t f = 0; f < 37; ++f) {
    const auto c = acct.flow(flow(f));
    ASSERT_TRUE(c.has_value());
    packets += c->packets;
    bytes += c->bytes;
  }
  EXPECT_EQ(packets, 1000U);
  EXPECT_EQ(bytes, 100000U);
  EXPECT_EQ(acct.stats().inserts, 37U);
}

// --- stress -------------------------------------------------------------------------------------

// More ingress threads than cores, each yielding at random, all sending through one shared
// round-robin program (so every flow is counted on both workers at once) and a hash program.
TEST(SimProgramsStress, ManyIngressThreadsConserveEveryFrame) {
  REQUIRE_TWO_CPUS();
  constexpr int kThreads = 6;
  constexpr std::uint32_t kFramesPerThread = 3000;
  constexpr std::uint32_t kFlows = 200;
  FlowAccounting acct(8192);
  FramePool pool(2048);
  std::atomic<std::uint64_t> sunk{0};
  CpuMap::Options o;
  o.sink = [&](std::span<Frame* const> frames, int) {
    // Relaxed: a count read after the workers drained (eventually() below).
    sunk.fetch_add(frames.size(), std::memory_order_relaxed);
  };
  CpuMap map(2, o);
  ASSERT_EQ(map.update(0, 1024, acct.program()), Errc::ok);
  ASSERT_EQ(map.update(1, 1024, acct.program()), Errc::ok);
  auto counters = std::make_shared<FirstProgramCounters>();
  const auto rr = make_first_program(FirstProgram::round_robin, map, {0, 1}, counters);
  const auto hash = make_first_program(FirstProgram::flow_hash, map, {1, 0}, counters);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<std::uint32_t>(1000 + t));
      const XdpProgram& prog = t % 3 == 2 ? *hash : *rr;
      RedirectContext ctx;
      for (std::uint32_t i = 0; i < kFramesPerThread; ++i) {
        PacketSpec s;
        s.flow = flow(rng() % kFlows, rng() % 2 == 0 ? 6 : 17);
        s.frame_len = 64;
        (void)ctx.run(prog, make_frame(pool, s, i));
        if (rng() % 16 == 0 || i % 32 == 31)
          ctx.flush();
        if (rng() % 8 == 0)
          std::this_thread::yield();
      }
      ctx.flush();
    });
  }
  for (auto& th : threads)
    th.join();
  constexpr std::uint64_t kTotal = std::uint64_t{kThreads} * kFramesPerThread;
  const FirstProgramStats fs = counters->snapshot();
  EXPECT_EQ(fs.frames, kTotal);
  EXPECT_EQ(fs.redirected, kTotal);
  ASSERT_TRUE(eventually([&] {
    const auto tot = map.totals();
    return tot.enqueued + tot.enqueue_drops == kTotal && tot.processed == tot.enqueued &&
           pool.in_use() == 0;
  }));
  const auto tot = map.totals();
  // Relaxed: every worker batch has finished (processed == enqueued, frames back in the pool).
  EXPECT_EQ(sunk.load(std::memory_order_relaxed), tot.processed);
  EXPECT_EQ(tot.passed, tot.processed);
  const auto s = acct.stats();
  EXPECT_EQ(s.frames, tot.processed);
  EXPECT_EQ(s.parse_failures, 0U);
  EXPECT_EQ(s.evictions, 0U);
  EXPECT_EQ(s.lookups, s.frames);
  EXPECT_EQ(s.hits + s.inserts + s.insert_races + s.lost, s.lookups);
  std::uint64_t counted = 0;
  for (std::uint32_t f = 0; f < kFlows; ++f) {
    for (const std::uint8_t proto : {std::uint8_t{6}, std::uint8_t{17}}) {
      if (const auto c = acct.flow(flow(f, proto))) {
        counted += c->packets;
        EXPECT_EQ(c->bytes, c->packets * 64);
      }
    }
  }
  EXPECT_EQ(counted + s.lost, s.frames);
  EXPECT_EQ(s.inserts, acct.table().approx_size());
}

TEST(SimFlowAccounting, PerCpuStatsAddUpToTheTotals) {
  FramePool pool(8);
  constexpr std::uint32_t kMax = 64;
  FlowAccounting acct(kMax);
  const int cpus = std::min(2, xmaps::possible_cpus());
  for (std::uint32_t i = 0; i < 500; ++i) {
    const xmaps::CpuBinding bind(static_cast<int>(i % static_cast<std::uint32_t>(cpus)));
    PacketSpec spec;
    spec.flow = flow(i % 200);  // 200 flows in 64 entries: hits, inserts and evictions
    Frame* f = make_frame(pool, spec, 0);
    (void)acct.account(*f);
    ASSERT_TRUE(f->recycle());
  }
  xmaps::sim::FlowAccountingStats sum;
  for (int c = 0; c < xmaps::possible_cpus(); ++c) {
    const auto one = acct.stats(c);
    sum.frames += one.frames;
    sum.lookups += one.lookups;
    sum.hits += one.hits;
    sum.inserts += one.inserts;
    sum.evictions += one.evictions;
  }
  const auto all = acct.stats();
  EXPECT_EQ(sum.frames, 500U);
  EXPECT_EQ(sum.frames, all.frames);
  EXPECT_EQ(sum.lookups, all.lookups);
  EXPECT_EQ(sum.hits, all.hits);
  EXPECT_EQ(sum.inserts, all.inserts);
  EXPECT_EQ(sum.evictions, all.evictions);
  EXPECT_GT(all.evictions, 0U);
  EXPECT_EQ(acct.stats(0).frames, 500U / static_cast<std::uint32_t>(cpus));
  EXPECT_EQ(acct.stats(-1).frames, 0U);
  EXPECT_EQ(acct.stats(xmaps::possible_cpus()).frames, 0U);
}

}  // namespace
