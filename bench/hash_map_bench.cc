// SPDX-License-Identifier: MIT
//
// xmaps::HashMap against peer hash maps, on the workloads of the BPF hash-map issue.
//
// Names: BM_<Peer><Case><key>/<size>/real_time/threads:<n>, e.g.
//   BM_XmapsLookupHit<u32>/65536/real_time/threads:2
// Peers (each only if CMake found its package; see bench/CMakeLists.txt and support/*.h):
//   Xmaps Dpdk Absl Cuckoo Tbb Urcu Cds StdMutex, and Kernel (the running kernel's HASH from a
//   BPF program: LookupHit and Update, u32 keys; below, "The kernel's HASH")
// Cases (one operation per iteration unless said otherwise):
//   LookupHit       find a present key and read its 16-byte value
//   LookupMiss      find an absent key
//   Update          overwrite the value of a present key (each peer's idiomatic update)
//   InsertErase     insert a new key, then erase it (one item = the pair)
//   LookupCopyHit   xmaps only: lookup_copy() (consistent copy) of a present key
//   LookupManyHit   xmaps only: lookup_many() on 32 keys per call; one item = one key
//   LookupBulkHit   DPDK only: rte_hash_lookup_bulk_data() on 32 keys per call; one item = one key
// Conditions (also in each benchmark's label):
//   table size 1024 / 65536 / 1048576 = max_entries; the table is filled with that many random
//   keys, then 2 of them are erased (one free slot per thread, so InsertErase can insert into
//   a preallocated map: the label says fill=size-2/size);
//   keys u32 or a 16-byte struct; values 16 bytes; keys in random order, generated before timing
//   (support/keys.h); 1 and 2 threads (absl: 1 only); real time.
// Reading the numbers: Google Benchmark reports, per run, wall time / total items of all
// threads. items_per_second is the aggregate rate; 1e9 / items_per_second is "ns per item" and
// is what bench/RESULTS.md tabulates (with 2 threads that is half the per-thread latency when
// the threads scale perfectly).
//
// Each (peer, key type, size) table is built once and shared by all its cases, thread counts
// and repetitions; building happens outside the timed region. Benchmarks are registered in
// key -> size -> peer -> case -> threads order so each table is built exactly once.
//
// Command (Release build only; see bench/RESULTS.md for the full run):
//   cmake --preset bench && cmake --build build/bench --target hash_map_bench
//   build/bench/bench/hash_map_bench --benchmark_min_time=0.2 --benchmark_repetitions=3
//     --benchmark_report_aggregates_only=true   (one command line)
//
// main() is our own rather than benchmark_main: the DPDK EAL and the libcds runtime must be
// set up once, before any benchmark thread exists, and torn down after the cached tables.
#include <array>
#include <cstdint>
#include <exception>
#include <iostream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <benchmark/benchmark.h>

#include "support/adapters.h"
#include "support/kernel_hash.h"
#include "support/keys.h"
#include "support/pin.h"
#include "support/xmaps_adapter.h"

namespace {

using namespace xmaps_bench;
using xmaps::testing::PinToCpu;

enum class Case {
  lookup_hit,
  lookup_miss,
  lookup_copy_hit,
  lookup_many_hit,
  lookup_bulk_hit,
  update,
  insert_erase
};

constexpr std::uint32_t kBulk = 32;  // keys per lookup_many / rte_hash_lookup_bulk_data call
static_assert(XmapsPeer<std::uint32_t>::kBulk == kBulk);
#if XMAPS_BENCH_HAVE_DPDK
static_assert(DpdkPeer<std::uint32_t>::kBulk == kBulk);
#endif

// --- Shared setup: key streams per (key type, size), one table per (peer, key type, size). ---

template <class K>
const KeyStreams<K>& streams(std::uint32_t size) {
  static std::mutex mu;
  static std::unique_ptr<KeyStreams<K>> cached;
  std::lock_guard lock(mu);
  if (!cached || cached->size != size) {
    cached.reset();  // free the old streams before building the new ones
    cached = std::make_unique<KeyStreams<K>>(size);
  }
  return *cached;
}

// The one cached table. Only one exists at a time (1M-entry tables of eight peers would not
// all fit comfortably, and DPDK's EAL heap is 256 MB); registration order makes that enough.
struct TableSlot {
  std::mutex mu;
  std::string tag;
  std::shared_ptr<void> table;  // its deleter enters the owning peer's ThreadScope
  std::string error;
};
TableSlot& table_slot() {
  static TableSlot slot;
  return slot;
}
void release_cached_table() {
  TableSlot& s = table_slot();
  std::lock_guard lock(s.mu);
  s.table.reset();
  s.tag.clear();
}

template <class Peer, class K>
bool fill_one(Peer& peer, std::uint32_t i, const K& key) {
  if constexpr (requires { peer.fill(i, key, value_for(i)); }) {
    return peer.fill(i, key, value_for(i));
  } else {
    return peer.insert(key, value_for(i));
  }
}

// Returns the table for (Peer, K, size), built and filled on first use; nullptr and `error` if
// it could not be built. Every thread of a benchmark calls this; the first one builds.
template <class Peer, class K>
Peer* table(std::uint32_t size, const KeyStreams<K>& keys, std::string& error) {
  TableSlot& s = table_slot();
  std::lock_guard lock(s.mu);
  const std::string tag =
      std::string(Peer::kName) + "/" + std::string(key_name<K>()) + "/" + std::to_string(size);
  if (s.tag != tag) {
    s.table.reset();  // destroy the previous table first: memory
    s.error.clear();
    s.tag = tag;
    try {
      [[maybe_unused]] const typename Peer::ThreadScope scope;
      std::shared_ptr<Peer> t(new Peer(size), [](Peer* p) {
        [[maybe_unused]] const typename Peer::ThreadScope destroy_scope;
        delete p;
      });
      // Fill to max_entries, then erase the last kMaxThreads keys: the table has been full
      // once (tables that grow, like TBB's, have grown) and has one free slot per thread.
      const auto n = static_cast<std::uint32_t>(keys.fill.size());
      for (std::uint32_t i = 0; i < n; ++i) {
        if (!fill_one(*t, i, keys.fill[i])) {
          throw std::runtime_error("fill failed at key " + std::to_string(i) + " of " +
                                   std::to_string(n));
        }
      }
      for (std::size_t i = keys.live; i < n; ++i) {
        if (!t->erase(keys.fill[i])) {
          throw std::runtime_error("erase after fill failed");
        }
      }
      s.table = std::move(t);
    } catch (const std::exception& e) {
      s.error = std::string(Peer::kName) + ": " + e.what();
    }
  }
  error = s.error;
  return static_cast<Peer*>(s.table.get());
}

// --- The benchmark body, one instantiation per (peer, key type, case). ---

template <class K>
std::string label(std::string_view peer, std::uint32_t size, std::size_t fill) {
  return std::string(peer) + " key=" + std::string(key_name<K>()) +
         " value=16B fill=" + std::to_string(fill) + "/" + std::to_string(size) + " order=random";
}

template <class Peer, class K, Case C>
void bm_hash(benchmark::State& state) {
  const auto size = static_cast<std::uint32_t>(state.range(0));
  const KeyStreams<K>& ks = streams<K>(size);
  std::string error;
  Peer* const peer = table<Peer, K>(size, ks, error);
  if (peer == nullptr) {
    state.SkipWithError(error.c_str());
    for (auto _ : state) {  // every thread must pass the start/stop barriers
    }
    return;
  }
  [[maybe_unused]] const typename Peer::ThreadScope scope;

  const std::size_t mask = ks.mask;
  const int thread = state.thread_index();
  std::size_t i = 0;
  std::uint64_t hits = 0;
  std::uint64_t failures = 0;
  std::uint64_t per_iteration = 1;

  if constexpr (C == Case::lookup_hit || C == Case::lookup_miss || C == Case::lookup_copy_hit) {
    const K* const keys = C == Case::lookup_miss ? ks.miss_stream(thread) : ks.hit_stream(thread);
    for (auto _ : state) {
      Value16 v;  // NOLINT(cppcoreguidelines-pro-type-member-init): read only after a hit
      bool found = false;
      if constexpr (C == Case::lookup_copy_hit) {
        found = peer->lookup_copy(keys[i & mask], v);
      } else {
        found = peer->lookup(keys[i & mask], v);
      }
      if (found) {
        ++hits;
        benchmark::DoNotOptimize(v);
      }
      ++i;
    }
  } else if constexpr (C == Case::lookup_many_hit || C == Case::lookup_bulk_hit) {
    per_iteration = kBulk;
    const K* const keys = ks.hit_stream(thread);
    std::array<Value16, kBulk> out;  // NOLINT(cppcoreguidelines-pro-type-member-init)
    Value16* escaped = out.data();
    benchmark::DoNotOptimize(escaped);  // the loop's stores to out[] are then observable
    for (auto _ : state) {
      // i is a multiple of kBulk and the stream length is too, so the 32 keys never wrap.
      if constexpr (C == Case::lookup_many_hit) {
        hits += peer->lookup_many(&keys[i & mask], out.data());
      } else {
        hits += peer->lookup_bulk(&keys[i & mask], out.data());
      }
      benchmark::ClobberMemory();
      i += kBulk;
    }
  } else if constexpr (C == Case::update) {
    const K* const keys = ks.hit_stream(thread);
    for (auto _ : state) {
      failures += peer->update(keys[i & mask], value_for(i)) ? 0 : 1;
      ++i;
    }
  } else if constexpr (C == Case::insert_erase) {
    const K* const pool = ks.insert.data() + static_cast<std::size_t>(thread) * kInsertPool;
    std::size_t j = 0;
    for (auto _ : state) {
      const K& key = pool[j & (kInsertPool - 1)];
      failures += peer->insert(key, value_for(j)) ? 0 : 1;
      failures += peer->erase(key) ? 0 : 1;
      ++j;
    }
  }

  const auto items =
      static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(per_iteration);
  state.SetItemsProcessed(items);
  if constexpr (C != Case::update && C != Case::insert_erase) {
    state.counters["hit_rate"] =
        benchmark::Counter(static_cast<double>(hits) / static_cast<double>(per_iteration),
                           benchmark::Counter::kAvgIterations);
    const std::uint64_t expected = C == Case::lookup_miss ? 0 : static_cast<std::uint64_t>(items);
    if (hits != expected) {
      failures += 1;
    }
  }
  state.SetLabel(label<K>(Peer::describe(), size, ks.live));
  if (failures != 0) {
    state.SkipWithError(("verification failed: " + std::to_string(failures) +
                         " operations did not do what the case requires")
                            .c_str());
  }
}

// --- The kernel's HASH, driven from a BPF program (support/kernel_hash.h). ---
//
// "Kernel": BPF_MAP_TYPE_HASH with the same size, u32 keys and 16-byte values, filled with
// the same keys; a SCHED_CLS program looks up (inlined bpf_map_lookup_elem, 16-byte read) or
// updates (bpf_map_update_elem, BPF_ANY, of a present key) the hit stream's keys, 64 per run,
// 16 runs per BPF_PROG_TEST_RUN; one iteration is one call (1024 operations), wall time. Its
// threads are pinned to CPUs 0 and 1 (the program's cursor is per CPU); u32 keys only.
constexpr std::uint32_t kKernelRepeat = 16;

template <Case C>
void bm_kernel_hash(benchmark::State& state) {
  static_assert(C == Case::lookup_hit || C == Case::update);
  using K = std::uint32_t;
  const auto size = static_cast<std::uint32_t>(state.range(0));
  const int cpu = state.thread_index() % xmaps::testing::kernel_possible_cpus();
  const PinToCpu pin(cpu);
  const KeyStreams<K>& ks = streams<K>(size);
  TableSlot& s = table_slot();
  KernelHash* k = nullptr;
  std::string error;
  {
    std::lock_guard lock(s.mu);
    const std::string tag =
        "Kernel/u32/" + std::to_string(size) + "/" + std::to_string(static_cast<int>(C));
    if (s.tag != tag) {
      s.table.reset();
      s.error.clear();
      s.tag = tag;
      try {
        const auto slots = static_cast<std::uint32_t>(ks.hit.size());
        auto t = std::make_shared<KernelHash>(
            BPF_MAP_TYPE_HASH, size, 0, slots,
            C == Case::lookup_hit ? KernelHash::Op::lookup : KernelHash::Op::update);
        t->insert(ks.fill.data(), static_cast<std::uint32_t>(ks.live));
        t->set_keys(0, ks.hit);
        std::vector<KernelHash::State> st(static_cast<std::size_t>(t->cpus()));
        for (std::size_t c = 0; c < st.size(); ++c) {
          st[c].base = ks.base(static_cast<int>(c));
          st[c].mask = ks.mask;
        }
        t->set_states(st);
        s.table = std::move(t);
      } catch (const std::exception& e) {
        s.error = std::string("Kernel: ") + e.what();
      }
    }
    error = s.error;
    k = static_cast<KernelHash*>(s.table.get());
  }
  if (k == nullptr || !pin.pinned() || pin.cpu() != cpu) {
    state.SkipWithError(k == nullptr ? error.c_str() : "could not pin to the thread's CPU");
    for (auto _ : state) {
    }
    return;
  }
  const auto slot = static_cast<std::size_t>(cpu);
  const std::uint64_t ok_before = k->states()[slot].ok;
  for (auto _ : state)
    k->run(kKernelRepeat);
  const auto ops = static_cast<std::uint64_t>(state.iterations()) * kKernelRepeat *
                   static_cast<std::uint64_t>(KernelHash::kOpsPerRun);
  state.SetItemsProcessed(static_cast<std::int64_t>(ops));
  const std::uint64_t ok = k->states()[slot].ok - ok_before;
  if (C == Case::lookup_hit) {
    state.counters["hit_rate"] =
        benchmark::Counter(ops == 0 ? 0.0 : static_cast<double>(ok) / static_cast<double>(ops),
                           benchmark::Counter::kAvgThreads);
  }
  state.SetLabel(
      label<K>("the kernel's HASH from a BPF program (BPF_PROG_TEST_RUN), pinned", size, ks.live));
  if (ok != ops) {
    state.SkipWithError(("verification failed: " + std::to_string(ops - ok) + " of " +
                         std::to_string(ops) + " operations did not do what the case requires")
                            .c_str());
  }
}

void add_kernel(std::uint32_t size) {
  benchmark::RegisterBenchmark("BM_KernelLookupHit<u32>", bm_kernel_hash<Case::lookup_hit>)
      ->Arg(size)
      ->UseRealTime()
      ->Threads(1)
      ->Threads(2);
  benchmark::RegisterBenchmark("BM_KernelUpdate<u32>", bm_kernel_hash<Case::update>)
      ->Arg(size)
      ->UseRealTime()
      ->Threads(1)
      ->Threads(2);
}

// --- Registration. ---

template <class Peer, class K, Case C>
void add(std::uint32_t size, std::string_view case_name) {
  const std::string name = "BM_" + std::string(Peer::kName) + std::string(case_name) + "<" +
                           std::string(key_name<K>()) + ">";
  benchmark::internal::Benchmark* b =
      benchmark::RegisterBenchmark(name.c_str(), bm_hash<Peer, K, C>);
  b->Arg(size)->UseRealTime()->Threads(1);
  if constexpr (Peer::kConcurrent) {
    b->Threads(2);
  }
}

template <template <class> class PeerT, class K>
void add_peer(std::uint32_t size) {
  using Peer = PeerT<K>;
  add<Peer, K, Case::lookup_hit>(size, "LookupHit");
  add<Peer, K, Case::lookup_miss>(size, "LookupMiss");
  if constexpr (requires(Peer & p, const K& k, Value16& v) { p.lookup_copy(k, v); }) {
    add<Peer, K, Case::lookup_copy_hit>(size, "LookupCopyHit");
  }
  if constexpr (requires(Peer & p, const K* k, Value16* v) { p.lookup_many(k, v); }) {
    add<Peer, K, Case::lookup_many_hit>(size, "LookupManyHit");
  }
  if constexpr (requires(Peer & p, const K* k, Value16* v) { p.lookup_bulk(k, v); }) {
    add<Peer, K, Case::lookup_bulk_hit>(size, "LookupBulkHit");
  }
  add<Peer, K, Case::update>(size, "Update");
  add<Peer, K, Case::insert_erase>(size, "InsertErase");
}

template <class K>
void add_all(std::uint32_t size) {
  if constexpr (std::is_same_v<K, std::uint32_t>) {
    static const bool kernel = [] {
      std::string why;
      const bool ok = xmaps::testing::bpf_available(&why);
      if (!ok)
        std::cerr << "hash_map_bench: the kernel peer is skipped: " << why << '\n';
      return ok;
    }();
    if (kernel)
      add_kernel(size);
  }
  add_peer<XmapsPeer, K>(size);
#if XMAPS_BENCH_HAVE_DPDK
  add_peer<DpdkPeer, K>(size);
#endif
#if XMAPS_BENCH_HAVE_ABSL
  add_peer<AbslPeer, K>(size);
#endif
#if XMAPS_BENCH_HAVE_CUCKOO
  add_peer<CuckooPeer, K>(size);
#endif
#if XMAPS_BENCH_HAVE_TBB
  add_peer<TbbPeer, K>(size);
#endif
#if XMAPS_BENCH_HAVE_URCU
  add_peer<UrcuPeer, K>(size);
#endif
#if XMAPS_BENCH_HAVE_CDS
  add_peer<CdsPeer, K>(size);
#endif
  add_peer<StdMutexPeer, K>(size);
}

void register_all() {
  constexpr std::array<std::uint32_t, 3> kSizes = {1U << 10, 1U << 16, 1U << 20};
  for (const std::uint32_t size : kSizes) {
    add_all<std::uint32_t>(size);
  }
  for (const std::uint32_t size : kSizes) {
    add_all<Key16>(size);
  }
}

}  // namespace

int main(int argc, char** argv) try {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
#if XMAPS_BENCH_HAVE_CDS
  const CdsRuntime cds_runtime;
#endif
#if XMAPS_BENCH_HAVE_DPDK
  DpdkRuntime::init();
  if (!DpdkRuntime::ok()) {
    std::cerr << "hash_map_bench: DPDK benchmarks will be skipped: " << DpdkRuntime::error()
              << '\n';
  }
#endif
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  release_cached_table();  // before the libcds runtime and the EAL go away
  benchmark::Shutdown();
#if XMAPS_BENCH_HAVE_DPDK
  DpdkRuntime::cleanup();
#endif
  return 0;
} catch (const std::exception& e) {
  std::cerr << "hash_map_bench: " << e.what() << '\n';
  return 1;
}
