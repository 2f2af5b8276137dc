// SPDX-License-Identifier: MIT
//
// CpuMapEntry: one CPUMAP entry (kernel/bpf/cpumap.c's bpf_cpu_map_entry): a bounded ring of
// frame pointers (the queue engine, detail/mpmc_ring.h, standing in for the kernel's ptr_ring)
// and the worker thread that empties it on the entry's CPU. Ingress threads fill it through
// RedirectContext (xmaps/redirect.h), which reads these members directly; CpuMap (cpumap.h)
// creates and retires entries. Not a public API.
//
// Worker sleep / wake (no busy-waiting when idle):
//   worker    sleeping = 1 (seq_cst); if the ring is still empty and no stop: wait on sleeping
//   producer  push (seq_cst claim on the ring); if sleeping (seq_cst load): exchange it to 0
//             and notify
// Both sides store, then load the other's word, all seq_cst: at least one sees the other, so
// a frame is never left in the ring of a sleeping worker.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "xmaps/detail/cache_line.h"
#include "xmaps/detail/mpmc_ring.h"
#include "xmaps/xdp.h"

namespace xmaps::detail {

// What the frames handed to one entry became. Ingress side (many writers): relaxed
// fetch_add, per ingress CPU. Worker side (one writer): relaxed load + store.
struct IngressCounters {
  std::atomic<std::uint64_t> enqueued{0};
  std::atomic<std::uint64_t> enqueue_drops{0};
};

struct WorkerCounters {
  std::atomic<std::uint64_t> processed{0};
  std::atomic<std::uint64_t> passed{0};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> redirected{0};
  std::atomic<std::uint64_t> redirect_errors{0};
  std::atomic<std::uint64_t> aborted{0};  // XDP_ABORTED, XDP_TX and unknown actions
  std::atomic<std::uint64_t> sleeps{0};
};

// Single-writer increment: the writer is the only thread that stores to `c`.
inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
  // Relaxed (both): a statistic; readers only need each value to be one that was stored.
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

struct CpuMapEntry {
  std::uint32_t key = 0;
  std::uint32_t qsize = 0;
  std::uint32_t bulk = 8;  // frames per ingress bulk queue
  std::shared_ptr<const XdpProgram> program;
  std::unique_ptr<MpmcRing> ring;  // made by the worker after it placed itself
  std::unique_ptr<CacheAligned<IngressCounters>[]> ingress;  // [possible_cpus()]
  int ingress_cpus = 0;
  CacheAligned<WorkerCounters> worker_counters;
  CacheAligned<std::atomic<std::uint32_t>> sleeping;  // 1: the worker waits (or is about to)
  std::atomic<bool> stop{false};
  std::atomic<int> ready{0};  // set once by the worker: 1 ring made, 2 it could not be
  bool pinned = false;        // the worker runs pinned to CPU `key`
  bool manual = false;        // no worker thread: CpuMap::run_worker() empties the ring
  std::thread worker;

  // After a push into the ring: wakes the worker if it sleeps.
  void wake_if_sleeping() noexcept {
    // Seq_cst (load): the load of the Dekker pair in the header comment, after our seq_cst
    // push. Seq_cst (exchange): one producer of many clears the flag and notifies.
    if (sleeping.value.load(std::memory_order_seq_cst) != 0 &&
        sleeping.value.exchange(0, std::memory_order_seq_cst) != 0) {
      sleeping.value.notify_one();
    }
  }
};

}  // namespace xmaps::detail
