// SPDX-License-Identifier: MIT
//
// CPUMAP redirect throughput: one ingress thread (pinned to CPU 0) runs a first program on
// 64-byte frames from a FramePool in poll batches of 64 and redirects every frame to the
// CpuMap entry of CPU 1, whose worker runs the second program. The xdp-bench redirect-cpu
// modes, the kernel anchor's conditions (64-byte frames, CPU 0 -> CPU 1):
//
//   BM_Redirect/<ingress>/<remote>/qsize:<q>/bulk:<b>
//     ingress  no_touch   the first program redirects without reading the frame
//              touch      it reads the Ethernet type and the IPv4 protocol first
//     remote   pass       no second program: the worker hands frames on (to no sink) and
//                         recycles them
//              touch_drop the second program reads the UDP ports, counts, and drops
//              drop       the second program drops without reading
//     qsize    64 / 192 / 2048 (xdp_redirect_cpu's and xdp-bench's defaults, and i40e's)
//     bulk     8 / 16 (ingress bulk queue size, CPU_MAP_BULK_SIZE and the proposed 16)
//
// Reported: items_per_second = frames the ingress thread handled per second (its per-frame
// cost is ingress_ns); delivered_Mpps = frames the worker processed per second of the same
// run; enqueue_drop_pct = frames the full ring refused (the worker could not keep up).
//
// Command: cmake --preset bench && cmake --build build/bench --target cpumap_bench &&
//   build/bench/bench/cpumap_bench --benchmark_min_time=0.5 --benchmark_repetitions=3
//     --benchmark_report_aggregates_only=true   (see bench/RESULTS.md)
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <xmaps/cpu.h>
#include <xmaps/cpumap.h>
#include <xmaps/frame_pool.h>
#include <xmaps/redirect.h>

#include <benchmark/benchmark.h>

#include "support/kernel_cpumap.h"
#include "support/pin.h"

namespace {

using xmaps::CpuMap;
using xmaps::Frame;
using xmaps::FramePool;
using xmaps::XdpAction;
using xmaps::XdpProgram;

enum class Ingress { no_touch, touch };
enum class Remote { pass, touch_drop, drop };

constexpr std::uint32_t kBatch = 64;  // frames per poll batch (NAPI budget)
constexpr std::uint32_t kFrameLen = 64;
constexpr std::uint32_t kRemoteCpu = 1;

// A 64-byte Ethernet + IPv4 + UDP frame (contents are what the programs read, not checked).
void write_frame(unsigned char* p) {
  std::memset(p, 0, kFrameLen);
  p[12] = 0x08;  // ethertype IPv4
  p[13] = 0x00;
  p[14] = 0x45;  // IPv4, IHL 5
  p[23] = 17;    // UDP
  p[34] = 0x30;  // source port 12345
  p[35] = 0x39;
  p[36] = 0x00;  // destination port 9
  p[37] = 0x09;
}

void bm_redirect(benchmark::State& state, Ingress ingress, Remote remote) {
  const auto qsize = static_cast<std::uint32_t>(state.range(0));
  const auto bulk = static_cast<std::uint32_t>(state.range(1));
  if (xmaps::possible_cpus() < 2) {
    state.SkipWithError("needs 2 CPUs");
    for (auto _ : state) {
    }
    return;
  }
  const xmaps::testing::PinToCpu pin(0);
  const xmaps::CpuBinding bind(0);
  // Frames out at most: the ring, one bulk, one batch, the worker's batch.
  FramePool pool(qsize + 4 * kBatch);
  {
    std::unique_ptr<Frame*[]> all(new Frame*[pool.count()]);
    const std::size_t n = pool.alloc_bulk(all.get(), pool.count());
    for (std::size_t i = 0; i < n; ++i)
      write_frame(all[i]->data);
    xmaps::recycle_frames(all.get(), n);
  }
  CpuMap::Options options;
  options.bulk_size = bulk;
  CpuMap map(2, options);
  std::uint64_t remote_sum = 0;  // written by the worker only
  std::shared_ptr<const XdpProgram> second;
  if (remote == Remote::touch_drop) {
    second = std::make_shared<const XdpProgram>([&remote_sum](Frame& f) {
      remote_sum += static_cast<std::uint64_t>(f.data[34] << 8 | f.data[35]) + f.data[37];
      return XdpAction::drop;
    });
  } else if (remote == Remote::drop) {
    second = std::make_shared<const XdpProgram>([](Frame&) { return XdpAction::drop; });
  }
  if (map.update(kRemoteCpu, qsize, second) != xmaps::Errc::ok) {
    state.SkipWithError("CpuMap::update failed");
    for (auto _ : state) {
    }
    return;
  }
  xmaps::RedirectContext ctx;
  std::uint64_t ingress_sum = 0;
  const XdpProgram first([&](Frame& f) {
    if (ingress == Ingress::touch) {
      if (f.data[12] != 0x08 || f.data[13] != 0x00)
        return XdpAction::pass;
      ingress_sum += f.data[23];
    }
    return xmaps::redirect_map(map, kRemoteCpu, 0);
  });
  std::array<Frame*, kBatch> batch{};
  std::uint64_t handed = 0;
  std::uint64_t short_allocs = 0;
  const xmaps::CpuMapStats before = map.stats(kRemoteCpu);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    const std::size_t n = pool.alloc_bulk(batch.data(), kBatch);
    short_allocs += kBatch - n;
    for (std::size_t i = 0; i < n; ++i) {
      batch[i]->len = kFrameLen;
      if (ctx.run(first, batch[i]) == XdpAction::pass)
        (void)batch[i]->recycle();  // not IPv4 (never, with these frames)
    }
    ctx.flush();
    handed += n;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const xmaps::CpuMapStats after = map.stats(kRemoteCpu);
  benchmark::DoNotOptimize(ingress_sum);
  state.SetItemsProcessed(static_cast<std::int64_t>(handed));
  const double processed = static_cast<double>(after.processed - before.processed);
  const double drops = static_cast<double>(after.enqueue_drops - before.enqueue_drops);
  state.counters["ingress_ns"] = handed != 0 ? seconds * 1e9 / static_cast<double>(handed) : 0;
  state.counters["delivered_Mpps"] = processed / seconds / 1e6;
  state.counters["enqueue_drop_pct"] =
      handed != 0 ? 100.0 * drops / static_cast<double>(handed) : 0;
  state.counters["pool_short"] = static_cast<double>(short_allocs);
  state.counters["worker_sleeps"] = static_cast<double>(after.sleeps - before.sleeps);
  state.SetLabel("64B frames, batch 64, CPU 0 -> CPU 1, qsize " + std::to_string(qsize) +
                 ", bulk " + std::to_string(bulk));
  (void)map.erase(kRemoteCpu);  // drain before the pool goes
  benchmark::DoNotOptimize(remote_sum);
}

// The kernel's CPUMAP in the anchor's conditions (support/kernel_cpumap.h): a live-frames test
// run from CPU 0, 64-byte frames, batches of 64, the entry of CPU 1 counting then dropping.
// One iteration = one BPF_PROG_TEST_RUN of kKernelRepeat frames.
constexpr std::uint32_t kKernelRepeat = 1U << 14;

void bm_kernel_redirect(benchmark::State& state) {
  const auto qsize = static_cast<std::uint32_t>(state.range(0));
  const xmaps::testing::PinToCpu pin(0);
  std::unique_ptr<xmaps_bench::KernelCpumap> k;
  try {
    k = std::make_unique<xmaps_bench::KernelCpumap>(kRemoteCpu, qsize);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    for (auto _ : state) {
    }
    return;
  }
  const std::uint64_t before = k->delivered();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state)
    k->run(kKernelRepeat, kBatch);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::uint64_t during = k->delivered() - before;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the kthread drain
  const std::uint64_t total = k->delivered() - before;
  const auto handed = static_cast<double>(state.iterations()) * kKernelRepeat;
  state.SetItemsProcessed(static_cast<std::int64_t>(handed));
  state.counters["ingress_ns"] = seconds * 1e9 / handed;
  state.counters["delivered_Mpps"] = static_cast<double>(during) / seconds / 1e6;
  state.counters["enqueue_drop_pct"] = 100.0 * (handed - static_cast<double>(total)) / handed;
  state.SetLabel("kernel CPUMAP, live frames, 64B, batch 64, CPU 0 -> CPU 1, qsize " +
                 std::to_string(qsize) + ", bulk 8 (fixed)");
}

void register_all() {
  benchmark::RegisterBenchmark("BM_KernelRedirect/no_touch/count_drop", bm_kernel_redirect)
      ->ArgNames({"qsize"})
      ->Args({64})
      ->Args({192})
      ->Args({2048})
      ->UseRealTime()
      ->Unit(benchmark::kNanosecond);
  const std::pair<Ingress, const char*> ingresses[] = {{Ingress::no_touch, "no_touch"},
                                                       {Ingress::touch, "touch"}};
  const std::pair<Remote, const char*> remotes[] = {
      {Remote::pass, "pass"}, {Remote::touch_drop, "touch_drop"}, {Remote::drop, "drop"}};
  for (const auto& [in, in_name] : ingresses) {
    for (const auto& [re, re_name] : remotes) {
      const std::string name = std::string("BM_Redirect/") + in_name + "/" + re_name;
      benchmark::RegisterBenchmark(
          name.c_str(), [in = in, re = re](benchmark::State& s) { bm_redirect(s, in, re); })
          ->ArgNames({"qsize", "bulk"})
          ->ArgsProduct({{64, 192, 2048}, {8, 16}})
          ->UseRealTime()
          ->Unit(benchmark::kNanosecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
