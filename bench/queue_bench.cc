// SPDX-License-Identifier: MIT
//
// xmaps::Queue (lock-free ticket ring) and xmaps::Stack (spinlock) against the running
// kernel's QUEUE / STACK maps (driven from a BPF program: support/kernel_queue.h) and peer
// bounded queues and stacks (support/queue_peers.h), on the queue/stack issue's workloads.
//
// Names: BM_<Case>/<peer>/real_time/threads:<n>. Values u64, capacity kCap = 1024 for every
// case. Each benchmark thread is pinned to CPU thread_index (support/pin.h).
// Cases:
//   PushPop            one push then one pop per iteration, per thread (1 and 2 threads; with 2
//                      both threads push and pop the same ring: MPMC contention). ns = per pair.
//                      A pop that finds the ring empty although this thread's own push is in it
//                      is retried and counted (pop_retries; only peers that are not linearizable
//                      may show any).
//   PushPopBulk/<n>    push_bulk(n) then pop_bulk(n), one thread, n = 8 and 32; ns per value.
//   OneProducerOneConsumer         thread 0 pushes, thread 1 pops (retrying while full / empty);
//                                  items/s = values handed over per second.
//   OneProducerOneConsumerBulk32   the same, 32 values per bulk call.
//   OverwritePush      push with BPF_EXIST into a full ring (drops the oldest), one thread.
//                      Only for the rings that have the operation (xmaps, the kernel).
// Kernel peers: one iteration = one BPF_PROG_TEST_RUN of 16 runs x 64 operations (1024 pairs or
// pushes), by wall clock like every peer; they skip with a message where bpf() is not allowed.
//
// Command (Release build only; see bench/RESULTS.md, "queue_bench"):
//   cmake --preset bench && cmake --build build/bench --target queue_bench
//   build/bench/bench/queue_bench --benchmark_min_time=0.2 --benchmark_repetitions=3
//     --benchmark_report_aggregates_only=true   (one command line)
#include <array>
#include <cstdint>
#include <exception>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include <benchmark/benchmark.h>

#include "support/kernel_queue.h"
#include "support/pin.h"
#include "support/queue_peers.h"

namespace {

using namespace xmaps_bench;
using xmaps::testing::PinToCpu;

constexpr std::uint32_t kCap = 1024;
constexpr std::uint32_t kKernelRepeat = 16;

// One ring per benchmark run, shared by its threads: every thread asks for it under a mutex and
// the first one builds it (before the start barrier). It lives until a benchmark with another
// tag asks, so the repetitions of one benchmark reuse it.
struct Shared {
  std::mutex mu;
  std::string tag;
  std::shared_ptr<void> ring;
  std::string error;
};
Shared& shared() {
  static Shared s;
  return s;
}

template <class Peer>
Peer* ring_for(const std::string& tag, bool fill, std::string& error) {
  Shared& s = shared();
  const std::lock_guard lock(s.mu);
  if (s.tag != tag) {
    s.ring.reset();
    s.error.clear();
    s.tag = tag;
    try {
      auto r = std::make_shared<Peer>(kCap);
      if (fill) {
        for (std::uint64_t i = 0; i < kCap; ++i) {
          if (!r->push(i))
            throw std::runtime_error("could not fill to capacity");
        }
      }
      s.ring = std::move(r);
    } catch (const std::exception& e) {
      s.error = std::string(Peer::kName) + ": " + e.what();
    }
  }
  error = s.error;
  return static_cast<Peer*>(s.ring.get());
}

void release_shared() {
  const std::lock_guard lock(shared().mu);
  shared().ring.reset();
  shared().tag.clear();
}

// Every thread must pass the start and stop barriers, even when the benchmark cannot run.
void skip(benchmark::State& state, const std::string& why) {
  state.SkipWithError(why.c_str());
  for (auto _ : state) {
  }
}

enum class Case { push_pop, push_pop_bulk, one_one, one_one_bulk, overwrite };

template <class Peer, Case C>
void bm_ring(benchmark::State& state, std::size_t bulk) {
  const PinToCpu pin(state.thread_index());
  std::string error;
  const std::string tag = std::string(Peer::kName) + "/" + std::to_string(static_cast<int>(C)) +
                          "/" + std::to_string(bulk) + "/" + std::to_string(state.threads());
  Peer* const r = ring_for<Peer>(tag, C == Case::overwrite, error);
  if (r == nullptr)
    return skip(state, error);
  std::uint64_t v = static_cast<std::uint64_t>(state.thread_index()) << 40;
  std::uint64_t failures = 0;
  std::uint64_t retries = 0;
  std::array<std::uint64_t, 32> buf{};
  if constexpr (C == Case::push_pop) {
    for (auto _ : state) {
      if (!r->push(v++)) {
        ++failures;  // and no pop: this thread's value is not there to be popped
        continue;
      }
      std::uint64_t out = 0;
      while (!r->pop(out))
        ++retries;
      benchmark::DoNotOptimize(out);
    }
  } else if constexpr (C == Case::push_pop_bulk) {
    for (std::size_t i = 0; i < bulk; ++i)
      buf[i] = v + i;
    for (auto _ : state) {
      failures += r->push_bulk(buf.data(), bulk) == bulk ? 0 : 1;
      failures += r->pop_bulk(buf.data(), bulk) == bulk ? 0 : 1;
      benchmark::DoNotOptimize(buf);
    }
  } else if constexpr (C == Case::one_one || C == Case::one_one_bulk) {
    const std::size_t n = C == Case::one_one ? 1 : bulk;
    const bool producer = state.thread_index() == 0;
    for (auto _ : state) {
      std::size_t done = 0;
      while (done < n) {
        std::size_t k = 0;
        if constexpr (C == Case::one_one) {
          k = producer ? (r->push(v) ? 1 : 0) : (r->pop(buf[0]) ? 1 : 0);
        } else {
          k = producer ? r->push_bulk(buf.data() + done, n - done)
                       : r->pop_bulk(buf.data() + done, n - done);
        }
        done += k;
        if (k == 0)
          ++retries;
      }
      ++v;
    }
    benchmark::DoNotOptimize(buf);
  } else {
    for (auto _ : state)
      failures += r->push_overwrite(v++) ? 0 : 1;
  }
  const bool counts_items = C != Case::one_one && C != Case::one_one_bulk;
  if (counts_items || state.thread_index() == 0) {
    const std::size_t per = C == Case::push_pop_bulk || C == Case::one_one_bulk ? bulk : 1;
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * per));
  }
  if (C == Case::push_pop)
    state.counters["pop_retries"] = static_cast<double>(retries);
  state.SetLabel(Peer::describe() + " u64 capacity=" + std::to_string(kCap));
  if (failures != 0) {
    state.SkipWithError(
        ("verification failed: " + std::to_string(failures) + " operations failed").c_str());
  }
}

// ---- the kernel's QUEUE / STACK -------------------------------------------------------------

template <bool kQueue, KernelRing::Op kOp>
void bm_kernel(benchmark::State& state) {
  const PinToCpu pin(state.thread_index());
  Shared& s = shared();
  std::string error;
  KernelRing* k = nullptr;
  {
    const std::lock_guard lock(s.mu);
    const std::string tag = std::string("kernel/") + (kQueue ? "q/" : "s/") +
                            std::to_string(static_cast<int>(kOp)) + "/" +
                            std::to_string(state.threads());
    if (s.tag != tag) {
      s.ring.reset();
      s.error.clear();
      s.tag = tag;
      try {
        s.ring = std::make_shared<KernelRing>(kQueue, kCap, kOp);
      } catch (const std::exception& e) {
        s.error = e.what();
      }
    }
    error = s.error;
    k = static_cast<KernelRing*>(s.ring.get());
  }
  if (k == nullptr)
    return skip(state, error);
  std::uint64_t short_runs = 0;
  for (auto _ : state) {
    if (k->run(kKernelRepeat) != static_cast<std::uint32_t>(KernelRing::kOpsPerRun))
      ++short_runs;
  }
  state.SetItemsProcessed(state.iterations() * kKernelRepeat * KernelRing::kOpsPerRun);
  state.SetLabel(std::string("the kernel's ") + (kQueue ? "QUEUE" : "STACK") +
                 " from a BPF program (BPF_PROG_TEST_RUN) u64 capacity=" + std::to_string(kCap));
  // Exact with two threads too: each CPU pops only after its own push, and the kernel's ring is
  // linearizable (one lock), so every pop finds a value.
  if (short_runs != 0) {
    state.SkipWithError(("verification failed: " + std::to_string(short_runs) +
                         " runs did not complete every operation")
                            .c_str());
  }
}

// ---- registration --------------------------------------------------------------------------

template <class Peer>
void add_peer() {
  const std::string p(Peer::kName);
  auto* b = benchmark::RegisterBenchmark(("BM_PushPop/" + p).c_str(), bm_ring<Peer, Case::push_pop>,
                                         std::size_t{1})
                ->UseRealTime()
                ->Threads(1);
  if (!Peer::kSpsc)
    b->Threads(2);
  if constexpr (requires(Peer & x, std::uint64_t * q) { x.push_bulk(q, 1); }) {
    for (const std::size_t n : {std::size_t{8}, std::size_t{32}}) {
      benchmark::RegisterBenchmark(("BM_PushPopBulk/" + p + "/" + std::to_string(n)).c_str(),
                                   bm_ring<Peer, Case::push_pop_bulk>, n)
          ->UseRealTime()
          ->Threads(1);
    }
    benchmark::RegisterBenchmark(("BM_OneProducerOneConsumerBulk32/" + p).c_str(),
                                 bm_ring<Peer, Case::one_one_bulk>, std::size_t{32})
        ->UseRealTime()
        ->Threads(2);
  }
  benchmark::RegisterBenchmark(("BM_OneProducerOneConsumer/" + p).c_str(),
                               bm_ring<Peer, Case::one_one>, std::size_t{1})
      ->UseRealTime()
      ->Threads(2);
  if constexpr (requires(Peer & x) { x.push_overwrite(1); }) {
    benchmark::RegisterBenchmark(("BM_OverwritePush/" + p).c_str(), bm_ring<Peer, Case::overwrite>,
                                 std::size_t{1})
        ->UseRealTime()
        ->Threads(1);
  }
}

template <bool kQueue>
void add_kernel() {
  const std::string p = kQueue ? "kernel_queue" : "kernel_stack";
  benchmark::RegisterBenchmark(("BM_PushPop/" + p).c_str(),
                               bm_kernel<kQueue, KernelRing::Op::push_pop>)
      ->UseRealTime()
      ->Threads(1)
      ->Threads(2);
  benchmark::RegisterBenchmark(("BM_OverwritePush/" + p).c_str(),
                               bm_kernel<kQueue, KernelRing::Op::overwrite>)
      ->UseRealTime()
      ->Threads(1);
}

void register_all() {
  std::string why;
  if (xmaps::testing::bpf_available(&why)) {
    add_kernel<true>();
    add_kernel<false>();
  } else {
    std::cerr << "queue_bench: the kernel peers are skipped: " << why << '\n';
  }
  add_peer<XmapsQueuePeer>();
  add_peer<XmapsStackPeer>();
  add_peer<BoostQueuePeer>();
  add_peer<BoostStackPeer>();
  add_peer<BoostSpscPeer>();
#if XMAPS_BENCH_HAVE_MOODYCAMEL
  add_peer<MoodycamelPeer>();
#endif
#if XMAPS_BENCH_HAVE_TBB
  add_peer<TbbBoundedPeer>();
#endif
#if XMAPS_BENCH_HAVE_XENIUM
  add_peer<XeniumVyukovPeer>();
#endif
#if XMAPS_BENCH_HAVE_CK
  add_peer<CkRingPeer>();
#endif
#if XMAPS_BENCH_HAVE_DPDK
  if (DpdkRuntime::ok()) {
    add_peer<DpdkRingPeer>();
    add_peer<DpdkStackPeer>();
  } else {
    std::cerr << "queue_bench: DPDK peers are skipped: " << DpdkRuntime::error() << '\n';
  }
#endif
}

}  // namespace

int main(int argc, char** argv) try {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
#if XMAPS_BENCH_HAVE_DPDK
  DpdkRuntime::init();
#endif
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  release_shared();
  benchmark::Shutdown();
#if XMAPS_BENCH_HAVE_DPDK
  DpdkRuntime::cleanup();
#endif
  return 0;
} catch (const std::exception& e) {
  std::cerr << "queue_bench: " << e.what() << '\n';
  return 1;
}
