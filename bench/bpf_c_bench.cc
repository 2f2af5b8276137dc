// SPDX-License-Identifier: MIT
//
// The same BPF-C source, natively on xmaps and in the running kernel. Each program in
// bench/bpf_c/*.bpf.c is compiled twice: here, as C++ against xmaps/bpf_helpers.h, and by
// clang's BPF target against libbpf, the object loaded into the kernel with libbpf
// (tests/support/libbpf_object.h). Rows, per operation:
//
//   BM_BpfC/<op>/xmaps    one iteration = one call of the native program: BENCH_LOOPS map
//                         operations in a bpf_loop (one pair for push_pop)
//   BM_BpfC/<op>/kernel   one iteration = one BPF_PROG_TEST_RUN of the kernel's copy: the same
//                         BENCH_LOOPS operations (the syscall adds ~1 us per 65536 operations)
//     op  hash_lookup           HASH of 4096 __u32 -> __u64, every key present
//         lru_update_evicting   LRU_HASH of 4096, BPF_ANY updates of keys over 4 x 4096
//         lru_update_resident   the same, keys over 2048: every update replaces a present key
//         queue_push_pop        QUEUE of 1024 __u64: push then pop
//         queue_push_overwrite  QUEUE, full: push with BPF_EXIST overwrites the oldest
//   BM_BpfC/cpumap_rr/<xmaps|kernel>/qsize:<q>   the round-robin CPUMAP program redirecting
//         64-byte frames from CPU 0 to CPU 1, whose entry counts and drops them; xmaps: poll
//         batches of 64 through a RedirectContext; kernel: a live-frames test run, batch 64.
//         Reported per frame on the ingress CPU; delivered_Mpps as the second program counted.
//
// items_per_second is map operations (frames) per second; at the end a table puts each
// operation's two rows side by side with the ratio kernel ns / xmaps ns. Without libbpf,
// clang's BPF target or bpf() permission the kernel rows are skipped with the reason.
//
// Command: cmake --preset bench && cmake --build build/bench --target bpf_c_bench &&
//   build/bench/bench/bpf_c_bench --benchmark_min_time=0.5   (see bench/RESULTS.md)
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>
#include <xmaps/bpf.h>
#include <xmaps/bpf_helpers.h>
#include <xmaps/cpu.h>
#include <xmaps/cpumap.h>
#include <xmaps/frame_pool.h>
#include <xmaps/redirect.h>

#include <benchmark/benchmark.h>

#include "bpf_c/bench_bpf.h"
#include "support/libbpf_object.h"
#include "support/pin.h"

// The programs, unchanged; each in a namespace of its own (their include line is a no-op here:
// bench_bpf.h is in already).
namespace prog_hash {
#include "bpf_c/hash_lookup.bpf.c"
}
namespace prog_lru {
#include "bpf_c/lru_update.bpf.c"
}
namespace prog_queue {
#include "bpf_c/queue_push_pop.bpf.c"
}
namespace prog_cpumap {
#include "bpf_c/cpumap_rr.bpf.c"
}

namespace {

constexpr std::uint32_t kRemoteCpu = 1;
constexpr std::uint32_t kBatch = 64;
constexpr std::uint32_t kFrameLen = 64;
constexpr std::uint32_t kLiveRepeat = 1U << 14;

std::string object_path(const char* name) {
  return std::string(XMAPS_BPF_OBJ_DIR) + "/" + name + ".bpf.o";
}

void skip(benchmark::State& state, const std::string& why) {
  state.SkipWithError(why.c_str());
  for (auto _ : state) {
  }
}

// ---- setup, the same for both sides: the user-space code of each benchmark

// Fills a HASH of __u32 -> __u64 with keys 0 .. n-1 (value = key + 1).
template <class Update>
void fill_hash(Update&& update, std::uint32_t n) {
  for (std::uint32_t k = 0; k < n; ++k) {
    const std::uint64_t v = k + 1;
    update(&k, &v, BPF_ANY);
  }
}

// Fills a QUEUE of __u64 to capacity.
template <class Push>
void fill_queue(Push&& push, std::uint32_t n) {
  for (std::uint64_t v = 0; v < n; ++v)
    push(nullptr, &v, BPF_ANY);
}

template <class Def>
int native_fd(Def* def) {
  return bpf_map__fd(xmaps::bpf_map_of(def));
}

void native_update(int fd, const void* key, const void* value, std::uint64_t flags) {
  if (bpf_map_update_elem(fd, key, value, flags) != 0)
    throw std::runtime_error(std::string("xmaps: bpf_map_update_elem: ") + std::strerror(errno));
}

// What each operation needs before it runs, on one side (update = that side's
// bpf_map_update_elem on the op's map).
template <class Update>
void prepare(const std::string& op, Update&& update) {
  if (op == "hash_lookup") {
    fill_hash(update, HASH_KEYS);
  } else if (op == "queue_push_overwrite") {
    fill_queue(update, QUEUE_SIZE);
  }
  // lru_update_*: start empty (the first run fills, later runs are the steady state);
  // queue_push_pop: starts and ends empty.
}

struct Op {
  const char* name;
  const char* object;   // bench/bpf_c/<object>.bpf.c
  const char* program;  // the program (function) name
  const char* map;      // the map the user side prepares
  int (*native)(struct xdp_md*);
  int (*native_map)();  // the map's and bench_errors' fds on the native side
  int (*native_errors)();
};

const Op kOps[] = {
    {"hash_lookup", "hash_lookup", "hash_lookup_loop", "bench_hash", prog_hash::hash_lookup_loop,
     [] { return native_fd(&prog_hash::bench_hash); },
     [] { return native_fd(&prog_hash::bench_errors); }},
    {"lru_update_evicting", "lru_update", "lru_update_evicting", "bench_lru",
     prog_lru::lru_update_evicting, [] { return native_fd(&prog_lru::bench_lru); },
     [] { return native_fd(&prog_lru::bench_errors); }},
    {"lru_update_resident", "lru_update", "lru_update_resident", "bench_lru",
     prog_lru::lru_update_resident, [] { return native_fd(&prog_lru::bench_lru); },
     [] { return native_fd(&prog_lru::bench_errors); }},
    {"queue_push_pop", "queue_push_pop", "queue_push_pop", "bench_queue",
     prog_queue::queue_push_pop, [] { return native_fd(&prog_queue::bench_queue); },
     [] { return native_fd(&prog_queue::bench_errors); }},
    {"queue_push_overwrite", "queue_push_pop", "queue_push_overwrite", "bench_queue",
     prog_queue::queue_push_overwrite, [] { return native_fd(&prog_queue::bench_queue); },
     [] { return native_fd(&prog_queue::bench_errors); }},
};

// Operations per program run: a push/pop pair counts as one operation.
constexpr double kOpsPerRun = BENCH_LOOPS;

void bm_native(benchmark::State& state, const Op& op) {
  const xmaps::testing::PinToCpu pin(0);
  const xmaps::CpuBinding bind(0);
  const int fd = op.native_map();
  const int errors_fd = op.native_errors();
  if (fd < 0 || errors_fd < 0)
    return skip(state, std::string("xmaps: the program's map cannot be made: ") +
                           std::strerror(-std::min(fd, errors_fd)));
  // Each op starts from a fresh map state: the LRU's and queue's contents carry over between
  // the rows of one map otherwise (the kernel side reloads its object per row).
  static std::map<std::string, bool> prepared;
  if (!prepared[op.name]) {
    if (std::string(op.map) == "bench_lru" || std::string(op.map) == "bench_queue") {
      // Empty it: pop / delete everything left by an earlier row.
      std::uint64_t v = 0;
      while (bpf_map_lookup_and_delete_elem(fd, nullptr, &v) == 0) {
      }
      std::uint32_t key = 0;
      std::uint32_t next = 0;
      while (bpf_map_get_next_key(fd, nullptr, &next) == 0) {
        key = next;
        (void)bpf_map_delete_elem(fd, &key);
      }
    }
    prepare(op.name,
            [fd](const void* k, const void* v, std::uint64_t f) { native_update(fd, k, v, f); });
    prepared[op.name] = true;
  }
  unsigned char frame[kFrameLen] = {};
  xdp_md ctx{};
  ctx.data = reinterpret_cast<std::uintptr_t>(frame);
  ctx.data_end = reinterpret_cast<std::uintptr_t>(frame + sizeof(frame));
  ctx.data_meta = ctx.data;
  const std::uint32_t zero = 0;
  std::uint64_t errors = 0;
  (void)bpf_map_update_elem(errors_fd, &zero, &errors, BPF_ANY);
  int last = XDP_PASS;
  for (auto _ : state) {
    last = op.native(&ctx);
    if (last != XDP_PASS)
      break;
  }
  (void)bpf_map_lookup_elem(errors_fd, &zero, &errors);
  if (last != XDP_PASS || errors != 0)
    return skip(state, "the native program returned " + std::to_string(last) + " after " +
                           std::to_string(errors) + " failed operations");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kOpsPerRun));
  state.SetLabel("xmaps, native C++");
}

void bm_kernel(benchmark::State& state, const Op& op) {
  std::string why;
  if (!xmaps::testing::libbpf_available(why))
    return skip(state, "kernel column skipped: " + why);
  const xmaps::testing::PinToCpu pin(0);
  std::unique_ptr<xmaps::testing::KernelObject> k;
  try {
    k = std::make_unique<xmaps::testing::KernelObject>(object_path(op.object));
    prepare(op.name,
            [&](const void* key, const void* v, std::uint64_t f) { k->update(op.map, key, v, f); });
    (void)k->test_run(op.program, 1);  // loads, and runs once: the LRU starts as natively
  } catch (const std::exception& e) {
    return skip(state, std::string("kernel column skipped: ") + e.what());
  }
  const char* prog = op.program;
  std::uint64_t kernel_ns = 0;
  xmaps::testing::KernelRun run;
  for (auto _ : state) {
    run = k->test_run(prog, 1);
    kernel_ns += run.duration_ns;
    if (run.retval != XDP_PASS)
      break;
  }
  const std::uint32_t zero = 0;
  std::uint64_t errors = 0;
  k->lookup("bench_errors", &zero, &errors);
  if (run.retval != XDP_PASS || errors != 0)
    return skip(state, "the kernel's program returned " + std::to_string(run.retval) + " after " +
                           std::to_string(errors) + " failed operations");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kOpsPerRun));
  state.counters["kernel_ns_per_op"] =
      static_cast<double>(kernel_ns) / (static_cast<double>(state.iterations()) * kOpsPerRun);
  state.SetLabel("kernel, clang -target bpf + libbpf, BPF_PROG_TEST_RUN");
}

// ---- CPUMAP round robin

// The CPUMAP entry of kRemoteCpu: qsize and the second program's fd (0: delete the entry,
// which drains it), with the same user-side call as the kernel's row.
void native_cpumap_entry(std::uint32_t qsize, int second_fd) {
  bpf_cpumap_val val{};
  val.qsize = qsize;
  val.bpf_prog.fd = second_fd;
  native_update(native_fd(&prog_cpumap::rr_cpu_map), &kRemoteCpu, &val, BPF_ANY);
}

template <class Update>
void prepare_rr(Update&& update) {
  const std::uint32_t zero = 0;
  const std::uint32_t one = 1;
  const std::uint32_t cpu = kRemoteCpu;
  update("rr_targets", &zero, &cpu);
  update("rr_count", &zero, &one);
}

std::uint64_t native_delivered() {
  const std::uint32_t zero = 0;
  std::uint64_t v = 0;
  (void)bpf_map_lookup_elem(bpf_map__fd(xmaps::bpf_map_of(&prog_cpumap::rr_delivered)), &zero, &v);
  return v;
}

void bm_native_cpumap(benchmark::State& state) {
  const auto qsize = static_cast<std::uint32_t>(state.range(0));
  if (xmaps::possible_cpus() < 2)
    return skip(state, "needs 2 CPUs");
  const xmaps::testing::PinToCpu pin(0);
  const xmaps::CpuBinding bind(0);
  const xmaps::XdpProgram first = xmaps::xdp_program(prog_cpumap::cpumap_rr_redirect, "rr");
  try {
    prepare_rr([](const char* map, const void* k, const void* v) {
      const int fd = std::string(map) == "rr_targets"
                         ? bpf_map__fd(xmaps::bpf_map_of(&prog_cpumap::rr_targets))
                         : bpf_map__fd(xmaps::bpf_map_of(&prog_cpumap::rr_count));
      native_update(fd, k, v, BPF_ANY);
    });
    const int second = xmaps::bpf_program_fd(prog_cpumap::cpumap_count_drop, "count-drop");
    if (second < 0)
      throw std::runtime_error("xmaps: bpf_program_fd failed");
    native_cpumap_entry(qsize, second);
    ::close(second);  // the entry keeps its program
  } catch (const std::exception& e) {
    return skip(state, e.what());
  }
  xmaps::FramePool pool(qsize + 4 * kBatch);
  xmaps::RedirectContext ctx;
  std::array<xmaps::Frame*, kBatch> batch{};
  std::uint64_t handed = 0;
  std::uint64_t aborted = 0;
  const std::uint64_t before = native_delivered();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    const std::size_t n = pool.alloc_bulk(batch.data(), kBatch);
    for (std::size_t i = 0; i < n; ++i) {
      batch[i]->len = kFrameLen;
      if (ctx.run(first, batch[i]) != xmaps::XdpAction::redirect)
        ++aborted;
    }
    ctx.flush();
    handed += n;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::uint64_t during = native_delivered() - before;
  native_cpumap_entry(0, 0);  // qsize 0 deletes the entry: drains it before the pool goes
  if (aborted != 0)
    return skip(state, std::to_string(aborted) + " frames were not redirected");
  state.SetItemsProcessed(static_cast<std::int64_t>(handed));
  state.counters["ingress_ns"] = handed != 0 ? seconds * 1e9 / static_cast<double>(handed) : 0;
  state.counters["delivered_Mpps"] = static_cast<double>(during) / seconds / 1e6;
  state.SetLabel("xmaps, native C++, 64B, batch 64, CPU 0 -> CPU 1, qsize " +
                 std::to_string(qsize));
}

void bm_kernel_cpumap(benchmark::State& state) {
  const auto qsize = static_cast<std::uint32_t>(state.range(0));
  std::string why;
  if (!xmaps::testing::libbpf_available(why))
    return skip(state, "kernel column skipped: " + why);
  if (xmaps::possible_cpus() < 2)
    return skip(state, "needs 2 CPUs");
  const xmaps::testing::PinToCpu pin(0);
  std::unique_ptr<xmaps::testing::KernelObject> k;
  const std::uint32_t zero = 0;
  auto delivered = [&] {
    std::uint64_t v = 0;
    k->lookup("rr_delivered", &zero, &v);
    return v;
  };
  try {
    k = std::make_unique<xmaps::testing::KernelObject>(object_path("cpumap_rr"));
    prepare_rr(
        [&](const char* map, const void* key, const void* v) { k->update(map, key, v, BPF_ANY); });
    bpf_cpumap_val val{};
    val.qsize = qsize;
    val.bpf_prog.fd = k->prog_fd("cpumap_count_drop");
    k->update("rr_cpu_map", &kRemoteCpu, &val, BPF_ANY);
    k->test_run_live("cpumap_rr_redirect", kBatch, kBatch);  // the path works
  } catch (const std::exception& e) {
    return skip(state, std::string("kernel column skipped: ") + e.what());
  }
  const std::uint64_t before = delivered();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state)
    k->test_run_live("cpumap_rr_redirect", kLiveRepeat, kBatch);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::uint64_t during = delivered() - before;
  const auto handed = static_cast<double>(state.iterations()) * kLiveRepeat;
  state.SetItemsProcessed(static_cast<std::int64_t>(handed));
  state.counters["ingress_ns"] = seconds * 1e9 / handed;
  state.counters["delivered_Mpps"] = static_cast<double>(during) / seconds / 1e6;
  state.SetLabel(
      "kernel, clang -target bpf + libbpf, live frames, 64B, batch 64, CPU 0 -> "
      "CPU 1, qsize " +
      std::to_string(qsize));
}

// ---- the side-by-side table

class SideBySide : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      const std::string name = r.benchmark_name();
      const auto it = r.counters.find("items_per_second");
      if (r.error_occurred || it == r.counters.end() || it->second.value <= 0)
        continue;
      // With --benchmark_repetitions: the median, not the mean, stddev or cv rows.
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (r.run_type == Run::RT_Aggregate && !median)
        continue;
      // BM_BpfC/<op>/<side>[/args][/real_time]: the key is op plus args.
      std::string rest = name.substr(std::string("BM_BpfC/").size());
      if (const std::size_t rt = rest.rfind("/real_time"); rt != std::string::npos)
        rest.erase(rt);
      const std::size_t a = rest.find('/');
      if (a == std::string::npos)
        continue;
      const std::size_t b = rest.find('/', a + 1);
      const std::string side = rest.substr(a + 1, b == std::string::npos ? b : b - a - 1);
      std::string key = rest.substr(0, a);
      if (b != std::string::npos)
        key.append(rest, b, std::string::npos);  // the arguments, "/qsize:..."
      if (!median && medians_.count(key + "/" + side) != 0)
        continue;
      if (median)
        medians_.insert(key + "/" + side);
      ns_[key][side] = 1e9 / it->second.value;
      if (std::find(order_.begin(), order_.end(), key) == order_.end())
        order_.push_back(key);
    }
    ConsoleReporter::ReportRuns(runs);
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::FILE* out = stdout;
    std::fprintf(out, "\nSame BPF-C source: ns per operation (per frame for cpumap_rr)\n");
    std::fprintf(out, "%-34s %12s %12s %16s\n", "operation", "xmaps", "kernel", "kernel / xmaps");
    for (const std::string& key : order_) {
      const auto& sides = ns_[key];
      const auto x = sides.find("xmaps");
      const auto k = sides.find("kernel");
      char xs[32] = "n/a";
      char ks[32] = "n/a";
      char ratio[32] = "-";
      if (x != sides.end())
        std::snprintf(xs, sizeof(xs), "%.2f", x->second);
      if (k != sides.end())
        std::snprintf(ks, sizeof(ks), "%.2f", k->second);
      if (x != sides.end() && k != sides.end())
        std::snprintf(ratio, sizeof(ratio), "%.2fx", k->second / x->second);
      std::fprintf(out, "%-34s %12s %12s %16s\n", key.c_str(), xs, ks, ratio);
    }
  }

 private:
  std::map<std::string, std::map<std::string, double>> ns_;
  std::set<std::string> medians_;  // key/side rows whose figure is a median
  std::vector<std::string> order_;
};

void register_all() {
  for (const Op& op : kOps) {
    for (const char* side : {"xmaps", "kernel"}) {
      const std::string name = std::string("BM_BpfC/") + op.name + "/" + side;
      const bool native = std::string(side) == "xmaps";
      benchmark::RegisterBenchmark(
          name.c_str(),
          [&op, native](benchmark::State& s) { native ? bm_native(s, op) : bm_kernel(s, op); })
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
  benchmark::RegisterBenchmark("BM_BpfC/cpumap_rr/xmaps", bm_native_cpumap)
      ->ArgNames({"qsize"})
      ->Args({192})
      ->Args({2048})
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("BM_BpfC/cpumap_rr/kernel", bm_kernel_cpumap)
      ->ArgNames({"qsize"})
      ->Args({192})
      ->Args({2048})
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  SideBySide reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
