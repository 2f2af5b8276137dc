// SPDX-License-Identifier: MIT
// The traffic generator's frames per second on one core (issue 7's target: >= 20 Mpps of
// 64-byte frames, i.e. 60 bytes without the FCS). Each iteration is what a simulator ingress
// loop does per batch: 64 frames from an xmaps::FramePool, filled by TrafficGenerator, freed
// back. items_per_second is frames/s; bytes_per_second counts the frame bytes written.
#include <cstdint>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "xmaps/frame_pool.h"
#include "xmaps/sim/generator.h"

namespace {

using xmaps::Frame;
using xmaps::FramePool;
using xmaps::sim::FlowMix;
using xmaps::sim::SizeMix;
using xmaps::sim::TrafficConfig;
using xmaps::sim::TrafficGenerator;

constexpr std::size_t kBatch = 64;  // the pipeline's poll batch

void BM_Generate(benchmark::State& state, TrafficConfig cfg, std::string label) {
  TrafficGenerator gen(cfg);  // flow table and templates: built before timing
  FramePool pool(4 * kBatch);
  Frame* frames[kBatch];
  std::uint64_t bytes = 0;
  for (auto _ : state) {
    const std::size_t got = pool.alloc_bulk(frames, kBatch);
    const std::size_t n = gen.fill(frames, got);
    for (std::size_t i = 0; i < n; ++i)
      bytes += frames[i]->len;
    benchmark::DoNotOptimize(frames[n - 1]->data);
    benchmark::ClobberMemory();
    pool.free_bulk(frames, got);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.SetLabel(label);
}

struct Case {
  const char* name;
  TrafficConfig cfg;
  const char* label;
};

std::vector<Case> cases() {
  std::vector<Case> v;
  TrafficConfig c;  // 1024 uniform UDP/IPv4 flows, 60-byte frames
  v.push_back({"uniform_udp4_60B", c, "flows=1024 udp ipv4 60B batch=64"});
  TrafficConfig big = c;
  big.flows = 1U << 20;
  v.push_back({"uniform_udp4_60B_1Mflows", big, "flows=1048576 (128 MiB of templates) 60B"});
  TrafficConfig tcp = c;
  tcp.protocol = 6;
  v.push_back({"uniform_tcp4_60B", tcp, "flows=1024 tcp ipv4 60B (seq + checksum update)"});
  TrafficConfig v6 = c;
  v6.ipv6_share = 1.0;
  v6.vlan = true;
  v6.frame_len = 78;
  v.push_back({"uniform_udp6_vlan_78B", v6, "flows=1024 udp ipv6 vlan 78B"});
  TrafficConfig imix = c;
  imix.sizes = SizeMix::imix;
  v.push_back({"imix", imix, "flows=1024 udp ipv4 IMIX 7:4:1 of 60/590/1514 (avg 353B)"});
  TrafficConfig zipf = c;
  zipf.mix = FlowMix::zipf;
  zipf.flows = 65536;
  zipf.zipf_s = 1.1;
  v.push_back({"zipf", zipf, "flows=65536 zipf s=1.1 (alias table) 60B"});
  TrafficConfig ele = c;
  ele.mix = FlowMix::elephants_mice;
  v.push_back({"elephants", ele, "flows=1024 elephants=4 share=0.9 60B"});
  TrafficConfig syn = c;
  syn.mix = FlowMix::syn_flood;
  v.push_back({"syn_flood", syn, "new source per packet, incremental checksums, 60B"});
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  for (const Case& k : cases())
    benchmark::RegisterBenchmark((std::string("BM_Generate/") + k.name).c_str(), BM_Generate, k.cfg,
                                 std::string(k.label));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
