// SPDX-License-Identifier: MIT
// Toeplitz RSS per frame (xmaps/sim/rss.h): the table-driven Rss::hash() against the bit-by-bit
// toeplitz_reference(), IPv4 and IPv6 4-tuples, Microsoft key. Inputs (1024 random tuples, and
// for the reference their hash input bytes) are generated before timing; items_per_second is
// hashes (frames) per second.
#include <array>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include <benchmark/benchmark.h>

#include "xmaps/sim/rss.h"

namespace {

using xmaps::sim::FlowTuple;

constexpr std::size_t kTuples = 1024;  // a power of two: index with a mask

std::vector<FlowTuple> tuples(std::uint8_t version) {
  std::mt19937_64 rng(42);
  std::vector<FlowTuple> out(kTuples);
  for (FlowTuple& t : out) {
    t.ip_version = version;
    t.protocol = 6;
    const std::size_t n = version == 6 ? 16 : 4;
    for (std::size_t i = 0; i < n; ++i) {
      t.src_ip[i] = static_cast<std::uint8_t>(rng());
      t.dst_ip[i] = static_cast<std::uint8_t>(rng());
    }
    t.src_port = static_cast<std::uint16_t>(rng());
    t.dst_port = static_cast<std::uint16_t>(rng());
  }
  return out;
}

void BM_RssHash_Table(benchmark::State& state) {
  const auto version = static_cast<std::uint8_t>(state.range(0));
  const std::vector<FlowTuple> ts = tuples(version);
  const xmaps::sim::Rss rss(xmaps::sim::RssConfig{.queues = 8});
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(rss.hash(ts[i & (kTuples - 1)], true));
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetLabel(version == 6 ? "ipv6 4-tuple, table" : "ipv4 4-tuple, table");
}

void BM_RssHash_Reference(benchmark::State& state) {
  const auto version = static_cast<std::uint8_t>(state.range(0));
  const std::size_t addr = version == 6 ? 16 : 4;
  const std::size_t len = 2 * addr + 4;
  std::vector<std::array<std::uint8_t, 36>> inputs(kTuples);
  const std::vector<FlowTuple> ts = tuples(version);
  for (std::size_t k = 0; k < kTuples; ++k) {
    std::size_t n = 0;
    for (std::size_t j = 0; j < addr; ++j)
      inputs[k][n++] = ts[k].src_ip[j];
    for (std::size_t j = 0; j < addr; ++j)
      inputs[k][n++] = ts[k].dst_ip[j];
    inputs[k][n++] = static_cast<std::uint8_t>(ts[k].src_port >> 8);
    inputs[k][n++] = static_cast<std::uint8_t>(ts[k].src_port);
    inputs[k][n++] = static_cast<std::uint8_t>(ts[k].dst_port >> 8);
    inputs[k][n++] = static_cast<std::uint8_t>(ts[k].dst_port);
  }
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& in = inputs[i & (kTuples - 1)];
    benchmark::DoNotOptimize(xmaps::sim::toeplitz_reference(
        xmaps::sim::kMicrosoftRssKey, std::span<const std::uint8_t>(in.data(), len)));
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetLabel(version == 6 ? "ipv6 4-tuple, reference" : "ipv4 4-tuple, reference");
}

BENCHMARK(BM_RssHash_Table)->Arg(4)->Arg(6);
BENCHMARK(BM_RssHash_Reference)->Arg(4)->Arg(6);

}  // namespace

BENCHMARK_MAIN();
