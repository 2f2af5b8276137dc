// SPDX-License-Identifier: MIT
//
// CpuMap ~ BPF_MAP_TYPE_CPUMAP: redirects frames from the CPU that received them to worker
// threads on other CPUs (software RSS), with the rules of kernel/bpf/cpumap.c.
//
// An entry, keyed by CPU index, is {qsize, optional second program}. Creating one starts a
// worker thread pinned to that CPU (bound to it as xmaps' current_cpu() too) and gives it a
// ring of qsize frame pointers, allocated by the worker after it is pinned, so that on a NUMA
// machine the ring's pages come from that CPU's node (Linux's first-touch policy; the
// `worker_init` hook can bind memory explicitly, e.g. with xmaps::topology).
//
// Programs on ingress CPUs hand frames to an entry with redirect_map() (xmaps/redirect.h);
// frames are bulked per ingress thread per entry (8 by default, the kernel's
// CPU_MAP_BULK_SIZE) and pushed into the ring when a bulk fills and at the end of each poll
// batch (RedirectContext::flush(), the xdp_do_flush point). A full ring drops the frame at
// flush (counted as an enqueue drop, the frame recycled). The worker takes up to 8 frames at a
// time (CPUMAP_BATCH), runs the second program if any, and:
//   XDP_PASS      the frame goes to the map's sink (Options::sink), then back to its pool
//   XDP_DROP      the frame goes back to its pool
//   XDP_REDIRECT  on to whatever the program's redirect_map() chose (flushed after the batch)
//   others        XDP_ABORTED, XDP_TX and unknown values: counted as aborted and dropped (the
//                 kernel warns and drops)
// An idle worker sleeps (futex wait on a flag) and is woken by the next flush that fills its
// ring; it never spins while idle.
//
// Rules, as the kernel's (errors as Errc):
//   update(key, qsize, prog, flags)  flags > EXIST: invalid; key >= max_entries: too_big;
//                       flags == NOEXIST: exists (always; entries can only be replaced);
//                       qsize > 16384: overflow; key not a possible CPU
//                       (>= xmaps::possible_cpus()): no_device; qsize 0: deletes the entry.
//                       Otherwise a new entry (new ring, new worker) replaces the old one,
//                       which is drained first: every frame already in it is processed.
//                       no_memory if the ring or the thread cannot be made.
//   erase(key)          key >= max_entries: invalid; else ok (also for an empty slot).
//   lookup(key)         {qsize, program id}; not_found for an empty slot or key >= max_entries.
//   get_next_key(key)   indices 0 .. max_entries - 1 whether populated or not (nullptr or an
//                       out-of-range key: 0); not_found after the last.
// update() and erase() wait for every ingress thread that may still hold the old entry to
// pass its flush (an RCU grace period) and for the old worker to drain; calling them from a
// thread inside a poll batch (a program, a worker's program, a thread holding an
// RcuReadGuard) would wait for itself, so they return Errc::busy there instead.
//
// Stats: per entry (stats(key): what every entry at that key has done since the map was made,
// replaced entries included) and per ingress CPU (ingress_stats(cpu)). Conservation: every
// frame handed to an entry is enqueue-dropped or processed, or in a bulk queue / ring still;
// every processed frame is passed, dropped, redirected, a redirect error, or aborted. When
// the map is destroyed every ring is drained first (and bulk queues are flushed by their
// RedirectContexts, which must end their batch before that). Frames go back to their pools
// as the workers finish with them, so a FramePool must outlive every map its frames enter.
//
// Thread safety: update/erase/lookup/stats from any thread (control plane); redirects from
// any number of ingress threads, each with its own RedirectContext.
//
// Manual mode (Options::manual_workers, for model mode's discrete-event simulation,
// xmaps/sim/model.h): an entry gets its ring but no worker thread. run_worker(key, n) does on
// the calling thread what the worker would: takes up to n frames out of the ring in batches of
// batch_size, runs the second program with the thread bound (CpuBinding) as CPU `key`, hands
// XDP_PASS frames to the sink, recycles, flushes redirects after each batch, and counts
// exactly as the threaded worker does (sleeps stay 0). ring_count(key) says how many frames
// wait in the ring. update() and erase() drain the old entry by running its worker steps on
// the calling thread until its ring is empty; the destructor does the same. worker_pinned()
// is false (nothing is pinned) and worker_init is not called. A manual map is for one thread
// at a time: redirects, run_worker and the control plane must not run concurrently.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "xmaps/detail/cpumap_entry.h"
#include "xmaps/errc.h"
#include "xmaps/frame_pool.h"
#include "xmaps/xdp.h"

namespace xmaps {

// struct bpf_cpumap_val as a lookup returns it.
struct CpuMapValue {
  std::uint32_t qsize = 0;
  std::uint32_t prog_id = 0;  // 0: no second program
};

struct CpuMapStats {
  // Ingress side: frames pushed into the ring, and dropped at flush because it was full.
  std::uint64_t enqueued = 0;
  std::uint64_t enqueue_drops = 0;
  // Worker side.
  std::uint64_t processed = 0;        // taken out of the ring
  std::uint64_t passed = 0;           // XDP_PASS (or no second program): to the sink
  std::uint64_t dropped = 0;          // XDP_DROP
  std::uint64_t redirected = 0;       // XDP_REDIRECT, handed on
  std::uint64_t redirect_errors = 0;  // XDP_REDIRECT without a valid redirect_map() target
  std::uint64_t aborted = 0;          // XDP_ABORTED, XDP_TX, unknown actions
  std::uint64_t sleeps = 0;  // times the worker slept on an empty ring: its wake-ups (+1 asleep)

  CpuMapStats& operator+=(const CpuMapStats& o) noexcept;
};

class CpuMap {
 public:
  static constexpr std::uint32_t kMaxQsize = 16384;
  static constexpr std::uint32_t kMaxEntries = 1U << 16;  // xmaps' possible-CPU limit
  static constexpr std::uint32_t kMaxBulk = 16;
  static constexpr std::uint32_t kMaxBatch = 64;

  // Called on the worker thread with the XDP_PASS frames of one batch; they go back to their
  // pool when it returns (copy what must outlive the call). Must not throw.
  using Sink = std::function<void(std::span<Frame* const> frames, int cpu)>;

  struct Options {
    Sink sink;                     // none: passed frames are recycled (still counted)
    std::uint32_t bulk_size = 8;   // frames per ingress bulk queue, 1..kMaxBulk
    std::uint32_t batch_size = 8;  // frames a worker takes per dequeue, 1..kMaxBatch
    bool pin_workers = true;       // pin each worker to CPU `key` (if that fails, it runs
                                   // unpinned: worker_pinned() says which)
    // Runs first on each new worker thread (after pinning, before the ring is allocated),
    // e.g. to bind the thread's memory policy to its NUMA node. Must not throw.
    std::function<void(int cpu)> worker_init;
    // No worker threads: the caller runs each entry's worker steps with run_worker() (see
    // "Manual mode" above).
    bool manual_workers = false;
  };

  // Throws std::invalid_argument for max_entries 0 or > kMaxEntries, or options out of range.
  explicit CpuMap(std::uint32_t max_entries);
  CpuMap(std::uint32_t max_entries, Options options);
  // Drains and stops every worker. Must not run inside a poll batch (see above): it aborts
  // with a message rather than wait for itself.
  ~CpuMap();
  CpuMap(const CpuMap&) = delete;
  CpuMap& operator=(const CpuMap&) = delete;
  CpuMap(CpuMap&&) = delete;
  CpuMap& operator=(CpuMap&&) = delete;

  [[nodiscard]] Errc update(std::uint32_t key, std::uint32_t qsize,
                            std::shared_ptr<const XdpProgram> program = nullptr,
                            std::uint64_t flags = 0);
  [[nodiscard]] Errc update(std::uint32_t key, std::uint32_t qsize, UpdateFlag flags) {
    return update(key, qsize, nullptr, static_cast<std::uint64_t>(flags));
  }
  [[nodiscard]] Errc erase(std::uint32_t key);
  [[nodiscard]] Errc lookup(std::uint32_t key, CpuMapValue& out) const;
  [[nodiscard]] Errc get_next_key(const std::uint32_t* key, std::uint32_t& next) const noexcept;

  [[nodiscard]] std::uint32_t max_entries() const noexcept { return max_entries_; }
  [[nodiscard]] const Options& options() const noexcept { return options_; }
  // Everything the entries at `key` have done since the map was created (zeros for an
  // out-of-range key). A snapshot while traffic flows.
  [[nodiscard]] CpuMapStats stats(std::uint32_t key) const;
  // Ingress-side counters (enqueued, enqueue_drops) of frames flushed by threads acting as
  // `cpu`, over every entry; zeros for a cpu outside [0, possible_cpus()).
  [[nodiscard]] CpuMapStats ingress_stats(int cpu) const;
  // The sum of stats() over every key.
  [[nodiscard]] CpuMapStats totals() const;
  // True if the entry at `key` exists and its worker is pinned to CPU `key`.
  [[nodiscard]] bool worker_pinned(std::uint32_t key) const;

  // Manual mode: runs the worker of the entry at `key` on the calling thread for up to
  // max_frames frames (batches of batch_size; fewer if the ring runs empty) and returns how
  // many it took out of the ring. 0 for a missing entry or a map not in manual mode.
  [[nodiscard]] std::size_t run_worker(std::uint32_t key, std::size_t max_frames);
  // Frames in the ring of the entry at `key` now (0 for a missing entry). Any mode; exact
  // in manual mode, a snapshot while a worker thread runs.
  [[nodiscard]] std::size_t ring_count(std::uint32_t key) const noexcept {
    if (!options_.manual_workers || key >= max_entries_)
      return ring_count_locked(key);
    // Manual mode, inline (model mode asks after every step). Acquire: as
    // entry_for_redirect() (one thread drives a manual map: nothing retires it meanwhile).
    const detail::CpuMapEntry* const e = slots_[key].load(std::memory_order_acquire);
    return e == nullptr ? 0 : e->ring->size();
  }
  [[nodiscard]] bool manual_workers() const noexcept { return options_.manual_workers; }

  // The entry redirect_map() reads. Caller is inside an RCU read-side section.
  [[nodiscard]] detail::CpuMapEntry* entry_for_redirect(std::uint32_t key) const noexcept {
    // Acquire: pairs with the release of update()'s exchange: the entry's ring, counters and
    // worker are set up.
    return key < max_entries_ ? slots_[key].load(std::memory_order_acquire) : nullptr;
  }

 private:
  [[nodiscard]] Errc replace(std::uint32_t key, std::unique_ptr<detail::CpuMapEntry> fresh);
  // ring_count() with worker threads: under the control lock, so the entry stays alive.
  [[nodiscard]] std::size_t ring_count_locked(std::uint32_t key) const noexcept;
  // Grace period, drain, join, fold the counters into retired_; then frees the entries.
  void retire(std::vector<detail::CpuMapEntry*> old);
  static CpuMapStats read(const detail::CpuMapEntry& e);
  // Caller holds control_; e's worker is done. Adds its counters to retired_*, deletes it.
  void fold_and_free(detail::CpuMapEntry* e);

  const std::uint32_t max_entries_;
  const Options options_;
  const int ingress_cpus_;
  std::unique_ptr<std::atomic<detail::CpuMapEntry*>[]> slots_;
  mutable std::mutex control_;        // update/erase/retire bookkeeping (control plane only)
  std::vector<CpuMapStats> retired_;  // [max_entries]: entries gone from each key
  std::vector<CpuMapStats> retired_ingress_;  // [ingress_cpus_]
};

}  // namespace xmaps
